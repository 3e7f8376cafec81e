// Package coltable is the column table: an archive decoded into
// per-series Prometheus XOR chunks (see Table and docs/column-tables.md).
// It owns the file format, building (the one pipeline from records to
// series, also used in memory by Decode), opening, window reads and
// checksums. Which tables exist, whether they are still valid and when to
// build them is the store's, in multiarchive.
package coltable

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// A Table is an archive decoded into columns: for every (metric, instance,
// instance name) the numeric values as Prometheus XOR chunks of at most 120
// samples, in ms, with a staleness marker wherever a <mark> ends the
// series. It is what a query would gather from the archive, so a query
// reads only the chunks of the series it selects instead of every record
// (each PCP record holds every metric), streams one series at a time, and
// can hand whole chunks to a STREAMED_XOR_CHUNKS client as they are.
//
// A closed archive's table covers all of it. The newest archive of a host,
// which pmlogger may still be writing, gets a prefix table: it covers the
// records before Tail, and a query reads the records from Tail on itself.
// Prefix tables are extended when the tail grows long (see multiarchive's tableStore).
//
// Tables live in a sidecar cache directory, never beside the archives. A
// closed archive's table is named by the archive's path and the size and
// mtime of each of its files, so a changed archive gets a new table; a
// prefix table by the path and its Tail, and it is used only while every
// file it was built from is still the same file (device and inode) and no
// shorter. Any table may be deleted at any time.
//
// File layout (big-endian):
//
//	"PCPRRTB4"
//	series regions: per series its sparse index, every 8th chunk's
//	                {minT i64, offset from the first chunk u32}, then
//	                per chunk {minT i64, maxT i64, len u32, flags u8,
//	                crc32c(XOR bytes) u32, XOR bytes}
//	directory: per series {pmid u32, inst i32, named u8, namelen u16, name,
//	           minT i64, maxT i64, samples u32, off i64 (first chunk),
//	           len u32 (of the chunks), nrefs u16}
//	prefix: tailVol u32, tailOff i64, nfiles u16, per file {pathlen u16,
//	        path, dev u64, ino u64, size i64, sum u32}; nfiles 0 for a
//	        whole archive
//	trailer: first i64, last i64 (ns), dirOff i64, nseries u32, prefixOff i64,
//	         crc32(directory and prefix) u32, "PCPRRTB4"
//
// Chunk flags say whether the chunk's first and last samples are staleness
// markers, so that a reader can pass a chunk through without decoding it;
// the checksum (Castagnoli, as the TSDB's chunks) is what makes passing it
// on undecoded safe against a damaged file.
type Table struct {
	Path        string
	First, Last int64 // ns of the first and last record covered
	Series      []Series
	// Tail, for a prefix table, is where the records it does not cover
	// begin; nil for a whole archive.
	Tail  *archive.Position
	files []sourceFile // what a prefix table was built from

	// f is the table file, opened by the first read and shared by later
	// ones; the store drops it when it evicts the table, and the *os.File
	// closes itself once no reader holds it.
	f atomic.Pointer[os.File]
	// sparse is, per series, every sparseEvery-th chunk's start, read
	// with the series' first read: a short window reads only the chunks
	// around it.
	sparse []atomic.Pointer[[]chunkRef]
	// inMemory: made by Decode, its series' chunks in Series.mem.
	inMemory bool
	// The records section (history.go) is at [histOff, histEnd), its
	// CRC-32C histSum; it is read only to join tables (Join).
	histOff, histEnd int64
	histSum          uint32
	hist             *history // being written

	// twins are the compressed files found in place of files a prefix
	// table was built from, and whether each held the same bytes, by
	// path (see valid).
	twinMu sync.Mutex
	twins  map[string]twinCheck
}

// twinCheck is what valid found of a compressed file, as it was then.
type twinCheck struct {
	size  int64
	mtime time.Time
	same  bool
}

// chunkRef is where a chunk of a series region starts.
type chunkRef struct {
	minT int64
	off  int
}

// sparseEvery chunks (about 2.7 hours at a 10 s interval) share an entry
// of the sparse index: small enough to keep for every series read.
const sparseEvery = 8

// Series is one series of a table.
type Series struct {
	PMID archive.PMID
	// Inst is the instance id; archive.InstNull for a singular metric,
	// whatever ids its values carry in the records.
	Inst       int32
	Named      bool
	IName      string
	MinT, MaxT int64 // ms
	Samples    int
	off        int64 // of the first chunk; the sparse index is before it
	len        int   // of the chunks
	nrefs      int   // entries in the sparse index
	// mem, for a table in memory (Decode): the chunks, in the pieces
	// they were made in (most series have one).
	mem [][]byte
}

// Chunk is one chunk of a table series.
type Chunk struct {
	MinT, MaxT            int64 // ms of its first and last sample
	FirstStale, LastStale bool  // those samples are staleness markers
	Data                  []byte
}

// sourceFile identifies an archive file a prefix table was built from:
// the same file (device, inode), at least size bytes long, and the last
// bytes before size unchanged (an inode number can be reused by a file
// written anew).
type sourceFile struct {
	path     string
	dev, ino uint64
	size     int64
	sum      uint32 // crc32 of the sumLen bytes before size
}

const sumLen = 4096

const (
	tableMagic  = "PCPRRTB5"
	trailerLen  = 8 + 8 + 8 + 4 + 8 + 4 + 8
	chunkHdrLen = 8 + 8 + 4 + 1 + 4
	refLen      = 8 + 4
	// Version is the format version, part of every table file's name:
	// the store sweeps tables of other versions.
	Version = 5

	chunkFirstStale = 1
	chunkLastStale  = 2
)

// noMark is tableBuilder.firstMark before any mark.
const noMark = math.MinInt64

// staleNaN is Prometheus' staleness marker (model/value.StaleNaN).
var staleNaN = math.Float64frombits(0x7ff0000000000002)

// seriesKey identifies a series within one archive: distinct keys are
// distinct series of a query (see Series.Inst).
type seriesKey struct {
	pmid  archive.PMID
	inst  int32
	named bool
	iname string
}

