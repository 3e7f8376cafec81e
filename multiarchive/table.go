package multiarchive

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// A Table is one closed archive decoded into columns: for every (metric,
// instance, instance name) the numeric values as Prometheus XOR chunks of at
// most 120 samples, in ms, with a staleness marker wherever a <mark> ends
// the series. It is what a query would gather from the archive, so a query
// reads only the chunks of the series it selects instead of every record
// (each PCP record holds every metric), and streams one series at a time.
//
// Tables live in a sidecar cache directory, never beside the archives; a
// table is named by the archive's path and the size and mtime of each of
// its files, so a changed archive gets a new table and any table may be
// deleted at any time.
//
// File layout (big-endian):
//
//	"PCPRRTB1"
//	series regions: per chunk {minT i64, maxT i64, len u32, XOR bytes}
//	directory: per series {pmid u32, inst i32, named u8, namelen u16, name,
//	           minT i64, maxT i64, samples u32, off i64, len u32}
//	trailer: first i64, last i64 (ns), dirOff i64, nseries u32,
//	         crc32(directory) u32, "PCPRRTB1"
type Table struct {
	Path        string
	First, Last int64 // ns of the archive's first and last record
	Series      []TableSeries
	mem         []byte // the series regions of an in-memory table (live archives)
}

// TableSeries is one series of a table.
type TableSeries struct {
	PMID       archive.PMID
	Inst       int32
	Named      bool
	IName      string
	MinT, MaxT int64 // ms
	Samples    int
	off        int64
	len        int
}

const (
	tableMagic   = "PCPRRTB1"
	trailerLen   = 8 + 8 + 8 + 4 + 4 + 8
	chunkHdrLen  = 8 + 8 + 4
	tableVersion = 1
)

// staleNaN is Prometheus' staleness marker (model/value.StaleNaN).
var staleNaN = math.Float64frombits(0x7ff0000000000002)

// errUnordered means an archive's records are not in time order for some
// series; such an archive is always read directly.
var errUnordered = errors.New("records out of time order")

// seriesKey identifies a series within one archive.
type seriesKey struct {
	pmid  archive.PMID
	inst  int32
	named bool
	iname string
}

type seriesBuild struct {
	key        seriesKey
	buf        []byte // finished chunks
	c          *chunkenc.XORChunk
	app        chunkenc.Appender
	cmin, cmax int64
	minT, maxT int64
	n          int
	lastT      int64
	open       bool // has values since the last mark
	started    bool
}

func (s *seriesBuild) add(t int64, v float64) error {
	if s.started {
		if t == s.lastT {
			return nil // one sample per ms: the first wins
		}
		if t < s.lastT {
			return errUnordered
		}
	}
	if s.c == nil || s.c.NumSamples() >= 120 {
		s.cut()
		s.c = chunkenc.NewXORChunk()
		app, err := s.c.Appender()
		if err != nil {
			return err
		}
		s.app, s.cmin = app, t
	}
	s.app.Append(0, t, v)
	if !s.started {
		s.minT, s.started = t, true
	}
	s.cmax, s.maxT, s.lastT = t, t, t
	s.n++
	return nil
}

func (s *seriesBuild) cut() {
	if s.c == nil || s.c.NumSamples() == 0 {
		return
	}
	b := s.c.Bytes()
	s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(s.cmin))
	s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(s.cmax))
	s.buf = binary.BigEndian.AppendUint32(s.buf, uint32(len(b)))
	s.buf = append(s.buf, b...)
	s.c = nil
}

func floorMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// tableBuilder decodes records into per-series XOR chunks. It can be fed
// in pieces: a live archive's table grows as pmlogger writes.
type tableBuilder struct {
	a         *archive.Archive
	series    map[seriesKey]*seriesBuild
	order     []*seriesBuild
	open      []*seriesBuild // series with values since the last mark
	resolvers map[archive.InDom]*archive.Resolver
	first     int64
	last      int64
	pos       *archive.Position // where the next piece starts
}

func newTableBuilder(a *archive.Archive) *tableBuilder {
	return &tableBuilder{a: a, series: map[seriesKey]*seriesBuild{}, resolvers: map[archive.InDom]*archive.Resolver{},
		first: math.MaxInt64, last: math.MinInt64}
}

