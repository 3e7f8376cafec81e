package translate_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/coltable"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// The archives of the lifecycle test, named as pmlogger_check and
// pmlogger_daily name them: two pieces of one day (a pmlogger restart),
// their merge, and the next day.
const (
	archA = "20250101.00.10"
	archB = "20250101.00.11"
	archM = "20250101"
	archC = "20250102.00.10"
)

// TestArchiveLifecycle runs real pmloggers and the real steps of
// pmlogger_daily on one host directory while one long-lived Set with
// column tables (background builders, as the server runs) serves it,
// through translate's Querier and ChunkQuerier, and a poller queries it
// all along as a dashboard would. At every step the answers over all time
// are exactly libpcp's reading of the directory at that moment (up to the
// last record libpcp read, since pmlogger keeps appending), and the table
// store does no decoding it need not: compression, merge and cull decode
// no record already indexed, and the day pmlogger wrote
// while the Set ran gets its whole table from its prefix table.
//
//  1. pmlogger writes A in 2 s volumes: a prefix table, extended as it grows.
//  2. PCP 7 compresses A's finished volumes (xz, zstd) while pmlogger writes:
//     the prefix table stays valid and is extended, no whole table is built.
//  3. pmlogger restarts into B: A is closed, its whole table is its prefix
//     table extended to the end (Promoted).
//  4. pmlogger_daily compresses A's other volumes and .meta, then A is
//     moved to a subdirectory and renamed: A keeps its table, by content;
//     nothing is built.
//  5. pmlogger restarts into C (B promoted), then pmlogextract merges A and
//     B into M and they are removed: M is new content, and its table is
//     joined from A's and B's without its records being read.
//  6. M is culled: C alone is served, with no problem.
func TestArchiveLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs pmlogger for about 15 s")
	}
	for _, tool := range []string{"xz", "zstd"} {
		_, err := exec.LookPath(tool)
		pcptest.Require(t, tool, err == nil)
	}
	pcptest.RequireLibpcpPython(t)
	extract := pcptest.PCPTool(t, "pmlogextract")
	pcptest.PMCD(t)
	began := time.Now()

	lc := &lifecycle{t: t, dir: filepath.Join(t.TempDir(), "host"), work: t.TempDir(), tables: t.TempDir(),
		tails: map[string]archive.Position{}}
	if err := os.MkdirAll(lc.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lc.config = filepath.Join(lc.work, "pmlogger.config")
	if err := os.WriteFile(lc.config, []byte(pcptest.LoggerConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	defer lc.dumpLogs()
	base := func(name string) string { return filepath.Join(lc.dir, name) }
	A, B, M, C := base(archA), base(archB), base(archM), base(archC)

	// 1. pmlogger writes A; the Set is opened once A has a record, as a
	// server started on pmlogger's directory.
	pA := lc.pmlogger(archA)
	lc.open()
	defer lc.close()
	lc.stepStart("1: pmlogger writes A")
	for i, deadline := 0, time.Now().Add(20*time.Second); ; i++ {
		if i > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		lc.check()
		lc.expect(0, 0, 0)
		p := lc.tableOf(A)
		if i >= 2 && volumes(t, A) >= 3 && p != nil && p.Tail != nil && p.Tail.Vol >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d volumes of A, prefix table %v; tables %+v", volumes(t, A), p, lc.stats())
		}
	}
	if st := lc.stats(); st.Extended == 0 || st.Prefixes == 0 {
		t.Errorf("%s: no prefix table built: %+v", lc.step, st)
	}

	// 2. PCP 7 compresses A's volumes as pmlogger moves on from them.
	lc.stepStart("2: A.0 and A.1 compressed while pmlogger writes A")
	old := lc.tableOf(A)
	extended := lc.stats().Extended
	lc.change(false, func() {
		run(t, "xz", "-0", "--block-size=10MiB", A+".0")
		run(t, "zstd", "-q", "--rm", A+".1")
	})
	if !old.Valid() {
		t.Errorf("%s: prefix table %s (tail %v) invalid once the volumes it covers were compressed", lc.step, filepath.Base(old.Path), *old.Tail)
	}
	lc.rescan()
	for i := 0; i < 3 || lc.stats().Extended <= extended; i++ {
		if i == 20 {
			t.Fatalf("%s: the prefix table was not extended: %+v", lc.step, lc.stats())
		}
		time.Sleep(200 * time.Millisecond)
		lc.check()
		lc.expect(0, 0, 0)
		p := lc.tableOf(A)
		if p == nil || p.Tail == nil || before(*p.Tail, *old.Tail) {
			t.Fatalf("%s: prefix table %v, want one reaching at least %v", lc.step, p, *old.Tail)
		}
	}
	if !old.Valid() {
		t.Errorf("%s: prefix table %s invalid", lc.step, filepath.Base(old.Path))
	}
	if volumes(t, A) < 4 {
		// pmlogger went on writing new volumes after the compression.
		lc.waitFor("A's volume 3", 10*time.Second, func() bool { return volumes(t, A) >= 4 })
		lc.check()
	}

	// 3. pmlogger is restarted into B: A is closed, and its whole table
	// is its prefix table extended to its end.
	lc.stepStart("3: pmlogger restarted into B")
	if err := pA.Stop(); err != nil {
		t.Fatalf("stopping pmlogger A: %v", err)
	}
	lc.check() // A as pmlogger left it, still the newest
	pB := lc.pmlogger(archB)
	lc.rescanUntil(A, B)
	lc.settle()
	lc.expect(1, 1, 1)
	lc.wholeTable(A)
	lc.during(3*time.Second, func() { lc.expect(1, 1, 1) })

	// 4. pmlogger_daily compresses the closed day: the rest of A's
	// volumes and its .meta (not the .index).
	lc.stepStart("4: A's other volumes and .meta compressed")
	refs := len(lc.files().refs)
	var plain []string
	for _, v := range archiveFiles(t, A).Volumes {
		if _, c := archive.SplitCompress(filepath.Base(v.Path)); c == "" {
			plain = append(plain, v.Path)
		}
	}
	if len(plain) < 2 {
		t.Fatalf("%s: plain volumes %v, want 2 or more", lc.step, plain)
	}
	lc.change(false, func() {
		run(t, "xz", append([]string{"-0", "--block-size=10MiB"}, append(plain, A+".meta")...)...)
	})
	lc.rescan()
	lc.check()
	lc.settle()
	lc.expect(1, 1, 1)
	lc.wholeTable(A)
	if n := len(lc.files().refs); n <= refs {
		t.Errorf("%s: %d references to tables by content, %d before: none for A compressed", lc.step, n, refs)
	}

	// An operator moves the compressed day to a subdirectory, under
	// another name: the same content, the same table.
	lc.stepStart("4: A moved and renamed")
	moved := filepath.Join(lc.dir, "older", "moved-"+archA)
	if err := os.Mkdir(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	lc.change(false, func() {
		files, _ := filepath.Glob(A + ".*")
		for _, f := range files {
			if err := os.Rename(f, moved+strings.TrimPrefix(f, A)); err != nil {
				t.Fatal(err)
			}
		}
	})
	A = moved
	refs = len(lc.files().refs)
	lc.rescanUntil(A, B)
	lc.check()
	lc.settle()
	lc.expect(1, 1, 1)
	lc.wholeTable(A)
	if n := len(lc.files().refs); n <= refs {
		t.Errorf("%s: %d references to tables by content, %d before: none for A moved", lc.step, n, refs)
	}

	// 5. Midnight: pmlogger restarts into the next day's C (B is closed
	// and promoted), and pmlogger_daily merges A and B into M, removing
	// them once merged.
	lc.stepStart("5: pmlogger restarted into C")
	if err := pB.Stop(); err != nil {
		t.Fatalf("stopping pmlogger B: %v", err)
	}
	pC := lc.pmlogger(archC)
	lc.rescanUntil(A, B, C)
	lc.settle()
	lc.expect(2, 2, 2)
	lc.wholeTable(B)
	lc.during(2*time.Second, func() { lc.expect(2, 2, 2) })
	lc.stepStart("5: A and B merged into M")
	lc.change(true, func() {
		// PCP 6's pmlogextract does not read zstd volumes either.
		run(t, extract, filepath.Join(lc.libpcpView(), filepath.Base(A)), B, M)
		// A rescan while the merged archive and its pieces are all there.
		lc.set.Rescan()
		if _, _, err := lc.served(false, math.MinInt64, math.MaxInt64); err != nil {
			t.Errorf("%s: with M, A and B: %v", lc.step, err)
		}
		st := lc.set.Status()
		t.Logf("%s: A, B and M together: %d archives, %d overlaps", lc.step, len(st.Hosts[0].Archives), st.Hosts[0].OverlapCount)
		for _, b := range []string{A, B} {
			files, _ := filepath.Glob(b + ".*")
			for _, f := range files {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	lc.rescanUntil(M, C)
	lc.check()
	lc.settle()
	// M is new content, but its records are A's and B's: its table is
	// joined from theirs, none of its records read.
	lc.expect(3, 2, 3)
	if st := lc.stats(); st.Joined != 1 {
		t.Errorf("%s: %d tables joined from the pieces' tables, want 1 (%+v)", lc.step, st.Joined, st)
	}
	lc.wholeTable(M)
	merged := lc.check()
	lc.settle()
	lc.expect(3, 2, 3)

	// 6. pmlogger_daily culls M.
	lc.stepStart("6: M culled")
	lc.change(false, func() {
		files, _ := filepath.Glob(M + ".*")
		for _, f := range files {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	})
	lc.rescanUntil(C)
	if left := lc.check(); left.samples >= merged.samples || left.series == 0 {
		t.Errorf("%s: %d series and %d samples left, %d and %d before", lc.step, left.series, left.samples, merged.series, merged.samples)
	}
	if err := pC.Stop(); err != nil {
		t.Fatalf("stopping pmlogger C: %v", err)
	}
	lc.check()
	lc.settle()
	lc.expect(3, 2, 3)
	st := lc.set.Status()
	if len(st.Hosts) != 1 || len(st.Hosts[0].Archives) != 1 || len(st.Skipped) != 0 || st.Tables.Failed != 0 || st.Tables.Problem != "" {
		t.Errorf("%s: status %+v", lc.step, st)
	}

	lc.logStep()
	lc.close()
	if f := lc.files(); len(f.other) != 0 {
		t.Errorf("table directory holds %v after the Set closed", f.other)
	}
	lc.finish()
	t.Logf("%d libpcp comparisons, %d polls (%d tolerated failures while files changed); tables %+v; total %v",
		lc.dumps, lc.polls, len(lc.tolerated), lc.stats(), time.Since(began).Round(time.Millisecond))
}

// lifecycle is the state of TestArchiveLifecycle: the host directory,
// the long-lived Set over it and its table directory, and the poller
// querying it meanwhile.
type lifecycle struct {
	t      *testing.T
	dir    string // the archives, a pmlogger host directory
	work   string // pmlogger's configuration and logs, libpcp's dumps
	tables string // the table directory
	config string
	set    *multiarchive.Set
	st     *translate.Storage
	logs   pcptest.LogBuffer

	loggers []*pcptest.Pmlogger
	step    string
	dumps   int
	views   int
	last    checked // what the last comparison covered
	// tails is the furthest tail of a prefix table seen in the table
	// directory, by the hash of its archive's path that names it.
	tails map[string]archive.Position

	// The poller: a query of everything every pollEvery; gen is odd
	// while the test changes the archives' files (a failure then is
	// tolerated and logged: the Set has not rescanned yet).
	mu        sync.Mutex
	gen       int
	paused    bool
	polls     int
	fails     []string
	tolerated []string
	stop      chan struct{}
	done      chan struct{}
}

const pollEvery = 100 * time.Millisecond

// stepStart names the step the test is at, for failure messages, and
// logs what the step before it saw.
func (lc *lifecycle) stepStart(s string) {
	lc.t.Helper()
	lc.logStep()
	lc.mu.Lock()
	lc.step = s
	lc.mu.Unlock()
}

func (lc *lifecycle) logStep() {
	lc.t.Helper()
	if lc.step == "" {
		return
	}
	st := lc.stats()
	lc.t.Logf("%s: %d comparisons with libpcp so far, the last over %d records (%d marks), %d series, %d samples; tables: %d built, %d promoted, %d prefix tables built or extended",
		lc.step, lc.dumps, lc.last.records, lc.last.marks, lc.last.series, lc.last.samples, st.Built, st.Promoted, st.Extended)
}

// pmlogger starts a pmlogger writing archive name in 2 s volumes and waits
// for its first record.
func (lc *lifecycle) pmlogger(name string) *pcptest.Pmlogger {
	lc.t.Helper()
	p := pcptest.StartPmlogger(lc.t, lc.config, filepath.Join(lc.dir, name), filepath.Join(lc.work, name+".log"), "-t", "1s", "-v", "2s")
	lc.loggers = append(lc.loggers, p)
	p.WaitRecord(lc.t)
	return p
}

func (lc *lifecycle) open() {
	t := lc.t
	set, err := multiarchive.Open(multiarchive.Options{
		Paths:     []string{lc.dir},
		TableDir:  lc.tables,
		TableTail: 1, // every query reaching the end extends the prefix table
		Logger:    slog.New(slog.NewTextHandler(&lc.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	lc.set = set
	lc.st = translate.New(set, translate.Options{})
	lc.stop, lc.done = make(chan struct{}), make(chan struct{})
	go lc.poll()
}

// close stops the poller and closes the Set (once).
func (lc *lifecycle) close() {
	if lc.stop == nil {
		return
	}
	close(lc.stop)
	<-lc.done
	lc.stop = nil
	lc.set.Close()
}

// poll queries every series over all time, in both forms, until stopped,
// as a dashboard refreshing would; its queries reach past the newest
// data, so they rescan too.
func (lc *lifecycle) poll() {
	defer close(lc.done)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-lc.stop:
			return
		case <-tick.C:
		}
		lc.mu.Lock()
		gen, paused, step := lc.gen, lc.paused, lc.step
		lc.mu.Unlock()
		if paused {
			continue
		}
		_, _, err := lc.served(i%2 == 1, math.MinInt64, math.MaxInt64)
		lc.set.Status()
		lc.mu.Lock()
		lc.polls++
		if err != nil {
			msg := fmt.Sprintf("%s: poll %d: %v", step, lc.polls, err)
			if gen%2 == 1 || gen != lc.gen {
				lc.tolerated = append(lc.tolerated, msg)
			} else {
				lc.fails = append(lc.fails, msg)
			}
		}
		lc.mu.Unlock()
	}
}

// change runs fn, which changes the archives' files, telling the poller
// (paused meanwhile when pause is set) until the next rescan.
func (lc *lifecycle) change(pause bool, fn func()) {
	lc.mu.Lock()
	lc.gen++
	lc.paused = pause
	lc.mu.Unlock()
	fn()
}

// rescan rescans the Set, as --archive.rescan-interval does; a change of
// files is then over for the poller.
func (lc *lifecycle) rescan() {
	lc.set.Rescan()
	lc.mu.Lock()
	if lc.gen%2 == 1 {
		lc.gen++
	}
	lc.paused = false
	lc.mu.Unlock()
}

// rescanUntil rescans until the host's archives are bases, oldest first.
func (lc *lifecycle) rescanUntil(bases ...string) {
	lc.t.Helper()
	var got []string
	lc.waitFor(fmt.Sprintf("archives %v", names(bases)), 15*time.Second, func() bool {
		lc.rescan()
		got = got[:0]
		for _, h := range lc.set.Status().Hosts {
			for _, a := range h.Archives {
				got = append(got, a.Path)
			}
		}
		return slices.Equal(got, bases)
	})
}

func names(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

func (lc *lifecycle) waitFor(what string, d time.Duration, ok func() bool) {
	lc.t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			lc.t.Fatalf("%s: no %s after %v; status %+v", lc.step, what, d, lc.set.Status())
		}
	}
}

func (lc *lifecycle) stats() multiarchive.TableStats { return lc.set.Status().Tables }

// settle waits until the builders have nothing left to do for the closed
// archives: each has a whole table and none is queued, and the backlog
// is empty. The newest archive's prefix table goes on being extended.
func (lc *lifecycle) settle() {
	lc.t.Helper()
	lc.waitFor("whole tables of every closed archive", 20*time.Second, func() bool {
		st := lc.set.Status()
		if st.Tables.Backlog.Archives != 0 {
			return false
		}
		for _, h := range st.Hosts {
			for i, a := range h.Archives {
				if i < len(h.Archives)-1 && (a.Table != multiarchive.TableComplete || a.TableQueued) {
					return false
				}
			}
		}
		return true
	})
}

// expect checks the table store's counters and the whole tables in its
// directory: built whole tables, of them promoted from prefix tables, and
// whole tables named by content on disk. It also checks that no prefix
// table on disk reaches less far than one seen before.
func (lc *lifecycle) expect(built, promoted uint64, content int) {
	t := lc.t
	t.Helper()
	st := lc.stats()
	if st.Built != built || st.Promoted != promoted || st.Failed != 0 {
		t.Errorf("%s: %d whole tables built, %d of them from prefix tables, %d failed; want %d and %d, none failed (%+v)",
			lc.step, st.Built, st.Promoted, st.Failed, built, promoted, st)
	}
	for _, h := range lc.set.Status().Hosts {
		for _, a := range h.Archives {
			if a.Problem != "" || a.TableProblem != "" {
				t.Errorf("%s: %s: problem %q, table problem %q", lc.step, filepath.Base(a.Path), a.Problem, a.TableProblem)
			}
		}
	}
	f := lc.files()
	if len(f.content) != content {
		t.Errorf("%s: whole tables by content on disk %v, want %d", lc.step, f.content, content)
	}
	if len(f.legacy) != 0 {
		t.Errorf("%s: whole tables by path on disk %v, want none (xz and zstd volumes have a content identity)", lc.step, f.legacy)
	}
	tails := map[string]archive.Position{}
	for _, p := range f.prefix {
		if cur, ok := tails[p.hash]; !ok || before(cur, p.tail) {
			tails[p.hash] = p.tail
		}
	}
	for h, seen := range lc.tails {
		if cur, ok := tails[h]; ok && before(cur, seen) {
			t.Errorf("%s: the prefix tables of %s reach %v, one reached %v before", lc.step, lc.nameOf(h), cur, seen)
		}
	}
	for h, p := range tails {
		if seen, ok := lc.tails[h]; !ok || before(seen, p) {
			lc.tails[h] = p
		}
	}
}

func before(a, b archive.Position) bool { return a.Vol < b.Vol || a.Vol == b.Vol && a.Off < b.Off }

type prefixName struct {
	hash string
	tail archive.Position
}

type tableFiles struct {
	content, legacy, refs, other []string
	prefix                       []prefixName
}

var prefixRE = regexp.MustCompile(fmt.Sprintf(`^([0-9a-f]{16})-L([0-9]+)\.([0-9]+)-v%d\.tbl$`, coltable.Version))

// files lists the table directory by kind of name (docs/column-tables.md §2).
func (lc *lifecycle) files() tableFiles {
	lc.t.Helper()
	ents, err := os.ReadDir(lc.tables)
	if err != nil {
		lc.t.Fatal(err)
	}
	suffix := fmt.Sprintf("-v%d.tbl", coltable.Version)
	var f tableFiles
	for _, e := range ents {
		n := e.Name()
		if m := prefixRE.FindStringSubmatch(n); m != nil {
			vol, _ := strconv.Atoi(m[2])
			off, _ := strconv.ParseInt(m[3], 10, 64)
			f.prefix = append(f.prefix, prefixName{m[1], archive.Position{Vol: vol, Off: off}})
		} else if strings.HasPrefix(n, "content-") && strings.HasSuffix(n, suffix) {
			f.content = append(f.content, n)
		} else if strings.HasSuffix(n, suffix) {
			f.legacy = append(f.legacy, n)
		} else if strings.HasSuffix(n, fmt.Sprintf("-v%d.ref", coltable.Version)) {
			f.refs = append(f.refs, n)
		} else {
			f.other = append(f.other, n)
		}
	}
	return f
}

// pathHash is the hash of an archive's path its path-named tables begin
// with (FNV-1a 64 of the absolute base path, docs/column-tables.md §2).
func pathHash(base string) string {
	h := fnv.New64a()
	h.Write([]byte(base))
	return fmt.Sprintf("%016x", h.Sum64())
}

// nameOf is the archive whose path-named tables begin with hash h.
func (lc *lifecycle) nameOf(h string) string {
	for _, p := range []string{archA, archB, archM, archC, filepath.Join("older", "moved-"+archA)} {
		if pathHash(filepath.Join(lc.dir, p)) == h {
			return p
		}
	}
	return h
}

// tableOf returns the table the Set gives the archive at base, as a query
// gets it, or nil.
func (lc *lifecycle) tableOf(base string) *coltable.Table {
	lc.t.Helper()
	for _, h := range lc.set.Hosts() {
		opened, _ := h.Open(math.MinInt64, math.MaxInt64)
		for _, o := range opened {
			if o.Entry.Files.Base == base {
				return lc.set.Table(o)
			}
		}
	}
	return nil
}

// wholeTable checks that a closed archive is served from its whole table,
// named by its content, and that Status says so.
func (lc *lifecycle) wholeTable(base string) {
	t := lc.t
	t.Helper()
	tb := lc.tableOf(base)
	if tb == nil || tb.Tail != nil || !strings.HasPrefix(filepath.Base(tb.Path), "content-") {
		t.Errorf("%s: %s: table %v, want its whole table, named by content", lc.step, filepath.Base(base), tb)
	}
	for _, h := range lc.set.Status().Hosts {
		for _, a := range h.Archives {
			if a.Path == base && a.Table != multiarchive.TableComplete {
				t.Errorf("%s: %s: status says table %q, want %q", lc.step, filepath.Base(base), a.Table, multiarchive.TableComplete)
			}
		}
	}
}

// during compares with libpcp again and again for d, calling also after
// each comparison.
func (lc *lifecycle) during(d time.Duration, also func()) {
	lc.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		lc.check()
		also()
	}
}

// checked is what one comparison with libpcp covered.
type checked struct {
	records, marks, series, samples int
}

// check compares what the Set serves, over all time up to the last record
// libpcp reads, with libpcp's reading of the directory now, in the sample
// and the chunk form.
func (lc *lifecycle) check() checked {
	t := lc.t
	t.Helper()
	lc.dumps++
	dump := filepath.Join(lc.work, fmt.Sprintf("dump-%02d.jsonl.gz", lc.dumps))
	pcptest.LibpcpDump(t, lc.libpcpView(), dump)
	lines, err := pcptest.ReadDump(dump)
	if err != nil {
		t.Fatal(err)
	}
	last, marks, records := int64(math.MinInt64), 0, 0
	for _, l := range lines {
		if l.End {
			records = l.Records
			continue
		}
		last = max(last, l.T)
		if l.Mark {
			marks++
		}
	}
	hosts := lc.set.Hosts()
	if len(hosts) != 1 || records == 0 {
		t.Fatalf("%s: %d hosts, libpcp read %d records", lc.step, len(hosts), records)
	}
	want, err := pcptest.WantSeries(dump, hosts[0].Host)
	if err != nil {
		t.Fatal(err)
	}
	c := checked{records: records, marks: marks}
	for _, w := range want {
		c.series++
		c.samples += len(w)
	}
	// pmlogger goes on writing: the window ends at libpcp's last record.
	maxt := floorMs(last)
	for _, chunked := range []bool{false, true} {
		got, _, err := lc.served(chunked, math.MinInt64, maxt)
		if err != nil {
			t.Fatalf("%s: %v", lc.step, err)
		}
		if diffs := pcptest.CompareSeries(got, want, 8); len(diffs) > 0 {
			form := "samples"
			if chunked {
				form = "chunks"
			}
			t.Errorf("%s: %s to %s differ from libpcp's %d records (%d marks, %d series, %d samples):\n\t%s", lc.step, form,
				time.UnixMilli(maxt).UTC().Format(time.StampMilli), records, marks, c.series, c.samples, strings.Join(diffs, "\n\t"))
		}
	}
	if c.series < 6 {
		t.Errorf("%s: libpcp reads %d series, want 6 or more", lc.step, c.series)
	}
	lc.last = c
	return c
}

// libpcpView is the directory as libpcp is to read it: the archives'
// directory itself, or a copy of it when libpcp would not read it as the
// Set does. libpcp reads the archives of one directory, not of its
// subdirectories, and PCP 6's libpcp does not read zstd files, which PCP 7
// writes (it skips such a volume without a word). The copy holds every
// archive file of the tree, linked, and the zstd files decompressed.
func (lc *lifecycle) libpcpView() string {
	t := lc.t
	t.Helper()
	var files []string
	copyNeeded := false
	err := filepath.WalkDir(lc.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files = append(files, p)
		copyNeeded = copyNeeded || strings.HasSuffix(p, ".zst") || filepath.Dir(p) != lc.dir
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !copyNeeded {
		return lc.dir
	}
	lc.views++
	view := filepath.Join(lc.work, fmt.Sprintf("view-%02d", lc.views))
	if err := os.Mkdir(view, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		n := filepath.Base(p)
		if plain, ok := strings.CutSuffix(n, ".zst"); ok {
			run(t, "zstd", "-q", "-d", p, "-o", filepath.Join(view, plain))
		} else if err := os.Symlink(p, filepath.Join(view, n)); err != nil {
			t.Fatal(err)
		}
	}
	return view
}

// served is every series the storage serves in [mint, maxt], keyed as
// pcptest.WantSeries keys libpcp's, through the Querier or the
// ChunkQuerier (its chunks' samples in order); a warning is an error.
func (lc *lifecycle) served(chunked bool, mint, maxt int64) (map[string][]pcptest.Point, int, error) {
	m := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
	out := map[string][]pcptest.Point{}
	n := 0
	put := func(lset labels.Labels, pts []pcptest.Point) error {
		k := pcptest.SeriesKey(lset.Get)
		if _, dup := out[k]; dup {
			return fmt.Errorf("two series %s", k)
		}
		if len(pts) > 0 { // a series without samples in the window may be listed
			out[k] = pts
			n += len(pts)
		}
		return nil
	}
	samples := func(it chunkenc.Iterator, pts []pcptest.Point) ([]pcptest.Point, error) {
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			pts = append(pts, pcptest.Point{T: ts, V: v})
		}
		return pts, it.Err()
	}
	ctx := context.Background()
	var warns annotations.Annotations
	if !chunked {
		q, err := lc.st.Querier(mint, maxt)
		if err != nil {
			return nil, 0, err
		}
		defer q.Close()
		ss := q.Select(ctx, true, nil, m)
		for ss.Next() {
			pts, err := samples(ss.At().Iterator(nil), nil)
			if err == nil {
				err = put(ss.At().Labels(), pts)
			}
			if err != nil {
				return nil, 0, err
			}
		}
		if err := ss.Err(); err != nil {
			return nil, 0, err
		}
		warns = ss.Warnings()
	} else {
		q, err := lc.st.ChunkQuerier(mint, maxt)
		if err != nil {
			return nil, 0, err
		}
		defer q.Close()
		ss := q.Select(ctx, true, nil, m)
		var it chunkenc.Iterator
		for ss.Next() {
			var pts []pcptest.Point
			ci := ss.At().Iterator(nil)
			for ci.Next() {
				c := ci.At()
				from := len(pts)
				it = c.Chunk.Iterator(it)
				if pts, err = samples(it, pts); err != nil {
					return nil, 0, err
				}
				for i := from; i < len(pts); i++ {
					if ts := pts[i].T; ts < c.MinTime || ts > c.MaxTime || i > 0 && ts <= pts[i-1].T {
						return nil, 0, fmt.Errorf("%s: sample at %d out of order or outside its chunk [%d, %d]", ss.At().Labels(), ts, c.MinTime, c.MaxTime)
					}
				}
			}
			if err := ci.Err(); err != nil {
				return nil, 0, err
			}
			if err := put(ss.At().Labels(), pts); err != nil {
				return nil, 0, err
			}
		}
		if err := ss.Err(); err != nil {
			return nil, 0, err
		}
		warns = ss.Warnings()
	}
	if len(warns) > 0 {
		return nil, 0, fmt.Errorf("warnings: %v", errors.Join(warns.AsErrors()...))
	}
	return out, n, nil
}

// finish fails the test on the poller's failures and on warnings in the
// Set's log, and logs what was tolerated.
func (lc *lifecycle) finish() {
	t := lc.t
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, f := range lc.fails {
		t.Errorf("poller: %s", f)
	}
	for _, f := range lc.tolerated {
		t.Logf("poller, while files changed (tolerated): %s", f)
	}
	for _, line := range strings.Split(strings.TrimSpace(lc.logs.String()), "\n") {
		switch {
		case line == "":
		case strings.Contains(line, "level=INFO"),
			// pmlogger's new archive before its metadata is written
			strings.Contains(line, `msg="archive skipped"`),
			// M beside A and B, which the test rescanned on purpose
			strings.Contains(line, `msg="archives overlap in time"`) && strings.Contains(line, "first="+filepath.Join(lc.dir, archM)+" "):
			t.Logf("Set log: %s", line)
		default:
			t.Errorf("Set log: %s", line)
		}
	}
}

func (lc *lifecycle) dumpLogs() {
	if !lc.t.Failed() {
		return
	}
	for _, p := range lc.loggers {
		lc.t.Logf("%s:\n%s", p.Log, p.LogText())
	}
	lc.t.Logf("table directory: %+v", lc.files())
}

// volumes is the number of data volumes of the archive at base.
func volumes(t *testing.T, base string) int { return len(archiveFiles(t, base).Volumes) }

func archiveFiles(t *testing.T, base string) archive.Files {
	t.Helper()
	f, err := archive.FindFiles(base)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
