package translate_test

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// fuzzStore is the storage over one small archive, with every series it
// serves (and their samples) as the reference for matcher semantics.
var fuzzStore = sync.OnceValues(func() (*translate.Storage, error) {
	set, err := multiarchive.Open(multiarchive.Options{Paths: []string{"../testdata/archives/v3-basic"}})
	if err != nil {
		return nil, err
	}
	return translate.New(set, translate.Options{}), nil
})

type fuzzSeries struct {
	lset labels.Labels
	ts   []int64
	vs   []float64
}

func selectAll(t testing.TB, q storage.Querier, ms ...*labels.Matcher) []fuzzSeries {
	t.Helper()
	ss := q.Select(context.Background(), true, nil, ms...)
	var out []fuzzSeries
	for ss.Next() {
		s := fuzzSeries{lset: ss.At().Labels()}
		it := ss.At().Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			s.ts, s.vs = append(s.ts, ts), append(s.vs, v)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := ss.Err(); err != nil {
		t.Fatalf("select %v: %v", ms, err)
	}
	return out
}

// fuzzLabelNames are the names matchers are made on: the labels series
// carry, and some they do not.
var fuzzLabelNames = []string{"__name__", "hostname", "instname", "instid", "agent", "domainname", "machineid", "pcp_name", "nope", ""}

// FuzzSelectMatchers selects with up to four matchers made from the input
// over a small archive. Select must never panic or fail, and must agree with
// labels.Matcher on what it returns: exactly the series of the whole
// archive (selected with __name__=~".+") that every matcher accepts, each
// with the same samples.
//
//	go test -run '^$' -fuzz '^FuzzSelectMatchers$' -fuzztime 1m ./translate/
func FuzzSelectMatchers(f *testing.F) {
	f.Add(uint8(0), uint8(0), "kernel_all_load", uint8(2), uint8(2), "1 minute", uint8(0), uint8(0), "", uint8(0), uint8(0), "")
	f.Add(uint8(2), uint8(0), "kernel_all_.*", uint8(3), uint8(2), "(1|5) minute", uint8(1), uint8(3), "15", uint8(0), uint8(9), "")
	f.Add(uint8(1), uint8(2), "", uint8(0), uint8(0), "", uint8(0), uint8(0), "", uint8(0), uint8(0), "")
	f.Add(uint8(3), uint8(0), "hinv.*|mem.*", uint8(0), uint8(8), "", uint8(0), uint8(1), "vm", uint8(2), uint8(3), "1.*")
	f.Add(uint8(2), uint8(0), "(a+)+$", uint8(2), uint8(2), "", uint8(3), uint8(2), ".*", uint8(1), uint8(4), "x")
	f.Fuzz(func(t *testing.T, t1, n1 uint8, v1 string, t2, n2 uint8, v2 string, t3, n3 uint8, v3 string, t4, n4 uint8, v4 string) {
		st, err := fuzzStore()
		if err != nil {
			t.Fatal(err)
		}
		var ms []*labels.Matcher
		for _, in := range []struct {
			typ, name uint8
			value     string
		}{{t1, n1, v1}, {t2, n2, v2}, {t3, n3, v3}, {t4, n4, v4}} {
			if in.typ >= 8 {
				continue // fewer matchers
			}
			m, err := labels.NewMatcher(labels.MatchType(in.typ%4), fuzzLabelNames[int(in.name)%len(fuzzLabelNames)], in.value)
			if err != nil {
				return // an invalid regex: the adapter answers 400
			}
			ms = append(ms, m)
		}
		if len(ms) == 0 {
			return
		}
		q, err := st.Querier(math.MinInt64, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		all := selectAll(t, q, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
		got := selectAll(t, q, ms...)
		var want []fuzzSeries
	series:
		for _, s := range all {
			for _, m := range ms {
				if !m.Matches(s.lset.Get(m.Name)) {
					continue series
				}
			}
			want = append(want, s)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d series, labels.Matcher accepts %d of the archive's %d", ms, len(got), len(want), len(all))
		}
		for i := range want {
			g, w := got[i], want[i]
			if !labels.Equal(g.lset, w.lset) {
				t.Fatalf("%v: series %d is %s, want %s", ms, i, g.lset, w.lset)
			}
			if len(g.ts) != len(w.ts) {
				t.Fatalf("%v: %s: %d samples, want %d", ms, g.lset, len(g.ts), len(w.ts))
			}
			for j := range w.ts {
				if g.ts[j] != w.ts[j] || !(g.vs[j] == w.vs[j] || value.IsStaleNaN(g.vs[j]) && value.IsStaleNaN(w.vs[j]) || math.IsNaN(g.vs[j]) && math.IsNaN(w.vs[j])) {
					t.Fatalf("%v: %s: sample %d is %d %v, want %d %v", ms, g.lset, j, g.ts[j], g.vs[j], w.ts[j], w.vs[j])
				}
			}
		}
	})
}
