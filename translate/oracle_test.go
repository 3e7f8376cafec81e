package translate_test

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

type point struct {
	t int64
	v float64
}

// TestSelectMatchesLibpcp selects every metric of each test archive (and
// archive directory) and checks that the samples are exactly libpcp's
// numeric values: same value, time floored to the ms, one sample per ms
// (the first), named as the README says, with a staleness marker at each
// <mark> for the series that had samples before it.
func TestSelectMatchesLibpcp(t *testing.T) {
	for _, root := range []string{"../testdata/archives", "../testdata/pcp-qa"} {
		cases, err := pcptest.Cases(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				checkSelect(t, c, multiarchive.Options{})
				// The same through column tables of every archive, and
				// through tables of closed archives plus the growing
				// in-memory table of each host's newest.
				dir := t.TempDir()
				checkSelect(t, c, multiarchive.Options{TableDir: dir, TableSync: true, TableAll: true})
				// Again from the tables now on disk (a restarted server).
				checkSelect(t, c, multiarchive.Options{TableDir: dir, TableSync: true, TableAll: true})
				checkSelect(t, c, multiarchive.Options{TableDir: t.TempDir(), TableSync: true})
			})
		}
	}
}

func checkSelect(t *testing.T, c pcptest.Case, opts multiarchive.Options) {
	opts.Paths = []string{c.Archive}
	set, err := multiarchive.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	hosts := set.Hosts()
	if len(hosts) != 1 {
		t.Fatalf("want 1 host, got %d", len(hosts))
	}
	host := hosts[0].Host
	// Every name of a PMID is queryable; libpcp's dump names one of them.
	arcs, _ := hosts[0].Open(math.MinInt64, math.MaxInt64)
	namesOf := map[string][]string{}
	for _, o := range arcs {
		for _, d := range o.Archive.Meta.Descs {
			for _, n := range d.Names {
				if p, _ := o.Archive.Meta.Lookup(n); p == d.PMID && !contains(namesOf[d.PMID.String()], n) {
					namesOf[d.PMID.String()] = append(namesOf[d.PMID.String()], n)
				}
			}
		}
	}
	lines, err := pcptest.ReadDump(c.Dump)
	if err != nil {
		t.Fatal(err)
	}
	// Expected series from libpcp's dump.
	want := map[string][]point{}
	lastMs := map[string]int64{}
	var openSeries []string
	isOpen := map[string]bool{}
	numeric := map[string]bool{"32": true, "U32": true, "64": true, "U64": true, "FLOAT": true, "DOUBLE": true}
	for _, l := range lines {
		ms := floorMs(l.T)
		if l.Mark {
			for _, k := range openSeries {
				want[k] = append(want[k], point{ms, math.Float64frombits(value.StaleNaN)})
				lastMs[k] = ms
			}
			openSeries, isOpen = nil, map[string]bool{}
			continue
		}
		if l.End || !numeric[l.Type] || l.Name == nil {
			continue
		}
		v, err := value64(l.Type, l.V)
		if err != nil {
			t.Fatalf("bad dump value %s: %v", l.V, err)
		}
		for _, name := range namesOf[l.PMID] {
			lb := labels.NewBuilder(labels.EmptyLabels())
			lb.Set("__name__", translate.MetricName(name))
			lb.Set("hostname", host)
			if l.InDom != nil {
				lb.Set("instid", strconv.Itoa(int(l.Inst)))
				if l.IName != nil && *l.IName != "" {
					lb.Set("instname", *l.IName)
				}
			}
			k := lb.Labels().String()
			if p, ok := lastMs[k]; ok && p == ms {
				continue // one sample per ms: the first
			}
			want[k] = append(want[k], point{ms, v})
			lastMs[k] = ms
			if !isOpen[k] {
				isOpen[k] = true
				openSeries = append(openSeries, k)
			}
		}
	}

	st := translate.New(set, translate.Options{})
	q, err := st.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	got := map[string][]point{}
	withValues := map[string]bool{}
	var prev labels.Labels
	for ss.Next() {
		s := ss.At()
		lset := s.Labels()
		withValues[lset.String()] = hasValue(s.Iterator(nil))
		if prev.Len() > 0 && labels.Compare(prev, lset) >= 0 {
			t.Fatalf("series not sorted or not unique: %s then %s", prev, lset)
		}
		prev = lset
		// Compare on the labels libpcp's dump can tell us about.
		k := labels.NewBuilder(lset).Keep("__name__", "hostname", "instid", "instname").Labels().String()
		it := s.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			got[k] = append(got[k], point{ts, v})
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	if st := set.Status().Tables; opts.TableAll && (st.Loaded == 0 || st.Failed > 0) || opts.TableDir != "" && !opts.TableAll && st.Prefixes == 0 {
		t.Errorf("tables: %+v", st)
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, libpcp has %d", len(got), len(want))
	}
	// The series lookups list exactly the series with a value.
	listed := q.Select(context.Background(), false, &storage.SelectHints{Start: math.MinInt64, End: math.MaxInt64, Func: "series"},
		labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	n := 0
	for listed.Next() {
		if k := listed.At().Labels().String(); !withValues[k] {
			t.Errorf("series lookup lists %s, which has no value", k)
		}
		n++
	}
	for _, ok := range withValues {
		if ok {
			n--
		}
	}
	if n != 0 {
		t.Errorf("series lookup lists %d series more than have values", n)
	}
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			t.Errorf("%s: got %d samples, want %d", k, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i].t != w[i].t || !sameFloat(g[i].v, w[i].v) {
				t.Errorf("%s: sample %d: got %d %v, want %d %v", k, i, g[i].t, g[i].v, w[i].t, w[i].v)
				break
			}
		}
	}
}

// hasValue tells whether an iterator has a sample that is not a
// staleness marker.
func hasValue(it chunkenc.Iterator) bool {
	for it.Next() == chunkenc.ValFloat {
		if _, v := it.At(); !value.IsStaleNaN(v) {
			return true
		}
	}
	return false
}

func floorMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

func sameFloat(a, b float64) bool {
	if value.IsStaleNaN(a) || value.IsStaleNaN(b) {
		return value.IsStaleNaN(a) && value.IsStaleNaN(b)
	}
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}

func value64(typ string, raw json.RawMessage) (float64, error) {
	switch typ {
	case "U64":
		u, err := strconv.ParseUint(string(raw), 10, 64)
		return float64(u), err
	case "64":
		n, err := strconv.ParseInt(string(raw), 10, 64)
		return float64(n), err
	}
	return pcptest.ParseFloat(raw)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
