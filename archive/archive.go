package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
)

// Archive is one PCP archive opened for reading: its label and metadata
// are loaded; the index is read when a Reader first seeks, and data volumes
// are opened by Readers as they need them.
//
// An Archive may be read by several Readers at once. Refresh (for archives
// pmlogger is still writing) must not run concurrently with Readers or other
// calls; callers that refresh live archives serialise that themselves.
type Archive struct {
	Files    Files
	Label    Label // of the .meta file; all files agree on version, pid and host
	Meta     *Meta
	Warnings []string // problems that did not stop the archive being read

	index *lazyIndex
}

// lazyIndex is the temporal index, decoded on first use: a server keeps
// many archives open whose queries column tables answer, which never seek.
type lazyIndex struct {
	mu      sync.Mutex
	done    bool
	entries []IndexEntry
}

// Index returns the archive's temporal index (nil without a usable one),
// reading the .index file the first time. Open has checked its label; a
// file that cannot be read now is no index, as the index is only a hint.
func (a *Archive) Index() []IndexEntry {
	x := a.index
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.done {
		x.done = true
		x.entries, _ = a.loadIndex()
	}
	return x.entries
}

// checkIndex checks the label of .index at open, so that an index that
// does not belong to the archive is reported then, and readies the lazy
// load.
func (a *Archive) checkIndex() error {
	a.index = &lazyIndex{done: true}
	if a.Files.Index == "" {
		return nil
	}
	src, err := openSource(a.Files.Index, a.Files.XZ)
	if err != nil {
		return err
	}
	defer src.Close()
	// The longest label: a label of the other version is then read
	// whole, and reported as what it is.
	b := make([]byte, labelLenV3)
	n, err := src.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return err
	}
	// A short file: parseLabel says what is wrong with it.
	l, err := parseLabel(b[:n], a.Files.Index, volIndex)
	if err != nil {
		return err
	}
	if err := checkLabels(a.Label, a.Files.Meta, l, a.Files.Index); err != nil {
		return err
	}
	a.index.done = false
	return nil
}

// Open opens the archive named by a base name or any of its files.
func Open(name string) (*Archive, error) {
	files, err := FindFiles(name)
	if err != nil {
		return nil, err
	}
	return OpenFiles(files)
}

// OpenFiles opens an archive whose files are already known.
func OpenFiles(files Files) (*Archive, error) {
	a := &Archive{Files: files}
	if len(files.Volumes) == 0 {
		return nil, fmt.Errorf("%s: no data volumes for this archive", files.Base)
	}
	src, err := openSource(files.Meta, files.XZ)
	if err != nil {
		return nil, err
	}
	buf, err := readAll(src)
	src.Close()
	if err != nil {
		return nil, err
	}
	a.Label, err = parseLabel(buf, files.Meta, volMeta)
	if err != nil {
		return nil, err
	}
	a.Meta = newMeta(files.Meta)
	if err := a.loadMeta(buf); err != nil {
		return nil, err
	}
	if len(a.Meta.Descs) == 0 {
		return nil, fmt.Errorf("%s: no metric descriptors: %w", files.Meta, ErrNoData)
	}
	// The first data volume's label must agree with .meta's. A compressed
	// volume is checked when a reader first opens it instead (readers
	// check every volume's label): decompressing its start costs more
	// than the rest of opening the archive, and a query served from column
	// tables never reads the volume.
	if !isCompressed(files.Volumes[0].Path) {
		if err := a.volumeLabel(files.Volumes[0]); err != nil {
			return nil, err
		}
	}
	if err := a.checkIndex(); err != nil {
		// The index is only a seek hint: read on without it.
		a.Warnings = append(a.Warnings, "index ignored: "+err.Error())
	}
	return a, nil
}

