package multiarchive

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/coltable"
	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
)

// tableStore manages the sidecar directory of tables: lookup by archive
// identity, one background builder, and bounded maps of loaded
// directories. Closed archives get whole tables; the newest archive of a
// host, which may still grow, gets prefix tables (see coltable.Table).
type tableStore struct {
	dir  string
	sync bool // build on the caller's goroutine (tests, benchmarks)
	set  *Set
	// tail is how many bytes of records past a prefix table make it worth
	// extending: every query that reaches the end of the archive reads
	// them directly until then.
	tail int64

	mu      sync.Mutex
	loaded  map[string]*coltable.Table
	order   []string // load order, for eviction
	pending map[string]bool
	failed  map[string]string
	jobs    chan tableJob
	built   uint64
	done    chan struct{} // closed when the builder has stopped
	// superseded tables and since when, removed after tableGrace.
	superseded map[string]time.Time
	prefixes   map[string]*coltable.Table // by archive base path
	prefixLRU  []string
	extended   uint64 // prefix tables built or extended
	promoted   uint64 // whole tables made by extending a prefix table
	joined     uint64 // whole tables joined from the tables of merged archives
	// summaries of content tables, by identity, for join (tablejoin.go).
	summaries map[string]coltable.Summary
	planned   time.Time // when the backlog was last planned
	dirBytes  int64     // the tables' total size at the last bound check
	evicted   uint64    // tables removed by the bound
	// tried is, by archive, the uncovered bytes when a prefix build last
	// failed or found nothing new: the next try waits for tail more.
	tried  map[string]int64
	closed bool
	// ids is what each stat key's content identity was found to be ("":
	// none cheap to know), and contents the identities that have a
	// table on disk (tablenames.go).
	ids      map[string]string
	contents map[string]bool
	// failedBase is failed by archive base path, for Status.
	failedBase map[string]string
	// maxBytes bounds the tables' total size on disk (0: no bound), and
	// touched is when each table's modification time was last set to
	// say it was used (tablebound.go).
	maxBytes int64
	touched  map[string]time.Time
	// The archives without a table, built when no query waits
	// (backlog.go).
	backlog backlog
	// buildXZ decodes the .xz files the builders read (tableJob.opened).
	buildXZ *xz.Decoder

	// direct counts the queries reading the records of an archive that
	// has no table yet. While there are any, the builder works one part
	// in throttleShare: the query that found no table is waiting for
	// the CPUs, and a build of the same archive would only halve what it
	// gets (a first query over a week of .xz days takes over half as long
	// again beside a builder at full speed), yet queries that keep coming
	// must not stop the builds for good.
	direct atomic.Int32
	// directEnd is when (ns) a query last stopped reading directly.
	directEnd atomic.Int64
	pause     throttle
}

// throttle paces the builder while queries read archives directly.
type throttle struct {
	busy  func() bool
	sleep func(time.Duration)
	now   func() time.Time
	since time.Time // when the builder last started work
}

const (
	throttleShare = 4                     // work one part in throttleShare while busy
	throttleMin   = 20 * time.Millisecond // work at least this long between pauses
	throttleMax   = time.Second           // pause at most this long at a time
)

// begin starts the clock at the start of a build: the builder's wait
// for the job is not work.
func (t *throttle) begin() { t.since = t.now() }

// yield is called by the builder between batches of records; it pauses
// the builder (throttleShare-1) times as long as it has worked since the
// last pause, when queries read directly.
func (t *throttle) yield() {
	now := t.now()
	if t.since.IsZero() || !t.busy() {
		t.since = now
		return
	}
	worked := now.Sub(t.since)
	if worked < throttleMin {
		return
	}
	t.sleep(min((throttleShare-1)*worked, throttleMax))
	t.since = t.now()
}

// DirectRead tells the Set that a query is reading the records of
// archives that have no table; done says it has finished. The background
// table builder slows down meanwhile (see tableStore.direct).
func (s *Set) DirectRead() (done func()) {
	ts := s.tables
	if ts == nil || ts.sync {
		return func() {}
	}
	ts.direct.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			ts.directEnd.Store(time.Now().UnixNano())
			ts.direct.Add(-1)
		})
	}
}

