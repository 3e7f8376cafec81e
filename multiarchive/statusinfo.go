package multiarchive

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/coltable"
)

// What Status says of each archive's column table, read from what the
// table store holds in memory and from one cached listing of the table
// directory: no file of any archive is opened or stat'ed for it, so
// /status over 1,000 hosts of a year of daily archives stays a few stats
// a host (see Entry.refreshEnd).
//
// Marks inside an archive (a pmlogger re-exec merged into a day) are known
// only by reading its records, and a table does not keep them apart from
// the staleness markers it stores per series, so Status does not report
// them; the marks libpcp puts between archives follow from their times.

// Table states of ArchiveStatus.Table.
const (
	TableComplete = "complete" // a whole table of the archive
	TablePrefix   = "prefix"   // a prefix table; the records after it are read directly
)

// tableListing is the table directory's names as of its last listing:
// how many whole and prefix tables there are of each archive, by the hash
// of its path (baseHash) that begins each name.
type tableListing struct {
	mu     sync.Mutex
	mtime  time.Time // the directory's, when listed
	at     time.Time // when listed
	whole  map[uint64]int
	prefix map[uint64]int
}

// relistEvery is how often the table directory is listed again at most
// while it keeps changing (a builder at work renames a table into it
// every few seconds): the tables built meanwhile are in the store's
// memory, so only what another process wrote is missed until then.
const relistEvery = 10 * time.Second

// names returns the listing, listing the directory again when it changed
// (at most every relistEvery).
func (l *tableListing) names(ts *tableStore) (whole, prefix map[uint64]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fi, err := os.Stat(ts.dir)
	if err != nil {
		return nil, nil
	}
	if l.whole != nil && (fi.ModTime().Equal(l.mtime) || time.Since(l.at) < relistEvery) {
		return l.whole, l.prefix
	}
	d, err := os.Open(ts.dir)
	if err != nil {
		return l.whole, l.prefix
	}
	names, err := d.Readdirnames(-1) // unsorted, no stat per name
	d.Close()
	if err != nil {
		return l.whole, l.prefix
	}
	whole, prefix = map[uint64]int{}, map[uint64]int{}
	contents := map[string]bool{}
	for _, n := range names {
		if cid, ok := parseContent(n); ok {
			contents[cid] = true
		}
	}
	for _, n := range names {
		if h, ok := tableName(n); ok {
			if n[17] == 'L' {
				prefix[h]++
			} else {
				whole[h]++
			}
		} else if key, cid, ok := parseRef(n); ok && contents[cid] {
			// An archive's reference to a table named by its content
			// (tablenames.go); any version of its files will do, as
			// for tables named by their stat key.
			if h, ok := nameHash(key + "-"); ok {
				whole[h]++
			}
		}
	}
	l.mtime, l.at, l.whole, l.prefix = fi.ModTime(), time.Now(), whole, prefix
	return whole, prefix
}

// tableName returns the archive hash of the name of a table of this
// version; ok is false for any other name.
func tableName(name string) (h uint64, ok bool) {
	if !strings.HasSuffix(name, tableSuffix) {
		return 0, false
	}
	return nameHash(name)
}

var tableSuffix = fmt.Sprintf("-v%d.tbl", coltable.Version)

// nameHash is the archive hash a table file's name begins with.
func nameHash(name string) (uint64, bool) {
	if len(name) < 18 || name[16] != '-' {
		return 0, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(name[:16])); err != nil {
		return 0, false
	}
	var h uint64
	for _, c := range b {
		h = h<<8 | uint64(c)
	}
	return h, true
}

// pathHasher computes baseHash as a number, with the working directory
// read once rather than by filepath.Abs for every archive, and without
// building the absolute path when the path is clean already.
type pathHasher struct{ wd string }

func newPathHasher() *pathHasher {
	wd, _ := os.Getwd()
	return &pathHasher{wd: wd}
}

