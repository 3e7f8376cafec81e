package remoteread

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

var (
	samplesOnly   = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES}
	streamedFirst = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS, prompb.ReadRequest_SAMPLES}
)

func newTestHandler(t *testing.T, st *fakeStorage, opts adapter.ReadOptions) (http.Handler, *adapter.Metrics) {
	t.Helper()
	m, err := adapter.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewReadHandler(st, opts, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return h, m
}

func readRequest(types []prompb.ReadRequest_ResponseType, queries ...*prompb.Query) *prompb.ReadRequest {
	return &prompb.ReadRequest{Queries: queries, AcceptedResponseTypes: types}
}

func query(start, end int64, ms ...*prompb.LabelMatcher) *prompb.Query {
	return &prompb.Query{StartTimestampMs: start, EndTimestampMs: end, Matchers: ms}
}

func matcher(t prompb.LabelMatcher_Type, name, value string) *prompb.LabelMatcher {
	return &prompb.LabelMatcher{Type: t, Name: name, Value: value}
}

func eq(name, value string) *prompb.LabelMatcher {
	return matcher(prompb.LabelMatcher_EQ, name, value)
}

func encode(t *testing.T, req *prompb.ReadRequest) []byte {
	t.Helper()
	body, err := EncodeReadRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// post sends body the way Prometheus does
// (docs/remote-read-protocol.md §1, §2.1) and records the answer.
func post(h http.Handler, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, ReadPath, bytes.NewReader(body))
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func postRead(t *testing.T, h http.Handler, req *prompb.ReadRequest) *httptest.ResponseRecorder {
	t.Helper()
	return post(h, encode(t, req))
}

// checkAnswer checks that a remote-read answer is a 200 of contentType
// with Content-Encoding encoding ("" for none).
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, contentType, encoding string) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
	}
	if got := rec.Header().Get("Content-Type"); got != contentType {
		t.Fatalf("Content-Type %q, want %q", got, contentType)
	}
	if got := rec.Header().Get("Content-Encoding"); got != encoding {
		t.Fatalf("Content-Encoding %q, want %q", got, encoding)
	}
}

// decodeSamples checks a SAMPLES response's status and headers and decodes it.
func decodeSamples(t *testing.T, rec *httptest.ResponseRecorder) *prompb.ReadResponse {
	t.Helper()
	checkAnswer(t, rec, ContentTypeSamples, "snappy")
	resp, err := DecodeReadResponse(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// decoded is a series as a client ends up with it.
type decoded struct {
	query   int64
	lset    labels.Labels
	samples []prompb.Sample
}

// decodeStreamed decodes a STREAMED_XOR_CHUNKS response like a 3.x client
// (storage/remote/codec.go chunkedSeriesSet) and checks every rule of
// docs/remote-read-protocol.md §5–§7 the client relies on without checking
// itself.
func decodeStreamed(t *testing.T, rec *httptest.ResponseRecorder) []decoded {
	t.Helper()
	checkAnswer(t, rec, ContentTypeStreamed, "")
	frames, err := ReadChunkedFrames(bytes.NewReader(rec.Body.Bytes()), 50e6)
	if err != nil {
		t.Fatal(err)
	}
	var out []decoded
	b := labels.NewScratchBuilder(0)
	for i, f := range frames {
		if len(f.ChunkedSeries) != 1 {
			t.Fatalf("frame %d holds %d series; clients read only the first", i, len(f.ChunkedSeries))
		}
		cs := f.ChunkedSeries[0]
		d := decoded{query: f.QueryIndex, lset: cs.ToLabels(&b, nil)}
		if len(cs.Chunks) == 0 {
			t.Fatalf("frame %d (%s): no chunks", i, d.lset)
		}
		for j, c := range cs.Chunks {
			if c.Type != prompb.Chunk_XOR {
				t.Fatalf("frame %d chunk %d: encoding %v, want XOR", i, j, c.Type)
			}
			chk, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
			if err != nil {
				t.Fatalf("frame %d chunk %d: %v", i, j, err)
			}
			if n := chk.NumSamples(); n == 0 || n > 120 {
				t.Fatalf("frame %d chunk %d: %d samples, want 1..120", i, j, n)
			}
			it := chk.Iterator(nil)
			first := true
			var last int64
			for it.Next() == chunkenc.ValFloat {
				ts, v := it.At()
				if first && ts != c.MinTimeMs {
					t.Fatalf("frame %d chunk %d: first sample at %d, MinTimeMs %d", i, j, ts, c.MinTimeMs)
				}
				if n := len(d.samples); n > 0 && ts <= d.samples[n-1].Timestamp {
					t.Fatalf("frame %d chunk %d: sample at %d not after %d", i, j, ts, d.samples[n-1].Timestamp)
				}
				first, last = false, ts
				d.samples = append(d.samples, prompb.Sample{Timestamp: ts, Value: v})
			}
			if err := it.Err(); err != nil {
				t.Fatalf("frame %d chunk %d: %v", i, j, err)
			}
			if last != c.MaxTimeMs {
				t.Fatalf("frame %d chunk %d: last sample at %d, MaxTimeMs %d", i, j, last, c.MaxTimeMs)
			}
		}
		out = append(out, d)
	}
	return out
}

// fromResponse flattens a SAMPLES response into the same shape.
func fromResponse(resp *prompb.ReadResponse) []decoded {
	var out []decoded
	b := labels.NewScratchBuilder(0)
	for qi, res := range resp.Results {
		for _, ts := range res.Timeseries {
			out = append(out, decoded{query: int64(qi), lset: ts.ToLabels(&b, nil), samples: ts.Samples})
		}
	}
	return out
}

// want builds expected decoded series from fixtures.
func want(query int64, s fakeSeries) decoded {
	d := decoded{query: query, lset: s.lset}
	for _, smp := range s.samples() {
		if smp.H() == nil {
			d.samples = append(d.samples, prompb.Sample{Timestamp: smp.T(), Value: smp.F()})
		}
	}
	return d
}

func equalDecoded(a, b []decoded) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].query != b[i].query || labels.Compare(a[i].lset, b[i].lset) != 0 || len(a[i].samples) != len(b[i].samples) {
			return false
		}
		for j := range a[i].samples {
			if sa, sb := a[i].samples[j], b[i].samples[j]; sa.Timestamp != sb.Timestamp || sa.Value != sb.Value {
				return false
			}
		}
	}
	return true
}

func names(ds []decoded) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.lset.String()
	}
	return out
}