// loadMeta decodes .meta bytes (the label included) from a.Meta.size on.
func (a *Archive) loadMeta(buf []byte) error {
	start := a.Meta.size
	if start == 0 {
		start = int64(labelLen(a.Label.Version))
	}
	if int64(len(buf)) < start {
		return nil
	}
	n, err := a.Meta.decode(buf[start:], start, a.Label.Version)
	a.Meta.size = start + int64(n)
	a.Meta.finish()
	return err
}

// loadIndex reads and decodes the whole .index file.
func (a *Archive) loadIndex() ([]IndexEntry, error) {
	src, err := openSource(a.Files.Index, a.Files.XZ)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	buf, err := readAll(src)
	if err != nil {
		return nil, err
	}
	l, err := parseLabel(buf, a.Files.Index, volIndex)
	if err != nil {
		return nil, err
	}
	if err := checkLabels(a.Label, a.Files.Meta, l, a.Files.Index); err != nil {
		return nil, err
	}
	return decodeIndex(buf, l.Version), nil
}

// volumeLabel reads and checks the label of a data volume.
func (a *Archive) volumeLabel(vf VolumeFile) error {
	src, err := openSource(vf.Path, a.Files.XZ)
	if err != nil {
		return err
	}
	defer src.Close()
	// A buffer of just the label: a compressed volume then decompresses
	// a few hundred bytes to open the archive, not a read window (on
	// .xz days, most of the cost of a query served from column tables).
	v := newVolumeReader(src, vf.Path)
	v.buf = make([]byte, labelLenV3)
	return a.checkVolumeLabel(v, vf)
}

func (a *Archive) checkVolumeLabel(v *volumeReader, vf VolumeFile) error {
	// Ask for the longer label, so that a v3 volume in a v2 archive is
	// reported as a version mismatch rather than as a short label.
	n := labelLenV3
	b, err := v.get(0, n)
	if err == errShort {
		// Let parseLabel say what is wrong with what there is.
		sz, _ := v.src.size()
		b, err = v.get(0, int(min(int64(n), sz)))
	}
	if err != nil && err != errShort {
		return err
	}
	l, err := parseLabel(b, vf.Path, int32(vf.Num))
	if err != nil {
		return err
	}
	return checkLabels(a.Label, a.Files.Meta, l, vf.Path)
}

// Refresh picks up what pmlogger appended since the archive was opened: new
// metadata, new index entries and new volumes. Partial records at the end of
// .meta are left for a later Refresh.
func (a *Archive) Refresh() error {
	files, err := FindFiles(a.Files.Base)
	if err != nil {
		return err
	}
	files.XZ = a.Files.XZ
	a.Files = files
	src, err := openSource(files.Meta, files.XZ)
	if err != nil {
		return err
	}
	buf, err := readAll(src)
	src.Close()
	if err != nil {
		return err
	}
	if err := a.loadMeta(buf); err != nil {
		return err
	}
	if a.checkIndex() != nil {
		a.index = &lazyIndex{done: true} // read on without it
	}
	return nil
}

// ReaderOptions selects what a Reader returns.
type ReaderOptions struct {
	// Start and End bound the records returned, in ns, inclusive. A zero
	// End means no end.
	Start, End int64
	// PMIDs limits the value sets kept in each record; nil keeps all.
	PMIDs []PMID
	// From, when set, starts at a position an earlier reader of the same
	// archive reached (Reader.Pos), instead of seeking by Start: a live
	// archive is then read on from where the last read stopped.
	From *Position
}

// Position is a place between records: a volume number and a byte offset.
type Position struct {
	Vol int
	Off int64
}

// Reader iterates over the data records of an archive in file order.
//
//	r := a.NewReader(opts)
//	defer r.Close()
//	for r.Next() { rec := r.Record(); ... }
//	if err := r.Err(); err != nil { ... }
type Reader struct {
	a      *Archive
	opt    ReaderOptions
	layout setLayout // which sets to keep, and their descriptors
	hdr    int       // bytes before numpmid: 12 (v2) or 16 (v3)
	min    int       // length of the smallest record (a mark)

	vi   int // index into a.Files.Volumes
	vr   *volumeReader
	off  int64
	rec  Record
	err  error
	done bool
	tail bool
	past bool // stopped at a record stamped after End
	// hinted is set while the position came from index entry hint and
	// has not been checked yet (see hintOK); tries counts rejected entries.
	hinted bool
	hint   int
	tries  int
	// The end of the last record read, for Pos once past the last volume.
	lastVol int
	lastOff int64
}