type seriesBuild struct {
	key seriesKey
	// The finished chunks: segs, then buf. When buf has no room for the
	// next chunk, it becomes the last of segs and a new buf is made for
	// what is still to come: a series is never copied to grow, and the
	// room left over is that of its last piece (see piece).
	segs       [][]byte
	buf        []byte
	enc        xorEnc // the chunk being written, when enc.n > 0
	cmin, cmax int64
	cflags     byte
	minT, maxT int64
	n          int
	lastT      int64
	open       bool // has values since the last mark
	started    bool
	// horizon is the ms the series' records end at, as far as is known
	// (0: unknown): the first chunk then tells how many will follow, and
	// buf is made for them, not grown by copying.
	horizon int64
	// late holds samples stamped before lastT (records out of time
	// order), merged in by finish.
	late []lateSample
	// scratch is where the encoder writes a chunk when buf has no room
	// for it (see startChunk).
	scratch []byte
	// claim is the batch that last took the series (batch.claim): a
	// layout with two values for one series is not batched.
	claim uint64
}

type lateSample struct {
	t int64
	v float64
}

// add appends a sample at t (ms) and reports whether it was kept: one
// sample per ms, the first read (an earlier record's, in file order).
func (s *seriesBuild) add(t int64, v float64) (bool, error) {
	if s.started {
		if t == s.lastT {
			return false, nil // one sample per ms: the first wins
		}
		if t < s.lastT {
			s.late = append(s.late, lateSample{t, v})
			return true, nil
		}
	}
	stale := math.Float64bits(v) == math.Float64bits(staleNaN)
	if s.enc.n == 0 || s.enc.n >= 120 {
		s.cut()
		s.startChunk()
		s.cmin, s.cflags = t, 0
		if stale {
			s.cflags = chunkFirstStale
		}
	}
	s.enc.append(t, v)
	if stale {
		s.cflags |= chunkLastStale
	} else {
		s.cflags &^= chunkLastStale
	}
	if !s.started {
		s.minT, s.started = t, true
	}
	s.cmax, s.maxT, s.lastT = t, t, t
	s.n++
	return true, nil
}

// startChunk starts the series' next chunk. The encoder writes it in
// place, behind room for its header at the end of buf, when buf has room
// to spare (cut made it for the chunks to come), so that cut does not copy
// it; otherwise in a scratch buffer of the series'.
func (s *seriesBuild) startChunk() {
	if l := len(s.buf); cap(s.buf)-l >= chunkHdrLen+512 {
		s.enc.b = s.buf[l+chunkHdrLen : l+chunkHdrLen]
	} else {
		s.enc.b = s.scratch
	}
	s.enc.reset()
}

func (s *seriesBuild) cut() {
	if s.enc.n == 0 {
		return
	}
	data := s.enc.bytes()
	l := len(s.buf)
	if l+chunkHdrLen < cap(s.buf) && &s.buf[:l+chunkHdrLen+1][l+chunkHdrLen] == &data[0] {
		// Written in place: only the header is left to write.
		s.buf = s.buf[:l+chunkHdrLen+len(data)]
		putChunkHeader(s.buf[l:], s.cmin, s.cmax, s.cflags, data)
		s.enc.b, s.enc.n = nil, 0
		return
	}
	s.scratch = s.enc.b[:0]
	need := chunkHdrLen + len(data)
	switch {
	case s.buf == nil && len(s.segs) == 0 && s.horizon > s.cmax && s.cmax > s.cmin:
		n := min((s.horizon-s.cmin)/(s.cmax-s.cmin)+1, 1<<16)
		s.buf = make([]byte, 0, int(n)*need*17/16)
	case cap(s.buf)-len(s.buf) < need && len(s.buf) > 0:
		s.segs = append(s.segs, s.buf)
		s.buf = make([]byte, 0, s.piece(need))
	}
	s.buf = appendChunk(s.buf, s.cmin, s.cmax, s.cflags, data)
	s.enc.n = 0
}

// piece is the size of the next piece of a series' chunks, need bytes at
// least: what the series has taken so far a ms, for the ms to its horizon
// and a sixteenth more, or half as much again as it holds when the horizon
// is not known.
func (s *seriesBuild) piece(need int) int {
	have := s.chunkLen()
	if span := s.cmin - s.minT; s.horizon > s.cmin && span > 0 {
		rest := float64(have) / float64(span) * float64(s.horizon-s.cmin) * 17 / 16
		return need + int(min(rest, 1<<30))
	}
	return max(need, have/2, 4096)
}

// pieces returns the series' chunks, in order, in the pieces they are in.
func (s *seriesBuild) pieces() [][]byte {
	if len(s.segs) == 0 {
		if len(s.buf) == 0 {
			return nil
		}
		return [][]byte{s.buf}
	}
	out := s.segs[:len(s.segs):len(s.segs)]
	if len(s.buf) > 0 {
		out = append(out, s.buf)
	}
	return out
}

// chunkLen is the length of the series' finished chunks.
func (s *seriesBuild) chunkLen() int {
	n := len(s.buf)
	for _, p := range s.segs {
		n += len(p)
	}
	return n
}

// takePieces appends the chunks of p, a series of the records after s's,
// to s's, as they are: no copy.
func (s *seriesBuild) takePieces(p *seriesBuild) {
	if len(s.buf) > 0 {
		s.segs = append(s.segs, s.buf)
	}
	s.segs = append(s.segs, p.segs...)
	s.buf = p.buf
	p.segs, p.buf = nil, nil
}

// finish closes the series' last chunk and, when records came out of time
// order, merges the late samples in: by time, the first read of a ms kept
// (a chunk's sample was read before any late one of its ms: a late sample
// is one stamped before a sample already kept). The result is what reading
// the records and sorting them stably would give.
func (s *seriesBuild) finish() error {
	s.cut()
	if len(s.late) == 0 {
		return nil
	}
	var all []lateSample
	for _, p := range s.pieces() {
		var err error
		if all, err = appendSamples(all, p); err != nil {
			return err
		}
	}
	all = append(all, s.late...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].t < all[j].t })
	*s = seriesBuild{key: s.key, open: s.open, enc: s.enc}
	s.enc.n = 0
	for _, x := range all {
		if _, err := s.add(x.t, x.v); err != nil {
			return err
		}
	}
	s.cut()
	return nil
}

// putChunkHeader writes the header of chunk data into b, without its
// checksum: a table in memory has no use for one, and a table file's are
// computed as it is written (sumChunks).
func putChunkHeader(b []byte, cmin, cmax int64, flags byte, data []byte) {
	be := binary.BigEndian
	be.PutUint64(b, uint64(cmin))
	be.PutUint64(b[8:], uint64(cmax))
	be.PutUint32(b[16:], uint32(len(data)))
	b[20] = flags
}

