package translate_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// windowSelectors are the metrics the window tests read: in the demo set
// (whole days), a singular counter, an instance domain of gauges and one of
// counters, enough to cover every kind of series without reading the days
// many times; in the small QA directories, everything.
var windowSelectors = map[string]*labels.Matcher{
	"../testdata/demo":                labels.MustNewMatcher(labels.MatchRegexp, "__name__", "kernel_all_load|kernel_all_intr|disk_dev_read|network_interface_in_bytes|hinv_ncpu"),
	"../testdata/pcp-qa/dir-multi":    labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"),
	"../testdata/pcp-qa/dir-multi_v3": labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"),
}

// TestAnswerDoesNotDependOnWindow checks that the samples of every series
// in a window are those of the whole series in that window: in particular
// that the staleness marker at the end of an archive followed by another
// is there however the window ends (before, at, inside and after the gap),
// not only when the window reaches the next archive. The only difference
// allowed is the one materialize's rule makes: a marker with no value
// before it in the window is dropped. Checked for the sample and chunk
// forms, with and without column tables.
func TestAnswerDoesNotDependOnWindow(t *testing.T) {
	for dir, sel := range windowSelectors {
		if testing.Short() && strings.HasSuffix(dir, "_v3") {
			continue // the same directory in v3: not for quick loops
		}
		t.Run(dir, func(t *testing.T) {
			for _, opts := range []multiarchive.Options{{}, {TableDir: t.TempDir(), TableSync: true, TableAll: true}} {
				opts.Paths = []string{dir}
				set, err := multiarchive.Open(opts)
				if err != nil {
					t.Fatal(err)
				}
				st := translate.New(set, translate.Options{})
				whole := selectWindow(t, st, sel, math.MinInt64, math.MaxInt64, false)
				n := 0
				for _, w := range boundaryWindows(set) {
					for _, chunked := range []bool{false, true} {
						got := selectWindow(t, st, sel, w[0], w[1], chunked)
						want := restrict(whole, w[0], w[1])
						if d := diffSeries(got, want); d != "" {
							t.Errorf("tables %v, chunks %v, window [%s, %s]: %s", opts.TableDir != "", chunked, msTime(w[0]), msTime(w[1]), d)
						}
						if !chunked {
							// The series lookups list what has a value.
							if d := diffNames(listSeries(t, st, sel, w[0], w[1]), want); d != "" {
								t.Errorf("tables %v, series lookup over [%s, %s]: %s", opts.TableDir != "", msTime(w[0]), msTime(w[1]), d)
							}
						}
						n++
					}
				}
				if n == 0 {
					t.Fatal("no archive boundary to test")
				}
				set.Close()
			}
		})
	}
}

// boundaryWindows are windows around each end of an archive that has a
// successor: ending before its last record, at it, at the marker's ms,
// inside the gap, at the next start and after it; starting well before,
// just before and just after the last record.
func boundaryWindows(set *multiarchive.Set) [][2]int64 {
	var out [][2]int64
	for _, tl := range set.Hosts() {
		es := tl.Entries()
		for i := 0; i+1 < len(es); i++ {
			a, _ := tl.Open(es[i].Start, es[i].Start)
			if len(a) == 0 {
				continue
			}
			endNs, err := a[0].Archive.End()
			if err != nil {
				continue
			}
			last, next := floorMs(endNs), floorMs(es[i+1].Start)
			ends := []int64{last - 30_000, last - 1, last, last + 1, last + 500, (last + next) / 2, next - 1, next, next + 30_000}
			starts := []int64{last - 600_000, last - 1, last + 1}
			if testing.Short() {
				starts = starts[:1] // go test -short: the ends, from one start
			}
			for _, start := range starts {
				for _, end := range ends {
					if end >= start {
						out = append(out, [2]int64{start, end})
					}
				}
			}
		}
	}
	return out
}