// NewReader returns a reader over the records in the options' time window.
func (a *Archive) NewReader(opt ReaderOptions) *Reader {
	if opt.End == 0 {
		opt.End = math.MaxInt64
	}
	r := &Reader{a: a, opt: opt, hdr: 12, min: 20, vi: -1}
	if a.Label.Version == 3 {
		r.hdr, r.min = 16, 24
	}
	r.layout.meta = a.Meta
	if opt.PMIDs != nil {
		r.layout.want = make(map[PMID]struct{}, len(opt.PMIDs))
		for _, p := range opt.PMIDs {
			r.layout.want[p] = struct{}{}
		}
	}
	if opt.From != nil {
		r.resume(*opt.From)
		return r
	}
	r.seek(opt.Start)
	return r
}

// resume starts at a position from Pos. A position in a volume that is no
// longer there (the archive was rewritten) is an error: the caller starts
// over.
func (r *Reader) resume(p Position) {
	vols := r.a.Files.Volumes
	vi := sort.Search(len(vols), func(j int) bool { return vols[j].Num >= p.Vol })
	if vi >= len(vols) || vols[vi].Num != p.Vol || p.Off < int64(labelLen(r.a.Label.Version)) {
		r.err, r.done = fmt.Errorf("%s: cannot resume reading at volume %d offset %d", r.a.Files.Base, p.Vol, p.Off), true
		return
	}
	r.vi, r.off = vi, p.Off
}

// Pos returns the position after the last record Next returned, or where
// the reader stopped at the growing end of the newest volume: a later reader
// made with ReaderOptions.From continues there.
func (r *Reader) Pos() Position {
	vols := r.a.Files.Volumes
	if r.vi >= len(vols) {
		// Past the end of the last volume.
		last := vols[len(vols)-1]
		if r.lastVol == last.Num && r.lastOff > 0 {
			return Position{Vol: last.Num, Off: r.lastOff}
		}
		return Position{Vol: last.Num, Off: int64(labelLen(r.a.Label.Version))}
	}
	if r.vi < 0 {
		return Position{Vol: vols[0].Num, Off: int64(labelLen(r.a.Label.Version))}
	}
	return Position{Vol: vols[r.vi].Num, Off: r.off}
}

// seek positions the reader at a record no later than the first one stamped
// >= t, using the index when it can. Every record before an index entry's
// offset is stamped no later than the entry (LOGARCHIVE(5)), so starting at
// the last entry stamped before t skips nothing that is wanted.
func (r *Reader) seek(t int64) {
	idx := r.a.Index()
	r.seekEntry(sort.Search(len(idx), func(i int) bool { return idx[i].Time >= t }) - 1)
}

// seekEntry positions the reader at index entry i, or the nearest usable
// entry before it, or (with none) at the start of the archive.
func (r *Reader) seekEntry(i int) {
	vols, idx := r.a.Files.Volumes, r.a.Index()
	r.vi, r.off, r.hinted = 0, int64(labelLen(r.a.Label.Version)), false
	for ; i >= 0; i-- {
		e := idx[i]
		if e.Time >= r.opt.Start {
			continue // a damaged index need not be sorted
		}
		vi := sort.Search(len(vols), func(j int) bool { return vols[j].Num >= int(e.Vol) })
		if vi < len(vols) && vols[vi].Num == int(e.Vol) && e.DataOff >= r.off {
			r.vi, r.off, r.hinted, r.hint = vi, e.DataOff, true, i
			return
		}
	}
}

