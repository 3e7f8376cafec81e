package multiarchive

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/coltable"
)

// Tests of the table store across an archive's life: tables named by
// content survive pmlogger_daily's compression, renames and moves; the
// live archive's prefix table becomes its whole table when it closes; the
// backlog indexes what no query asked for; the bound on the directory
// removes the least recently used tables.

// plainHost copies one demo host's archives into a new directory,
// decompressed, as pmlogger leaves them before pmlogger_daily runs. It
// returns the directory and the base paths, oldest first.
func plainHost(t *testing.T, host string) (string, []string) {
	t.Helper()
	src := filepath.Join("..", "testdata", "demo", host)
	dir := filepath.Join(t.TempDir(), host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	bases := map[string]bool{}
	for _, de := range names {
		n := de.Name()
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if plain, ok := strings.CutSuffix(n, ".xz"); ok {
			out, err := exec.Command("xz", "-dc", filepath.Join(src, n)).Output()
			if err != nil {
				t.Fatalf("xz -dc %s: %v", n, err)
			}
			b, n = out, plain
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
		bases[filepath.Join(dir, archive.BaseName(n))] = true
	}
	var out []string
	for b := range bases {
		out = append(out, b)
	}
	slices.Sort(out)
	return dir, out
}

// tablesOf opens every archive of the set and returns the path of each
// one's table ("" for none), by base path.
func tablesOf(t *testing.T, s *Set) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tl := range s.Hosts() {
		opened, errs := tl.Open(math.MinInt64, math.MaxInt64)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, o := range opened {
			if tb := s.Table(o); tb != nil {
				out[o.Entry.Files.Base] = tb.Path
			} else {
				out[o.Entry.Files.Base] = ""
			}
		}
	}
	return out
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// TestTablesFollowContent builds the tables of a host's closed archives,
// then does to them what pmlogger_daily and operators do: xz (as PCP's
// default PCP_COMPRESS, with 10 MiB blocks) and plain xz, zstd, a rename,
// a move to another directory. Every archive keeps its table, nothing is
// built again, and a server started afresh finds the same tables.
func TestTablesFollowContent(t *testing.T) {
	for _, tool := range []string{"xz", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir, bases := plainHost(t, "demo-db1")
	if len(bases) < 4 {
		t.Fatalf("want 3 closed archives and the newest, have %v", bases)
	}
	tables := t.TempDir()
	open := func() *Set {
		s, err := Open(Options{Paths: []string{filepath.Dir(dir)}, TableDir: tables, TableSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	s := open()
	before := tablesOf(t, s)
	built := s.Status().Tables.Built
	if built != uint64(len(bases)-1) {
		t.Fatalf("built %d whole tables, want %d", built, len(bases)-1)
	}
	for _, b := range bases[:len(bases)-1] {
		if !strings.HasPrefix(filepath.Base(before[b]), contentPrefix) {
			t.Fatalf("%s: table %q, want one named by content", b, before[b])
		}
	}

	// What pmlogger_daily does to closed days, and what operators do.
	a, b, c := bases[0], bases[1], bases[2]
	run(t, "xz", "-0", "--block-size=10MiB", a+".0", a+".meta")
	run(t, "zstd", "-q", "--rm", b+".0", b+".meta")
	run(t, "xz", c+".meta")
	moved := filepath.Join(filepath.Dir(dir), "moved")
	if err := os.MkdirAll(moved, 0o755); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(c + ".*")
	for _, n := range names {
		// Moved and renamed: another directory and another base name.
		if err := os.Rename(n, filepath.Join(moved, "renamed"+strings.TrimPrefix(n, c))); err != nil {
			t.Fatal(err)
		}
	}
	now := map[string]string{a: a, b: b, c: filepath.Join(moved, "renamed"), bases[3]: bases[3]}

	check := func(s *Set, what string, wantBuilt uint64) {
		t.Helper()
		after := tablesOf(t, s)
		for old, cur := range now {
			if old == bases[3] {
				continue
			}
			if after[cur] != before[old] {
				t.Errorf("%s: %s (was %s): table %q, want %q", what, cur, old, after[cur], before[old])
			}
		}
		if got := s.Status().Tables.Built; got != wantBuilt {
			t.Errorf("%s: %d tables built, want %d", what, got, wantBuilt)
		}
	}
	s.Rescan()
	check(s, "rescanned", built)
	check(open(), "restarted", 0)
}

// TestClosedTableFromPrefix: the newest archive of a host has a prefix
// table; once a newer archive appears it is closed, and its whole table
// is made by extending the prefix table to its end, not by reading its
// records again. That table holds the same samples as one built from
// every record. With background builders, the rescan that finds the
// newer archive has it made without a query.
func TestClosedTableFromPrefix(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			dir, bases := plainHost(t, "demo-web1")
			newest := bases[len(bases)-1]
			// Hold the newest archive back, so that the one before it
			// is the newest at first.
			held := t.TempDir()
			names, _ := filepath.Glob(newest + ".*")
			for _, n := range names {
				if err := os.Rename(n, filepath.Join(held, filepath.Base(n))); err != nil {
					t.Fatal(err)
				}
			}
			live := bases[len(bases)-2]
			tables := t.TempDir()
			s, err := Open(Options{Paths: []string{dir}, TableDir: tables, TableSync: !async})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			prefixOf := func() *coltable.Table {
				for _, tl := range s.Hosts() {
					opened, _ := tl.Open(math.MinInt64, math.MaxInt64)
					for _, o := range opened {
						if o.Entry.Files.Base == live && o.Live {
							return s.Table(o)
						}
					}
				}
				return nil
			}
			var prefix *coltable.Table
			for deadline := time.Now().Add(30 * time.Second); prefix == nil || prefix.Tail == nil; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no prefix table of %s", live)
				}
				prefix = prefixOf()
			}
			// The backlog builds the other closed archives meanwhile:
			// let it finish first.
			for deadline := time.Now().Add(30 * time.Second); async; time.Sleep(20 * time.Millisecond) {
				if st := s.Status().Tables; st.Pending == 0 && st.Backlog.Archives == 0 && st.Built == uint64(len(bases)-2) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("backlog not done: %+v", s.Status().Tables)
				}
			}
			builtBefore := s.Status().Tables.Built

			for _, n := range names {
				if err := os.Rename(filepath.Join(held, filepath.Base(n)), n); err != nil {
					t.Fatal(err)
				}
			}
			s.Rescan()
			var st TableStats
			if async {
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					if st = s.Status().Tables; st.Promoted > 0 && st.Pending == 0 || time.Now().After(deadline) {
						break
					}
				}
			} else {
				tablesOf(t, s)
				st = s.Status().Tables
			}
			if st.Promoted != 1 {
				t.Fatalf("tables %+v: want the closed archive's table made from its prefix table", st)
			}
			if async && st.Built != builtBefore+1 {
				t.Errorf("built %d tables after the rescan, want 1 (the closed archive's)", st.Built-builtBefore)
			}

			// The same samples as a table of every record.
			var whole *coltable.Table
			for _, tl := range s.Hosts() {
				opened, _ := tl.Open(math.MinInt64, math.MaxInt64)
				for _, o := range opened {
					if o.Entry.Files.Base == live {
						whole = s.Table(o)
						if whole == nil || whole.Tail != nil {
							t.Fatalf("closed archive: table %+v, want a whole table", whole)
						}
						full, err := coltable.Build(o.Archive, filepath.Join(t.TempDir(), "full.tbl"), nil)
						if err != nil {
							t.Fatal(err)
						}
						sameSamples(t, whole, full)
					}
				}
			}
		})
	}
}

