package multiarchive

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/coltable"
)

// Status's hash of an archive's path is the one its table names begin
// with, for absolute and relative paths alike.
func TestStatusPathHash(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ph := pathHasher{wd: wd}
	for _, p := range []string{"../testdata/demo/demo-db1/20261118", "/var/log/pcp/pmlogger/h/20250101", "/var/log//pcp/./x/../y",
		"a", "a/", "./a", "a/b/..", "/", "/a/.", "..", ".a/b..c/...", "testdata/demo"} {
		want, _ := strconv.ParseUint(baseHash(p), 16, 64)
		if got := ph.hash(p); got != want {
			t.Errorf("%s: %016x, baseHash %016x", p, got, want)
		}
		if isClean(p) && filepath.Clean(p) != p {
			t.Errorf("isClean(%q), but Clean makes it %q", p, filepath.Clean(p))
		}
	}
	for _, wd := range []string{"/", "/x/", "/x/../y"} {
		if got, want := (pathHasher{wd: wd}).hash("a/b"), fnvAdd(fnvOffset, filepath.Join(wd, "a/b")); got != want {
			t.Errorf("wd %s: %016x, want %016x", wd, got, want)
		}
	}
}

// Status tells, for every archive, whether it has a table, from the
// store's memory and then, in a new Set over the same directory, from the
// directory's names; and what waits for the builder or failed.
func TestStatusTables(t *testing.T) {
	dir := t.TempDir()
	open := func() *Set {
		s, err := Open(Options{Paths: []string{"../testdata/demo"}, TableDir: dir, TableSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	check := func(s *Set, what string, inMemory bool) {
		t.Helper()
		for _, h := range s.Status().Hosts {
			for i, a := range h.Archives {
				newest := i == len(h.Archives)-1
				switch {
				case !newest && a.Table != TableComplete, newest && a.Table != TablePrefix:
					t.Errorf("%s: %s: table %q", what, a.Path, a.Table)
				case newest && inMemory && (a.TableEnd == nil || !a.TableEnd.Equal(a.End)):
					t.Errorf("%s: %s: prefix table to %v, want %v", what, a.Path, a.TableEnd, a.End)
				case !inMemory && a.TableEnd != nil:
					t.Errorf("%s: %s: prefix table end %v without the table loaded", what, a.Path, a.TableEnd)
				}
			}
		}
	}

	s := open()
	for _, h := range s.Status().Hosts {
		for _, a := range h.Archives {
			if a.Table != "" || a.TableQueued || a.TableProblem != "" {
				t.Errorf("before any query: %+v", a)
			}
		}
	}
	for _, tl := range s.Hosts() {
		opened, _ := tl.Open(math.MinInt64, math.MaxInt64)
		for _, o := range opened {
			if s.Table(o) == nil {
				t.Fatalf("no table for %s", o.Entry.Files.Base)
			}
		}
	}
	check(s, "built", true)
	check(open(), "listed", false)

	// A queued build, a failed one, and a table the bound on the
	// directory removed (an evicted table is no archive's table).
	s = open()
	st := s.Status()
	a, b, c := st.Hosts[0].Archives[0].Path, st.Hosts[0].Archives[1].Path, st.Hosts[1].Archives[0].Path
	ts := s.tables
	ts.mu.Lock()
	ts.pending["whole\x00"+a] = true
	ts.failedBase[b] = "records out of time order"
	ts.mu.Unlock()
	var cFiles archive.Files
	for _, tl := range s.Hosts() {
		for _, e := range tl.Entries() {
			if e.Files.Base == c {
				cFiles = e.Files
			}
		}
	}
	path, err := ts.wholePath(cFiles)
	if err != nil || !strings.HasPrefix(filepath.Base(path), contentPrefix) {
		t.Fatalf("table of %s: %s %v, want one named by content", c, path, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ts.forget(path)
	s.tableList = tableListing{} // list the directory again now
	st = s.Status()
	if st.Tables.Pending != 1 || st.Tables.Throttled {
		t.Errorf("tables %+v, want 1 pending", st.Tables)
	}
	got := map[string]ArchiveStatus{}
	for _, h := range st.Hosts {
		for _, x := range h.Archives {
			got[x.Path] = x
		}
	}
	if x := got[a]; !x.TableQueued || x.Table != TableComplete {
		t.Errorf("queued: %+v", x)
	}
	if x := got[b]; x.TableProblem != "" {
		t.Errorf("a failed build beside a complete table: %+v", x)
	}
	if x := got[c]; x.Table != "" {
		t.Errorf("removed table: %+v", x)
	}
	ts.direct.Add(1) // what DirectRead does with a background builder
	if st := s.Status().Tables; !st.Throttled {
		t.Errorf("tables %+v, want the builder throttled", st)
	}
	ts.direct.Add(-1)
}

// BenchmarkStatus is Status over 1,000 hosts of 365 archives each (held
// in memory: no archive file exists, so the newest archives' ends are not
// read), without tables and beside a table directory of 36,500 tables
// (listed once, then cached while it does not change).
func BenchmarkStatus(b *testing.B) {
	for _, tables := range []bool{false, true} {
		b.Run(fmt.Sprintf("tables=%v", tables), func(b *testing.B) {
			dir := b.TempDir()
			s := &Set{cache: newCache(16, 1<<20), hosts: map[string]*Timeline{}, problems: map[string]string{}}
			if tables {
				s.tables = newTableStore(dir, true, 0, s)
			}
			for h := range 1000 {
				tl := &Timeline{Host: fmt.Sprintf("host%04d", h), set: s}
				for d := range 365 {
					base := fmt.Sprintf("/var/log/pcp/pmlogger/%s/2025%04d", tl.Host, d)
					tl.entries = append(tl.entries, &Entry{Files: archive.Files{Base: base}, Start: int64(d) * 86400e9, end: int64(d)*86400e9 + 86000e9})
					if tables && d%10 == 0 {
						if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%016x-v%d.tbl", baseHash(base), d, coltable.Version)), nil, 0o644); err != nil {
							b.Fatal(err)
						}
					}
				}
				s.hosts[tl.Host] = tl
			}
			var st Status
			for b.Loop() {
				st = s.Status()
			}
			n := 0
			for _, h := range st.Hosts {
				for _, a := range h.Archives {
					if a.Table == TableComplete {
						n++
					}
				}
			}
			if want := 1000 * 37; tables && n != want {
				b.Errorf("%d archives with a table, want %d", n, want)
			}
		})
	}
}
