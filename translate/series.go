package translate

import (
	"fmt"
	"math"
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/coltable"
)

type sample struct {
	t int64 // ms
	v float64
}

// series is one Prometheus series of a Select. Its samples stay where they
// are (column tables on disk, or values read from a live archive) until it
// is iterated, so that a streamed answer holds one series at a time.
type series struct {
	lset       labels.Labels
	segs       []segment
	mint, maxt int64    // ms window
	samples    []sample // set directly for metadata-only series
	err        error
}

// segment is the part of a series that one archive holds.
type segment struct {
	host, ai int // timeline (per Select) and archive position in it
	// A table series: of a column table on disk, or of the table
	// coltable.Decode made in memory from the archive's records.
	tbl *coltable.Table
	idx int
	// stale is the ms of the staleness marker that follows this archive
	// (a boundary before the next one), or noStale.
	stale int64
}

const noStale = math.MinInt64

// materialize gathers the series' samples in time order: one per ms (the
// earlier archive's when archives overlap), and a staleness marker only
// where it ends values: a marker with no value before it since the last
// marker is dropped, which is exactly where libpcp's <mark> ends a series
// that had values in the window.
func (s *series) materialize() []sample {
	if s.segs == nil {
		return s.samples
	}
	n := 0
	for i := range s.segs {
		sg := &s.segs[i]
		if sg.tbl != nil {
			n += sg.tbl.Series[sg.idx].Samples
		}
		n++
	}
	out := make([]sample, 0, n)
	var buf []byte
	for i := range s.segs {
		sg := &s.segs[i]
		if sg.tbl != nil {
			var err error
			buf, err = sg.tbl.Each(nil, sg.idx, s.mint, s.maxt, buf, func(t int64, v float64) { out = append(out, sample{t, v}) })
			if err != nil && s.err == nil {
				s.err = err
			}
		}
		if sg.stale != noStale {
			out = append(out, sample{sg.stale, staleNaN})
		}
	}
	sorted := true
	for i := 1; i < len(out); i++ {
		if out[i].t <= out[i-1].t {
			sorted = false
			break
		}
	}
	if !sorted {
		sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	}
	kept := out[:0]
	realBefore := false
	for _, x := range out {
		if n := len(kept); n > 0 && kept[n-1].t == x.t {
			continue
		}
		if isStale(x.v) {
			if !realBefore {
				continue
			}
			realBefore = false
		} else {
			realBefore = true
		}
		kept = append(kept, x)
	}
	return kept
}

func isStale(v float64) bool { return math.Float64bits(v) == 0x7ff0000000000002 }

func (s *series) Labels() labels.Labels { return s.lset }

// Iterator hands out the series' samples. When its parts follow each other
// in time (see chunkSeries.Iterator) it walks the chunks the streamed form
// would send, decoding one at a time, as Prometheus' TSDB does: table
// chunks are not copied into a sample list first. Otherwise it materializes
// the series and uses Prometheus' own list iterator (its Seek is the
// reference one); samples are handed out by pointer so that none is boxed.
//
// An iterator passed back in lends its buffers, as for chunkSeries.
func (s *series) Iterator(old chunkenc.Iterator) chunkenc.Iterator {
	if !s.walkable() {
		l := s.materialize()
		return &errIterator{Iterator: storage.NewListSeriesIterator(sampleList(l)), s: s, n: len(l)}
	}
	it := &sampleIterator{}
	var oc *chunkIterator
	if o, ok := old.(*sampleIterator); ok {
		it.xor, oc = o.xor, &o.c
		*o = sampleIterator{c: o.c} // spent: Next is false
	}
	it.c.init(s, oc, true)
	return it
}

// millis is a Prometheus timestamp. Spelled so in Seek's signature because
// go vet's stdmethods check takes any Seek(int64, ...) for io.Seeker's and
// rejects chunkenc.Iterator's.
type millis = int64

// sampleIterator walks the chunks of an ordered series.
type sampleIterator struct {
	c     chunkIterator     // the series' chunks
	i     int               // chunks [0, i) have been started
	xor   chunkenc.Iterator // over chunk i-1, reused from chunk to chunk
	cur   chunkenc.Iterator // xor, or nil before the first chunk and past the last
	valid bool              // cur is at a sample
	err   error
}