// sumChunks writes the checksum of every chunk of a run of whole chunks
// into its header.
func sumChunks(chunks []byte) {
	be := binary.BigEndian
	for off := 0; off+chunkHdrLen <= len(chunks); {
		n := int(be.Uint32(chunks[off+16:]))
		data := chunks[off+chunkHdrLen : off+chunkHdrLen+n]
		be.PutUint32(chunks[off+21:], crc32.Checksum(data, castagnoli))
		off += chunkHdrLen + n
	}
}

func appendChunk(b []byte, cmin, cmax int64, flags byte, data []byte) []byte {
	l := len(b)
	b = slices.Grow(b, chunkHdrLen+len(data))[:l+chunkHdrLen]
	putChunkHeader(b[l:], cmin, cmax, flags, data)
	return append(b, data...)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func floorMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// tableBuilder decodes records into per-series XOR chunks: the one
// pipeline from records to series, whose output is written to disk as a
// column table or kept in memory for a query that reads the records
// directly (Decode), so that the two cannot disagree. It can start from an
// existing prefix table and go on where that stopped.
type tableBuilder struct {
	a       *archive.Archive
	opt     DecodeOptions
	series  map[seriesKey]*seriesBuild
	order   []*seriesBuild
	open    []*seriesBuild // series with values since the last mark
	indoms  map[archive.InDom]*indomState
	sets    []setCache // by value set position in a record
	first   int64
	last    int64
	pos     *archive.Position // where the next piece starts
	samples int64             // kept, for opt.MaxSamples
	budget  *atomic.Int64     // kept by all parts of a Decode, or nil
	bad     []string          // records with values that could not be read
	pastEnd bool              // the reader stopped at a record after opt.End
	horizon int64             // see seriesBuild.horizon
	// firstMark is the ms of the first <mark> read, or noMark.
	firstMark int64
	bat       batch
	// flushers > 1: batches are added by that many goroutines, the
	// builder and a flushPool of the others (Decode of many metrics on
	// several CPUs, which sets it only when batches are made).
	flushers int
	pool     *flushPool
	// yield, when set, is called between batches of records: the
	// background builder gives way to queries there (see multiarchive's throttle).
	yield func()
	// hist, for a table to be written, notes every record read.
	hist *history
}

// setCache is what the value set at one position of the last record
// resolved to: pmlogger repeats a record's layout, so the next record's
// set there usually has the same PMID and instances (and the instance
// domain the same names), and its values go to the same series without a
// lookup.
type setCache struct {
	pmid   archive.PMID
	indom  archive.InDom
	res    *indomState // nil for a singular metric
	gen    uint64
	insts  []int32
	series []*seriesBuild // per value; nil: not wanted
}

// indomState is an instance domain's names as the records are read: a
// resolver, and how often its state has changed (setCache.gen).
type indomState struct {
	hist *archive.InDomHistory
	res  *archive.Resolver
	gen  uint64
}

// yieldEvery is how many records the builder decodes between calls of
// yield: a few MB of a busy host's records, tens of milliseconds.
const yieldEvery = 64

func newTableBuilder(a *archive.Archive) *tableBuilder {
	return &tableBuilder{a: a, series: map[seriesKey]*seriesBuild{}, indoms: map[archive.InDom]*indomState{},
		first: math.MaxInt64, last: math.MinInt64, firstMark: noMark}
}

// extendTable returns a builder holding prefix table t's series, ready to
// feed the records from t.Tail on. The last chunk of each series stays as
// it is (a series may have chunks of fewer than 120 samples); a series
// whose last sample is a value is open, so a <mark> in the tail ends it.
func extendTable(a *archive.Archive, t *Table) (*tableBuilder, error) {
	b, err := loadTable(a, t)
	if err != nil {
		return nil, err
	}
	if b.hist, err = t.readHistory(); err != nil {
		return nil, err
	}
	pos := *t.Tail
	b.pos = &pos
	return b, nil
}

// loadTable returns a builder of archive a holding table t's series; a
// series whose last sample is a value is open.
func loadTable(a *archive.Archive, t *Table) (*tableBuilder, error) {
	b := newTableBuilder(a)
	f, err := os.Open(t.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for i := range t.Series {
		ts := &t.Series[i]
		region, err := t.ReadSeries(f, i, nil)
		if err != nil {
			return nil, err
		}
		s := &seriesBuild{key: seriesKey{pmid: ts.PMID, inst: ts.Inst, named: ts.Named, iname: ts.IName},
			buf: region, minT: ts.MinT, maxT: ts.MaxT, n: ts.Samples, lastT: ts.MaxT, started: ts.Samples > 0}
		var last Chunk
		for rest := region; len(rest) > 0; {
			if last, rest, err = t.NextChunk(rest); err != nil {
				return nil, err
			}
		}
		if s.started && !last.LastStale {
			s.open = true
			b.open = append(b.open, s)
		}
		b.series[s.key] = s
		b.order = append(b.order, s)
	}
	if t.First <= t.Last {
		b.first, b.last = t.First, t.Last
	}
	return b, nil
}

// feed reads the archive's records, from where the last piece stopped (or
// in the options' window), and adds their values to the series.
func (b *tableBuilder) feed() error {
	a := b.a
	o := &b.opt
	r := a.NewReader(archive.ReaderOptions{Start: o.Start, End: o.End, PMIDs: o.PMIDs, From: b.pos})
	defer r.Close()
	if b.flushers > 1 {
		b.pool = newFlushPool(b.flushers - 1)
		defer func() {
			b.pool.stop()
			b.pool = nil
		}()
	}
	if idx := a.Index(); len(idx) > 0 {
		end := idx[len(idx)-1].Time
		if o.End > 0 {
			end = min(end, o.End)
		}
		b.horizon = floorMs(end)
	}
	read := false
	n := 0
	for r.Next() {
		read = true
		if n++; n%yieldEvery == 0 {
			if b.yield != nil {
				b.yield()
			}
			if o.Ctx != nil && o.Ctx.Err() != nil {
				return o.Ctx.Err()
			}
		}
		rec := r.Record()
		b.first, b.last = min(b.first, rec.Time), max(b.last, rec.Time)
		if b.hist != nil {
			b.hist.noteRecord(rec)
		}
		ms := floorMs(rec.Time)
		if !rec.Mark && b.bat.layout != 0 {
			ok, err := b.staged(rec, ms)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		if err := b.flush(); err != nil {
			return err
		}
		if rec.Mark {
			if b.firstMark == noMark {
				b.firstMark = ms
			}
			if o.FirstOnly {
				continue // markers decide nothing there
			}
			for _, s := range b.open {
				if _, err := s.add(ms, staleNaN); err != nil {
					return fmt.Errorf("%s: %w", a.Files.Base, err)
				}
				s.open = false
			}
			b.open = b.open[:0]
			continue
		}
		if err := b.record(rec, ms); err != nil {
			return err
		}
		b.noteLayout(rec)
	}
	if err := b.flush(); err != nil {
		return err
	}
	b.pastEnd = r.PastEnd()
	// A reader that read nothing does not know where it is (Pos would
	// restart at the volume's first record): keep the old position.
	if read || b.pos == nil {
		p := r.Pos()
		b.pos = &p
	}
	return r.Err()
}

// record adds the values of one record.
func (b *tableBuilder) record(rec *archive.Record, ms int64) error {
	a := b.a
	sets := rec.Sets()
	if len(b.sets) < len(sets) {
		b.sets = append(b.sets, make([]setCache, len(sets)-len(b.sets))...)
	}
	for k := range sets {
		vs := &sets[k]
		if !hasNumbers(vs) {
			continue
		}
		d := vs.Desc
		c := &b.sets[k]
		var st *indomState
		if d.InDom != archive.InDomNull {
			if st = c.res; st == nil || c.pmid != vs.PMID || c.indom != d.InDom {
				st = b.indom(d.InDom)
			}
			if st.res.At(rec.Time) {
				st.gen++
			}
		}
		insts, vals, bad := rec.Floats(vs)
		if bad > 0 {
			b.bad = append(b.bad, fmt.Sprintf("%s: record at offset %d of volume %d: %d bad values for %s", a.Files.Base, rec.Offset, rec.Vol, bad, vs.PMID))
		}
		var gen uint64
		if st != nil {
			gen = st.gen
		}
		if c.pmid != vs.PMID || c.indom != d.InDom || c.res != st || c.gen != gen || !slices.Equal(c.insts, insts) || c.series == nil {
			c.res = st
			b.resolve(c, vs.PMID, d, gen, insts)
		}
		for j, f := range vals {
			s := c.series[j]
			if s == nil || b.opt.FirstOnly && s.n > 0 {
				continue
			}
			kept, err := s.add(ms, f)
			if err != nil {
				return fmt.Errorf("%s: %w", a.Files.Base, err)
			}
			if !kept {
				continue
			}
			if !s.open {
				s.open = true
				b.open = append(b.open, s)
			}
			if b.opt.MaxSamples > 0 {
				if b.samples++; b.samples&1023 == 0 || b.samples+b.budget.Load() > b.opt.MaxSamples {
					if b.budget.Add(b.samples) > b.opt.MaxSamples {
						return ErrSampleLimit
					}
					b.samples = 0
				}
			}
		}
	}
	return nil
}

// indom returns the state of an instance domain; one the metadata does
// not describe has no names (a resolver over an empty history).
func (b *tableBuilder) indom(id archive.InDom) *indomState {
	st := b.indoms[id]
	if st == nil {
		hist := b.a.Meta.InDoms[id]
		if hist == nil {
			hist = &archive.InDomHistory{}
		}
		st = &indomState{hist: hist, res: hist.Resolver()}
		b.indoms[id] = st
	}
	return st
}

// resolve finds the series of a value set's instances: a singular metric
// has one, whatever instance id its values carry (the IRIX pmlogger of
// 1995-1996 wrote ids other than PM_IN_NULL, changing from record to
// record, and a query serves them as one series); an instance is named as
// the instance domain names it at the record's time, or at any time.
func (b *tableBuilder) resolve(c *setCache, pmid archive.PMID, d *archive.Desc, gen uint64, insts []int32) {
	c.pmid, c.indom, c.gen = pmid, d.InDom, gen
	c.insts = append(c.insts[:0], insts...)
	c.series = c.series[:0]
	var res *archive.Resolver
	var hist *archive.InDomHistory
	if c.res != nil {
		hist, res = c.res.hist, c.res.res
	}
	for _, inst := range insts {
		key := seriesKey{pmid: pmid, inst: inst}
		if d.InDom == archive.InDomNull {
			key.inst = archive.InstNull
		}
		if res != nil {
			if key.iname, key.named = res.Name(key.inst); !key.named {
				key.iname, key.named = hist.NameAnyTime(key.inst)
			}
		}
		s, ok := b.series[key]
		if !ok {
			if b.opt.Want == nil || b.opt.Want(key.pmid, key.inst, key.iname, key.named) {
				s = &seriesBuild{key: key, horizon: b.horizon}
				b.order = append(b.order, s)
			}
			b.series[key] = s // nil: not wanted
		}
		c.series = append(c.series, s)
	}
}

func (b *tableBuilder) span() (first, last int64) {
	if b.first > b.last {
		return b.a.Label.Start, b.a.Label.Start
	}
	return b.first, b.last
}

// buildTable decodes a whole archive into a table file at path (written to
// a temporary name and renamed, so readers never see half a table),
// calling yield between batches of records (see tableBuilder).
func buildTable(a *archive.Archive, path string, yield func()) (*Table, error) {
	b := newTableBuilder(a)
	b.hist = newHistory(a)
	b.yield = yield
	if err := b.feed(); err != nil {
		return nil, err
	}
	return b.write(path, false)
}

// write sorts the series and writes the table; a prefix table records
// where it stopped and the files it was built from.
func (b *tableBuilder) write(path string, prefix bool) (*Table, error) {
	t := &Table{Path: path}
	t.First, t.Last = b.span()
	if prefix {
		pos := *b.pos
		t.Tail = &pos
		add := func(path string, covered int64) error {
			id, err := identify(path, covered)
			t.files = append(t.files, id)
			return err
		}
		if err := add(b.a.Files.Meta, -1); err != nil {
			return nil, err
		}
		for _, v := range b.a.Files.Volumes {
			covered := int64(-1)
			if v.Num == pos.Vol {
				covered = pos.Off
			}
			if v.Num > pos.Vol {
				break
			}
			if err := add(v.Path, covered); err != nil {
				return nil, err
			}
		}
	}
	order := b.order
	sort.Slice(order, func(i, j int) bool { return keyLess(order[i].key, order[j].key) })
	if b.hist != nil {
		b.hist.setDescs(b.a.Meta, order)
		t.hist = b.hist
	}
	return t, t.write(order)
}

// identify is the identity of the first covered bytes of an archive file
// (all of it when covered < 0).
func identify(path string, covered int64) (sourceFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return sourceFile{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sourceFile{}, err
	}
	id := sourceFile{path: path, size: fi.Size()}
	if covered >= 0 && covered < id.size {
		id.size = covered
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), uint64(st.Ino)
	}
	id.sum, err = sumBefore(f, id.size)
	return id, err
}

func sumBefore(f *os.File, size int64) (uint32, error) {
	from := max(size-sumLen, 0)
	b := make([]byte, size-from)
	if _, err := f.ReadAt(b, from); err != nil {
		return 0, err
	}
	return crc32.ChecksumIEEE(b), nil
}

// valid tells whether the files a prefix table was built from are still
// there, the same files, no shorter, their covered ends unchanged.
//
// A file compressed since (PCP 7 compresses a volume soon after pmlogger
// moves on to the next, while the archive is still being written) is the
// same file when its decompressed bytes are: at least as many, and the
// same last 4 KiB before the covered size. That is checked once per
// compressed file; for an .xz file of several blocks it decompresses one
// block, for other files everything before the covered end, which costs
// far less than decoding the records again.
func (t *Table) valid() bool {
	for _, f := range t.files {
		id, err := identify(f.path, f.size)
		if err == nil && id.dev == f.dev && id.ino == f.ino && id.size >= f.size && id.sum == f.sum {
			continue
		}
		if errors.Is(err, fs.ErrNotExist) && t.compressedTwin(f) {
			continue
		}
		return false
	}
	return true
}

// compressedTwin tells whether a compressed file in place of f holds f's
// covered bytes.
func (t *Table) compressedTwin(f sourceFile) bool {
	for _, twin := range archive.CompressedTwins(f.path) {
		fi, err := os.Stat(twin)
		if err != nil {
			continue
		}
		t.twinMu.Lock()
		c, seen := t.twins[twin]
		t.twinMu.Unlock()
		if seen && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
			return c.same
		}
		from := max(f.size-sumLen, 0)
		b := make([]byte, f.size-from)
		same := archive.ReadDecompressedAt(twin, nil, b, from) == nil && crc32.ChecksumIEEE(b) == f.sum
		t.twinMu.Lock()
		if t.twins == nil {
			t.twins = map[string]twinCheck{}
		}
		t.twins[twin] = twinCheck{size: fi.Size(), mtime: fi.ModTime(), same: same}
		t.twinMu.Unlock()
		return same
	}
	return false
}

// Complete tells whether a prefix table covers every byte of the
// archive's data volumes as they are now: then there is no tail to read.
func (t *Table) Complete(a *archive.Archive) bool {
	return t.Tail == nil || uncovered(a.Files, t) == 0
}

// uncovered is how many bytes of the archive's data volumes prefix table t
// does not cover (all of them when t is nil).
func uncovered(f archive.Files, t *Table) int64 {
	var n int64
	for _, v := range f.Volumes {
		if t != nil && v.Num < t.Tail.Vol {
			continue
		}
		fi, err := os.Stat(v.Path)
		if err != nil {
			// Gone (compressed, removed): what it holds is not known
			// to be covered, so a reader must not take the table as
			// complete and skip the records there.
			n++
			continue
		}
		n += fi.Size()
		if t != nil && v.Num == t.Tail.Vol {
			n -= t.Tail.Off
		}
	}
	return max(n, 0)
}

func keyLess(a, b seriesKey) bool {
	if a.pmid != b.pmid {
		return a.pmid < b.pmid
	}
	if a.inst != b.inst {
		return a.inst < b.inst
	}
	if a.named != b.named {
		return !a.named
	}
	return a.iname < b.iname
}

func (t *Table) write(order []*seriesBuild) error {
	if err := os.MkdirAll(filepath.Dir(t.Path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(t.Path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	off := int64(len(tableMagic))
	w.WriteString(tableMagic)
	t.Series = make([]Series, 0, len(order))
	var refs []byte
	for _, s := range order {
		if err := s.finish(); err != nil {
			tmp.Close()
			return err
		}
		pieces, n := s.pieces(), s.chunkLen()
		refs = sparseIndex(refs[:0], pieces)
		w.Write(refs)
		off += int64(len(refs))
		t.Series = append(t.Series, Series{PMID: s.key.pmid, Inst: s.key.inst, Named: s.key.named, IName: s.key.iname,
			MinT: s.minT, MaxT: s.maxT, Samples: s.n, off: off, len: n, nrefs: len(refs) / refLen})
		for _, p := range pieces {
			sumChunks(p)
			w.Write(p)
		}
		off += int64(n)
		s.buf, s.segs = nil, nil
	}
	t.sparse = make([]atomic.Pointer[[]chunkRef], len(t.Series))
	{
		// A table always has a records section; one without records
		// (version 0) joins with nothing.
		h := t.hist
		if h == nil {
			h = &history{}
		}
		sec := h.encode(nil, off)
		w.Write(sec)
		t.histOff, t.histEnd = off, off+int64(len(sec)-histFooterLen)
		t.histSum = binary.BigEndian.Uint32(sec[len(sec)-4:])
		off += int64(len(sec))
		t.hist = nil
	}
	dir := t.encodeDirectory()
	prefixOff := off + int64(len(dir))
	dir = t.encodePrefix(dir)
	w.Write(dir)
	be := binary.BigEndian
	var tr []byte
	tr = be.AppendUint64(tr, uint64(t.First))
	tr = be.AppendUint64(tr, uint64(t.Last))
	tr = be.AppendUint64(tr, uint64(off))
	tr = be.AppendUint32(tr, uint32(len(t.Series)))
	tr = be.AppendUint64(tr, uint64(prefixOff))
	tr = be.AppendUint32(tr, crc32.ChecksumIEEE(dir))
	tr = append(tr, tableMagic...)
	w.Write(tr)
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), t.Path)
}

// sparseIndex appends the sparse index of a series' chunks (made by this
// program, so well formed) to b.
func sparseIndex(b []byte, pieces [][]byte) []byte {
	be := binary.BigEndian
	base, n := 0, 0
	for _, chunks := range pieces {
		for off := 0; off+chunkHdrLen <= len(chunks); n++ {
			if n%sparseEvery == 0 {
				b = be.AppendUint64(b, be.Uint64(chunks[off:]))
				b = be.AppendUint32(b, uint32(base+off))
			}
			off += chunkHdrLen + int(be.Uint32(chunks[off+16:]))
		}
		base += len(chunks)
	}
	return b
}

func (t *Table) encodePrefix(b []byte) []byte {
	be := binary.BigEndian
	var tail archive.Position
	if t.Tail != nil {
		tail = *t.Tail
	}
	b = be.AppendUint32(b, uint32(tail.Vol))
	b = be.AppendUint64(b, uint64(tail.Off))
	b = be.AppendUint16(b, uint16(len(t.files)))
	for _, f := range t.files {
		b = be.AppendUint16(b, uint16(len(f.path)))
		b = append(b, f.path...)
		b = be.AppendUint64(b, f.dev)
		b = be.AppendUint64(b, f.ino)
		b = be.AppendUint64(b, uint64(f.size))
		b = be.AppendUint32(b, f.sum)
	}
	return b
}

func (t *Table) encodeDirectory() []byte {
	var b []byte
	be := binary.BigEndian
	for _, s := range t.Series {
		b = be.AppendUint32(b, uint32(s.PMID))
		b = be.AppendUint32(b, uint32(s.Inst))
		named := byte(0)
		if s.Named {
			named = 1
		}
		b = append(b, named)
		b = be.AppendUint16(b, uint16(len(s.IName)))
		b = append(b, s.IName...)
		b = be.AppendUint64(b, uint64(s.MinT))
		b = be.AppendUint64(b, uint64(s.MaxT))
		b = be.AppendUint32(b, uint32(s.Samples))
		b = be.AppendUint64(b, uint64(s.off))
		b = be.AppendUint32(b, uint32(s.len))
		b = be.AppendUint16(b, uint16(s.nrefs))
	}
	return b
}

// Open reads a table's directory. Any damage is an error: the caller
// rebuilds the table or reads the archive directly.
func Open(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	bad := func(msg string) error { return fmt.Errorf("%s: damaged table: %s", path, msg) }
	tr, err := readTrailer(f, size, path)
	if err != nil {
		return nil, err
	}
	t := &Table{Path: path, First: tr.first, Last: tr.last, histOff: tr.histOff, histEnd: tr.histEnd, histSum: tr.histSum}
	be := binary.BigEndian
	dirOff, prefixOff, n := tr.dirOff, tr.prefixOff, tr.n
	dir := make([]byte, size-trailerLen-dirOff)
	if _, err := f.ReadAt(dir, dirOff); err != nil {
		return nil, err
	}
	if crc32.ChecksumIEEE(dir) != tr.sum {
		return nil, bad("directory checksum")
	}
	dir, prefix := dir[:prefixOff-dirOff], dir[prefixOff-dirOff:]
	if n > len(dir)/41 {
		return nil, bad("series count")
	}
	t.Series = make([]Series, 0, n)
	for i := 0; i < n; i++ {
		if len(dir) < 11 {
			return nil, bad("directory truncated")
		}
		s := Series{PMID: archive.PMID(be.Uint32(dir)), Inst: int32(be.Uint32(dir[4:])), Named: dir[8] == 1}
		nl := int(be.Uint16(dir[9:]))
		dir = dir[11:]
		if len(dir) < nl+34 {
			return nil, bad("directory truncated")
		}
		s.IName = string(dir[:nl])
		dir = dir[nl:]
		s.MinT, s.MaxT = int64(be.Uint64(dir)), int64(be.Uint64(dir[8:]))
		s.Samples = int(be.Uint32(dir[16:]))
		s.off, s.len = int64(be.Uint64(dir[20:])), int(be.Uint32(dir[28:]))
		s.nrefs = int(be.Uint16(dir[32:]))
		dir = dir[34:]
		if s.off-int64(s.nrefs*refLen) < int64(len(tableMagic)) || s.off+int64(s.len) > t.histOff {
			return nil, bad("series region outside the file")
		}
		t.Series = append(t.Series, s)
	}
	if err := t.decodePrefix(prefix); err != "" {
		return nil, bad(err)
	}
	t.sparse = make([]atomic.Pointer[[]chunkRef], len(t.Series))
	return t, nil
}

// trailer is a table file's trailer, and where its records section is.
type trailer struct {
	first, last       int64
	dirOff, prefixOff int64
	n                 int
	sum               uint32
	histOff, histEnd  int64
	histSum           uint32
}

// readTrailer reads and checks a table file's trailer and the footer of
// its records section (just before the directory).
func readTrailer(f *os.File, size int64, path string) (trailer, error) {
	bad := func(msg string) error { return fmt.Errorf("%s: damaged table: %s", path, msg) }
	if size < int64(len(tableMagic)+histFooterLen+trailerLen) {
		return trailer{}, bad("too short")
	}
	b := make([]byte, trailerLen)
	if _, err := f.ReadAt(b, size-trailerLen); err != nil {
		return trailer{}, err
	}
	be := binary.BigEndian
	if string(b[trailerLen-len(tableMagic):]) != tableMagic {
		return trailer{}, bad("no trailer")
	}
	tr := trailer{first: int64(be.Uint64(b)), last: int64(be.Uint64(b[8:])), dirOff: int64(be.Uint64(b[16:])),
		n: int(be.Uint32(b[24:])), prefixOff: int64(be.Uint64(b[28:])), sum: be.Uint32(b[36:])}
	if tr.dirOff < int64(len(tableMagic)+histFooterLen) || tr.prefixOff < tr.dirOff || tr.prefixOff > size-trailerLen {
		return trailer{}, bad("directory offset")
	}
	var foot [histFooterLen]byte
	if _, err := f.ReadAt(foot[:], tr.dirOff-histFooterLen); err != nil {
		return trailer{}, err
	}
	tr.histOff, tr.histEnd, tr.histSum = int64(be.Uint64(foot[:])), tr.dirOff-histFooterLen, be.Uint32(foot[8:])
	if tr.histOff < int64(len(tableMagic)) || tr.histOff > tr.histEnd {
		return trailer{}, bad("records section offset")
	}
	return tr, nil
}

func (t *Table) decodePrefix(b []byte) string {
	be := binary.BigEndian
	if len(b) < 14 {
		return "prefix truncated"
	}
	tail := archive.Position{Vol: int(be.Uint32(b)), Off: int64(be.Uint64(b[4:]))}
	nf := int(be.Uint16(b[12:]))
	b = b[14:]
	for i := 0; i < nf; i++ {
		if len(b) < 2 {
			return "prefix truncated"
		}
		pl := int(be.Uint16(b))
		if len(b) < 2+pl+28 {
			return "prefix truncated"
		}
		f := sourceFile{path: string(b[2 : 2+pl])}
		b = b[2+pl:]
		f.dev, f.ino, f.size, f.sum = be.Uint64(b), be.Uint64(b[8:]), int64(be.Uint64(b[16:])), be.Uint32(b[24:])
		b = b[28:]
		t.files = append(t.files, f)
	}
	if len(b) != 0 {
		return "prefix has trailing bytes"
	}
	if nf > 0 {
		t.Tail = &tail
	}
	return ""
}

// Find returns the index range of a PMID's series (they are sorted).
func (t *Table) Find(p archive.PMID) (lo, hi int) {
	lo = sort.Search(len(t.Series), func(i int) bool { return t.Series[i].PMID >= p })
	hi = sort.Search(len(t.Series), func(i int) bool { return t.Series[i].PMID > p })
	return lo, hi
}

// ReadSeries reads the chunks of series i (see NextChunk) into buf,
// growing it as needed. r is an open table file; nil uses the table's own.
// For a table in memory (InMemory), ReadSeries and ReadWindow return the
// table's own bytes instead: read-only, and not to be reused as a buffer.
func (t *Table) ReadSeries(r io.ReaderAt, i int, buf []byte) ([]byte, error) {
	return t.read(r, i, 0, t.Series[i].len, buf)
}

// ReadWindow reads the chunks of series i that may hold samples in
// [mint, maxt] (ms), and perhaps a few around them, into buf, using the
// series' sparse index (read from the file the first time). A window
// that holds the whole series needs no index: it is neither read nor kept,
// so that long queries over many series do not fill memory with indexes.
func (t *Table) ReadWindow(i int, mint, maxt int64, buf []byte) ([]byte, error) {
	s := &t.Series[i]
	if mint <= s.MinT && maxt >= s.MaxT {
		return t.read(nil, i, 0, s.len, buf)
	}
	p := t.sparseOf(i).Load()
	if p == nil {
		refs, err := t.readSparse(i)
		if err != nil {
			return buf, err
		}
		t.sparseOf(i).Store(&refs)
		p = &refs
	}
	refs := *p
	// The last entry starting at or before mint, and the first one
	// starting after maxt: chunks are in time order.
	lo := sort.Search(len(refs), func(j int) bool { return refs[j].minT > mint }) - 1
	hi := sort.Search(len(refs), func(j int) bool { return refs[j].minT > maxt })
	from, to := 0, s.len
	if lo > 0 {
		from = refs[lo].off
	}
	if hi < len(refs) {
		to = refs[hi].off
	}
	return t.read(nil, i, from, to, buf)
}

// readSparse reads and checks the sparse index of series i.
func (t *Table) readSparse(i int) ([]chunkRef, error) {
	s := &t.Series[i]
	if s.nrefs == 0 {
		return nil, nil
	}
	f, err := t.file()
	if err != nil {
		return nil, err
	}
	b := make([]byte, s.nrefs*refLen)
	if _, err := f.ReadAt(b, s.off-int64(len(b))); err != nil {
		return nil, fmt.Errorf("%s: reading the index of series %s/%d: %w", t.Path, s.PMID, s.Inst, err)
	}
	refs := make([]chunkRef, s.nrefs)
	be := binary.BigEndian
	for j := range refs {
		refs[j] = chunkRef{minT: int64(be.Uint64(b[j*refLen:])), off: int(be.Uint32(b[j*refLen+8:]))}
		if j == 0 && refs[j].off != 0 || j > 0 && (refs[j].off <= refs[j-1].off || refs[j].minT < refs[j-1].minT) || refs[j].off >= s.len {
			return nil, fmt.Errorf("%s: damaged index of series %s/%d", t.Path, s.PMID, s.Inst)
		}
	}
	return refs, nil
}

func (t *Table) sparseOf(i int) *atomic.Pointer[[]chunkRef] { return &t.sparse[i] }

// read reads bytes [from, to) of series i's region.
func (t *Table) read(r io.ReaderAt, i, from, to int, buf []byte) ([]byte, error) {
	s := &t.Series[i]
	if t.inMemory {
		// The table's own memory, not a copy: read-only, and not a buffer
		// to reuse (Each and FirstValue give the caller's back). A series
		// in pieces is joined into memory of its own, which nothing else
		// holds either.
		if len(s.mem) == 1 {
			return s.mem[0][from:to:to], nil
		}
		return joinPieces(s.mem, from, to), nil
	}
	if r == nil {
		f, err := t.file()
		if err != nil {
			return buf, err
		}
		r = f
	}
	n := to - from
	if cap(buf) < n {
		// Room to spare: buffers are handed from series to series,
		// whose regions differ a little in size.
		buf = make([]byte, n, n+n/8+256)
	}
	b := buf[:n]
	if _, err := r.ReadAt(b, s.off+int64(from)); err != nil {
		return buf, fmt.Errorf("%s: reading series %s/%d: %w", t.Path, s.PMID, s.Inst, err)
	}
	return b, nil
}

// MemPieces returns the chunks of series i of a table in memory (Decode)
// as they lie, in one piece or more, each a run of whole chunks (see
// NextChunk): the table's own memory, read-only. It returns nil for a
// table on disk.
func (t *Table) MemPieces(i int) [][]byte {
	if !t.inMemory {
		return nil
	}
	return t.Series[i].mem
}

// joinPieces returns bytes [from, to) of pieces laid end to end, in memory
// of their own.
func joinPieces(pieces [][]byte, from, to int) []byte {
	out := make([]byte, 0, to-from)
	base := 0
	for _, p := range pieces {
		lo, hi := max(from-base, 0), min(to-base, len(p))
		if lo < hi {
			out = append(out, p[lo:hi]...)
		}
		base += len(p)
	}
	return out
}

// file returns the table's open file, opening it the first time.
func (t *Table) file() (*os.File, error) {
	if f := t.f.Load(); f != nil {
		return f, nil
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return nil, err
	}
	if !t.f.CompareAndSwap(nil, f) {
		if g := t.f.Load(); g != nil {
			f.Close()
			return g, nil
		}
	}
	return f, nil
}

// release drops the table's file: it closes once no reader holds it.
func (t *Table) release() { t.f.Store(nil) }

// NextChunk parses the first chunk of a series region from ReadSeries and
// returns the rest. The chunk's Data aliases the region.
func (t *Table) NextChunk(b []byte) (Chunk, []byte, error) {
	if len(b) < chunkHdrLen {
		return Chunk{}, nil, fmt.Errorf("%s: damaged chunk header", t.Path)
	}
	be := binary.BigEndian
	c := Chunk{MinT: int64(be.Uint64(b)), MaxT: int64(be.Uint64(b[8:]))}
	n := int(be.Uint32(b[16:]))
	c.FirstStale, c.LastStale = b[20]&chunkFirstStale != 0, b[20]&chunkLastStale != 0
	sum := be.Uint32(b[21:])
	b = b[chunkHdrLen:]
	if n > len(b) || n < 3 || c.MaxT < c.MinT {
		return Chunk{}, nil, fmt.Errorf("%s: damaged chunk", t.Path)
	}
	c.Data = b[:n]
	if !t.inMemory && crc32.Checksum(c.Data, castagnoli) != sum {
		return Chunk{}, nil, fmt.Errorf("%s: chunk checksum mismatch", t.Path)
	}
	if k := binary.BigEndian.Uint16(c.Data); k == 0 || k > 120 {
		return Chunk{}, nil, fmt.Errorf("%s: chunk of %d samples", t.Path, k)
	}
	return c, b[n:], nil
}

// Each calls f for every sample of series i with mint <= t <= maxt (ms),
// staleness markers included, reading only that series' chunks. r may be
// an open table file; nil opens the file for this call.
func (t *Table) Each(r io.ReaderAt, i int, mint, maxt int64, buf []byte, f func(t int64, v float64)) ([]byte, error) {
	b, err := t.each(r, i, mint, maxt, buf, f)
	if t.inMemory {
		return buf, err
	}
	return b, err
}

func (t *Table) each(r io.ReaderAt, i int, mint, maxt int64, buf []byte, f func(t int64, v float64)) ([]byte, error) {
	s := &t.Series[i]
	if s.MaxT < mint || s.MinT > maxt || s.len == 0 {
		return buf, nil
	}
	var b []byte
	var err error
	if r == nil {
		b, err = t.ReadWindow(i, mint, maxt, buf)
	} else {
		b, err = t.ReadSeries(r, i, buf)
	}
	if err != nil {
		return b, err
	}
	buf = b
	var it chunkenc.Iterator
	for len(b) > 0 {
		var c Chunk
		if c, b, err = t.NextChunk(b); err != nil {
			return buf, err
		}
		if c.MaxT < mint || c.MinT > maxt {
			continue
		}
		if it, err = eachInChunk(it, c.Data, mint, maxt, f); err != nil {
			return buf, fmt.Errorf("%s: series %s/%d: %w", t.Path, s.PMID, s.Inst, err)
		}
	}
	return buf, nil
}

// eachInChunk calls f for the samples of an XOR chunk inside [mint, maxt].
func eachInChunk(it chunkenc.Iterator, data []byte, mint, maxt int64, f func(t int64, v float64)) (chunkenc.Iterator, error) {
	c, err := chunkenc.FromData(chunkenc.EncXOR, data)
	if err != nil {
		return it, err
	}
	it = c.Iterator(it)
	for it.Next() == chunkenc.ValFloat {
		ts, v := it.At()
		if ts >= mint && ts <= maxt {
			f(ts, v)
		}
	}
	return it, it.Err()
}

// FirstValue returns the time (ms) of the first sample of series i in
// [mint, maxt] that is a value, not a staleness marker, and whether there
// is one: what the series and label lookups list a series by. It reads as
// little as it can: when the window holds the whole series, only its first
// chunk (which starts with a value: a table series starts with one), and
// otherwise the chunks around the window, decoding only those it cuts.
func (t *Table) FirstValue(i int, mint, maxt int64, buf []byte) (int64, bool, []byte, error) {
	ts, ok, b, err := t.firstValue(i, mint, maxt, buf)
	if t.inMemory {
		return ts, ok, buf, err
	}
	return ts, ok, b, err
}

func (t *Table) firstValue(i int, mint, maxt int64, buf []byte) (int64, bool, []byte, error) {
	s := &t.Series[i]
	if s.MaxT < mint || s.MinT > maxt || s.len == 0 {
		return 0, false, buf, nil
	}
	var it chunkenc.Iterator
	if mint <= s.MinT && maxt >= s.MaxT {
		b, err := t.firstChunk(i, buf)
		if err != nil {
			return 0, false, b, err
		}
		buf = b
		c, _, err := t.NextChunk(b)
		if err != nil {
			return 0, false, buf, err
		}
		var ts int64
		var ok bool
		if ts, ok, it, err = t.valueIn(i, c, mint, maxt, it); ok || err != nil {
			return ts, ok, buf, err
		}
		// A chunk of markers alone: look at the rest.
	}
	b, err := t.ReadWindow(i, mint, maxt, buf)
	if err != nil {
		return 0, false, b, err
	}
	buf = b
	for len(b) > 0 {
		var c Chunk
		if c, b, err = t.NextChunk(b); err != nil {
			return 0, false, buf, err
		}
		var ts int64
		var ok bool
		if ts, ok, it, err = t.valueIn(i, c, mint, maxt, it); ok || err != nil {
			return ts, ok, buf, err
		}
	}
	return 0, false, buf, nil
}

// valueIn finds the first value (not a marker) of a chunk of series i in
// [mint, maxt], decoding the chunk only when its header does not tell.
func (t *Table) valueIn(i int, c Chunk, mint, maxt int64, it chunkenc.Iterator) (int64, bool, chunkenc.Iterator, error) {
	if c.MaxT < mint || c.MinT > maxt {
		return 0, false, it, nil
	}
	if c.MinT >= mint && !c.FirstStale {
		return c.MinT, true, it, nil
	}
	xc, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
	if err == nil {
		it = xc.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			if ts > maxt {
				break
			}
			if ts >= mint && math.Float64bits(v) != math.Float64bits(staleNaN) {
				return ts, true, it, nil
			}
		}
		err = it.Err()
	}
	if err != nil {
		s := &t.Series[i]
		return 0, false, it, fmt.Errorf("%s: series %s/%d: %w", t.Path, s.PMID, s.Inst, err)
	}
	return 0, false, it, nil
}

// firstChunk reads the first chunk of series i, header and data, and
// perhaps a little more.
func (t *Table) firstChunk(i int, buf []byte) ([]byte, error) {
	s := &t.Series[i]
	n := min(s.len, 1024)
	b, err := t.read(nil, i, 0, n, buf)
	if err != nil || n < chunkHdrLen {
		return b, err
	}
	if whole := chunkHdrLen + int(binary.BigEndian.Uint32(b[16:])); whole > n && whole <= s.len {
		return t.read(nil, i, 0, whole, b)
	}
	return b, nil
}
