package multiarchive

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The table directory is a cache with a bound (Options.TableMaxBytes):
// when its tables outgrow it, the least recently used are removed, down
// to nine tenths of the bound so that the next build does not remove
// again at once. A table's modification time says when it was last used:
// the store sets it when a query opens or reuses the table, at most once
// per touchEvery, so that a table read every second costs no write each
// time (docs/column-tables.md §12).

const touchEvery = time.Hour

// touch records that the table at path was used.
func (ts *tableStore) touch(path string) {
	now := time.Now()
	ts.mu.Lock()
	last := ts.touched[path]
	due := now.Sub(last) >= touchEvery
	if due {
		ts.touched[path] = now
	}
	ts.mu.Unlock()
	if due {
		os.Chtimes(path, now, now)
	}
}

// bound removes the least recently used tables while they are more than
// maxBytes (and counts them when there is no bound, for Status). The prefix tables in use (of each host's newest archive) stay.
func (ts *tableStore) bound() {
	d, err := os.ReadDir(ts.dir)
	if err != nil {
		return
	}
	type file struct {
		path  string
		size  int64
		mtime time.Time
	}
	ts.mu.Lock()
	keep := map[string]bool{}
	for _, t := range ts.prefixes {
		keep[t.Path] = true
	}
	ts.mu.Unlock()
	var files []file
	var total int64
	for _, de := range d {
		n := de.Name()
		if !strings.HasSuffix(n, ".tbl") || strings.HasPrefix(n, ".") {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		total += fi.Size()
		p := filepath.Join(ts.dir, n)
		if !keep[p] {
			files = append(files, file{p, fi.Size(), fi.ModTime()})
		}
	}
	if ts.maxBytes <= 0 || total <= ts.maxBytes {
		ts.mu.Lock()
		ts.dirBytes = total
		ts.mu.Unlock()
		return
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mtime.Before(files[j].mtime) })
	target := ts.maxBytes / 10 * 9
	for _, f := range files {
		if total <= target {
			break
		}
		if os.Remove(f.path) != nil {
			continue
		}
		total -= f.size
		ts.forget(f.path)
	}
	ts.mu.Lock()
	ts.dirBytes = total
	ts.mu.Unlock()
}

// forget drops what the store holds of a removed table.
func (ts *tableStore) forget(path string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.evicted++
	if t := ts.loaded[path]; t != nil {
		t.Release()
		delete(ts.loaded, path)
		ts.order = deleteString(ts.order, path)
	}
	if cid, ok := parseContent(filepath.Base(path)); ok {
		delete(ts.contents, cid)
	}
	delete(ts.touched, path)
	delete(ts.superseded, path)
	ts.dropPrefixLocked(path)
}