// tableJob is a build the builder is asked for: of an opened archive
// (a query met it without a table), or of an entry alone (an archive that
// just stopped being its host's newest), which the builder opens itself.
type tableJob struct {
	o      Opened
	prefix bool
	// queued says the job came through queue (its key is pending);
	// backlog that it is the backlog's (backlog.go): a closed archive.
	queued, backlog bool
}

// opened returns the job's archive, opening it when the job has none: a
// background build reads the archive outside the Set's cache, which holds
// what queries read.
//
// The builders read .xz files through a decoder of their own (dec), with
// as many background block decodes as there are builders beyond the
// first: --cache.build-cpus is the CPUs building takes, read-ahead
// included, and queries keep the Set's decoder for themselves.
func (j tableJob) opened(dec *xz.Decoder) (Opened, error) {
	files := j.o.Entry.Files
	files.XZ = dec
	a, err := archive.OpenFiles(files)
	if err != nil {
		return Opened{}, err
	}
	o := j.o
	o.Archive = a
	return o, nil
}

// defaultTail is the default of Options.TableTail: with pmlogger's usual
// records, tens of minutes to hours of data, read in tens of ms.
const defaultTail = 4 << 20

// tableGrace is how long a superseded table is kept for queries still
// reading it (longer than --query.timeout's default of 2 minutes).
const tableGrace = 10 * time.Minute

// maxLoadedTables bounds the table directories kept in memory (each is
// small, about 100 bytes a series, and re-read from disk when evicted)
// and with them the table files held open: as many again for prefix
// tables, one per host.
const maxLoadedTables = 128

// checkTableDir creates dir and writes and removes a file in it, so that a
// directory no table could be written to is found once, at start, rather
// than by every build (one INFO line each) while queries read archives.
func checkTableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The name is one sweep removes, should this process die here.
	f, err := os.CreateTemp(dir, ".tmp-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	return os.Remove(name)
}

func newTableStore(dir string, syncBuild bool, tail int64, s *Set) *tableStore {
	if tail <= 0 {
		tail = defaultTail
	}
	ts := &tableStore{dir: dir, sync: syncBuild, tail: tail, set: s, loaded: map[string]*coltable.Table{}, pending: map[string]bool{},
		failed: map[string]string{}, superseded: map[string]time.Time{}, prefixes: map[string]*coltable.Table{}, tried: map[string]int64{},
		ids: map[string]string{}, contents: map[string]bool{}, failedBase: map[string]string{}, touched: map[string]time.Time{},
		summaries: map[string]coltable.Summary{}}
	if s != nil {
		ts.maxBytes = s.opts.TableMaxBytes
	}
	ts.pause = throttle{busy: func() bool { return ts.direct.Load() > 0 }, sleep: time.Sleep, now: time.Now}
	ts.backlog.init()
	ts.sweep()
	ts.loadNames()
	if !syncBuild {
		workers := 1
		if s != nil && s.opts.TableBuilders > 0 {
			workers = s.opts.TableBuilders
		}
		ts.buildXZ = xz.NewDecoder(xz.Options{MaxConcurrent: workers - 1})
		ts.jobs = make(chan tableJob, 1024)
		ts.done = make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(ts.builder)
		}
		go func() { wg.Wait(); close(ts.done) }()
	}
	return ts
}

// Close stops the background table builder, waiting for a table being
// written to be finished (or abandoned: its temporary file is removed).
func (s *Set) Close() {
	ts := s.tables
	if ts == nil || ts.jobs == nil {
		return
	}
	ts.mu.Lock()
	if !ts.closed {
		ts.closed = true
		close(ts.jobs)
	}
	ts.mu.Unlock()
	ts.backlog.wakeAll()
	<-ts.done
}

