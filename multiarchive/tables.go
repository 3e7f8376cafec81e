package multiarchive

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// tableStore manages the sidecar directory of tables: lookup by archive
// identity, one background builder, and a bounded map of loaded
// directories. Tables are only made for closed archives (not the newest of
// their host): the newest may still grow.
type tableStore struct {
	dir  string
	sync bool // build on the caller's goroutine (tests, benchmarks)
	set  *Set

	mu      sync.Mutex
	loaded  map[string]*Table
	order   []string // load order, for eviction
	pending map[string]bool
	failed  map[string]string
	jobs    chan Opened
	built   uint64
	done    chan struct{} // closed when the builder has stopped
	// superseded tables and since when, removed after tableGrace.
	superseded map[string]time.Time
	lives      map[string]*liveTable // by archive base path
	liveOrder  []string
	closed     bool
}

// tableGrace is how long a superseded table is kept for queries still
// reading it (longer than --query.timeout's default of 2 minutes).
const tableGrace = 10 * time.Minute

// maxLoadedTables bounds the table directories kept in memory; each is
// small (about 40 bytes a series) and re-read from disk when evicted.
const maxLoadedTables = 256

func newTableStore(dir string, syncBuild bool, s *Set) *tableStore {
	ts := &tableStore{dir: dir, sync: syncBuild, set: s, loaded: map[string]*Table{}, pending: map[string]bool{}, failed: map[string]string{}, superseded: map[string]time.Time{}, lives: map[string]*liveTable{}}
	if !syncBuild {
		ts.jobs = make(chan Opened, 1024)
		ts.done = make(chan struct{})
		go ts.builder()
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
	<-ts.done
}

// tablePath names the table of an archive by its base path and the size and
// modification time of each of its files: any change makes a new name.
func (ts *tableStore) tablePath(o Opened) (string, error) {
	f := o.Entry.Files
	paths := []string{f.Meta, f.Index}
	for _, v := range f.Volumes {
		paths = append(paths, v.Path)
	}
	id := fnv.New64a()
	for _, p := range paths {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(id, "%s\x00%d\x00%d\x00", filepath.Base(p), fi.Size(), fi.ModTime().UnixNano())
	}
	base := fnv.New64a()
	base.Write([]byte(f.Base))
	return filepath.Join(ts.dir, fmt.Sprintf("%016x-%016x-v%d.tbl", base.Sum64(), id.Sum64(), tableVersion)), nil
}

// get returns the table of a closed archive, or nil when there is none yet
// (one is then built in the background) or it cannot be made.
func (ts *tableStore) get(o Opened) *Table {
	path, err := ts.tablePath(o)
	if err != nil {
		return nil
	}
	ts.mu.Lock()
	if t := ts.loaded[path]; t != nil {
		ts.mu.Unlock()
		return t
	}
	if _, bad := ts.failed[path]; bad || ts.pending[path] {
		ts.mu.Unlock()
		return nil
	}
	ts.mu.Unlock()
	if t, err := OpenTable(path); err == nil {
		ts.remember(path, t)
		return t
	} else if !errors.Is(err, fs.ErrNotExist) {
		ts.set.log.Warn("damaged table, rebuilding", "table", path, "err", err)
		os.Remove(path)
	}
	if ts.sync {
		return ts.build(o, path)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.pending[path] && !ts.closed {
		select {
		case ts.jobs <- o:
			ts.pending[path] = true
		default: // the builder is busy; a later query asks again
		}
	}
	return nil
}

func (ts *tableStore) builder() {
	defer close(ts.done)
	for o := range ts.jobs {
		ts.mu.Lock()
		stop := ts.closed
		ts.mu.Unlock()
		if stop {
			continue // drain: the Set is closing
		}
		path, err := ts.tablePath(o)
		if err == nil {
			ts.build(o, path)
		}
		ts.mu.Lock()
		delete(ts.pending, path)
		ts.mu.Unlock()
	}
}

func (ts *tableStore) build(o Opened, path string) *Table {
	t, err := BuildTable(o.Archive, path)
	if err != nil {
		ts.mu.Lock()
		ts.failed[path] = err.Error()
		ts.mu.Unlock()
		ts.set.log.Info("archive read directly, no table", "archive", o.Entry.Files.Base, "reason", err)
		return nil
	}
	ts.retire(path)
	ts.remember(path, t)
	ts.mu.Lock()
	ts.built++
	ts.mu.Unlock()
	return t
}

// retire handles the tables of earlier versions of an archive (it was
// rewritten, compressed or grew): they are useless now, but a query may
// still be reading one, so each is removed only tableGrace after it was
// superseded; every build sweeps what is due.
func (ts *tableStore) retire(current string) {
	now := time.Now()
	prefix := filepath.Base(current)[:17]
	old, _ := filepath.Glob(filepath.Join(ts.dir, prefix+"*.tbl"))
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, p := range old {
		if p == current {
			continue
		}
		if _, ok := ts.superseded[p]; !ok {
			ts.superseded[p] = now
			delete(ts.loaded, p)
		}
	}
	for p, since := range ts.superseded {
		if now.Sub(since) > tableGrace {
			os.Remove(p)
			delete(ts.superseded, p)
		}
	}
}

func (ts *tableStore) remember(path string, t *Table) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.loaded[path]; ok {
		return
	}
	ts.loaded[path] = t
	ts.order = append(ts.order, path)
	for len(ts.order) > maxLoadedTables {
		delete(ts.loaded, ts.order[0])
		ts.order = ts.order[1:]
	}
}

// Table returns the column table of an opened archive, or nil when the
// caller should read the archive's records itself. A closed archive's table
// comes from the table directory (built in the background the first time).
// The newest archive of a host, which pmlogger may still be writing, gets a
// table in memory that grows with it: each query decodes only the records
// written since the last one. One is made when a query reads the archive
// from its start (a dashboard's day view); a query for its last minutes
// reads them directly instead.
//
// pmids, when not nil, are the metrics the caller will read: a live table
// hands out copies of those series only.
func (s *Set) Table(o Opened, from int64, pmids map[archive.PMID]bool) *Table {
	if s.tables == nil {
		return nil
	}
	if o.Live && !s.opts.TableAll {
		return s.tables.live(o, from <= o.Entry.Start, pmids)
	}
	return s.tables.get(o)
}

// liveTable is the growing in-memory table of a host's newest archive.
type liveTable struct {
	mu  sync.Mutex
	b   *tableBuilder
	err error
}

// maxLiveTables bounds the in-memory tables of newest archives (one per
// host at most); the least recently used goes first.
const maxLiveTables = 64

func (ts *tableStore) live(o Opened, create bool, pmids map[archive.PMID]bool) *Table {
	base := o.Entry.Files.Base
	ts.mu.Lock()
	lt := ts.lives[base]
	if lt == nil || lt.b.a != o.Archive {
		// A new archive, or new metadata (the cache reloaded it): start over.
		if !create {
			ts.mu.Unlock()
			return nil
		}
		lt = &liveTable{b: newTableBuilder(o.Archive)}
		ts.lives[base] = lt
	}
	ts.liveOrder = append(deleteString(ts.liveOrder, base), base)
	for len(ts.liveOrder) > maxLiveTables {
		delete(ts.lives, ts.liveOrder[0])
		ts.liveOrder = ts.liveOrder[1:]
	}
	ts.mu.Unlock()

	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.err != nil {
		return nil
	}
	if err := lt.b.feed(); err != nil {
		// Out-of-order records or damage: this archive is read directly.
		lt.err = err
		return nil
	}
	return lt.b.snapshot(pmids)
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
	Dir    string `json:"dir,omitempty"`
	Loaded int    `json:"loaded"`
	Built  uint64 `json:"built"`
	Failed int    `json:"failed"`
	Live   int    `json:"live"` // in-memory tables of newest archives
}

func (s *Set) tableStats() TableStats {
	if s.tables == nil {
		return TableStats{}
	}
	ts := s.tables
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return TableStats{Dir: ts.dir, Loaded: len(ts.loaded), Built: ts.built, Failed: len(ts.failed), Live: len(ts.lives)}
}