func (it *sampleIterator) Next() chunkenc.ValueType {
	for {
		if it.cur != nil {
			if vt := it.cur.Next(); vt != chunkenc.ValNone {
				it.valid = true
				return vt
			}
			if err := it.cur.Err(); err != nil {
				it.err = err
				break
			}
		}
		if !it.open(it.i) {
			break
		}
	}
	it.valid = false
	return chunkenc.ValNone
}

// open starts chunk i, or ends the iteration when there is none.
func (it *sampleIterator) open(i int) bool {
	if i >= len(it.c.chunks) || it.c.err != nil {
		it.cur, it.i = nil, len(it.c.chunks)
		return false
	}
	it.xor = it.c.chunks[i].Chunk.Iterator(it.xor)
	it.cur, it.i = it.xor, i+1
	return true
}

// Seek moves to the first sample at or after t, never back: chunks that end
// before t are skipped without decoding them.
func (it *sampleIterator) Seek(t millis) chunkenc.ValueType {
	if it.valid && it.cur.AtT() >= t {
		return chunkenc.ValFloat
	}
	if it.cur == nil || it.c.chunks[it.i-1].MaxTime < t {
		i := it.i
		for i < len(it.c.chunks) && it.c.chunks[i].MaxTime < t {
			i++
		}
		if it.err != nil || !it.open(i) {
			it.valid = false
			return chunkenc.ValNone
		}
	}
	for {
		vt := it.Next()
		if vt == chunkenc.ValNone || it.cur.AtT() >= t {
			return vt
		}
	}
}

func (it *sampleIterator) At() (int64, float64) { return it.cur.At() }
func (it *sampleIterator) AtT() int64           { return it.cur.AtT() }

// AtST is 0, as for every sample we serve (see sample.ST).
func (it *sampleIterator) AtST() int64 { return 0 }

// PCP has no histograms: the chunks are XOR chunks, whose iterators say so.
func (it *sampleIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	return it.cur.AtHistogram(h)
}

func (it *sampleIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.cur.AtFloatHistogram(fh)
}

func (it *sampleIterator) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.c.Err()
}

// SamplesHint is how many samples the iterator holds, so a caller can
// size its buffer once.
func (it *sampleIterator) SamplesHint() int {
	n := 0
	for _, c := range it.c.chunks {
		n += c.Chunk.NumSamples()
	}
	return n
}

// errIterator reports a failure to read the series' table.
type errIterator struct {
	chunkenc.Iterator
	s *series
	n int
}

func (it *errIterator) Err() error { return it.s.err }

// SamplesHint is how many samples the iterator holds, so a caller can
// size its buffer once.
func (it *errIterator) SamplesHint() int { return it.n }

type sampleList []sample

func (l sampleList) Get(i int) chunks.Sample { return &l[i] }
func (l sampleList) Len() int                { return len(l) }

