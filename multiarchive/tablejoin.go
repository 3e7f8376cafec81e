package multiarchive

import (
	"os"
	"path/filepath"

	"github.com/pcp-remote-read/pcp-remote-read/coltable"
)

// join makes the whole table at path of an archive that pmlogextract
// merged from archives whose tables the store has (pmlogger_daily's merge
// of a day's pieces, docs/column-tables.md §10a), from their tables,
// without reading its records. nil says it is not such a merge, or no
// pieces' tables are here, or the join failed (logged): the caller builds
// the table.
//
// The candidates are the content tables of the archive's host whose
// first record lies in its time span: the store keeps each table's
// summary (host, span), read from its file once.
func (ts *tableStore) join(o Opened, path string) *coltable.Table {
	cid, ok := parseContent(filepath.Base(path))
	if !ok {
		return nil // no cheap identity: no cheap sizes either
	}
	m := o.Archive
	from, to := m.Label.Start, int64(1<<63-1)
	if idx := m.Index(); len(idx) > 0 {
		to = idx[len(idx)-1].Time
	}
	ts.mu.Lock()
	var ids []string
	for c := range ts.contents {
		if c != cid {
			ids = append(ids, c)
		}
	}
	ts.mu.Unlock()
	var cands []*coltable.Table
	for _, c := range ids {
		sum, ok := ts.summary(c)
		if !ok || sum.Host != m.Label.Hostname || sum.Version != m.Label.Version || sum.First < from || sum.First > to {
			continue
		}
		p := ts.contentPath(c)
		ts.mu.Lock()
		t := ts.loaded[p]
		ts.mu.Unlock()
		if t == nil {
			var err error
			if t, err = coltable.Open(p); err != nil {
				continue
			}
		}
		cands = append(cands, t)
	}
	if len(cands) == 0 {
		return nil
	}
	t, n, why, err := coltable.Join(m, cands, path)
	if err != nil || t == nil {
		if err != nil {
			ts.set.log.Warn("table not joined from its pieces' tables", "archive", o.Entry.Files.Base, "err", err)
		} else {
			ts.set.log.Debug("table not joined from tables of the same host", "archive", o.Entry.Files.Base, "candidates", len(cands), "why", why)
		}
		return nil
	}
	ts.mu.Lock()
	ts.joined++
	ts.mu.Unlock()
	ts.set.log.Info("table joined from the tables of the archives merged into it", "archive", o.Entry.Files.Base, "pieces", n)
	return t
}

// summary is the summary of the content table cid, read once; false when
// it cannot be read (gone, damaged, of no records section).
func (ts *tableStore) summary(cid string) (coltable.Summary, bool) {
	ts.mu.Lock()
	s, ok := ts.summaries[cid]
	ts.mu.Unlock()
	if ok {
		return s, true
	}
	s, err := coltable.Summarize(ts.contentPath(cid))
	if err != nil {
		if !os.IsNotExist(err) {
			ts.set.log.Debug("table summary unreadable", "cid", cid, "err", err)
		}
		return s, false
	}
	ts.mu.Lock()
	ts.summaries[cid] = s
	ts.mu.Unlock()
	return s, true
}