// sweep removes what other versions of this program leave in the table
// directory: tables of another format version (never read again) and
// temporary files of builds that were killed. Only names this program
// makes are touched.
func (ts *tableStore) sweep() {
	names, _ := filepath.Glob(filepath.Join(ts.dir, "*"))
	suffix := fmt.Sprintf("-v%d.tbl", coltable.Version)
	for _, p := range names {
		b := filepath.Base(p)
		ours := strings.HasSuffix(b, ".tbl") && (len(b) > 17 && b[16] == '-' || strings.HasPrefix(b, contentPrefix)) ||
			strings.HasSuffix(b, ".ref") && len(b) > 17 && b[16] == '-'
		if ours && !strings.HasSuffix(b, suffix) && !strings.HasSuffix(b, refSuffix) ||
			strings.HasPrefix(b, ".tmp-") {
			if fi, err := os.Stat(p); err == nil && (!strings.HasPrefix(b, ".tmp-") || time.Since(fi.ModTime()) > tableGrace) {
				os.Remove(p)
			}
		}
	}
}

// baseHash is the first part of every table name of an archive: a hash of
// its absolute base path, so that a server started from another directory,
// or naming the archives by a relative path, finds the same tables.
func baseHash(base string) string {
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	h := fnv.New64a()
	h.Write([]byte(base))
	return fmt.Sprintf("%016x", h.Sum64())
}

// prefixPath names a prefix table by its archive and where it stops.
func (ts *tableStore) prefixPath(base string, tail archive.Position) string {
	return filepath.Join(ts.dir, fmt.Sprintf("%s-L%d.%d-v%d.tbl", baseHash(base), tail.Vol, tail.Off, coltable.Version))
}

// get returns the table of a closed archive, or nil when there is none yet
// (one is then built in the background) or it cannot be made.
func (ts *tableStore) get(o Opened) *coltable.Table {
	path, known, err := ts.lookupPath(o.Entry.Files, ts.sync || ts.worthLooking())
	if err == nil && !known {
		ts.queue(tableJob{o: o})
		return nil
	}
	if err != nil {
		// The files changed since the scan that found them
		// (pmlogger_daily compressed the day): its files as they are
		// now have the same content, and so the same table.
		files, ferr := currentFiles(o.Entry.Files)
		if ferr != nil {
			return nil
		}
		if path, err = ts.wholePath(files); err != nil {
			return nil
		}
	}
	ts.mu.Lock()
	if t := ts.loaded[path]; t != nil {
		ts.mu.Unlock()
		ts.touch(path)
		return t
	}
	if _, bad := ts.failed[path]; bad || ts.pending[wholeKey(o.Entry)] {
		ts.mu.Unlock()
		return nil
	}
	ts.mu.Unlock()
	if t, err := coltable.Open(path); err == nil {
		ts.remember(path, t)
		ts.touch(path)
		return t
	} else if !errors.Is(err, fs.ErrNotExist) {
		ts.set.log.Warn("damaged table, rebuilding", "table", path, "err", err)
		os.Remove(path)
	}
	if ts.sync {
		return ts.build(o, path, nil)
	}
	ts.queue(tableJob{o: o})
	return nil
}

// queue hands a job to the builders unless one for the same table is
// queued or under way.
func (ts *tableStore) queue(j tableJob) {
	key := j.key()
	j.queued = true
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.pending[key] && !ts.closed {
		select {
		case ts.jobs <- j:
			ts.pending[key] = true
		default: // the builders are busy; a later query or scan asks again
		}
	}
	ts.backlog.signal()
}

// yield is a builder's pause between batches of records: none when
// tables are built on the caller's goroutine (p nil: that caller is a
// query).
func yield(p *throttle) func() {
	if p == nil {
		return nil
	}
	return p.yield
}

// The keys of ts.pending: a whole or a prefix table of an archive, by
// its base path.
func prefixKey(o Opened) string { return "prefix\x00" + o.Entry.Files.Base }
func wholeKey(e *Entry) string  { return "whole\x00" + e.Files.Base }
func (j tableJob) key() string {
	if j.prefix {
		return prefixKey(j.o)
	}
	return wholeKey(j.o.Entry)
}