// chunks.Sample. ST is always 0: a non-zero start timestamp would make
// Prometheus encode XOR2 chunks, which clients before 3.14 cannot read.
func (x *sample) T() int64                      { return x.t }
func (x *sample) ST() int64                     { return 0 }
func (x *sample) F() float64                    { return x.v }
func (x *sample) H() *histogram.Histogram       { return nil }
func (x *sample) FH() *histogram.FloatHistogram { return nil }
func (x *sample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (x *sample) Copy() chunks.Sample           { c := *x; return &c }

// maxChunkSamples is the TSDB convention clients expect (docs/remote-read-protocol.md §6).
const maxChunkSamples = 120

// ChunkSeries form: XOR chunks of at most 120 samples.
func (s *series) chunkSeries() storage.ChunkSeries { return &chunkSeries{s} }

type chunkSeries struct{ s *series }

func (c *chunkSeries) Labels() labels.Labels { return c.s.lset }

// Iterator hands out the series' chunks. When its parts follow each other
// in time (the normal case: archives one after another), the chunks of
// column tables that lie wholly inside the window go out as they are, and
// only the rest is decoded and encoded again; otherwise the series is
// materialized and encoded.
//
// An iterator passed back in (Prometheus' reuse convention: the caller is
// done with it) lends its read buffers to the new one, so streaming many
// series does not allocate a region buffer per series.
func (c *chunkSeries) Iterator(old chunks.Iterator) chunks.Iterator {
	it := &chunkIterator{}
	o, _ := old.(*chunkIterator)
	it.init(c.s, o, c.s.walkable())
	return it
}

// walkable tells whether the series' chunks can be made from its parts in
// place (see ordered), not from its materialized samples.
func (s *series) walkable() bool { return s.segs != nil && s.ordered() }

// init makes the chunks of s, with the buffers of o (nil or spent) if any;
// walkable is s.walkable(), which the caller has already worked out.
func (it *chunkIterator) init(s *series, o *chunkIterator, walkable bool) {
	it.s = s
	if o != nil {
		// Spare buffers are taken from the end: the buffer series k
		// used for its first table comes back first, so each table
		// position tends to get a buffer already of its size.
		it.free = o.free
		for i := len(o.used) - 1; i >= 0; i-- {
			it.free = append(it.free, o.used[i])
		}
		clear(o.chunks) // drop references to the old chunks' data
		it.chunks, it.spare = o.chunks[:0], o.spare
		*o = chunkIterator{s: o.s} // spent: Next is false, Err as before
	}
	if !walkable {
		it.encodeAll(s.materialize())
		return
	}
	it.build()
}

type chunkIterator struct {
	s      *series
	chunks []chunks.Meta
	next   int // of chunks: chunks keeps its start so that it can be reused
	// Buffers holding table chunks passed through, and spare ones.
	used, free [][]byte
	// Chunk headers for the chunks passed through, reused like the
	// buffers: spare[:nspare] are in use.
	spare  []*chunkenc.XORChunk
	nspare int
	cur    chunks.Meta
	err    error

	// The rule of materialize, applied on the way.
	lastT      int64
	kept       bool // a sample or chunk was kept: lastT is valid
	realBefore bool // a value was kept since the last staleness marker
	// The chunk being encoded.
	enc        *chunkenc.XORChunk
	app        chunkenc.Appender
	encMin     int64
	decodeIter chunkenc.Iterator
}

// ordered tells whether the parts of the series (each segment's table
// samples in the window, its boundary marker) are in time order one after
// the other, ties allowed (the first wins).
func (s *series) ordered() bool {
	prev := int64(math.MinInt64)
	for i := range s.segs {
		sg := &s.segs[i]
		if sg.tbl != nil {
			ts := &sg.tbl.Series[sg.idx]
			if ts.MaxT >= s.mint && ts.MinT <= s.maxt {
				if max(ts.MinT, s.mint) < prev {
					return false
				}
				prev = min(ts.MaxT, s.maxt)
			}
		}
		if sg.stale != noStale {
			if sg.stale < prev {
				return false
			}
			prev = sg.stale
		}
	}
	return true
}

// build makes the chunks of an ordered series.
func (it *chunkIterator) build() {
	s := it.s
	for i := range s.segs {
		sg := &s.segs[i]
		if sg.tbl != nil {
			if err := it.fromTable(sg.tbl, sg.idx); err != nil {
				it.err = err
				return
			}
		}
		if sg.stale != noStale {
			it.add(sg.stale, staleNaN)
		}
	}
	it.cut()
}

// fromTable passes through the chunks of a table series that need no
// change: wholly inside the window, after what was kept, and not starting
// with a staleness marker that has no value before it (a table never has
// two markers in a row, so then the whole chunk obeys the rule). The other
// chunks are decoded sample by sample.
func (it *chunkIterator) fromTable(tbl *coltable.Table, idx int) error {
	ts := &tbl.Series[idx]
	s := it.s
	if ts.MaxT < s.mint || ts.MinT > s.maxt || ts.Samples == 0 {
		return nil
	}
	// The chunks passed through point into the regions: a table in
	// memory's own (read-only, in the pieces Decode made them in), or a
	// buffer read from the file, kept until the iterator is reset.
	regions := tbl.MemPieces(idx)
	if regions == nil {
		var buf []byte
		if n := len(it.free); n > 0 {
			buf, it.free = it.free[n-1], it.free[:n-1]
		}
		region, err := tbl.ReadWindow(idx, s.mint, s.maxt, buf)
		if err != nil {
			return err
		}
		it.used = append(it.used, region[:cap(region)])
		regions = [][]byte{region}
	}
	for _, region := range regions {
		if err := it.passRegion(tbl, ts, region); err != nil {
			return err
		}
	}
	return nil
}

// passRegion is fromTable for one run of a table series' chunks.
func (it *chunkIterator) passRegion(tbl *coltable.Table, ts *coltable.Series, region []byte) error {
	s := it.s
	for len(region) > 0 {
		var c coltable.Chunk
		var err error
		if c, region, err = tbl.NextChunk(region); err != nil {
			return err
		}
		if c.MaxT < s.mint || c.MinT > s.maxt {
			continue
		}
		if c.MinT >= s.mint && c.MaxT <= s.maxt && (!it.kept || c.MinT > it.lastT) && (!c.FirstStale || it.realBefore) {
			xc := it.passChunk(c.Data)
			it.cut()
			it.chunks = append(it.chunks, chunks.Meta{Chunk: xc, MinTime: c.MinT, MaxTime: c.MaxT})
			it.lastT, it.kept, it.realBefore = c.MaxT, true, !c.LastStale
			continue
		}
		xc, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
		if err != nil {
			return fmt.Errorf("%s: series %s/%d: %w", tbl.Path, ts.PMID, ts.Inst, err)
		}
		it.decodeIter = xc.Iterator(it.decodeIter)
		for it.decodeIter.Next() == chunkenc.ValFloat {
			t, v := it.decodeIter.At()
			if t >= s.mint && t <= s.maxt {
				it.add(t, v)
			}
		}
		if err := it.decodeIter.Err(); err != nil {
			return fmt.Errorf("%s: series %s/%d: %w", tbl.Path, ts.PMID, ts.Inst, err)
		}
	}
	return nil
}

// passChunk wraps the bytes of a table chunk passed through in a chunk
// header, a spare one when there is one.
func (it *chunkIterator) passChunk(data []byte) *chunkenc.XORChunk {
	if it.nspare == len(it.spare) {
		it.spare = append(it.spare, new(chunkenc.XORChunk))
	}
	xc := it.spare[it.nspare]
	it.nspare++
	xc.Reset(data)
	return xc
}

// add applies materialize's rule to one sample and encodes what is kept.
func (it *chunkIterator) add(t int64, v float64) {
	if it.kept && t <= it.lastT {
		return
	}
	if isStale(v) {
		if !it.realBefore {
			return
		}
		it.realBefore = false
	} else {
		it.realBefore = true
	}
	it.encode(t, v)
}

// encode appends a sample to the chunk being encoded, cutting it at
// maxChunkSamples.
func (it *chunkIterator) encode(t int64, v float64) {
	if it.enc != nil && it.enc.NumSamples() >= maxChunkSamples {
		it.cut() // before lastT moves on: it is the chunk's MaxTime
	}
	it.lastT, it.kept = t, true
	if it.enc == nil {
		it.enc = chunkenc.NewXORChunk()
		app, err := it.enc.Appender()
		if err != nil {
			it.err = err
			return
		}
		it.app, it.encMin = app, t
	}
	it.app.Append(0, t, v)
}

// cut closes the chunk being encoded.
func (it *chunkIterator) cut() {
	if it.enc == nil {
		return
	}
	it.chunks = append(it.chunks, chunks.Meta{Chunk: it.enc, MinTime: it.encMin, MaxTime: it.lastT})
	it.enc, it.app = nil, nil
}

// encodeAll makes the chunks of materialized samples.
func (it *chunkIterator) encodeAll(samples []sample) {
	for _, x := range samples {
		if it.encode(x.t, x.v); it.err != nil {
			return
		}
	}
	it.cut()
}

// ExactChunks says that the chunks are what remote-read clients need as
// they are: XOR, 1 to 120 samples, MinTime and MaxTime those of the first
// and last sample, timestamps increasing through the series; and that
// their bytes stay valid until the iterator is handed back to Iterator.
// Table chunks passed through are checksummed and were made so.
func (it *chunkIterator) ExactChunks() bool { return true }

func (it *chunkIterator) Next() bool {
	if it.next >= len(it.chunks) || it.err != nil {
		return false
	}
	it.cur = it.chunks[it.next]
	it.next++
	return true
}

func (it *chunkIterator) At() chunks.Meta { return it.cur }
func (it *chunkIterator) Err() error {
	if it.err == nil {
		return it.s.err
	}
	return it.err
}

// seriesSet hands out gathered series in labels.Compare order.
type seriesSet struct {
	series []*series
	i      int
	err    error
	warns  annotations.Annotations
}

func (s *seriesSet) Next() bool {
	if s.i >= len(s.series) {
		return false
	}
	s.i++
	return true
}
func (s *seriesSet) At() storage.Series                { return s.series[s.i-1] }
func (s *seriesSet) Err() error                        { return s.err }
func (s *seriesSet) Warnings() annotations.Annotations { return s.warns }

type chunkSeriesSet struct{ *seriesSet }

func (s chunkSeriesSet) At() storage.ChunkSeries { return s.series[s.i-1].chunkSeries() }

var staleNaN = math.Float64frombits(0x7ff0000000000002) // value.StaleNaN
