package remoteread

import (
	"bytes"
	"errors"
	"github.com/prometheus/prometheus/model/labels"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gogo/protobuf/proto"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// Fuzz targets of the request decoders. Run one at a time, e.g.
//
//	go test -run '^$' -fuzz '^FuzzReadHandler$' -fuzztime 1m ./adapter/remoteread/
//
// The matcher translation is fuzzed by translate.FuzzSelectMatchers.

// fuzzRequests are seed requests: what Prometheus 2 and 3 send, and the
// odd shapes the protocol allows.
func fuzzRequests() []*prompb.ReadRequest {
	name := eq("__name__", "kernel_all_load")
	return []*prompb.ReadRequest{
		readRequest(nil, query(0, math.MaxInt64, name)),
		readRequest(streamedFirst, query(1795046400000, 1795132800000, name, matcher(prompb.LabelMatcher_RE, "instname", "1 minute|5.*"))),
		readRequest(samplesOnly, query(math.MinInt64, math.MaxInt64, matcher(prompb.LabelMatcher_NRE, "__name__", "hinv.*"), eq("hostname", "vm"))),
		{Queries: []*prompb.Query{{StartTimestampMs: 5, EndTimestampMs: 10, Matchers: []*prompb.LabelMatcher{name},
			Hints: &prompb.ReadHints{StepMs: 15000, Func: "series", StartMs: 5, EndMs: 10, Grouping: []string{"a"}, By: true, RangeMs: 60000}}}},
		readRequest([]prompb.ReadRequest_ResponseType{7, 1}, query(0, 1, name), query(1, 0, name)),
		{},
	}
}

func addSeedFiles(f *testing.F, glob string) {
	paths, _ := filepath.Glob(glob)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseReadRequest feeds decompressed bytes to the protobuf decoder
// and validation. Every failure must be a 4xx the client can read; every
// success a request the storage can take.
func FuzzParseReadRequest(f *testing.F) {
	for _, r := range fuzzRequests() {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rt, queries, err := parseReadRequest(data, adapter.DefaultMaxQueriesPerRequest, labels.EmptyLabels())
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status < 400 || he.status > 499 || he.Error() == "" {
				t.Fatalf("error %v (%T) is not a 4xx with a message", err, err)
			}
			return
		}
		if rt != prompb.ReadRequest_SAMPLES && rt != prompb.ReadRequest_STREAMED_XOR_CHUNKS {
			t.Fatalf("response type %v", rt)
		}
		if len(queries) == 0 || len(queries) > adapter.DefaultMaxQueriesPerRequest {
			t.Fatalf("%d queries accepted", len(queries))
		}
		for i, q := range queries {
			if q.start > q.end || len(q.matchers) == 0 {
				t.Fatalf("query %d accepted: start %d end %d, %d matchers", i, q.start, q.end, len(q.matchers))
			}
			for _, m := range q.matchers {
				if m == nil {
					t.Fatalf("query %d: nil matcher", i)
				}
			}
		}
	})
}

// FuzzReadHandler posts arbitrary bodies to the remote-read handler over a
// small real archive: it must never panic or answer 5xx, and a 200 must
// decode as what was negotiated.
func FuzzReadHandler(f *testing.F) {
	for _, r := range fuzzRequests() {
		b, err := EncodeReadRequest(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	addSeedFiles(f, "testdata/*.request.snappy")
	f.Add([]byte{})
	f.Add(snappy.Encode(nil, []byte("\x0a\x00")))
	opts := adapter.DefaultReadOptions()
	opts.MaxSamplesPerQuery = 200000
	h, err := NewReadHandler(pcptest.Storage(f, multiarchive.Options{}, "../../testdata/archives/v3-basic"), opts, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(h, body)
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code <= 499:
			if strings.TrimSpace(rec.Body.String()) == "" {
				t.Fatalf("%d without a message", rec.Code)
			}
			return
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		switch ct := rec.Header().Get("Content-Type"); ct {
		case ContentTypeSamples:
			if _, err := DecodeReadResponse(rec.Body.Bytes()); err != nil {
				t.Fatal(err)
			}
		case ContentTypeStreamed:
			if _, err := ReadChunkedFrames(bytes.NewReader(rec.Body.Bytes()), 1<<30); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("200 with content type %q", ct)
		}
	})
}
