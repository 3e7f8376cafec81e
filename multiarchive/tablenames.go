package multiarchive

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/coltable"
)

// Whole tables are named by their archive's content (archive.ContentID),
// not by its path: pmlogger_daily compressing a day (.0 -> .0.xz,
// .meta -> .meta.xz), renaming or moving it leaves the records as they
// were, and the table built before still serves them. Computing the
// content identity reads the archive's .meta and .index and the start of
// each volume, so what it was is remembered by the archive's path, file
// sizes and modification times (the stat key): a reference file
// H-I-C.ref in the table directory, with H the hash of the archive's
// path, I that of its files' sizes and times, and C the content identity.
// The references are listed once at start; each new one is written as it
// is found. Archives whose identity is not cheap to know (a volume
// compressed with gzip or bzip2, or zstd without its size) keep tables
// named by the stat key: H-I-v4.tbl (docs/column-tables.md §2).

// contentPrefix begins the name of a whole table named by its content.
const contentPrefix = "content-"

var refSuffix = fmt.Sprintf("-v%d.ref", coltable.Version)

// statKey is H-I for an archive's files as they are now: any change of
// size or modification time of any file, or a file added or gone, makes
// another key.
func statKey(f archive.Files) (string, error) {
	id := fnv.New64a()
	for _, p := range filePaths(f) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(id, "%s\x00%d\x00%d\x00", filepath.Base(p), fi.Size(), fi.ModTime().UnixNano())
	}
	return fmt.Sprintf("%s-%016x", baseHash(f.Base), id.Sum64()), nil
}

func (ts *tableStore) contentPath(cid string) string {
	return filepath.Join(ts.dir, fmt.Sprintf("%s%s-v%d.tbl", contentPrefix, cid, coltable.Version))
}

// legacyPath is the name of the whole table of an archive whose content
// identity is not cheap to know: its stat key.
func (ts *tableStore) legacyPath(key string) string {
	return filepath.Join(ts.dir, fmt.Sprintf("%s-v%d.tbl", key, coltable.Version))
}

// wholePath names the whole table of an archive as its files are now.
func (ts *tableStore) wholePath(f archive.Files) (string, error) {
	path, _, err := ts.lookupPath(f, true)
	return path, err
}

// lookupPath is wholePath, computing the content identity of files not
// seen before only with compute; without, ok is false for them.
func (ts *tableStore) lookupPath(f archive.Files, compute bool) (path string, ok bool, err error) {
	key, err := statKey(f)
	if err != nil {
		return "", false, err
	}
	ts.mu.Lock()
	cid, known := ts.ids[key]
	ts.mu.Unlock()
	if !known && !compute {
		// A table an earlier version named by the stat key is worth the
		// look: it becomes the content's.
		if _, err := os.Stat(ts.legacyPath(key)); err != nil {
			return "", false, nil
		}
	}
	if !known {
		id, cheap, err := archive.ContentID(f)
		if err != nil {
			return "", false, err
		}
		if cheap {
			cid = id
			ts.noteRef(key, cid)
		}
		ts.mu.Lock()
		ts.ids[key] = cid // "" remembers that there is no cheap identity
		ts.mu.Unlock()
	}
	if cid == "" {
		return ts.legacyPath(key), true, nil
	}
	return ts.contentPath(cid), true, nil
}

// worthLooking tells whether a query meeting an archive whose content
// identity is not known yet should compute it (reading its .meta and
// .index) to look for its table: not while the store has no table named
// by content at all, as in a cache just made, where nothing can match.
// The builder computes it then, in the background.
func (ts *tableStore) worthLooking() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.contents) > 0
}

// noteRef writes the reference of a stat key to a content identity. A
// table named by the stat key (as a store that does not know the content
// identity names it) becomes the content's table, unless the content has
// one already.
func (ts *tableStore) noteRef(key, cid string) {
	ref := filepath.Join(ts.dir, key+"-"+cid+refSuffix)
	if f, err := os.OpenFile(ref, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		f.Close()
	}
	legacy, content := ts.legacyPath(key), ts.contentPath(cid)
	if _, err := os.Stat(content); errors.Is(err, fs.ErrNotExist) {
		if os.Rename(legacy, content) == nil {
			ts.mu.Lock()
			ts.contents[cid] = true
			ts.mu.Unlock()
		}
	}
}

// parseRef splits the name of a reference file of this version into its
// stat key and content identity.
func parseRef(name string) (key, cid string, ok bool) {
	rest, ok := strings.CutSuffix(name, refSuffix)
	// H(16) - I(16) - C
	if !ok || len(rest) < 35 || rest[16] != '-' || rest[33] != '-' {
		return "", "", false
	}
	return rest[:33], rest[34:], true
}

// parseContent returns the content identity of a whole table's name of
// this version.
func parseContent(name string) (cid string, ok bool) {
	rest, ok := strings.CutPrefix(name, contentPrefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, tableSuffix)
}

// loadNames reads the table directory's references and content tables
// into the store's maps, once at start.
func (ts *tableStore) loadNames() {
	d, err := os.Open(ts.dir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if key, cid, ok := parseRef(n); ok {
			ts.ids[key] = cid
		} else if cid, ok := parseContent(n); ok {
			ts.contents[cid] = true
		}
	}
}
