package remoteread

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// responseTypes are the accepted_response_types real clients send
// (docs/remote-read-protocol.md §11): none (2.x before 2.55) and
// streamed-first (2.55+, 3.x), plus explicit SAMPLES, each with the type the
// handler must answer.
var responseTypes = []struct {
	name     string
	accepted []prompb.ReadRequest_ResponseType
	streamed bool
}{
	{"2.42 none means SAMPLES", nil, false},
	{"explicit SAMPLES", samplesOnly, false},
	{"3.x streamed first", streamedFirst, true},
}

// decodeAny decodes either response type into the client's view.
func decodeAny(t *testing.T, h http.Handler, req *prompb.ReadRequest, streamed bool) []decoded {
	t.Helper()
	rec := postRead(t, h, req)
	if streamed {
		return decodeStreamed(t, rec)
	}
	resp := decodeSamples(t, rec)
	if len(resp.Results) != len(req.Queries) {
		t.Fatalf("%d results for %d queries", len(resp.Results), len(req.Queries))
	}
	return fromResponse(resp)
}

func TestRoundTrip(t *testing.T) {
	histo := &histogram.Histogram{Count: 1, Sum: 1, Schema: 0, ZeroThreshold: 0.001, ZeroCount: 1}
	var (
		// 300 samples in one chunk: re-chunked into 120+120+60.
		loadH1 = series(labels.FromStrings("__name__", "kernel_all_load", "hostname", "h1", "instance", "1 minute"),
			floats(1_000, 1_000, 300))
		// Three well-formed chunks: passed through.
		loadH2 = series(labels.FromStrings("__name__", "kernel_all_load", "hostname", "h2"),
			floats(0, 10_000, 50), floats(500_000, 10_000, 50), floats(1_000_000, 10_000, 50))
		memFree = series(labels.FromStrings("__name__", "mem_util_free", "hostname", "h1"), floats(5, 7, 10))
		// No data: dropped (docs/remote-read-protocol.md §7 rule 4, §5.2).
		empty = series(labels.FromStrings("__name__", "mem_util_empty", "hostname", "h1"))
		// Floats then histograms: histograms skipped.
		mixed = series(labels.FromStrings("__name__", "mem_util_mixed"),
			floats(0, 1, 5), []chunks.Sample{sample{t: 10, h: histo}, sample{t: 11, h: histo}})
		// Histograms only: dropped.
		histOnly = series(labels.FromStrings("__name__", "mem_util_hist"),
			[]chunks.Sample{sample{t: 10, h: histo}})
	)
	// Random values exercise XOR encoding beyond the trivial.
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := series(labels.FromStrings("__name__", "kernel_percpu_idle", "cpu", "cpu0"), floats(0, 15_000, 250))
	for _, b := range noisy.batches {
		for i := range b {
			b[i] = sample{t: b[i].T(), f: rng.NormFloat64() * 1e6}
		}
	}
	st := &fakeStorage{series: []fakeSeries{memFree, loadH2, empty, loadH1, mixed, histOnly, noisy}}
	req := readRequest(nil,
		query(0, 10_000_000, eq("__name__", "kernel_all_load")),
		query(0, 10_000_000, matcher(prompb.LabelMatcher_RE, "__name__", "mem_util_.*|kernel_percpu_.*")),
	)
	expect := []decoded{
		want(0, loadH1), want(0, loadH2),
		want(1, noisy), want(1, memFree), want(1, mixed),
	}
	for _, rt := range responseTypes {
		t.Run(rt.name, func(t *testing.T) {
			h, m := newTestHandler(t, st, adapter.DefaultReadOptions())
			req.AcceptedResponseTypes = rt.accepted
			got := decodeAny(t, h, req, rt.streamed)
			if !equalDecoded(got, expect) {
				t.Fatalf("got series %v, want %v (or samples differ)", names(got), names(expect))
			}
			typ := responseTypeSamples
			if rt.streamed {
				typ = responseTypeStreamed
			}
			var wantSamples float64
			for _, d := range expect {
				wantSamples += float64(len(d.samples))
			}
			if got := pcptest.MetricValue(t, m.SeriesServed.WithLabelValues(handlerRead, typ)); got != float64(len(expect)) {
				t.Errorf("series served %v, want %d", got, len(expect))
			}
			if got := pcptest.MetricValue(t, m.SamplesServed.WithLabelValues(handlerRead, typ)); got != wantSamples {
				t.Errorf("samples served %v, want %v", got, wantSamples)
			}
			if got := pcptest.MetricValue(t, m.Requests.WithLabelValues(handlerRead, "200")); got != 1 {
				t.Errorf("requests{code=200} %v, want 1", got)
			}
		})
	}
}