// builder runs the jobs queries and rescans hand it, and, when there are
// none, the backlog (backlog.go). Options.TableBuilders of them run.
//
// Each builder paces itself (its own throttle, from ts.pause).
func (ts *tableStore) builder() {
	pause := ts.pause
	for {
		j, ok := ts.nextJob()
		if !ok {
			return
		}
		ts.run(j, &pause)
	}
}

// run does one job, unless a job for the same table is queued or under
// way elsewhere (a backlog entry a query asked for meanwhile).
func (ts *tableStore) run(j tableJob, pause *throttle) {
	key := j.key()
	ts.mu.Lock()
	if ts.closed || !j.queued && ts.pending[key] {
		ts.mu.Unlock()
		return // closing, or another builder has it
	}
	ts.pending[key] = true
	ts.mu.Unlock()
	defer func() {
		ts.mu.Lock()
		delete(ts.pending, key)
		ts.mu.Unlock()
	}()
	ts.quiet(j)
	if j.prefix {
		pause.begin()
		ts.buildPrefix(j.o, pause)
		return
	}
	began := time.Now()
	built := ts.runWhole(j, pause)
	if j.backlog {
		ts.backlog.finish(j.o.Entry, built, time.Since(began))
	}
}

// quiet waits, up to quietWait, while queries read archives directly,
// before a build starts: the query that found no table (or the first
// queries of a server just started) then has the CPUs and the memory to
// itself, and the build holds nothing yet while it waits. A build under
// way when a query comes gives way through its throttle instead; one
// that waited quietWait starts anyway, so that queries that never stop
// do not stop the builds.
func (ts *tableStore) quiet(j tableJob) {
	if ts.sync {
		return
	}
	if j.o.Archive != nil {
		// Queued by a query that is about to read the archive itself
		// (it says so through DirectRead just after).
		time.Sleep(quietGrace)
	}
	for deadline := time.Now().Add(quietWait); ts.direct.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(quietPoll)
	}
}

const (
	quietWait  = 2 * time.Second
	quietGrace = 10 * time.Millisecond
	quietPoll  = 5 * time.Millisecond
)

// runWhole builds the whole table of a closed archive unless it has one
// or failed before; it tells whether it built one.
func (ts *tableStore) runWhole(j tableJob, pause *throttle) bool {
	path, err := ts.wholePath(j.o.Entry.Files)
	if err != nil {
		return false
	}
	ts.mu.Lock()
	_, failed := ts.failed[path]
	ts.mu.Unlock()
	if failed || ts.exists(path) {
		return false
	}
	o, err := j.opened(ts.buildXZ)
	if err != nil {
		ts.noteFailed(j.o.Entry, path, err)
		return false
	}
	pause.begin()
	return ts.build(o, path, pause) != nil
}

// noteFailed remembers that the table at path of an archive cannot be
// built (the archive is then read directly), and logs it once.
func (ts *tableStore) noteFailed(e *Entry, path string, err error) {
	ts.mu.Lock()
	ts.failed[path] = err.Error()
	ts.failedBase[e.Files.Base] = err.Error()
	ts.mu.Unlock()
	ts.set.log.Info("archive read directly, no table", "archive", e.Files.Base, "reason", err)
}

// exists tells whether the whole table at path is loaded or on disk.
func (ts *tableStore) exists(path string) bool {
	ts.mu.Lock()
	_, loaded := ts.loaded[path]
	ts.mu.Unlock()
	if loaded {
		return true
	}
	_, err := os.Stat(path)
	return err == nil
}

// build makes the whole table of a closed archive at path. When the
// archive has a valid prefix table (it was its host's newest while this
// server ran) the prefix is extended to the archive's end, so that only
// the records after it are read; otherwise every record is.
func (ts *tableStore) build(o Opened, path string, pause *throttle) *coltable.Table {
	t, err := ts.extendToWhole(o, path, pause)
	if t == nil && err == nil {
		t = ts.join(o, path)
	}
	if t == nil && err == nil {
		t, err = coltable.Build(o.Archive, path, yield(pause))
	}
	if err != nil {
		ts.noteFailed(o.Entry, path, err)
		return nil
	}
	ts.retire(baseHash(o.Entry.Files.Base), path)
	ts.remember(path, t)
	ts.touch(path)
	ts.mu.Lock()
	ts.built++
	if cid, ok := parseContent(filepath.Base(path)); ok {
		ts.contents[cid] = true
	}
	ts.mu.Unlock()
	ts.bound()
	return t
}

