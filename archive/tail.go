package archive

import (
	"encoding/binary"
	"fmt"
)

// Tail is where a scan for the end of an archive stopped.
type Tail struct {
	End   int64    // time of the last whole record read (ns), when Found
	Found bool     // a record was read
	Pos   Position // after the last whole record: a later scan starts here
}

// ScanTail finds the last record of an archive pmlogger may still be
// writing, for a status report that must not lag behind the index (pmlogger
// adds index entries only when it writes an instance domain, starts a volume,
// has grown the volume by about 100,000 bytes since the last entry, or stops,
// docs/pcp-archive-format.md §8.1). The metadata is not loaded: only record
// framing and times are read. With from (the Pos of an earlier scan) it reads
// only what was appended since. Without, it finds the last record of a plain
// newest volume from the end of the file, and reads on from the last index
// entry only when that fails (a record being written at the end, a compressed
// volume). A record cut short at the end of the newest volume ends the scan
// before it, as for any Reader: no error.
func ScanTail(files Files, label Label, from *Position) (Tail, error) {
	if len(files.Volumes) == 0 {
		return Tail{}, fmt.Errorf("%s: no data volumes for this archive", files.Base)
	}
	a := &Archive{Files: files, Label: label, index: &lazyIndex{done: true}}
	if from != nil {
		return a.scanFrom(ReaderOptions{From: from}) // no seek: no index
	}
	if a.checkIndex() != nil {
		a.index = &lazyIndex{done: true} // the index is only a hint
	}
	if p, ok := a.lastRecord(); ok {
		if t, err := a.scanFrom(ReaderOptions{From: &p}); err == nil && t.Found {
			return t, nil
		}
	}
	var start int64
	if idx := a.Index(); len(idx) > 0 {
		start = idx[len(idx)-1].Time
	}
	t, err := a.scanFrom(ReaderOptions{Start: start})
	if err == nil && !t.Found && start != 0 {
		// A stale index (entries later than the data): scan it all.
		return a.scanFrom(ReaderOptions{})
	}
	return t, err
}

// scanFrom reads the records opt selects, keeping only the last one's time.
// Reading nothing from a position leaves the position as it was.
func (a *Archive) scanFrom(opt ReaderOptions) (Tail, error) {
	opt.PMIDs = []PMID{} // no value set kept: no descriptor needed
	r := a.NewReader(opt)
	defer r.Close()
	var t Tail
	for r.Next() {
		t.End, t.Found = r.Record().Time, true
	}
	t.Pos = r.Pos()
	if !t.Found && opt.From != nil {
		t.Pos = *opt.From
	}
	return t, r.Err()
}

// lastRecord finds where the last record of a plain newest volume starts,
// reading back from the end of the file: a record ends with its length, as
// it starts. It is trusted only when the file ends with a whole record and
// the one before it (or the label) chains on to it; the Reader then checks
// the record itself. Anything else (a record being written, a compressed
// volume, damage) is not ok, and the caller reads forward instead.
func (a *Archive) lastRecord() (Position, bool) {
	vf := a.Files.Volumes[len(a.Files.Volumes)-1]
	if isCompressed(vf.Path) {
		return Position{}, false // its end is known only once decompressed
	}
	src, err := openSource(vf.Path, a.Files.XZ)
	if err != nil {
		return Position{}, false
	}
	defer src.Close()
	size, known := src.size()
	if !known {
		return Position{}, false
	}
	v := newVolumeReader(src, vf.Path)
	label := int64(labelLen(a.Label.Version))
	minLen := int64(20)
	if a.Label.Version == 3 {
		minLen = 24
	}
	// before returns the start of the whole record that ends at end.
	before := func(end int64) (int64, bool) {
		if end-label < minLen {
			return 0, false
		}
		b, err := v.get(end-4, 4)
		if err != nil {
			return 0, false
		}
		n := int64(binary.BigEndian.Uint32(b))
		if n < minLen || n > end-label {
			return 0, false
		}
		rec, err := v.readRecord(end-n, int(minLen))
		return end - n, err == nil && int64(len(rec)) == n
	}
	last, ok := before(size)
	if !ok {
		return Position{}, false
	}
	if last > label {
		if _, ok := before(last); !ok {
			return Position{}, false
		}
	}
	return Position{Vol: vf.Num, Off: last}, true
}

// IsCompressed reports whether an archive file is compressed (.xz, .gz,
// .bz2, .zst, .Z): pmlogger never writes one, so such an archive is closed.
func IsCompressed(path string) bool { return isCompressed(path) }
