package translate_test

import (
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// diffCase is one test archive (or directory) opened three ways: read
// directly, through column tables of every archive, and through a prefix
// table of each host's newest archive plus the records after it.
type diffCase struct {
	name                 string
	direct, tables, pref *translate.Storage
	start, end           int64 // ms span
}

// diffCases opens every archive under testdata/archives and
// testdata/pcp-qa once per fuzzing process; the table directories are
// removed when the process ends (FuzzTableEqualsDirect's cleanup).
var diffCases = sync.OnceValues(func() ([]diffCase, error) {
	var out []diffCase
	for _, root := range []string{"../testdata/archives", "../testdata/pcp-qa"} {
		dirs, err := os.ReadDir(root)
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			if !d.IsDir() {
				continue
			}
			path := filepath.Join(root, d.Name())
			open := func(o multiarchive.Options) (*translate.Storage, *multiarchive.Set, error) {
				o.Paths = []string{path}
				set, err := multiarchive.Open(o)
				if err != nil {
					return nil, nil, err
				}
				return translate.New(set, translate.Options{}), set, nil
			}
			direct, set, err := open(multiarchive.Options{})
			if err != nil || len(set.Hosts()) != 1 {
				continue
			}
			tdir, _ := os.MkdirTemp("", "difffuzz-")
			pdir, _ := os.MkdirTemp("", "difffuzz-")
			diffDirs = append(diffDirs, tdir, pdir)
			tables, _, err := open(multiarchive.Options{TableDir: tdir, TableSync: true, TableAll: true})
			if err != nil {
				return nil, err
			}
			pref, _, err := open(multiarchive.Options{TableDir: pdir, TableSync: true})
			if err != nil {
				return nil, err
			}
			s, e := set.Span()
			out = append(out, diffCase{name: d.Name(), direct: direct, tables: tables, pref: pref, start: floorMs(s), end: floorMs(e)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
})

var diffDirs []string

// FuzzTableEqualsDirect: for any window over any test archive, a read
// directly, one through column tables and one through a prefix table plus
// the records after it give the same series and samples, in sample and
// chunk form. The archives cover late metadata (pmi-nullinst*), instance
// churn and renames (PCP QA's proc archives), marks (merged archives),
// 64-bit values, NUL-padded names (v2-nulnames), aliases and series
// without values; the fuzzer picks windows, so that every rule that
// depends on where a window starts or ends (first sample per ms, markers,
// chunks cut by the window, a prefix table's tail) is met at random places.
func FuzzTableEqualsDirect(f *testing.F) {
	f.Cleanup(func() {
		for _, d := range diffDirs {
			os.RemoveAll(d)
		}
	})
	for _, seed := range [][3]uint16{{0, 0, 65535}, {7, 100, 200}, {20, 30000, 30001}, {33, 65000, 65535}} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, which, from, to uint16) {
		cases, err := diffCases()
		if err != nil {
			t.Fatal(err)
		}
		c := cases[int(which)%len(cases)]
		if from > to {
			from, to = to, from
		}
		// The window in the archive's span, widened by a tenth each side.
		span := float64(c.end-c.start) * 1.2
		lo := c.start - int64(span/12)
		mint := lo + int64(span*float64(from)/65535)
		maxt := lo + int64(span*float64(to)/65535)
		sel := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
		want := selectWindow(t, c.direct, sel, mint, maxt, false)
		for _, o := range []struct {
			what string
			st   *translate.Storage
		}{{"tables", c.tables}, {"prefix table and tail", c.pref}, {"direct", c.direct}} {
			for _, chunked := range []bool{false, true} {
				if o.what == "direct" && !chunked {
					continue
				}
				got := selectWindow(t, o.st, sel, mint, maxt, chunked)
				if d := diffSeries(got, want); d != "" {
					t.Fatalf("%s, %s, chunks %v, window [%d, %d]: %s", c.name, o.what, chunked, mint, maxt, d)
				}
			}
		}
	})
}