// A series is never split: one frame per series, however many chunks.
func TestStreamedOneSeriesPerFrame(t *testing.T) {
	big := series(labels.FromStrings("__name__", "big"), floats(0, 1000, 1000))
	small := series(labels.FromStrings("__name__", "small"), floats(0, 1000, 3))
	st := &fakeStorage{series: []fakeSeries{big, small}}
	h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
	rec := postRead(t, h, readRequest(streamedFirst,
		query(0, 1e9, matcher(prompb.LabelMatcher_RE, "__name__", ".+"))))
	got := decodeStreamed(t, rec)
	if len(got) != 2 {
		t.Fatalf("%d frames, want 2 (one per series)", len(got))
	}
	if !equalDecoded(got, []decoded{want(0, big), want(0, small)}) {
		t.Fatalf("got %v", names(got))
	}
}

func TestMatchers(t *testing.T) {
	st := &fakeStorage{series: []fakeSeries{
		series(labels.FromStrings("__name__", "a", "job", "x"), floats(0, 1, 1)),
		series(labels.FromStrings("__name__", "b", "job", "y", "env", "prod"), floats(0, 1, 1)),
		series(labels.FromStrings("__name__", "bb", "job", "xy"), floats(0, 1, 1)),
		series(labels.FromStrings("__name__", "c"), floats(0, 1, 1)),
	}}
	const (
		EQ  = prompb.LabelMatcher_EQ
		NEQ = prompb.LabelMatcher_NEQ
		RE  = prompb.LabelMatcher_RE
		NRE = prompb.LabelMatcher_NRE
	)
	tests := []struct {
		name     string
		matchers []*prompb.LabelMatcher
		want     []string // __name__ of the series returned, in order
	}{
		{"EQ", []*prompb.LabelMatcher{matcher(EQ, "__name__", "a")}, []string{"a"}},
		{"NEQ on __name__", []*prompb.LabelMatcher{matcher(NEQ, "__name__", "a")}, []string{"b", "bb", "c"}},
		{"RE is anchored", []*prompb.LabelMatcher{matcher(RE, "__name__", "b")}, []string{"b"}},
		{"RE alternation", []*prompb.LabelMatcher{matcher(RE, "__name__", "a|bb")}, []string{"a", "bb"}},
		{"NRE on __name__", []*prompb.LabelMatcher{matcher(NRE, "__name__", "b.*")}, []string{"a", "c"}},
		{"no __name__ matcher", []*prompb.LabelMatcher{matcher(EQ, "job", "x")}, []string{"a"}},
		{"absent label equals empty", []*prompb.LabelMatcher{matcher(EQ, "env", "")}, []string{"a", "bb", "c"}},
		{"NEQ empty requires the label", []*prompb.LabelMatcher{matcher(NEQ, "env", "")}, []string{"b"}},
		{"RE .* matches absent", []*prompb.LabelMatcher{matcher(RE, "job", ".*")}, []string{"a", "b", "bb", "c"}},
		{"RE .+ requires the label", []*prompb.LabelMatcher{matcher(RE, "job", ".+")}, []string{"a", "b", "bb"}},
		{"NRE on absent label", []*prompb.LabelMatcher{matcher(NRE, "job", "x.*")}, []string{"b", "c"}},
		{"combined", []*prompb.LabelMatcher{matcher(RE, "__name__", "b+"), matcher(NEQ, "job", "y")}, []string{"bb"}},
		{"nothing matches", []*prompb.LabelMatcher{matcher(EQ, "__name__", "zzz")}, nil},
	}
	for _, rt := range responseTypes {
		for _, tc := range tests {
			t.Run(rt.name+"/"+tc.name, func(t *testing.T) {
				h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
				got := decodeAny(t, h, readRequest(rt.accepted, query(0, 10, tc.matchers...)), rt.streamed)
				var gotNames []string
				for _, d := range got {
					gotNames = append(gotNames, d.lset.Get("__name__"))
				}
				if !slices.Equal(gotNames, tc.want) {
					t.Fatalf("got %v, want %v", gotNames, tc.want)
				}
			})
		}
	}
}