func msTime(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000") }

// selectWindow reads the window's series as samples, from the sample or the
// chunk form, leaving out series without samples.
func selectWindow(t *testing.T, st *translate.Storage, sel *labels.Matcher, mint, maxt int64, chunked bool) map[string][]point {
	t.Helper()
	out := map[string][]point{}
	add := func(lset labels.Labels, it chunkenc.Iterator) {
		var ps []point
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			ps = append(ps, point{ts, v})
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		if len(ps) > 0 {
			out[lset.String()] = ps
		}
	}
	if chunked {
		q, _ := st.ChunkQuerier(mint, maxt)
		ss := q.Select(context.Background(), true, nil, sel)
		var it chunkenc.Iterator
		for ss.Next() {
			s := ss.At()
			ci := s.Iterator(nil)
			var ps []point
			for ci.Next() {
				it = ci.At().Chunk.Iterator(it)
				for it.Next() == chunkenc.ValFloat {
					ts, v := it.At()
					ps = append(ps, point{ts, v})
				}
			}
			if err := ci.Err(); err != nil {
				t.Fatal(err)
			}
			if len(ps) > 0 {
				out[s.Labels().String()] = ps
			}
		}
		if err := ss.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	q, _ := st.Querier(mint, maxt)
	ss := q.Select(context.Background(), true, nil, sel)
	for ss.Next() {
		add(ss.At().Labels(), ss.At().Iterator(nil))
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// restrict is what the whole series hold in [mint, maxt], with a marker
// that has no value before it in the window (since the last marker)
// dropped.
func restrict(whole map[string][]point, mint, maxt int64) map[string][]point {
	out := map[string][]point{}
	for k, ps := range whole {
		var kept []point
		real := false
		for _, p := range ps {
			if p.t < mint || p.t > maxt {
				continue
			}
			if value.IsStaleNaN(p.v) {
				if !real {
					continue
				}
				real = false
			} else {
				real = true
			}
			kept = append(kept, p)
		}
		if len(kept) > 0 {
			out[k] = kept
		}
	}
	return out
}

func diffSeries(got, want map[string][]point) string {
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Sprintf("%s missing", k)
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s: %d samples, want %d (last got %v, want %v)", k, len(g), len(w), g[len(g)-1], w[len(w)-1])
		}
		for i := range w {
			if g[i].t != w[i].t || !sameFloat(g[i].v, w[i].v) {
				return fmt.Sprintf("%s: sample %d is %d %v, want %d %v", k, i, g[i].t, g[i].v, w[i].t, w[i].v)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%s not wanted", k)
		}
	}
	return ""
}

// TestArchiveEndInPromQL: demo-db1's archive of 2026-11-18 ends at
// 23:59:01.057 and the next starts at 00:00:01. An instant query in the
// gap finds nothing, whether or not its lookback reaches the next archive,
// and a range query's points do not change when its end moves into the
// next day.
func TestArchiveEndInPromQL(t *testing.T) {
	set := pcptest.OpenSet(t, multiarchive.Options{}, "../testdata/demo/demo-db1")
	st := translate.New(set, translate.Options{})
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	const sel = `kernel_all_load{instname="1 minute",hostname="demo-db1"}`
	day := time.Date(2026, 11, 18, 23, 59, 0, 0, time.UTC)
	instant := func(at time.Time) promql.Vector {
		q, err := eng.NewInstantQuery(context.Background(), st, nil, sel, at)
		if err != nil {
			t.Fatal(err)
		}
		r := q.Exec(context.Background())
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		v, _ := r.Vector()
		return v
	}
	if v := instant(day.Add(1057 * time.Millisecond)); len(v) != 1 {
		t.Errorf("at the archive's last record: %v, want one value", v)
	}
	for _, at := range []time.Duration{1058 * time.Millisecond, 5 * time.Second, 30 * time.Second, 59 * time.Second, 60 * time.Second, 61 * time.Second} {
		if v := instant(day.Add(at)); len(v) != 0 {
			t.Errorf("at %s, in the gap between archives: %v, want nothing", day.Add(at).Format(time.TimeOnly), v)
		}
	}
	rng := func(end time.Time) map[int64]float64 {
		q, err := eng.NewRangeQuery(context.Background(), st, nil, sel, day.Add(-time.Minute), end, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r := q.Exec(context.Background())
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		m, _ := r.Matrix()
		out := map[int64]float64{}
		for _, s := range m {
			for _, p := range s.Floats {
				out[p.T] = p.F
			}
		}
		return out
	}
	short, long := rng(day.Add(59*time.Second)), rng(day.Add(62*time.Second))
	if len(short) == 0 {
		t.Fatal("no points before the end of the archive")
	}
	for ts, v := range short {
		if lv, ok := long[ts]; !ok || lv != v {
			t.Errorf("point %s: %v ending in the gap, %v (present %v) ending in the next archive", time.UnixMilli(ts).UTC().Format(time.TimeOnly), v, lv, ok)
		}
	}
	for ts := range long {
		if _, ok := short[ts]; !ok && ts <= day.Add(59*time.Second).UnixMilli() {
			t.Errorf("point %s only when the range ends in the next archive", time.UnixMilli(ts).UTC().Format(time.TimeOnly))
		}
	}
	if last := day.Add(time.Second).UnixMilli(); len(short) > 0 {
		for ts := range short {
			if ts > last {
				t.Errorf("point %s after the archive's end", time.UnixMilli(ts).UTC().Format(time.TimeOnly))
			}
		}
	}
}

// listSeries is what a series lookup lists in a window.
func listSeries(t *testing.T, st *translate.Storage, sel *labels.Matcher, mint, maxt int64) map[string]bool {
	t.Helper()
	q, _ := st.Querier(mint, maxt)
	ss := q.Select(context.Background(), false, &storage.SelectHints{Start: mint, End: maxt, Func: "series"}, sel)
	out := map[string]bool{}
	for ss.Next() {
		out[ss.At().Labels().String()] = true
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func diffNames(got map[string]bool, want map[string][]point) string {
	for k := range want {
		if !got[k] {
			return k + " not listed"
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return k + " listed, with no value in the window"
		}
	}
	return ""
}