// Next advances to the next record in the window. It returns false at the
// end of the window, at the end of the archive, or on an error (see Err).
func (r *Reader) Next() bool {
	for !r.done {
		if r.vr == nil {
			if !r.openVolume() {
				return false
			}
			if r.vr == nil {
				continue // a rejected index hint
			}
		}
		if r.hinted {
			r.hinted = false
			if !r.hintOK() {
				r.rejectHint()
				continue
			}
		}
		buf, err := r.vr.readRecord(r.off, r.min)
		if err != nil {
			if !r.endOfVolume(err) {
				return false
			}
			continue
		}
		r.rec.buf = buf
		r.rec.Vol = r.a.Files.Volumes[r.vi].Num
		r.rec.Offset = r.off
		if r.a.Label.Version == 3 {
			r.rec.Time = v3Time(buf[4:])
		} else {
			r.rec.Time = v2Time(buf[4:])
		}
		r.off += int64(len(buf))
		r.lastVol, r.lastOff = r.rec.Vol, r.off
		if r.rec.Time < r.opt.Start {
			continue
		}
		if r.rec.Time > r.opt.End {
			// Not consumed: Pos stays before it.
			r.off, r.lastOff = r.rec.Offset, r.rec.Offset
			r.done, r.past = true, true
			return false
		}
		if msg := r.rec.decodeSets(r.hdr, &r.layout); msg != "" {
			r.fail(formatErr(r.vr.file, r.rec.Offset, "data record", "%s", msg))
			return false
		}
		return true
	}
	return false
}

// hintOK checks an index hint before the reader trusts it. The index is only
// a hint (docs/pcp-archive-format.md §8.2): entries can be stale, point past
// the end of a truncated volume, into the middle of a record or into the wrong
// volume, and skipping on such an entry would silently lose records. In a
// time-ordered archive a hint skips nothing stamped after the entry exactly
// when the record just before it is a whole record stamped no later than the
// entry; at the start of a volume, when the record there is stamped no later
// than the entry (pmlogger indexes the first record of every volume). Old
// archives whose entries point at the end of the record pass the same check.
func (r *Reader) hintOK() bool {
	ll := int64(labelLen(r.a.Label.Version))
	at := r.off
	if r.off > ll {
		if r.off < ll+int64(r.min) {
			return false
		}
		// Read the tail of the volume before the hint in one go, so that
		// compressed volumes are not decompressed twice.
		from := max(ll, r.off-window)
		b, err := r.vr.get(from, int(r.off-from))
		if err != nil {
			return false
		}
		n := int64(binary.BigEndian.Uint32(b[len(b)-4:]))
		at = r.off - n
		if n < int64(r.min) || at < ll {
			return false
		}
	}
	buf, err := r.vr.readRecord(at, r.min)
	if err != nil || at < r.off && at+int64(len(buf)) != r.off {
		return false
	}
	t := v2Time(buf[4:])
	if r.a.Label.Version == 3 {
		t = v3Time(buf[4:])
	}
	return t <= r.a.Index()[r.hint].Time
}

// rejectHint drops an index hint that failed its check. It tries an earlier
// entry (pmlogger's last entry can be stamped a microsecond before the last
// record); after a few, the index is stale or damaged: scan from the start.
func (r *Reader) rejectHint() {
	r.closeVolume()
	if r.tries++; r.tries < 4 {
		r.seekEntry(r.hint - 1)
	} else {
		r.seekEntry(-1)
	}
}

// endOfVolume handles a record that could not be read and reports whether
// to go on with the next volume.
func (r *Reader) endOfVolume(err error) bool {
	if !errors.Is(err, errShort) {
		r.fail(err)
		return false
	}
	if !r.vr.atEnd(r.off) {
		if r.vi == len(r.a.Files.Volumes)-1 {
			// The newest volume ends in a record not yet written: stop
			// here; a reader made after the file grows continues.
			r.tail, r.done = true, true
			r.closeVolume()
			return false
		}
		r.fail(formatErr(r.vr.file, r.off, "data record", "volume ends inside a record"))
		return false
	}
	r.closeVolume()
	r.vi++
	r.off = int64(labelLen(r.a.Label.Version))
	if r.vi >= len(r.a.Files.Volumes) {
		r.done = true
		return false
	}
	return true
}