// tableHash returns the hash of the archive's path that its table names
// begin with, computed once (0 without ph).
func (e *Entry) tableHash(ph *pathHasher) uint64 {
	if ph == nil {
		return 0
	}
	h := e.pathHash.Load()
	if h == 0 {
		h = ph.hash(e.Files.Base)
		e.pathHash.Store(h)
	}
	return h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func (p pathHasher) hash(base string) uint64 {
	abs := filepath.IsAbs(base)
	if !isClean(base) || !abs && (p.wd == "" || !isClean(p.wd)) {
		if abs {
			base = filepath.Clean(base)
		} else if p.wd != "" {
			base = filepath.Join(p.wd, base)
		}
		return fnvAdd(fnvOffset, base)
	}
	if abs {
		return fnvAdd(fnvOffset, base)
	}
	h := fnvAdd(fnvOffset, p.wd)
	if p.wd != "/" {
		h = fnvAdd(h, "/")
	}
	return fnvAdd(h, base)
}

// isClean reports that filepath.Clean leaves p as it is: no empty, "." or
// ".." element, no trailing slash (but for "/"). It is false for some
// clean paths ("../a"), which then take the slow way.
func isClean(p string) bool {
	if p == "" || p == "/" {
		return p == "/"
	}
	if os.PathSeparator != '/' || p[len(p)-1] == '/' {
		return false
	}
	start := 0
	if p[0] == '/' {
		start = 1
	}
	for i := start; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if e := p[start:i]; e == "" || e == "." || e == ".." {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// tableInfo fills in what the table store knows of each archive of st
// (ArchiveStatus.Table and the fields after it) and of its queue
// (TableStats.Pending, Throttled).
func (s *Set) tableInfo(st *Status) {
	ts := s.tables
	if ts == nil {
		return
	}
	ts.mu.Lock()
	loaded := make(map[uint64]bool, len(ts.loaded))
	loadedContent := map[string]bool{}
	for p := range ts.loaded {
		if h, ok := nameHash(filepath.Base(p)); ok {
			loaded[h] = true
		} else if cid, ok := parseContent(filepath.Base(p)); ok {
			loadedContent[cid] = true
		}
	}
	if len(loadedContent) > 0 {
		// The archives whose content the loaded tables hold, by the stat
		// keys that led to them.
		for key, cid := range ts.ids {
			if loadedContent[cid] {
				if h, ok := nameHash(key); ok {
					loaded[h] = true
				}
			}
		}
	}
	prefixes := make(map[string]int64, len(ts.prefixes)) // the last record each covers
	for base, t := range ts.prefixes {
		prefixes[base] = t.Last
	}
	pendingWhole, pendingPrefix := map[string]bool{}, map[string]bool{}
	for k := range ts.pending {
		if base, ok := strings.CutPrefix(k, "prefix\x00"); ok {
			pendingPrefix[base] = true
		} else if base, ok := strings.CutPrefix(k, "whole\x00"); ok {
			pendingWhole[base] = true
		}
	}
	failed := make(map[string]string, len(ts.failedBase))
	for base, why := range ts.failedBase {
		failed[base] = why
	}
	// A superseded table stays on disk for tableGrace, and is no
	// archive's table any more.
	supWhole, supPrefix := map[uint64]int{}, map[uint64]int{}
	for p := range ts.superseded {
		if n := filepath.Base(p); filepath.Dir(p) == filepath.Clean(ts.dir) {
			if h, ok := tableName(n); ok && n[17] == 'L' {
				supPrefix[h]++
			} else if ok {
				supWhole[h]++
			}
		}
	}
	st.Tables.Pending = len(ts.pending)
	ts.mu.Unlock()
	st.Tables.Throttled = ts.direct.Load() > 0

	whole, prefix := s.tableList.names(ts)
	var ph *pathHasher
	for i := range st.Hosts {
		as := st.Hosts[i].Archives
		for j := range as {
			a := &as[j]
			h := a.hash
			if h == 0 {
				if ph == nil {
					ph = newPathHasher()
				}
				h = ph.hash(a.Path)
			}
			if whole[h] > supWhole[h] || loaded[h] {
				a.Table = TableComplete
			} else if last, ok := prefixes[a.Path]; ok {
				a.Table = TablePrefix
				if last > 0 {
					t := time.Unix(0, last).UTC()
					a.TableEnd = &t
				}
			} else if prefix[h] > supPrefix[h] {
				a.Table = TablePrefix
			}
			if a.Table != TableComplete && len(failed) > 0 {
				a.TableProblem = failed[a.Path]
			}
			if len(pendingWhole) > 0 || len(pendingPrefix) > 0 {
				a.TableQueued = pendingWhole[a.Path] || pendingPrefix[a.Path]
			}
		}
	}
}
