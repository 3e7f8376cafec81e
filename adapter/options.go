package adapter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Defaults for ReadOptions. They follow Prometheus' own read handler where one
// exists (sample limit 5e7, 10 concurrent reads) and
// docs/remote-read-protocol.md §9 otherwise.
const (
	DefaultMaxSamplesPerQuery = 50_000_000
	DefaultMaxConcurrent      = 10
	DefaultMaxQueueWait       = 10 * time.Second
	// DefaultMaxBytesPerFrame leaves headroom below the 3.x client's
	// chunked_read_limit default of 5e7 bytes
	// (docs/remote-read-protocol.md §5.3): a frame above that limit fails the
	// client's whole query instead of degrading to a warning.
	DefaultMaxBytesPerFrame = 32 << 20
	// DefaultMaxRequestBytes is the limit Prometheus' own decoder applies to
	// both the body and its snappy-decoded length
	// (docs/remote-read-protocol.md §2.1, CVE-2026-42154).
	DefaultMaxRequestBytes = 32 << 20
	// DefaultMaxQueriesPerRequest bounds the queries of one request: every
	// Prometheus sends one (docs/remote-read-protocol.md §2.3), and each may
	// read every archive.
	DefaultMaxQueriesPerRequest = 100
)

// ReadOptions bounds what one remote-read request may cost. Every budget is
// checked before the first response byte is written.
type ReadOptions struct {
	// MaxSamplesPerQuery caps the samples of one response, summed over all
	// queries of the request (a real client sends exactly one query per
	// request, docs/remote-read-protocol.md §2.3, so in practice this is per
	// query). It applies to both response types; for streamed responses it
	// counts the samples of the chunks. 0 disables the limit.
	MaxSamplesPerQuery int64

	// MaxConcurrent is the number of requests served at once. It must be > 0:
	// a zero-capacity gate would block every request forever
	// (graphite-clickhouse #245, docs/remote-read-protocol.md §9).
	MaxConcurrent int

	// MaxQueueWait is how long a request waits for a free slot before it is
	// answered 429. 0 rejects at once when all slots are busy. A short wait
	// absorbs the burst of parallel reads one dashboard refresh causes.
	MaxQueueWait time.Duration

	// MaxBytesPerFrame caps the protobuf message of one streamed frame. A
	// frame carries exactly one whole series and a series is never split
	// (docs/remote-read-protocol.md §5.2), so a series whose frame would be
	// larger fails the whole request with 400 before the first byte. Keep it
	// below the client's chunked_read_limit (default 5e7 bytes).
	MaxBytesPerFrame int

	// MaxRequestBytes caps both the compressed request body (413) and its
	// snappy-decoded length (413).
	MaxRequestBytes int64

	// MaxQueriesPerRequest caps the queries of one request (400 above it);
	// 0 means no limit. Queries run one after the other in one
	// concurrency slot, each possibly reading every archive.
	MaxQueriesPerRequest int

	// ExternalLabels are set on every series a remote read returns, and
	// decide the matchers on their names (adapter/remoteread/extlabels.go),
	// as Prometheus' global external_labels do. A Thanos sidecar needs at
	// least one. Empty: none.
	ExternalLabels labels.Labels
}

// DefaultReadOptions returns the options pcp-remote-read runs with unless
// configured otherwise.
func DefaultReadOptions() ReadOptions {
	return ReadOptions{
		MaxSamplesPerQuery: DefaultMaxSamplesPerQuery,
		MaxConcurrent:      DefaultMaxConcurrent,
		MaxQueueWait:       DefaultMaxQueueWait,
		MaxBytesPerFrame:   DefaultMaxBytesPerFrame,
		MaxRequestBytes:    DefaultMaxRequestBytes,

		MaxQueriesPerRequest: DefaultMaxQueriesPerRequest,
	}
}

// Validate reports every option that would make the handler misbehave.
func (o ReadOptions) Validate() error {
	var errs []error
	if o.MaxSamplesPerQuery < 0 {
		errs = append(errs, fmt.Errorf("MaxSamplesPerQuery %d < 0 (0 disables the limit)", o.MaxSamplesPerQuery))
	}
	if o.MaxConcurrent <= 0 {
		errs = append(errs, fmt.Errorf("MaxConcurrent %d must be > 0", o.MaxConcurrent))
	}
	if o.MaxQueueWait < 0 {
		errs = append(errs, fmt.Errorf("MaxQueueWait %v < 0", o.MaxQueueWait))
	}
	if o.MaxBytesPerFrame <= 0 {
		errs = append(errs, fmt.Errorf("MaxBytesPerFrame %d must be > 0", o.MaxBytesPerFrame))
	}
	if o.MaxQueriesPerRequest < 0 {
		errs = append(errs, fmt.Errorf("MaxQueriesPerRequest %d < 0 (0 disables the limit)", o.MaxQueriesPerRequest))
	}
	if o.MaxRequestBytes <= 0 {
		errs = append(errs, fmt.Errorf("MaxRequestBytes %d must be > 0", o.MaxRequestBytes))
	}
	errs = append(errs, CheckExternalLabels(o.ExternalLabels))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid read options: %w", err)
	}
	return nil
}

// CheckExternalLabels says what is wrong with a set of external labels:
// a name Prometheus would not accept or that is reserved ("__" begins the
// names PromQL and the remote-read protocol use themselves), or an empty
// value, which PromQL reads as the label being absent.
func CheckExternalLabels(ext labels.Labels) error {
	var errs []error
	ext.Range(func(l labels.Label) {
		switch {
		case !model.LegacyValidation.IsValidLabelName(l.Name) || strings.HasPrefix(l.Name, "__"):
			errs = append(errs, fmt.Errorf("external label name %q: want a letter or _ then letters, digits or _, not beginning with __", l.Name))
		case l.Value == "":
			errs = append(errs, fmt.Errorf("external label %q has an empty value", l.Name))
		}
	})
	return errors.Join(errs...)
}
