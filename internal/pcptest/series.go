package pcptest

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/value"
)

// Point is one sample of a series: ms and value.
type Point struct {
	T int64
	V float64
}

// SeriesKey is how WantSeries and a served series are matched up: the
// labels a libpcp dump can tell about, in the form {a="x", b="y"}.
func SeriesKey(get func(name string) string) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, n := range []string{"__name__", "hostname", "instid", "instname"} {
		v := get(n)
		if v == "" {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s=%q", n, v)
	}
	b.WriteByte('}')
	return b.String()
}

// WantSeries turns a libpcp dump into the series a server must serve for
// host: each numeric value under the dump's (first) PCP name with dots made
// underscores, times floored to the ms, the first sample of a ms kept, and a
// staleness marker at each <mark> for every series with samples since the
// previous one. Series of other names of a PMID (aliases) are not in it.
func WantSeries(dump, host string) (map[string][]Point, error) {
	lines, err := ReadDump(dump)
	if err != nil {
		return nil, err
	}
	want := map[string][]Point{}
	var open []string
	isOpen := map[string]bool{}
	stale := math.Float64frombits(value.StaleNaN)
	for _, l := range lines {
		ms := l.T / 1e6
		if l.T%1e6 < 0 {
			ms--
		}
		if l.Mark {
			for _, k := range open {
				want[k] = append(want[k], Point{ms, stale})
			}
			open, isOpen = open[:0], map[string]bool{}
			continue
		}
		if l.End || l.Name == nil {
			continue
		}
		var v float64
		switch l.Type {
		case "U64", "U32":
			u, err := strconv.ParseUint(string(l.V), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %s: %w", dump, l.V, err)
			}
			v = float64(u)
		case "64", "32":
			n, err := strconv.ParseInt(string(l.V), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %s: %w", dump, l.V, err)
			}
			v = float64(n)
		case "FLOAT", "DOUBLE":
			if v, err = ParseFloat(l.V); err != nil {
				return nil, fmt.Errorf("%s: value %s: %w", dump, l.V, err)
			}
		default:
			continue
		}
		lbl := map[string]string{"__name__": strings.ReplaceAll(*l.Name, ".", "_"), "hostname": host}
		if l.InDom != nil {
			lbl["instid"] = strconv.Itoa(int(l.Inst))
			if l.IName != nil {
				lbl["instname"] = *l.IName
			}
		}
		k := SeriesKey(func(n string) string { return lbl[n] })
		s := want[k]
		if n := len(s); n > 0 && s[n-1].T == ms {
			continue
		}
		want[k] = append(s, Point{ms, v})
		if !isOpen[k] {
			isOpen[k] = true
			open = append(open, k)
		}
	}
	return want, nil
}

// SameValue compares two sample values: staleness markers only equal each
// other, other NaNs each other, everything else bit for bit as floats.
func SameValue(a, b float64) bool {
	if value.IsStaleNaN(a) || value.IsStaleNaN(b) {
		return value.IsStaleNaN(a) && value.IsStaleNaN(b)
	}
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}

// CompareSeries reports how got differs from want (both keyed by
// SeriesKey), at most max differences; got's series of names want does
// not have at all (aliases) are ignored.
func CompareSeries(got, want map[string][]Point, max int) []string {
	names := map[string]bool{}
	for k := range want {
		names[nameOf(k)] = true
	}
	var diffs []string
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok && names[nameOf(k)] {
			diffs = append(diffs, fmt.Sprintf("%s: served, libpcp has no such series", k))
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, g := want[k], got[k]
		if len(g) != len(w) {
			diffs = append(diffs, fmt.Sprintf("%s: %d samples, libpcp has %d", k, len(g), len(w)))
			continue
		}
		for i := range w {
			if g[i].T != w[i].T || !SameValue(g[i].V, w[i].V) {
				diffs = append(diffs, fmt.Sprintf("%s: sample %d is %d %v, libpcp has %d %v", k, i, g[i].T, g[i].V, w[i].T, w[i].V))
				break
			}
		}
	}
	sort.Strings(diffs)
	if len(diffs) > max {
		diffs = append(diffs[:max], fmt.Sprintf("... and %d more", len(diffs)-max))
	}
	return diffs
}

func nameOf(key string) string {
	const p = `{__name__="`
	if !strings.HasPrefix(key, p) {
		return ""
	}
	rest := key[len(p):]
	if i := strings.IndexByte(rest, '"'); i >= 0 {
		return rest[:i]
	}
	return ""
}
