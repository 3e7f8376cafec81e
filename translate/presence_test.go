package translate_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// TestLookupsListWhatHasValues: the series, label and metadata lookups
// leave out what an archive describes but never gave a value, as pmproxy
// does. v2-novalues is pmlogger's, logging mem.util.highFree and highTotal,
// which have no value on this kernel; pmi-novalues (libpcp's pmi) has an
// instance that never has a value, one that has values only from 50 s on
// and a metric with values only in the first 20 s.
func TestLookupsListWhatHasValues(t *testing.T) {
	for _, tables := range []bool{false, true} {
		opts := multiarchive.Options{Paths: []string{"../testdata/archives/v2-novalues", "../testdata/archives/pmi-novalues"}}
		if tables {
			opts.TableDir, opts.TableSync, opts.TableAll = t.TempDir(), true, true
		}
		set, err := multiarchive.Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		st := translate.New(set, translate.Options{})
		all := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
		names := func(mint, maxt int64, ms ...*labels.Matcher) []string {
			q, _ := st.Querier(mint, maxt)
			v, _, err := q.LabelValues(context.Background(), "__name__", nil, ms...)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		insts := func(mint, maxt int64) []string {
			q, _ := st.Querier(mint, maxt)
			v, _, err := q.LabelValues(context.Background(), "instname", nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "test_withvalues"))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		whole := names(math.MinInt64, math.MaxInt64, all)
		for _, no := range []string{"mem_util_highFree", "mem_util_highTotal"} {
			if slices.Contains(whole, no) {
				t.Errorf("tables %v: label values list %s, which never has a value", tables, no)
			}
		}
		for _, yes := range []string{"kernel_all_load", "hinv_ncpu", "test_withvalues", "test_single"} {
			if !slices.Contains(whole, yes) {
				t.Errorf("tables %v: label values lack %s (%v)", tables, yes, whole)
			}
		}
		t0 := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC).UnixMilli()
		for _, c := range []struct {
			mint, maxt int64
			names      []string
			insts      []string
		}{
			{t0, t0 + 90_000, []string{"test_single", "test_withvalues"}, []string{"a", "b"}},
			{t0, t0 + 40_000, []string{"test_single", "test_withvalues"}, []string{"a"}},
			{t0 + 20_001, t0 + 49_999, []string{"test_withvalues"}, []string{"a"}},
			{t0 + 50_000, t0 + 50_000, []string{"test_withvalues"}, []string{"a", "b"}},
			{t0 + 90_001, t0 + 200_000, nil, nil},
		} {
			host := labels.MustNewMatcher(labels.MatchEqual, "hostname", "pmi-host")
			if got := names(c.mint, c.maxt, all, host); !slices.Equal(got, c.names) {
				t.Errorf("tables %v: names in [%d, %d] s: %v, want %v", tables, (c.mint-t0)/1000, (c.maxt-t0)/1000, got, c.names)
			}
			if got := insts(c.mint, c.maxt); !slices.Equal(got, c.insts) {
				t.Errorf("tables %v: instances in [%d, %d] s: %v, want %v", tables, (c.mint-t0)/1000, (c.maxt-t0)/1000, got, c.insts)
			}
		}
		// /api/v1/series: one NaN sample per series, at its first value.
		q, _ := st.Querier(t0+45_000, t0+90_000)
		ss := q.Select(context.Background(), false, &storage.SelectHints{Start: t0 + 45_000, End: t0 + 90_000, Func: "series"},
			labels.MustNewMatcher(labels.MatchEqual, "__name__", "test_withvalues"))
		firsts := map[string]int64{}
		for ss.Next() {
			it := ss.At().Iterator(nil)
			for it.Next() != 0 {
				ts, v := it.At()
				if !math.IsNaN(v) {
					t.Errorf("series lookup sample %v, want NaN", v)
				}
				firsts[ss.At().Labels().Get("instname")] = ts - t0
			}
		}
		if want := map[string]int64{"a": 50_000, "b": 50_000}; !equalMaps(firsts, want) {
			t.Errorf("tables %v: series lookup gives %v, want %v", tables, firsts, want)
		}
		md, _, err := st.Metadata(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		var mdNames []string
		for _, m := range md {
			mdNames = append(mdNames, m.Name)
		}
		if want := []string{"hinv_ncpu", "kernel_all_load", "pmcd_pid", "pmcd_pmlogger_port", "pmcd_seqnum", "test_single", "test_withvalues"}; !slices.Equal(mdNames, want) {
			t.Errorf("tables %v: metadata of %v, want %v", tables, mdNames, want)
		}
		set.Close()
	}
}

func equalMaps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