func TestHintsPassThrough(t *testing.T) {
	tests := []struct {
		name  string
		hints *prompb.ReadHints
		want  *storage.SelectHints
	}{
		{"absent hints stay nil", nil, nil},
		{
			"rate(x[5m])",
			&prompb.ReadHints{Func: "rate", RangeMs: 300_000, StartMs: 1_000, EndMs: 900_000},
			&storage.SelectHints{Func: "rate", Range: 300_000, Start: 1_000, End: 900_000},
		},
		{
			"sum by (instance)",
			&prompb.ReadHints{StepMs: 600_000, Func: "sum", Grouping: []string{"instance"}, By: true, StartMs: 5, EndMs: 6},
			&storage.SelectHints{Step: 600_000, Func: "sum", Grouping: []string{"instance"}, By: true, Start: 5, End: 6},
		},
		{"series API", &prompb.ReadHints{Func: "series"}, &storage.SelectHints{Func: "series"}},
	}
	for _, rt := range responseTypes {
		for _, tc := range tests {
			t.Run(rt.name+"/"+tc.name, func(t *testing.T) {
				st := &fakeStorage{}
				h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
				q := query(-300_000, 900_000, eq("__name__", "x"), matcher(prompb.LabelMatcher_NRE, "job", "a|b"))
				q.Hints = tc.hints
				decodeAny(t, h, readRequest(rt.accepted, q), rt.streamed)

				calls := st.selectCalls()
				if len(calls) != 1 {
					t.Fatalf("%d Select calls, want 1", len(calls))
				}
				c := calls[0]
				if c.mint != -300_000 || c.maxt != 900_000 {
					t.Errorf("querier range [%d, %d], want [-300000, 900000]", c.mint, c.maxt)
				}
				if c.chunked != rt.streamed {
					t.Errorf("chunk querier used: %v, want %v", c.chunked, rt.streamed)
				}
				if !c.sorted {
					t.Error("Select called with sortSeries=false")
				}
				if got := matcherStrings(c.matchers); !slices.Equal(got, []string{`__name__="x"`, `job!~"a|b"`}) {
					t.Errorf("matchers %v", got)
				}
				if !equalHints(c.hints, tc.want) {
					t.Errorf("hints %+v, want %+v", c.hints, tc.want)
				}
			})
		}
	}
}

func matcherStrings(ms []*labels.Matcher) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

func equalHints(a, b *storage.SelectHints) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Start == b.Start && a.End == b.End && a.Step == b.Step && a.Func == b.Func &&
		slices.Equal(a.Grouping, b.Grouping) && a.By == b.By && a.Range == b.Range &&
		a.Limit == 0 && a.ShardCount == 0 && a.ShardIndex == 0 && !a.DisableTrimming && a.ProjectionLabels == nil
}

// Prometheus merges our output with its TSDB
// (docs/remote-read-protocol.md §7), so unsorted storage output must still
// leave sorted.
func TestSortsUnsortedSeries(t *testing.T) {
	fixtures := []fakeSeries{
		series(labels.FromStrings("__name__", "m", "host", "b"), floats(0, 1, 2)),
		series(labels.FromStrings("__name__", "m", "host", "a", "z", "1"), floats(0, 1, 2)),
		series(labels.FromStrings("__name__", "m", "host", "a"), floats(0, 1, 2)),
		series(labels.FromStrings("__name__", "m"), floats(0, 1, 2)),
	}
	st := &fakeStorage{series: fixtures}
	for _, rt := range responseTypes {
		t.Run(rt.name, func(t *testing.T) {
			h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
			got := decodeAny(t, h, readRequest(rt.accepted, query(0, 10, eq("__name__", "m"))), rt.streamed)
			wantOrder := []decoded{want(0, fixtures[3]), want(0, fixtures[2]), want(0, fixtures[1]), want(0, fixtures[0])}
			if !equalDecoded(got, wantOrder) {
				t.Fatalf("got %v, want %v", names(got), names(wantOrder))
			}
			if !slices.IsSortedFunc(got, func(a, b decoded) int { return labels.Compare(a.lset, b.lset) }) {
				t.Fatal("not sorted by labels.Compare")
			}
		})
	}
}

// Unknown entries are skipped; the first supported one wins
// (docs/remote-read-protocol.md §3).
func TestNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		accepted []prompb.ReadRequest_ResponseType
		streamed bool
	}{
		{"unknown then SAMPLES", []prompb.ReadRequest_ResponseType{5, prompb.ReadRequest_SAMPLES}, false},
		{"SAMPLES then streamed", []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS}, false},
		{"unknown then streamed", []prompb.ReadRequest_ResponseType{7, prompb.ReadRequest_STREAMED_XOR_CHUNKS}, true},
	}
	st := &fakeStorage{series: []fakeSeries{series(labels.FromStrings("__name__", "m"), floats(0, 1, 2))}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
			got := decodeAny(t, h, readRequest(tc.accepted, query(0, 10, eq("__name__", "m"))), tc.streamed)
			if len(got) != 1 {
				t.Fatalf("%d series, want 1", len(got))
			}
		})
	}
}

func TestQueriersClosed(t *testing.T) {
	st := &fakeStorage{series: []fakeSeries{series(labels.FromStrings("__name__", "m"), floats(0, 1, 2))}}
	for _, rt := range responseTypes {
		t.Run(rt.name, func(t *testing.T) {
			before := st.closedQueriers()
			h, _ := newTestHandler(t, st, adapter.DefaultReadOptions())
			decodeAny(t, h, readRequest(rt.accepted, query(0, 10, eq("__name__", "m")), query(0, 10, eq("__name__", "n"))), rt.streamed)
			if got := st.closedQueriers() - before; got != 2 {
				t.Fatalf("%d queriers closed, want 2", got)
			}
		})
	}
}