// feed reads the archive from where the last piece stopped to its end.
func (b *tableBuilder) feed() error {
	a := b.a
	r := a.NewReader(archive.ReaderOptions{From: b.pos})
	defer r.Close()
	for r.Next() {
		rec := r.Record()
		b.first, b.last = min(b.first, rec.Time), max(b.last, rec.Time)
		ms := floorMs(rec.Time)
		if rec.Mark {
			for _, s := range b.open {
				if err := s.add(ms, staleNaN); err != nil {
					return fmt.Errorf("%s: %w", a.Files.Base, err)
				}
				s.open = false
			}
			b.open = b.open[:0]
			continue
		}
		sets := rec.Sets()
		for k := range sets {
			vs := &sets[k]
			if vs.NumVal <= 0 {
				continue
			}
			d, ok := a.Meta.Desc(vs.PMID)
			if !ok || !d.Type.Numeric() {
				continue
			}
			var res *archive.Resolver
			var hist *archive.InDomHistory
			if d.InDom != archive.InDomNull {
				if hist = a.Meta.InDoms[d.InDom]; hist != nil {
					if res = b.resolvers[d.InDom]; res == nil {
						res = hist.Resolver()
						b.resolvers[d.InDom] = res
					}
					res.At(rec.Time)
				}
			}
			for j := 0; j < int(vs.NumVal); j++ {
				v := rec.Value(vs, j)
				f, ok := v.Float64(d.Type)
				if !ok {
					continue
				}
				key := seriesKey{pmid: vs.PMID, inst: v.Inst}
				if res != nil {
					if key.iname, key.named = res.Name(v.Inst); !key.named {
						key.iname, key.named = hist.NameAnyTime(v.Inst)
					}
				}
				s := b.series[key]
				if s == nil {
					s = &seriesBuild{key: key}
					b.series[key] = s
					b.order = append(b.order, s)
				}
				if err := s.add(ms, f); err != nil {
					return fmt.Errorf("%s: %w", a.Files.Base, err)
				}
				if !s.open {
					s.open = true
					b.open = append(b.open, s)
				}
			}
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	p := r.Pos()
	b.pos = &p
	return nil
}

func (b *tableBuilder) span() (first, last int64) {
	if b.first > b.last {
		return b.a.Label.Start, b.a.Label.Start
	}
	return b.first, b.last
}

// BuildTable decodes a whole archive into a table file at path (written to
// a temporary name and renamed, so readers never see half a table).
func BuildTable(a *archive.Archive, path string) (*Table, error) {
	b := newTableBuilder(a)
	if err := b.feed(); err != nil {
		return nil, err
	}
	t := &Table{Path: path}
	t.First, t.Last = b.span()
	order := b.order
	sort.Slice(order, func(i, j int) bool { return keyLess(order[i].key, order[j].key) })
	return t, t.write(order)
}

// snapshot is the builder's table so far, in memory: the finished chunks
// of each series of the given PMIDs (all when nil) and a copy of the chunk
// being filled.
func (b *tableBuilder) snapshot(pmids map[archive.PMID]bool) *Table {
	var order []*seriesBuild
	for _, s := range b.order {
		if pmids == nil || pmids[s.key.pmid] {
			order = append(order, s)
		}
	}
	sort.Slice(order, func(i, j int) bool { return keyLess(order[i].key, order[j].key) })
	t := &Table{Series: make([]TableSeries, 0, len(order))}
	t.First, t.Last = b.span()
	size := 0
	for _, s := range order {
		size += len(s.buf) + chunkHdrLen
		if s.c != nil {
			size += len(s.c.Bytes())
		}
	}
	mem := make([]byte, 0, size)
	for _, s := range order {
		off := len(mem)
		mem = append(mem, s.buf...)
		if s.c != nil && s.c.NumSamples() > 0 {
			cb := s.c.Bytes()
			mem = binary.BigEndian.AppendUint64(mem, uint64(s.cmin))
			mem = binary.BigEndian.AppendUint64(mem, uint64(s.cmax))
			mem = binary.BigEndian.AppendUint32(mem, uint32(len(cb)))
			mem = append(mem, cb...)
		}
		t.Series = append(t.Series, TableSeries{PMID: s.key.pmid, Inst: s.key.inst, Named: s.key.named, IName: s.key.iname,
			MinT: s.minT, MaxT: s.maxT, Samples: s.n, off: int64(off), len: len(mem) - off})
	}
	t.mem = mem
	return t
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
	t.Series = make([]TableSeries, 0, len(order))
	for _, s := range order {
		s.cut()
		t.Series = append(t.Series, TableSeries{PMID: s.key.pmid, Inst: s.key.inst, Named: s.key.named, IName: s.key.iname,
			MinT: s.minT, MaxT: s.maxT, Samples: s.n, off: off, len: len(s.buf)})
		w.Write(s.buf)
		off += int64(len(s.buf))
		s.buf = nil
	}
	dir := t.encodeDirectory()
	w.Write(dir)
	var tr []byte
	tr = binary.BigEndian.AppendUint64(tr, uint64(t.First))
	tr = binary.BigEndian.AppendUint64(tr, uint64(t.Last))
	tr = binary.BigEndian.AppendUint64(tr, uint64(off))
	tr = binary.BigEndian.AppendUint32(tr, uint32(len(t.Series)))
	tr = binary.BigEndian.AppendUint32(tr, crc32.ChecksumIEEE(dir))
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
	}
	return b
}

// OpenTable reads a table's directory. Any damage is an error: the caller
// rebuilds the table or reads the archive directly.
func OpenTable(path string) (*Table, error) {
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
	if size < int64(len(tableMagic)+trailerLen) {
		return nil, bad("too short")
	}
	tr := make([]byte, trailerLen)
	if _, err := f.ReadAt(tr, size-trailerLen); err != nil {
		return nil, err
	}
	be := binary.BigEndian
	if string(tr[32:]) != tableMagic {
		return nil, bad("no trailer")
	}
	t := &Table{Path: path, First: int64(be.Uint64(tr)), Last: int64(be.Uint64(tr[8:]))}
	dirOff := int64(be.Uint64(tr[16:]))
	n := int(be.Uint32(tr[24:]))
	if dirOff < int64(len(tableMagic)) || dirOff > size-trailerLen {
		return nil, bad("directory offset")
	}
	dir := make([]byte, size-trailerLen-dirOff)
	if _, err := f.ReadAt(dir, dirOff); err != nil {
		return nil, err
	}
	if crc32.ChecksumIEEE(dir) != be.Uint32(tr[28:]) {
		return nil, bad("directory checksum")
	}
	if n > len(dir)/39 {
		return nil, bad("series count")
	}
	t.Series = make([]TableSeries, 0, n)
	for i := 0; i < n; i++ {
		if len(dir) < 11 {
			return nil, bad("directory truncated")
		}
		s := TableSeries{PMID: archive.PMID(be.Uint32(dir)), Inst: int32(be.Uint32(dir[4:])), Named: dir[8] == 1}
		nl := int(be.Uint16(dir[9:]))
		dir = dir[11:]
		if len(dir) < nl+32 {
			return nil, bad("directory truncated")
		}
		s.IName = string(dir[:nl])
		dir = dir[nl:]
		s.MinT, s.MaxT = int64(be.Uint64(dir)), int64(be.Uint64(dir[8:]))
		s.Samples = int(be.Uint32(dir[16:]))
		s.off, s.len = int64(be.Uint64(dir[20:])), int(be.Uint32(dir[28:]))
		dir = dir[32:]
		if s.off < int64(len(tableMagic)) || s.off+int64(s.len) > dirOff {
			return nil, bad("series region outside the file")
		}
		t.Series = append(t.Series, s)
	}
	return t, nil
}

// Find returns the index range of a PMID's series (they are sorted).
func (t *Table) Find(p archive.PMID) (lo, hi int) {
	lo = sort.Search(len(t.Series), func(i int) bool { return t.Series[i].PMID >= p })
	hi = sort.Search(len(t.Series), func(i int) bool { return t.Series[i].PMID > p })
	return lo, hi
}

// Each calls f for every sample of series i with mint <= t <= maxt (ms),
// staleness markers included, reading only that series' chunks. r may be
// an open table file; nil opens the file for this call.
func (t *Table) Each(r io.ReaderAt, i int, mint, maxt int64, buf []byte, f func(t int64, v float64)) ([]byte, error) {
	s := &t.Series[i]
	if s.MaxT < mint || s.MinT > maxt || s.len == 0 {
		return buf, nil
	}
	if r == nil && t.mem != nil {
		r = bytes.NewReader(t.mem)
	}
	if r == nil {
		fh, err := os.Open(t.Path)
		if err != nil {
			return buf, err
		}
		defer fh.Close()
		r = fh
	}
	if cap(buf) < s.len {
		buf = make([]byte, s.len)
	}
	b := buf[:s.len]
	if _, err := r.ReadAt(b, s.off); err != nil {
		return buf, fmt.Errorf("%s: reading series %s/%d: %w", t.Path, s.PMID, s.Inst, err)
	}
	var it chunkenc.Iterator
	for len(b) > 0 {
		if len(b) < chunkHdrLen {
			return buf, fmt.Errorf("%s: damaged chunk header", t.Path)
		}
		cmin, cmax := int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))
		n := int(binary.BigEndian.Uint32(b[16:]))
		b = b[chunkHdrLen:]
		if n > len(b) {
			return buf, fmt.Errorf("%s: damaged chunk", t.Path)
		}
		data := b[:n]
		b = b[n:]
		if cmax < mint || cmin > maxt {
			continue
		}
		c, err := chunkenc.FromData(chunkenc.EncXOR, data)
		if err != nil {
			return buf, err
		}
		it = c.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			if ts >= mint && ts <= maxt {
				f(ts, v)
			}
		}
		if err := it.Err(); err != nil {
			return buf, err
		}
	}
	return buf, nil
}