// extendToWhole makes the whole table at path from the archive's valid
// prefix table, reading only the records after the prefix's tail; a nil
// table and error says there is no such prefix table.
func (ts *tableStore) extendToWhole(o Opened, path string, pause *throttle) (*coltable.Table, error) {
	old := ts.prefix(o, false)
	if old == nil {
		return nil, nil
	}
	b, err := coltable.StartPrefix(o.Archive, old, yield(pause))
	if err != nil {
		ts.set.log.Warn("prefix table unreadable, building the whole table", "table", old.Path, "err", err)
		return nil, nil
	}
	if err := b.Feed(); err != nil {
		return nil, err
	}
	t, err := b.WriteWhole(path)
	if err == nil {
		ts.mu.Lock()
		ts.promoted++
		ts.mu.Unlock()
	}
	return t, err
}

// retire handles the tables named by an archive's path (hash h) other
// than current: prefix tables once the whole table is built, and tables
// named by the stat key of earlier versions of its files. They are useless
// now, but a query may still be reading one, so each is removed only
// tableGrace after it was superseded; every build sweeps what is due.
// Tables named by content are shared by every archive of that content
// and are not retired: the bound on the directory removes them
// (tablebound.go).
func (ts *tableStore) retire(h, current string) {
	now := time.Now()
	old, _ := filepath.Glob(filepath.Join(ts.dir, h+"-*.tbl"))
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, p := range old {
		if p == current {
			continue
		}
		if _, ok := ts.superseded[p]; !ok {
			ts.superseded[p] = now
			if t := ts.loaded[p]; t != nil {
				t.Release()
			}
			delete(ts.loaded, p)
			// A superseded prefix table must not serve either: once the
			// whole table exists, its tail may be gone (compressed).
			ts.dropPrefixLocked(p)
		}
	}
	for p, since := range ts.superseded {
		if now.Sub(since) > tableGrace {
			os.Remove(p)
			delete(ts.superseded, p)
		}
	}
}

// dropPrefixLocked forgets the prefix table at path, if it is one the
// store holds for an archive; ts.mu is held.
func (ts *tableStore) dropPrefixLocked(path string) {
	for base, t := range ts.prefixes {
		if t.Path == path {
			t.Release()
			delete(ts.prefixes, base)
			ts.prefixLRU = deleteString(ts.prefixLRU, base)
		}
	}
}

func (ts *tableStore) remember(path string, t *coltable.Table) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.loaded[path]; ok {
		return
	}
	ts.loaded[path] = t
	ts.order = append(ts.order, path)
	for len(ts.order) > maxLoadedTables {
		if old := ts.loaded[ts.order[0]]; old != nil {
			old.Release()
		}
		delete(ts.loaded, ts.order[0])
		ts.order = ts.order[1:]
	}
}

// Table returns the column table of an opened archive, or nil when the
// caller should read the archive's records itself. A closed archive's table
// comes from the table directory (built in the background the first time).
// The newest archive of a host, which pmlogger may still be writing, gets a
// prefix table: the caller reads the records from its Tail on directly.
// One is built in the background the first time, and extended when the
// tail grows past Options.TableTail. A closed archive whose table is not
// built yet is served from the prefix table it had while it was the newest.
func (s *Set) Table(o Opened) *coltable.Table {
	if s.tables == nil {
		return nil
	}
	if o.Live && !s.opts.TableAll {
		return s.tables.prefix(o, true)
	}
	if t := s.tables.get(o); t != nil {
		return t
	}
	return s.tables.prefix(o, false)
}