// sameSamples compares two tables series by series, sample by sample.
func sameSamples(t *testing.T, got, want *coltable.Table) {
	t.Helper()
	if len(got.Series) != len(want.Series) {
		t.Fatalf("%d series, want %d", len(got.Series), len(want.Series))
	}
	type point struct {
		t int64
		v uint64
	}
	all := func(tb *coltable.Table, i int) []point {
		var out []point
		if _, err := tb.Each(nil, i, math.MinInt64, math.MaxInt64, nil, func(ts int64, v float64) {
			out = append(out, point{ts, math.Float64bits(v)})
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	n := 0
	for i := range want.Series {
		g, w := got.Series[i], want.Series[i]
		if g.PMID != w.PMID || g.Inst != w.Inst || g.Named != w.Named || g.IName != w.IName {
			t.Fatalf("series %d: %v/%d/%q, want %v/%d/%q", i, g.PMID, g.Inst, g.IName, w.PMID, w.Inst, w.IName)
		}
		gs, ws := all(got, i), all(want, i)
		if !slices.Equal(gs, ws) {
			t.Fatalf("series %d: %d samples %v, want %d %v", i, len(gs), gs, len(ws), ws)
		}
		n += len(ws)
	}
	if n == 0 {
		t.Fatal("no samples compared")
	}
}

// TestBacklogPlan: each host's closed archives newest first, hosts taken
// in turn, the newest archive of each (pmlogger's) and what is done left
// out.
func TestBacklogPlan(t *testing.T) {
	mk := func(host string, n int) *Timeline {
		tl := &Timeline{Host: host}
		for i := range n {
			tl.entries = append(tl.entries, &Entry{Files: archive.Files{Base: fmt.Sprintf("/nonexistent/%s/%d", host, i)}})
		}
		return tl
	}
	a, b, c := mk("a", 4), mk("b", 2), mk("c", 1)
	var bl backlog
	bl.init()
	bl.done[a.entries[1]] = true
	bl.plan([]*Timeline{a, b, c})
	var got []string
	for {
		e, ok := bl.take()
		if !ok {
			break
		}
		got = append(got, e.Files.Base)
	}
	want := []string{"/nonexistent/a/2", "/nonexistent/b/0", "/nonexistent/a/0"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if st := bl.stats(); st.Archives != 0 || st.Bytes != 0 {
		t.Errorf("after taking all: %+v", st)
	}
}

// TestBacklogIndexesEverything: a server started over two hosts' archives,
// with no query, builds the whole table of every closed archive and the
// prefix table of each newest, and then says the backlog is empty, with
// the rate it built at.
func TestBacklogIndexesEverything(t *testing.T) {
	dirA, _ := plainHost(t, "demo-db1")
	dirB, _ := plainHost(t, "demo-web1")
	s, err := Open(Options{Paths: []string{dirA, dirB}, TableDir: t.TempDir(), TableBuilders: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var st Status
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st = s.Status()
		done := st.Tables.Pending == 0 && st.Tables.Backlog.Archives == 0
		for _, h := range st.Hosts {
			for i, a := range h.Archives {
				want := TableComplete
				if i == len(h.Archives)-1 {
					want = TablePrefix
				}
				done = done && a.Table == want
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %+v", st)
		}
	}
	closed := 0
	for _, h := range st.Hosts {
		closed += len(h.Archives) - 1
	}
	bl := st.Tables.Backlog
	if bl.Built != closed || bl.Rate <= 0 || bl.ETA != 0 || st.Tables.Bytes <= 0 {
		t.Errorf("backlog %+v (tables %d bytes), want %d built at some rate", bl, st.Tables.Bytes, closed)
	}
}

// TestTableBound: past the bound, the least recently used tables go, down
// to nine tenths of it; the prefix tables in use stay, and so does what is
// not a table.
func TestTableBound(t *testing.T) {
	dir := t.TempDir()
	ts := newTableStore(dir, true, 0, nil)
	ts.maxBytes = 1000
	base := time.Now().Add(-time.Hour)
	write := func(name string, size int, age int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(age) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		return p
	}
	suffix := fmt.Sprintf("-v%d.tbl", coltable.Version)
	oldest := write(contentPrefix+"00000000000000000000000000000001"+suffix, 350, 1)
	inUse := write("0123456789abcdef-L0.100"+suffix, 350, 2) // the oldest but one, in use
	older := write(contentPrefix+"00000000000000000000000000000002"+suffix, 350, 3)
	newer := write(contentPrefix+"00000000000000000000000000000003"+suffix, 350, 4)
	ref := write("0123456789abcdef-0123456789abcdef-00000000000000000000000000000001"+refSuffix, 0, 0)
	ts.prefixes["/some/archive"] = &coltable.Table{Path: inUse}
	ts.contents["00000000000000000000000000000001"] = true
	ts.bound()
	for p, want := range map[string]bool{oldest: false, inUse: true, older: false, newer: true, ref: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if ts.evicted != 2 || ts.dirBytes != 700 || ts.contents["00000000000000000000000000000001"] {
		t.Errorf("evicted %d, %d bytes left, contents %v", ts.evicted, ts.dirBytes, ts.contents)
	}
	// A table used recently is younger: it outlives an older one.
	ts.touched = map[string]time.Time{}
	ts.touch(inUse)
	if fi, err := os.Stat(inUse); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Errorf("touch did not set the modification time: %v %v", fi.ModTime(), err)
	}
}

// TestPrefixSurvivesVolumeCompression: PCP 7 compresses a volume soon
// after pmlogger moves on to the next, while the archive is still being
// written. The prefix table built over the plain volumes stays valid
// when they are replaced by their .xz and .zst twins, is extended from
// where it stopped once a volume follows, and then holds what a table of
// every record does. A twin with other bytes makes it invalid.
func TestPrefixSurvivesVolumeCompression(t *testing.T) {
	for _, tool := range []string{"xz", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	src := "../testdata/archives/v3-multivol/v3-multivol"
	dir := filepath.Join(t.TempDir(), "h")
	held := t.TempDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".meta", ".index", ".0", ".1", ".2", ".3", ".4"} {
		b, err := os.ReadFile(src + ext)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dir, "a"+ext)
		if ext == ".4" {
			to = filepath.Join(held, "a.4") // not written yet
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(dir, "a")
	s, err := Open(Options{Paths: []string{dir}, TableDir: t.TempDir(), TableSync: true, TableTail: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	live := func() (Opened, *coltable.Table) {
		t.Helper()
		opened, errs := s.Hosts()[0].Open(math.MinInt64, math.MaxInt64)
		if len(errs) > 0 || len(opened) != 1 || !opened[0].Live {
			t.Fatalf("opened %+v, %v", opened, errs)
		}
		return opened[0], s.Table(opened[0])
	}
	_, first := live()
	if first == nil || first.Tail == nil || first.Tail.Vol != 3 {
		t.Fatalf("prefix table %+v, want one ending in volume 3", first)
	}

	run(t, "xz", "-0", "--block-size=10MiB", base+".0")
	run(t, "xz", base+".1")
	run(t, "zstd", "-q", "--rm", base+".2")
	s.Rescan()
	if !first.Valid() {
		t.Fatal("prefix table invalid once volumes 0-2 were compressed")
	}
	if _, tb := live(); tb != first {
		t.Fatalf("after compression: table %v, want the prefix table %s", tb, first.Path)
	}
	extended := s.Status().Tables.Extended

	// pmlogger writes volume 4: the prefix table is extended from its
	// tail, not built again from the compressed volumes.
	if err := os.Rename(filepath.Join(held, "a.4"), base+".4"); err != nil {
		t.Fatal(err)
	}
	s.Rescan()
	o, tb := live()
	if tb == nil || tb == first || tb.Tail == nil || tb.Tail.Vol != 4 {
		t.Fatalf("after volume 4: table %+v, want an extended prefix table", tb)
	}
	if got := s.Status().Tables.Extended; got != extended+1 {
		t.Errorf("prefix tables built or extended: %d, want %d", got, extended+1)
	}
	full, err := coltable.Build(o.Archive, filepath.Join(t.TempDir(), "full.tbl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, tb, full)

	// A twin that is not the same file.
	b, err := os.ReadFile(src + ".1")
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-100] ^= 0xff
	if err := os.WriteFile(base+".1", b, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(base + ".1.xz")
	run(t, "xz", base+".1")
	if tb.Valid() {
		t.Error("prefix table valid over a compressed volume with other bytes")
	}
}

// TestClosedSetQueues: a Set closed while scans and queries go on does not
// panic when they hand its builders work.
func TestClosedSetQueues(t *testing.T) {
	dir, _ := plainHost(t, "demo-db1")
	s, err := Open(Options{Paths: []string{dir}, TableDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Rescan()
	tablesOf(t, s)
	s.tables.backlog.signal()
	s.tables.planBacklog(s.Hosts(), s.Hosts()[0].Entries())
	s.Close()
	if st := s.Status().Tables; st.Pending != 0 || st.Built != 0 {
		t.Errorf("closed Set: %+v, want nothing queued or built", st)
	}
}

// TestCompressedBeforeRescan: a closed day whose prefix table stopped
// short of its end (the tail was under --cache.dir's extension size) gets
// its whole table by promotion; pmlogger_daily then compresses every file
// of it before the next scan. A query that opened the day before the
// compression must still get the whole table, found by content through
// the files as they are now, and never the superseded prefix table, whose
// tail is gone: served, it would drop the day's last records without a
// word.
func TestCompressedBeforeRescan(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not installed")
	}
	dir, bases := plainHost(t, "demo-web1")
	newest, day := bases[len(bases)-1], bases[len(bases)-2]
	held := t.TempDir()
	names, _ := filepath.Glob(newest + ".*")
	for _, n := range names {
		if err := os.Rename(n, filepath.Join(held, filepath.Base(n))); err != nil {
			t.Fatal(err)
		}
	}
	// pmlogger has written half of the day's volume so far.
	full, err := os.ReadFile(day + ".0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(day+".0", full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Paths: []string{dir}, TableDir: t.TempDir(), TableSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	find := func() Opened {
		t.Helper()
		opened, errs := s.Hosts()[0].Open(math.MinInt64, math.MaxInt64)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, o := range opened {
			if o.Entry.Files.Base == day {
				return o
			}
		}
		t.Fatalf("%s not opened", day)
		return Opened{}
	}
	if p := s.Table(find()); p == nil || p.Tail == nil {
		t.Fatalf("half-written day: table %+v, want a prefix table", p)
	}

	// pmlogger writes the rest and moves on to the next archive.
	if err := os.WriteFile(day+".0", full, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.Rename(filepath.Join(held, filepath.Base(n)), n); err != nil {
			t.Fatal(err)
		}
	}
	s.Rescan()
	closed := find()
	whole := s.Table(closed)
	if whole == nil || whole.Tail != nil || s.Status().Tables.Promoted != 1 {
		t.Fatalf("closed day: table %+v, tables %+v; want its whole table made from the prefix table", whole, s.Status().Tables)
	}

	// pmlogger_daily compresses the day; no scan yet.
	run(t, "xz", "-0", "--block-size=10MiB", day+".0", day+".meta")
	got := s.Table(closed)
	if got == nil || got.Path != whole.Path || got.Tail != nil {
		t.Fatalf("compressed before a rescan: table %+v, want the whole table %s", got, whole.Path)
	}
	a, err := archive.Open(day)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := coltable.Build(a, filepath.Join(t.TempDir(), "ref.tbl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, got, ref)
}
