package remoteread

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gogo/protobuf/proto"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

// readQuery is one validated prompb.Query, ready for Select.
type readQuery struct {
	start, end int64 // inclusive milliseconds, as sent (docs/remote-read-protocol.md §2.4)
	matchers   []*labels.Matcher
	hints      *storage.SelectHints // nil when the client sent none, as in Prometheus
	// none says an external label fails one of the query's matchers: it
	// selects no series (extlabels.go).
	none bool
}

// readRequestBody reads the snappy block of a remote-read request, refusing
// more than maxBytes both compressed and decompressed
// (docs/remote-read-protocol.md §2.1).
func readRequestBody(w http.ResponseWriter, r *http.Request, maxBytes int64) ([]byte, error) {
	if r.ContentLength > maxBytes {
		e := limitExceeded(http.StatusRequestEntityTooLarge,
			"request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, maxBytes)
		e.unread = true
		return nil, e
	}
	compressed, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			e := limitExceeded(http.StatusRequestEntityTooLarge,
				"request body exceeds the limit of %d bytes", maxBytes)
			e.unread = true
			return nil, e
		}
		// Almost always the client hanging up mid-upload.
		return nil, &httpError{status: http.StatusBadRequest, kind: errKindBadRequest, msg: "read request body", err: err}
	}
	n, err := snappy.DecodedLen(compressed)
	if err != nil {
		return nil, badRequest("request body is not a snappy block: %v", err)
	}
	// Checked before decoding so a 1 KiB body cannot make us allocate 4 GiB
	// (CVE-2026-42154).
	if int64(n) > maxBytes {
		return nil, limitExceeded(http.StatusRequestEntityTooLarge,
			"decompressed request of %d bytes exceeds the limit of %d bytes", n, maxBytes)
	}
	data, err := snappy.Decode(make([]byte, n), compressed)
	if err != nil {
		return nil, badRequest("request body is not a snappy block: %v", err)
	}
	return data, nil
}

// parseReadRequest unmarshals and validates a decompressed ReadRequest of
// at most maxQueries queries (0: any number).
// Matchers on external labels are decided here (extlabels.go).
func parseReadRequest(data []byte, maxQueries int, ext labels.Labels) (prompb.ReadRequest_ResponseType, []readQuery, error) {
	var req prompb.ReadRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return 0, nil, badRequest("request is not a prometheus.ReadRequest: %v", err)
	}
	if len(req.Queries) == 0 {
		return 0, nil, badRequest("request has no queries")
	}
	if maxQueries > 0 && len(req.Queries) > maxQueries {
		return 0, nil, badRequest("request has %d queries, at most %d are served at once (Prometheus sends one)", len(req.Queries), maxQueries)
	}
	rt, err := negotiateResponseType(req.AcceptedResponseTypes)
	if err != nil {
		return 0, nil, err
	}
	queries := make([]readQuery, 0, len(req.Queries))
	for i, q := range req.Queries {
		rq, err := parseQuery(q)
		if err != nil {
			return 0, nil, badRequest("query %d: %v", i, err)
		}
		var ok bool
		rq.matchers, ok = externalMatchers(rq.matchers, ext)
		rq.none = !ok
		queries = append(queries, rq)
	}
	return rt, queries, nil
}

// negotiateResponseType picks the first accepted type we support: 2.x before
// 2.55 sends none (meaning SAMPLES), 2.55+ and 3.x send
// [STREAMED_XOR_CHUNKS, SAMPLES] (docs/remote-read-protocol.md §3, §11).
func negotiateResponseType(accepted []prompb.ReadRequest_ResponseType) (prompb.ReadRequest_ResponseType, error) {
	if len(accepted) == 0 {
		return prompb.ReadRequest_SAMPLES, nil
	}
	for _, t := range accepted {
		switch t {
		case prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS:
			return t, nil
		}
	}
	return 0, badRequest("server does not support any of the requested response types: %v; supported: %v",
		accepted, []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS, prompb.ReadRequest_SAMPLES})
}

func parseQuery(q *prompb.Query) (readQuery, error) {
	if q == nil {
		return readQuery{}, errors.New("empty query")
	}
	if q.StartTimestampMs > q.EndTimestampMs {
		return readQuery{}, fmt.Errorf("start %d ms is after end %d ms", q.StartTimestampMs, q.EndTimestampMs)
	}
	// PromQL refuses selectors without matchers, so no real client sends
	// one; accepting it would mean "every series of every archive".
	if len(q.Matchers) == 0 {
		return readQuery{}, errors.New("no matchers; add at least one matcher")
	}
	ms, err := toMatchers(q.Matchers)
	if err != nil {
		return readQuery{}, err
	}
	rq := readQuery{start: q.StartTimestampMs, end: q.EndTimestampMs, matchers: ms}
	// Copied 1:1 like Prometheus' remote.ToQuery/read handler
	// (docs/remote-read-protocol.md §2.6); the storage decides what to push
	// down.
	if h := q.Hints; h != nil {
		rq.hints = &storage.SelectHints{
			Start:    h.StartMs,
			End:      h.EndMs,
			Step:     h.StepMs,
			Func:     h.Func,
			Grouping: h.Grouping,
			By:       h.By,
			Range:    h.RangeMs,
		}
	}
	return rq, nil
}

// toMatchers converts wire matchers. labels.NewMatcher gives PromQL semantics:
// anchored regexes, and an absent label matching ""
// (docs/remote-read-protocol.md §2.5).
func toMatchers(pms []*prompb.LabelMatcher) ([]*labels.Matcher, error) {
	ms := make([]*labels.Matcher, 0, len(pms))
	for _, pm := range pms {
		if pm == nil {
			return nil, errors.New("empty matcher")
		}
		var t labels.MatchType
		switch pm.Type {
		case prompb.LabelMatcher_EQ:
			t = labels.MatchEqual
		case prompb.LabelMatcher_NEQ:
			t = labels.MatchNotEqual
		case prompb.LabelMatcher_RE:
			t = labels.MatchRegexp
		case prompb.LabelMatcher_NRE:
			t = labels.MatchNotRegexp
		default:
			return nil, fmt.Errorf("matcher on %q: unknown matcher type %d", pm.Name, pm.Type)
		}
		if t == labels.MatchRegexp || t == labels.MatchNotRegexp {
			if err := adapter.CheckRegex(pm.Name, pm.Value); err != nil {
				return nil, err
			}
		}
		m, err := labels.NewMatcher(t, pm.Name, pm.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s%s%q: %v", pm.Name, t, pm.Value, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// checkContentType refuses bodies that are plainly not a remote-read
// request (forms, JSON, text), with 415 and what to send instead. A
// missing type is accepted, like any other: Prometheus' own handler looks
// at none.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && !strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "multipart/") &&
		mt != "application/json" && mt != "application/x-www-form-urlencoded" {
		return nil
	}
	return &httpError{
		status: http.StatusUnsupportedMediaType, kind: errKindBadRequest,
		msg: fmt.Sprintf("content type %q is not a remote-read request; send a snappy-compressed prometheus.ReadRequest as %s", ct, ContentTypeSamples),
	}
}