func (r *Reader) openVolume() bool {
	if r.vi >= len(r.a.Files.Volumes) {
		r.done = true
		return false
	}
	vf := r.a.Files.Volumes[r.vi]
	src, err := openSource(vf.Path, r.a.Files.XZ)
	if err == nil {
		r.vr = newVolumeReader(src, vf.Path)
		if err = r.a.checkVolumeLabel(r.vr, vf); err == nil {
			return true
		}
	}
	switch {
	case r.hinted:
		// An index entry into a volume that cannot be read (yet) is not
		// trusted; Next goes on from where rejectHint puts it.
		r.rejectHint()
		return true
	case r.vr != nil && r.vi == len(r.a.Files.Volumes)-1 && r.vr.labelPending(r.a.Label.Version):
		// pmlogger creates a new volume, then writes its label: a
		// newest volume holding part of a label is not written yet.
		r.tail, r.done = true, true
		r.closeVolume()
		return false
	}
	r.fail(err)
	return false
}

func (r *Reader) closeVolume() {
	if r.vr != nil {
		r.vr.src.Close()
		r.vr = nil
	}
}

func (r *Reader) fail(err error) {
	r.err, r.done = err, true
	r.closeVolume()
}

// Record returns the current record; it is overwritten by the next call to Next.
func (r *Reader) Record() *Record { return &r.rec }

// Err returns the error that stopped the reader, if any. Reaching a record
// pmlogger has not finished writing is not an error.
func (r *Reader) Err() error { return r.err }

// AtTail reports whether the reader stopped at the growing end of the newest
// volume (rather than at the end of the window).
func (r *Reader) AtTail() bool { return r.tail }

// PastEnd reports whether the reader stopped at a record stamped after the
// window's End: the archive goes on past the window. Otherwise it stopped at
// the end of the archive (or its growing tail, or an error).
func (r *Reader) PastEnd() bool { return r.past }

// Close releases the open volume.
func (r *Reader) Close() error {
	r.closeVolume()
	r.done = true
	return nil
}

// Probe reads what a set of archives needs at startup without loading
// metadata: the .meta label and, when there is one, the index (a small
// file). The index's last entry gives an estimate of the archive's end.
func Probe(files Files) (Label, []IndexEntry, error) {
	src, err := openSource(files.Meta, files.XZ)
	if err != nil {
		return Label{}, nil, err
	}
	v := newVolumeReader(src, files.Meta)
	b, err := v.get(0, labelLenV3)
	if err == errShort {
		sz, _ := src.size()
		b, err = v.get(0, int(min(sz, labelLenV3)))
	}
	src.Close()
	if err != nil && err != errShort {
		return Label{}, nil, err
	}
	l, err := parseLabel(b, files.Meta, volMeta)
	if err != nil {
		return l, nil, err
	}
	a := &Archive{Files: files, Label: l}
	if files.Index != "" {
		if idx, err := a.loadIndex(); err == nil {
			return l, idx, nil
		}
	}
	return l, nil, nil
}

// End returns the time of the last record in the archive, reading only the
// tail of the last volume when the index locates it.
func (a *Archive) End() (int64, error) {
	if idx := a.Index(); len(idx) > 0 {
		end, found, err := a.scanEnd(idx[len(idx)-1].Time)
		if found || err != nil {
			return end, err
		}
		// A stale index (entries later than the data): scan it all.
	}
	end, _, err := a.scanEnd(a.Label.Start)
	return end, err
}

func (a *Archive) scanEnd(from int64) (end int64, found bool, err error) {
	r := a.NewReader(ReaderOptions{Start: from, PMIDs: []PMID{}})
	defer r.Close()
	end = a.Label.Start
	for r.Next() {
		end, found = r.Record().Time, true
	}
	return end, found, r.Err()
}
