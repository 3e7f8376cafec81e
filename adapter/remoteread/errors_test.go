package remoteread

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// TestErrors pins every failure decided before the first byte: status, kind,
// and a body that is exactly one plain-text line, which proves no response
// byte (frame or snappy block) preceded it (docs/remote-read-protocol.md §10).
func TestErrors(t *testing.T) {
	m := eq("__name__", "m")
	okSeries := []fakeSeries{series(labels.FromStrings("__name__", "m", "host", "a"), floats(0, 1000, 300))}
	tooLargeDecoded := snappy.Encode(nil, make([]byte, 4096)) // 4 KiB of zeros compress well

	tests := []struct {
		name    string
		method  string
		body    []byte
		req     *prompb.ReadRequest // encoded into body when set
		opts    func(*adapter.ReadOptions)
		storage *fakeStorage
		status  int
		kind    string
		msg     string // the body must contain it
	}{
		{name: "GET", method: http.MethodGet, status: 405, kind: errKindBadRequest, msg: "method GET not allowed"},
		{name: "PUT", method: http.MethodPut, status: 405, kind: errKindBadRequest, msg: "method PUT not allowed"},
		{
			name: "body over the limit", body: bytes.Repeat([]byte{'x'}, 2048),
			opts:   func(o *adapter.ReadOptions) { o.MaxRequestBytes = 1024 },
			status: 413, kind: errKindLimit, msg: "exceeds the limit of 1024 bytes",
		},
		{
			name: "decoded length over the limit", body: tooLargeDecoded,
			opts:   func(o *adapter.ReadOptions) { o.MaxRequestBytes = 1024 },
			status: 413, kind: errKindLimit, msg: "decompressed request of 4096 bytes exceeds the limit of 1024 bytes",
		},
		{name: "not snappy", body: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, status: 400, kind: errKindBadRequest, msg: "not a snappy block"},
		{name: "snappy framed format", body: framedSnappy(t), status: 400, kind: errKindBadRequest, msg: "not a snappy block"},
		{name: "not protobuf", body: snappy.Encode(nil, []byte{0x0a, 0xff, 0xff}), status: 400, kind: errKindBadRequest, msg: "not a prometheus.ReadRequest"},
		{name: "empty body", body: []byte{}, status: 400, kind: errKindBadRequest, msg: "not a snappy block"},
		{name: "zero queries", req: readRequest(nil), status: 400, kind: errKindBadRequest, msg: "request has no queries"},
		{
			name: "unsupported response type", req: readRequest([]prompb.ReadRequest_ResponseType{5}, query(0, 1, m)),
			status: 400, kind: errKindBadRequest, msg: "server does not support any of the requested response types",
		},
		{
			name: "bad regex", req: readRequest(nil, query(0, 1, matcher(prompb.LabelMatcher_RE, "__name__", "(unclosed"))),
			status: 400, kind: errKindBadRequest, msg: "query 0: matcher __name__=~\"(unclosed\": error parsing regexp",
		},
		{
			name: "bad regex in second query", req: readRequest(nil, query(0, 1, m), query(0, 1, matcher(prompb.LabelMatcher_NRE, "job", "a["))),
			status: 400, kind: errKindBadRequest, msg: "query 1: matcher job!~",
		},
		{
			name: "unknown matcher type", req: readRequest(nil, query(0, 1, matcher(9, "__name__", "m"))),
			status: 400, kind: errKindBadRequest, msg: "unknown matcher type 9",
		},
		{name: "no matchers", req: readRequest(nil, query(0, 1)), status: 400, kind: errKindBadRequest, msg: "no matchers"},
		{
			name: "start after end", req: readRequest(nil, query(10, 9, m)),
			status: 400, kind: errKindBadRequest, msg: "start 10 ms is after end 9 ms",
		},
		{
			name: "sample limit, SAMPLES", req: readRequest(nil, query(0, 1e9, m)),
			opts:    func(o *adapter.ReadOptions) { o.MaxSamplesPerQuery = 299 },
			storage: &fakeStorage{series: okSeries},
			status:  400, kind: errKindLimit, msg: "exceeded sample limit (299); narrow the range or add matchers",
		},
		{
			name: "sample limit, streamed", req: readRequest(streamedFirst, query(0, 1e9, m)),
			opts:    func(o *adapter.ReadOptions) { o.MaxSamplesPerQuery = 299 },
			storage: &fakeStorage{series: okSeries},
			status:  400, kind: errKindLimit, msg: "exceeded sample limit (299); narrow the range or add matchers",
		},
		{
			name: "sample limit summed over queries", req: readRequest(streamedFirst, query(0, 1e9, m), query(0, 1e9, m)),
			opts:    func(o *adapter.ReadOptions) { o.MaxSamplesPerQuery = 500 },
			storage: &fakeStorage{series: okSeries},
			status:  400, kind: errKindLimit, msg: "exceeded sample limit (500)",
		},
		{
			name: "series too large for one frame", req: readRequest(streamedFirst, query(0, 1e9, m)),
			opts:    func(o *adapter.ReadOptions) { o.MaxBytesPerFrame = 256 },
			storage: &fakeStorage{series: okSeries},
			status:  400, kind: errKindLimit, msg: `series too large for one frame: {__name__="m", host="a"} needs`,
		},
		{
			name: "querier error, SAMPLES", req: readRequest(nil, query(0, 1, m)),
			storage: &fakeStorage{querierErr: errors.New("archive open failed: 20250101.0: no such file")},
			status:  500, kind: errKindInternal, msg: "query 0: open querier: archive open failed",
		},
		{
			name: "querier error, streamed", req: readRequest(streamedFirst, query(0, 1, m)),
			storage: &fakeStorage{querierErr: errors.New("archive open failed")},
			status:  500, kind: errKindInternal, msg: "query 0: open chunk querier: archive open failed",
		},
		{
			name: "select error, SAMPLES", req: readRequest(nil, query(0, 1, m)),
			storage: &fakeStorage{series: okSeries, selectErr: errors.New("20250101.0: offset 81920: truncated record")},
			status:  500, kind: errKindInternal, msg: "query 0: select: 20250101.0: offset 81920: truncated record",
		},
		{
			name: "select error, streamed", req: readRequest(streamedFirst, query(0, 1, m)),
			storage: &fakeStorage{series: okSeries, selectErr: errors.New("truncated record")},
			status:  500, kind: errKindInternal, msg: "query 0: select: truncated record",
		},
		{
			// The storage's own sample budget is the client's doing, in
			// either response type.
			name: "storage sample limit, SAMPLES", req: readRequest(nil, query(0, 1, m)),
			storage: &fakeStorage{series: okSeries, selectErr: &translate.LimitError{Limit: 5}},
			status:  400, kind: errKindLimit, msg: "query selects more than 5 samples",
		},
		{
			name: "storage sample limit, streamed", req: readRequest(streamedFirst, query(0, 1, m)),
			storage: &fakeStorage{series: okSeries, selectErr: &translate.LimitError{Limit: 5}},
			status:  400, kind: errKindLimit, msg: "query selects more than 5 samples",
		},
		{
			name: "duplicate series, SAMPLES", req: readRequest(nil, query(0, 1, m)),
			storage: &fakeStorage{series: append(okSeries, okSeries...)},
			status:  500, kind: errKindInternal, msg: `series {__name__="m", host="a"} returned more than once`,
		},
		{
			name: "duplicate series, streamed", req: readRequest(streamedFirst, query(0, 1, m)),
			storage: &fakeStorage{series: append(okSeries, okSeries...)},
			status:  500, kind: errKindInternal, msg: `series {__name__="m", host="a"} returned more than once`,
		},
		{
			name: "samples out of order, SAMPLES", req: readRequest(nil, query(0, 1, m)),
			storage: &fakeStorage{series: []fakeSeries{series(labels.FromStrings("__name__", "m"), floats(10, 1, 2), floats(0, 1, 2))}},
			status:  500, kind: errKindInternal, msg: `series {__name__="m"}: sample timestamp 0 not after 11`,
		},
		{
			name: "overlapping chunks, streamed", req: readRequest(streamedFirst, query(0, 1, m)),
			storage: &fakeStorage{series: []fakeSeries{series(labels.FromStrings("__name__", "m"), floats(10, 1, 2), floats(0, 1, 2))}},
			status:  500, kind: errKindInternal, msg: `series {__name__="m"}: chunk 1: sample timestamp 0 not after 11`,
		},
		{
			name: "empty label value, SAMPLES", req: readRequest(nil, query(0, 1, m)),
			storage: &fakeStorage{series: []fakeSeries{series(labels.FromStrings("__name__", "m", "host", ""), floats(0, 1, 1))}},
			status:  500, kind: errKindInternal, msg: `label "host" has an empty value`,
		},
		{
			name: "chunk without data, streamed", req: readRequest(streamedFirst, query(0, 1, m)),
			storage: &fakeStorage{chunkSeries: []storage.ChunkSeries{&storage.ChunkSeriesEntry{
				Lset: labels.FromStrings("__name__", "m"),
				ChunkIteratorFn: func(chunks.Iterator) chunks.Iterator {
					return storage.NewListChunkSeriesIterator(chunks.Meta{MinTime: 1, MaxTime: 2})
				},
			}}},
			status: 500, kind: errKindInternal, msg: "chunk 0: chunk [1, 2] has no data",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := adapter.DefaultReadOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			st := tc.storage
			if st == nil {
				st = &fakeStorage{}
			}
			h, metrics := newTestHandler(t, st, opts)
			body := tc.body
			if tc.req != nil {
				body = encode(t, tc.req)
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, ReadPath, bytes.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			checkErrorResponse(t, rec, tc.status, tc.msg)
			if tc.status == 405 {
				if got := rec.Header().Get("Allow"); got != "POST" {
					t.Errorf("Allow %q, want POST", got)
				}
			}
			if got := pcptest.MetricValue(t, metrics.Errors.WithLabelValues(handlerRead, tc.kind)); got != 1 {
				t.Errorf("errors{kind=%q} = %v, want 1", tc.kind, got)
			}
			if got := pcptest.MetricValue(t, metrics.Requests.WithLabelValues(handlerRead, strconv.Itoa(tc.status))); got != 1 {
				t.Errorf("requests{code=%d} = %v, want 1", tc.status, got)
			}
		})
	}
}

// checkErrorResponse asserts an error answer made before any body byte:
// the status is the first thing written and the body is one text line.
func checkErrorResponse(t *testing.T, rec *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %q", rec.Code, status, body)
	}
	if !strings.Contains(body, msg) {
		t.Errorf("body %q does not contain %q", body, msg)
	}
	if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") {
		t.Errorf("body %q is not exactly one line", body)
	}
	if got := rec.Header().Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := rec.Header().Get("Content-Encoding"); got != "" {
		t.Errorf("Content-Encoding %q on an error body", got)
	}
}

func framedSnappy(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := snappy.NewBufferedWriter(&buf)
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
