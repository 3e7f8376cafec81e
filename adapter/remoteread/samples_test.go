package remoteread

import (
	"bytes"
	"math"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

// TestSamplesWireIsMarshal: the SAMPLES answer, written in wire form
// directly, is byte for byte what prompb's Marshal makes of the same
// response, for values and times proto3 leaves out (0) or writes at full
// length (negative times, NaN, -0, infinities), several queries, empty
// series dropped, series larger than a block (several blocks, and blocks
// grown past their size), and kept buffers used a second time.
func TestSamplesWireIsMarshal(t *testing.T) {
	odd := []chunks.Sample{
		sample{t: -5000, f: -1.5}, sample{t: -1, f: 0}, sample{t: 0, f: 2},
		sample{t: 1, f: math.Copysign(0, -1)}, sample{t: 2, f: math.NaN()},
		sample{t: 3, f: math.Float64frombits(0x7ff0000000000002)}, // staleness marker
		sample{t: 4, f: math.Inf(-1)}, sample{t: 1 << 40, f: math.MaxFloat64},
	}
	st := &fakeStorage{series: []fakeSeries{
		series(labels.FromStrings("__name__", "a", "host", "h1", "inst", "ü/0"), odd),
		series(labels.FromStrings("__name__", "a", "host", "h2"), floats(10, 1000, 300)),
		series(labels.FromStrings("__name__", "b", "host", "h1"), floats(0, 7, 3)),
		series(labels.FromStrings("__name__", "b", "host", "h3")), // no samples
	}}
	st.hinted = true // as translate's series, whose hints size the blocks
	for i := 0; i < 6; i++ {
		st.series = append(st.series, series(labels.FromStrings("__name__", "c", "i", string(rune('0'+i))), floats(int64(i), 1000, 20000+9000*i)))
	}
	h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
	req := readRequest(samplesOnly,
		query(math.MinInt64/2, math.MaxInt64/2, eq("__name__", "a")),
		query(0, 5, eq("__name__", "b")),
		query(0, 1, eq("__name__", "none")),
		query(math.MinInt64/2, math.MaxInt64/2, eq("__name__", "c")))
	for pass := 0; pass < 2; pass++ {
		rec := postRead(t, h, req)
		got := decodeSamples(t, rec)
		if kept := h.(*readHandler).samplesKept; kept == nil || cap(kept.blocks) < 2 {
			t.Fatalf("pass %d: the answer's blocks were not kept, or it took only one", pass)
		}
		// The same response, made by prompb.
		want := &prompb.ReadResponse{}
		for _, r := range got.Results {
			q := &prompb.QueryResult{}
			for _, ts := range r.Timeseries {
				q.Timeseries = append(q.Timeseries, &prompb.TimeSeries{Labels: ts.Labels, Samples: ts.Samples})
			}
			want.Results = append(want.Results, q)
		}
		wantBytes, err := want.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		gotBytes, err := snappy.Decode(nil, rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotBytes, wantBytes) {
			t.Fatalf("pass %d: %d bytes on the wire, prompb makes %d", pass, len(gotBytes), len(wantBytes))
		}
		// And the content is the fixture's.
		if len(got.Results) != 4 || len(got.Results[0].Timeseries) != 2 || len(got.Results[1].Timeseries) != 1 || len(got.Results[2].Timeseries) != 0 || len(got.Results[3].Timeseries) != 6 {
			t.Fatalf("pass %d: results %v", pass, got.Results)
		}
		s0 := got.Results[0].Timeseries[0].Samples
		if len(s0) != len(odd) {
			t.Fatalf("%d samples, want %d", len(s0), len(odd))
		}
		for i, s := range s0 {
			w := odd[i]
			same := math.Float64bits(s.Value) == math.Float64bits(w.F()) || w.F() == 0 && s.Value == 0 // proto3 drops -0's sign, as prompb does
			if s.Timestamp != w.T() || !same {
				t.Fatalf("sample %d: %v, want %d %v", i, s, w.T(), w.F())
			}
		}
		if b := got.Results[1].Timeseries[0].Samples; len(b) != 3 || b[0].Timestamp != 0 || b[0].Value != 0 || b[2].Timestamp != 14 {
			t.Fatalf("query 2: %v", b)
		}
		for i, ts := range got.Results[3].Timeseries {
			if b := ts.Samples; len(b) != 20000+9000*i || b[len(b)-1].Timestamp != int64(i)+int64(len(b)-1)*1000 {
				t.Fatalf("query 4, series %d: %d samples", i, len(b))
			}
		}
	}
}
