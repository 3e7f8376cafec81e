package translate_test

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

func m(t labels.MatchType, name, value string) *labels.Matcher {
	return labels.MustNewMatcher(t, name, value)
}

// TestSelectMatchers pins Prometheus' matcher semantics on PCP data: an
// absent label equals "", regexes are anchored, != and !~ work on every
// label including __name__, and non-numeric metrics are not series.
func TestSelectMatchers(t *testing.T) {
	set := pcptest.OpenSet(t, multiarchive.Options{}, "../testdata/archives/v2-basic")
	host := set.Hosts()[0].Host
	q, _ := translate.New(set, translate.Options{}).Querier(math.MinInt64, math.MaxInt64)
	for _, c := range []struct {
		name string
		ms   []*labels.Matcher
		want int
	}{
		{"name equality", []*labels.Matcher{m(labels.MatchEqual, "__name__", "kernel_all_load")}, 3},
		{"instname", []*labels.Matcher{m(labels.MatchEqual, "__name__", "kernel_all_load"), m(labels.MatchEqual, "instname", "1 minute")}, 1},
		{"instid", []*labels.Matcher{m(labels.MatchEqual, "__name__", "kernel_all_load"), m(labels.MatchEqual, "instid", "15")}, 1},
		{"instname regex is anchored", []*labels.Matcher{m(labels.MatchEqual, "__name__", "kernel_all_load"), m(labels.MatchRegexp, "instname", "1")}, 0},
		{"instname not regex", []*labels.Matcher{m(labels.MatchEqual, "__name__", "kernel_all_load"), m(labels.MatchNotRegexp, "instname", "1.*")}, 1},
		{"present label never equals empty", []*labels.Matcher{m(labels.MatchEqual, "__name__", "kernel_all_load"), m(labels.MatchEqual, "instname", "")}, 0},
		{"absent label equals empty", []*labels.Matcher{m(labels.MatchEqual, "__name__", "hinv_ncpu"), m(labels.MatchEqual, "instname", "")}, 1},
		{"absent label is not non-empty", []*labels.Matcher{m(labels.MatchEqual, "__name__", "hinv_ncpu"), m(labels.MatchNotEqual, "instname", "")}, 0},
		{"name regex", []*labels.Matcher{m(labels.MatchRegexp, "__name__", "kernel_all_lo.*")}, 3},
		{"name alternation", []*labels.Matcher{m(labels.MatchRegexp, "__name__", "kernel_all_load|hinv_ncpu")}, 4},
		{"name not regex", []*labels.Matcher{m(labels.MatchRegexp, "__name__", "hinv_.*|kernel_all_load"), m(labels.MatchNotRegexp, "__name__", "kernel.*")}, 1},
		{"name not equal", []*labels.Matcher{m(labels.MatchRegexp, "__name__", "hinv_ncpu|kernel_all_load"), m(labels.MatchNotEqual, "__name__", "hinv_ncpu")}, 3},
		{"hostname", []*labels.Matcher{m(labels.MatchEqual, "__name__", "hinv_ncpu"), m(labels.MatchEqual, "hostname", host)}, 1},
		{"other host", []*labels.Matcher{m(labels.MatchEqual, "__name__", "hinv_ncpu"), m(labels.MatchEqual, "hostname", "nope")}, 0},
		{"strings are not samples", []*labels.Matcher{m(labels.MatchEqual, "__name__", "kernel_uname_release")}, 0},
		{"unknown name", []*labels.Matcher{m(labels.MatchEqual, "__name__", "no_such_metric")}, 0},
		// kernel.all.load and kernel.all.pressure.cpu.some.avg both have one.
		{"no name matcher", []*labels.Matcher{m(labels.MatchEqual, "instname", "5 minute")}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			ss := q.Select(context.Background(), false, nil, c.ms...)
			n := 0
			for ss.Next() {
				n++
				lset := ss.At().Labels()
				for _, mt := range c.ms {
					if !mt.Matches(lset.Get(mt.Name)) {
						t.Errorf("%s does not match %s", lset, mt)
					}
				}
				if lset.Get("hostname") != host {
					t.Errorf("%s lacks hostname %q", lset, host)
				}
			}
			if err := ss.Err(); err != nil {
				t.Fatal(err)
			}
			if n != c.want {
				t.Errorf("%d series, want %d", n, c.want)
			}
		})
	}
}

// TestSelectWindow checks that hints narrow the window and that the limit on
// samples is an error the adapter can report.
func TestSelectWindow(t *testing.T) {
	set := pcptest.OpenSet(t, multiarchive.Options{}, "../testdata/archives/v2-basic")
	count := func(st *translate.Storage, mint, maxt int64, h *storage.SelectHints) (int, error) {
		q, _ := st.Querier(mint, maxt)
		ss := q.Select(context.Background(), false, h, m(labels.MatchEqual, "__name__", "kernel_all_load"), m(labels.MatchEqual, "instid", "1"))
		n := 0
		for ss.Next() {
			it := ss.At().Iterator(nil)
			for it.Next() != 0 {
				n++
			}
		}
		return n, ss.Err()
	}
	st := translate.New(set, translate.Options{})
	all, err := count(st, math.MinInt64, math.MaxInt64, nil)
	if err != nil || all < 10 {
		t.Fatalf("%d samples, %v", all, err)
	}
	start, _ := set.Hosts()[0].Span()
	from := start/1e6 + 5000
	some, _ := count(st, from, math.MaxInt64, nil)
	hinted, _ := count(st, math.MinInt64, math.MaxInt64, &storage.SelectHints{Start: from, End: math.MaxInt64})
	if some >= all || some == 0 || hinted != some {
		t.Errorf("all %d, from +5s %d, hinted %d", all, some, hinted)
	}
	if n, _ := count(st, 0, 1000, nil); n != 0 {
		t.Errorf("1970: %d samples", n)
	}
	limited := translate.New(set, translate.Options{MaxSamples: 5})
	if _, err := count(limited, math.MinInt64, math.MaxInt64, nil); err == nil {
		t.Error("no error over the sample limit")
	} else if _, ok := err.(*translate.LimitError); !ok {
		t.Errorf("error %T %v, want *LimitError", err, err)
	}
}
