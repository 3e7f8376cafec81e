package multiarchive

import (
	"os"
	"sync"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// tailScan is where Status last found the end of an archive: the last
// volume's path and size then, and the position after its last record.
type tailScan struct {
	mu   sync.Mutex // one scan of an archive at a time, held while reading
	done bool
	vol  string
	size int64
	pos  archive.Position
}

// refreshEnd raises the known end (Entry.End) of a host's newest archive
// to its last record. Discovery knows the index's last entry, and pmlogger
// adds one only with a new instance domain, a new volume, each time the volume
// has grown by about 100,000 bytes, or when it stops
// (docs/pcp-archive-format.md §8.1), so without this /status would show the
// end of a live archive hours behind until a query read it. Only the last
// volume's size is checked (a few stats) while it does not grow; once it
// grows, only what was appended is read, and the first time the last record is
// found from the end of the file: /status over 1,000 hosts logging every few
// seconds reads a few KiB per host. The metadata cache is not used (it would
// load the .meta of every host and evict the archives queries are using).
func (e *Entry) refreshEnd() {
	files, err := currentFiles(e.Files)
	if err != nil || len(files.Volumes) == 0 {
		return // gone or changed: the next rescan tells
	}
	last := files.Volumes[len(files.Volumes)-1].Path
	if archive.IsCompressed(last) {
		return // closed (pmlogger writes plain files), and its index is final
	}
	fi, err := os.Stat(last)
	if err != nil {
		return
	}
	ts := &e.tail
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.done && ts.vol == last && ts.size == fi.Size() {
		return
	}
	var from *archive.Position
	if ts.done && (ts.vol != last || fi.Size() > ts.size) {
		from = &ts.pos // grown, or a new volume after it: read on
	}
	tail, err := archive.ScanTail(files, e.Label, from)
	if err != nil && from != nil {
		// The position is no longer in the files (rewritten in place).
		tail, err = archive.ScanTail(files, e.Label, nil)
	}
	// Not scanned again before the volume changes, even after an error: a
	// query reading the archive reports the same damage.
	ts.done, ts.vol, ts.size, ts.pos = true, last, fi.Size(), tail.Pos
	if err != nil {
		e.ReportProblem(err)
	}
	if tail.Found {
		e.noteExactEnd(tail.End)
	}
}

// noteExactEnd raises the end Status found in the archive's files. It is
// not NoteTime: that end also tells queries how far the cached archive was
// read (see Entry.exactEnd). An end past the next archive's start is a
// longer overlap, as for NoteTime.
func (e *Entry) noteExactEnd(t int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t > max(e.end, e.exactEnd) && t > e.next && e.set != nil {
		e.set.grew.Add(1)
	}
	e.exactEnd = max(e.exactEnd, t)
}