// prefix returns the latest valid prefix table of an archive, loading it
// from the directory when it is not in memory; with build, it queues a
// build or extension when there is none or its tail is long.
func (ts *tableStore) prefix(o Opened, build bool) *coltable.Table {
	base := o.Entry.Files.Base
	ts.mu.Lock()
	t := ts.prefixes[base]
	ts.mu.Unlock()
	if t != nil && !t.Valid() {
		ts.forgetPrefix(base, t)
		t = nil
	}
	if t == nil {
		if t = ts.findPrefix(base); t != nil {
			ts.rememberPrefix(base, t)
		}
	}
	if !build {
		return t
	}
	n := coltable.Uncovered(o.Archive, t)
	ts.mu.Lock()
	last, tried := ts.tried[base]
	ts.mu.Unlock()
	if t != nil && n < ts.tail || tried && n < last+ts.tail {
		return t
	}
	if ts.sync {
		if nt := ts.buildPrefix(o, nil); nt != nil {
			return nt
		}
		return t
	}
	ts.queue(tableJob{o: o, prefix: true})
	return t
}

// prefixDue queues a build or extension of the prefix table of a host's
// newest archive when Set.Table would: none yet, or a long tail. It reads
// no archive, only the sizes of its volumes.
func (ts *tableStore) prefixDue(o Opened) {
	base := o.Entry.Files.Base
	t := ts.prefix(o, false)
	files, err := currentFiles(o.Entry.Files)
	if err != nil {
		return
	}
	n := coltable.UncoveredFiles(files, t)
	ts.mu.Lock()
	last, tried := ts.tried[base]
	ts.mu.Unlock()
	if n == 0 || t != nil && n < ts.tail || tried && n < last+ts.tail {
		return
	}
	ts.queue(tableJob{o: Opened{Entry: o.Entry, Live: true}, prefix: true})
}

// findPrefix returns the valid prefix table of an archive on disk that
// covers the most, removing the invalid ones it finds.
func (ts *tableStore) findPrefix(base string) *coltable.Table {
	names, _ := filepath.Glob(filepath.Join(ts.dir, fmt.Sprintf("%s-L*-v%d.tbl", baseHash(base), coltable.Version)))
	var best *coltable.Table
	for _, p := range names {
		ts.mu.Lock()
		_, gone := ts.superseded[p]
		ts.mu.Unlock()
		if gone {
			continue
		}
		t, err := coltable.Open(p)
		if err != nil || t.Tail == nil || !t.Valid() {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				ts.set.log.Warn("damaged table, removed", "table", p, "err", err)
			}
			os.Remove(p)
			continue
		}
		if best == nil || t.Tail.Vol > best.Tail.Vol || t.Tail.Vol == best.Tail.Vol && t.Tail.Off > best.Tail.Off {
			best = t
		}
	}
	return best
}

func (ts *tableStore) rememberPrefix(base string, t *coltable.Table) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if old := ts.prefixes[base]; old != nil && old != t {
		old.Release()
	}
	ts.prefixes[base] = t
	ts.prefixLRU = append(deleteString(ts.prefixLRU, base), base)
	for len(ts.prefixLRU) > maxLoadedTables {
		if old := ts.prefixes[ts.prefixLRU[0]]; old != nil {
			old.Release()
		}
		delete(ts.prefixes, ts.prefixLRU[0])
		ts.prefixLRU = ts.prefixLRU[1:]
	}
}

// forgetPrefix drops a prefix table whose archive files were replaced or
// truncated; the file goes after tableGrace (a query may be reading it).
func (ts *tableStore) forgetPrefix(base string, t *coltable.Table) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t.Release()
	if ts.prefixes[base] == t {
		delete(ts.prefixes, base)
		ts.prefixLRU = deleteString(ts.prefixLRU, base)
	}
	if _, ok := ts.superseded[t.Path]; !ok {
		ts.superseded[t.Path] = time.Now()
	}
}

// buildPrefix builds or extends the prefix table of an archive. It reads
// the archive's current metadata, and keeps the table only if the .meta
// did not change while the records were read: pmlogger writes metadata
// before the records that use it, so every record read was then described
// by what was loaded (an instance added later would otherwise be stored
// without its name, for good).
func (ts *tableStore) buildPrefix(o Opened, pause *throttle) *coltable.Table {
	base := o.Entry.Files.Base
	var n int64
	fail := func(err error) *coltable.Table {
		ts.set.log.Info("archive tail read directly, no prefix table", "archive", base, "reason", err)
		ts.mu.Lock()
		ts.tried[base] = n
		ts.mu.Unlock()
		return nil
	}
	before, err := os.Stat(o.Entry.Files.Meta)
	if err != nil {
		return fail(err)
	}
	a, err := ts.set.cache.get(o.Entry, true)
	if err != nil {
		return fail(err)
	}
	old := ts.prefix(Opened{Entry: o.Entry, Archive: a}, false)
	var b *coltable.PrefixBuild
	if old != nil {
		if b, err = coltable.StartPrefix(a, old, yield(pause)); err != nil {
			ts.set.log.Warn("prefix table unreadable, rebuilding", "table", old.Path, "err", err)
			old, b = nil, nil
		}
	}
	if b == nil {
		if b, err = coltable.StartPrefix(a, nil, yield(pause)); err != nil {
			return fail(err)
		}
	}
	n = coltable.Uncovered(a, old)
	if err := b.Feed(); err != nil {
		return fail(err)
	}
	if after, err := os.Stat(o.Entry.Files.Meta); err != nil || after.Size() != before.Size() {
		return nil // new metadata: the next query tries again
	}
	if old != nil && b.Pos() == *old.Tail {
		ts.mu.Lock()
		ts.tried[base] = n // nothing new: a partial record at the end
		ts.mu.Unlock()
		return old
	}
	t, err := b.Write(ts.prefixPath(base, b.Pos()))
	if err != nil {
		return fail(err)
	}
	ts.retire(baseHash(base), t.Path)
	ts.rememberPrefix(base, t)
	ts.mu.Lock()
	ts.extended++
	delete(ts.tried, base)
	ts.mu.Unlock()
	return t
}

func deleteString(ss []string, s string) []string {
	for i, x := range ss {
		if x == s {
			return append(ss[:i], ss[i+1:]...)
		}
	}
	return ss
}

// TableStats are the table cache's figures.
type TableStats struct {
	Dir string `json:"dir,omitempty"`
	// Problem is why Dir cannot hold tables, found at Open: tables are
	// then disabled and every query reads the archives.
	Problem string `json:"problem,omitempty"`
	Loaded  int    `json:"loaded"`
	Built   uint64 `json:"built"`
	Failed  int    `json:"failed"`
	// Prefix tables of newest archives: loaded, and built or extended.
	Prefixes int    `json:"prefixes"`
	Extended uint64 `json:"prefixes_built"`
	// Pending is the builds and extensions waiting for the builder or
	// under way; Throttled says it works one part in four meanwhile, as
	// queries read archives that have no table (see Set.DirectRead).
	Pending   int  `json:"pending"`
	Throttled bool `json:"throttled"`
	// Promoted counts whole tables made by extending the prefix table an
	// archive had while it was its host's newest (no record read twice).
	Promoted uint64 `json:"promoted"`
	// Joined counts whole tables joined from the tables of the archives
	// pmlogextract merged into their archive (no record read).
	Joined uint64 `json:"joined"`
	// Bytes is the tables' total size at the last check of the bound
	// MaxBytes (0: none), and Evicted the tables the bound removed.
	Bytes    int64  `json:"bytes"`
	MaxBytes int64  `json:"max_bytes"`
	Evicted  uint64 `json:"evicted"`
	// Backlog is what the background indexer still has to look at.
	Backlog BacklogStats `json:"backlog"`
}

func (s *Set) tableStats() TableStats {
	if s.tables == nil {
		if s.tableProblem != "" {
			return TableStats{Dir: s.opts.TableDir, Problem: s.tableProblem}
		}
		return TableStats{}
	}
	ts := s.tables
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return TableStats{Dir: ts.dir, Loaded: len(ts.loaded), Built: ts.built, Failed: len(ts.failed), Prefixes: len(ts.prefixes), Extended: ts.extended,
		Promoted: ts.promoted, Joined: ts.joined, Bytes: ts.dirBytes, MaxBytes: ts.maxBytes, Evicted: ts.evicted, Backlog: ts.backlog.stats()}
}
