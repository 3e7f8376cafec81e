package coltable

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// ErrSampleLimit is returned by Decode when it would keep more than
// DecodeOptions.MaxSamples samples.
var ErrSampleLimit = errors.New("sample limit reached")

// DecodeOptions selects what Decode reads and keeps.
type DecodeOptions struct {
	// Start and End bound the records read, in ns, inclusive; a zero End
	// means no end.
	Start, End int64
	// PMIDs limits the metrics decoded; nil decodes all.
	PMIDs []archive.PMID
	// From, when set, reads on from there (a prefix table's Tail) instead
	// of seeking by Start.
	From *archive.Position
	// Open are series (of a prefix table From continues) that have values
	// before From: a <mark> among the records read ends them too.
	Open []Series
	// Want, when set, says whether a series is wanted, the first time it
	// has a value; the values of the others are not kept.
	Want func(pmid archive.PMID, inst int32, iname string, named bool) bool
	// FirstOnly keeps only the first value of each series, and no
	// markers: enough to tell which series have a value.
	FirstOnly bool
	// MaxSamples bounds the samples kept (ErrSampleLimit); 0: no bound.
	MaxSamples int64
	// Ctx, when set, is checked between batches of records.
	Ctx context.Context

	// For tests: parts > 0 is how many parts to decode in (else one per
	// CPU); noBatch adds every record on its own (no batch).
	parts   int
	noBatch bool
}

// Decoded is what Decode read: its series as a Table held in memory,
// which a query uses exactly as a table on disk.
type Decoded struct {
	Table *Table
	// Any says a record was read; First and Last are the times (ns) of
	// the first and last. PastEnd says the reader stopped at a record after
	// End: the archive goes on past the window.
	Any         bool
	First, Last int64
	PastEnd     bool
	// Bad lists the records whose values could not all be read.
	Bad []string
	// Err is the error that stopped the reading (a corrupt record):
	// what was read before it is in Table.
	Err error
}

// Decode reads an archive's records in a window through the pipeline that
// builds column tables (tableBuilder), keeping the result in memory: a
// query on an archive without a table, or on the records a prefix table
// does not cover, gets exactly the series the table would hold. Errors
// that stop the decoding (ErrSampleLimit, a canceled Ctx) are returned;
// a corrupt record is not (Decoded.Err).
func Decode(a *archive.Archive, opt DecodeOptions) (*Decoded, error) {
	parts := [][2]int64{{opt.Start, opt.End}}
	flushers := 0
	if opt.From == nil {
		n, minEntries := runtime.GOMAXPROCS(0), minPartEntries
		if opt.parts > 0 {
			// Tests split the small archives they have, too.
			n, minEntries = opt.parts, 1
		}
		// A window of a few records (the end of the archive before a
		// query's) stays whole either way: every part would read them,
		// and decompress the block they are in.
		parts = timeSplit(a, opt.Start, opt.End, n, minEntries)
		if len(parts) > 1 && manyMetrics(opt, n) {
			// Many metrics: the records are read once, and their
			// values encoded on n workers beside the reading.
			parts, flushers = [][2]int64{{opt.Start, opt.End}}, n
		}
	}
	if opt.Want != nil && len(parts) > 1 {
		// Want is called from every part, rarely: once per new series.
		var mu sync.Mutex
		want := opt.Want
		opt.Want = func(p archive.PMID, inst int32, iname string, named bool) bool {
			mu.Lock()
			defer mu.Unlock()
			return want(p, inst, iname, named)
		}
	}
	var budget atomic.Int64
	bs := make([]*tableBuilder, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, w := range parts {
		b := newTableBuilder(a)
		b.opt = opt
		b.opt.Start, b.opt.End = w[0], w[1]
		b.flushers = flushers
		b.budget = &budget
		if opt.From != nil {
			from := *opt.From
			b.pos = &from
		}
		b.seedOpen(opt.Open)
		bs[i] = b
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.feed()
		}()
	}
	wg.Wait()
	b := bs[0]
	d := &Decoded{}
	for i, p := range bs {
		// Parts by time are joined in order, up to the first that met a
		// corrupt record: the records after it are not served (libpcp
		// leaves the archive there), so neither are the later parts.
		if i > 0 {
			b.appendPart(p)
		}
		d.Bad = append(d.Bad, p.bad...)
		if err := errs[i]; err != nil {
			if errors.Is(err, ErrSampleLimit) || opt.Ctx != nil && errors.Is(err, opt.Ctx.Err()) {
				return nil, err
			}
			if d.Err == nil {
				d.Err = err
			}
			break
		}
	}
	d.Any, d.First, d.Last, d.PastEnd = b.first <= b.last, b.first, b.last, b.pastEnd
	t, ferr := b.memTable()
	if ferr != nil && d.Err == nil {
		d.Err = ferr
	}
	d.Table = t
	return d, nil
}

// manyMetrics reports whether a Decode on n CPUs has metrics enough to
// share their encoding out (flushPool) instead of splitting the window by
// time: at least two a CPU (every metric, nil, counts as many), and values
// to encode in batches.
func manyMetrics(opt DecodeOptions, n int) bool {
	return n >= 2 && !opt.FirstOnly && !opt.noBatch && (opt.PMIDs == nil || len(opt.PMIDs) >= 2*n)
}

// minPartEntries is the fewest index entries (pmlogger writes one about
// every 100,000 bytes of a volume) a part of a window must span for the
// window to be decoded in parts.
const minPartEntries = 4

// timeSplit divides the window [start, end] (ns; end 0: no end) into up
// to n parts at index entries, so that each part reads about as many
// records: parts decode on separate CPUs and are joined in time order.
// A window the index does not cover well (fewer than minEntries entries a
// part) stays whole.
func timeSplit(a *archive.Archive, start, end int64, n, minEntries int) [][2]int64 {
	whole := [][2]int64{{start, end}}
	hi := end
	if hi == 0 {
		hi = math.MaxInt64
	}
	idx := a.Index()
	var times []int64
	for _, e := range idx {
		if e.Time > start && e.Time < hi && (len(times) == 0 || e.Time > times[len(times)-1]) {
			times = append(times, e.Time)
		}
	}
	if n < 2 || len(times) < n*minEntries {
		return whole
	}
	parts := make([][2]int64, 0, n)
	from := start
	for k := 1; k < n; k++ {
		at := times[k*len(times)/n]
		parts = append(parts, [2]int64{from, at})
		from = at + 1
	}
	return append(parts, [2]int64{from, end})
}

// appendPart joins the series of p, which decoded the records after b's,
// to b's: in time order, as one builder reading all of them would have
// made them. A <mark> in p before a series' first value there ends that
// series of b (one marker is enough: a marker after a marker is dropped
// when read), and a series p does not have stays open only if p had no
// mark. Samples of p not after b's last of a series (records out of time
// order across the join, or two in one ms) are merged as late ones.
func (b *tableBuilder) appendPart(p *tableBuilder) {
	for _, ps := range p.order {
		s, ok := b.series[ps.key]
		if !ok || s == nil {
			b.series[ps.key] = ps
			if ps != nil {
				b.order = append(b.order, ps)
			}
			continue
		}
		if ps == nil {
			continue
		}
		if s.open && p.firstMark != noMark && (ps.n == 0 || p.firstMark < ps.minT) {
			s.add(p.firstMark, staleNaN)
			s.open = false
		}
		if b.opt.FirstOnly && s.n > 0 || ps.n == 0 && len(ps.late) == 0 {
			continue
		}
		ps.cut()
		if len(ps.late) == 0 && len(s.late) == 0 && (!s.started || ps.minT > s.lastT) {
			s.cut()
			if !s.started {
				s.minT, s.started = ps.minT, true
			}
			s.takePieces(ps)
			s.n += ps.n
			s.maxT, s.lastT = ps.maxT, ps.lastT
		} else {
			// The chunks were made by this builder: they decode.
			for _, p := range ps.pieces() {
				s.late, _ = appendSamples(s.late, p)
			}
			s.late = append(s.late, ps.late...)
		}
		s.open = ps.open
	}
	if p.firstMark != noMark {
		for _, s := range b.order {
			if _, ok := p.series[s.key]; !ok && s.open {
				s.add(p.firstMark, staleNaN)
				s.open = false
			}
		}
	}
	b.first, b.last = min(b.first, p.first), max(b.last, p.last)
	b.pastEnd = p.pastEnd
	if p.pos != nil {
		b.pos = p.pos
	}
}

// appendSamples appends the samples of a series' chunks.
func appendSamples(out []lateSample, chunks []byte) ([]lateSample, error) {
	for rest := chunks; len(rest) >= chunkHdrLen; {
		n := int(binary.BigEndian.Uint32(rest[16:]))
		xc, err := chunkenc.FromData(chunkenc.EncXOR, rest[chunkHdrLen:chunkHdrLen+n])
		if err != nil {
			return out, err
		}
		it := xc.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			out = append(out, lateSample{t, v})
		}
		rest = rest[chunkHdrLen+n:]
	}
	return out, nil
}

// seedOpen makes the series of Open (of the prefix table the reading
// continues) open, so that a <mark> ends them.
func (b *tableBuilder) seedOpen(open []Series) {
	for _, ts := range open {
		key := seriesKey{pmid: ts.PMID, inst: ts.Inst, named: ts.Named, iname: ts.IName}
		if _, ok := b.series[key]; ok {
			continue
		}
		s := &seriesBuild{key: key, open: true}
		b.series[key] = s
		b.order = append(b.order, s)
		b.open = append(b.open, s)
	}
}

// memTable is the builder's series as a table in memory, sorted as a
// table file's (series without samples are left out).
func (b *tableBuilder) memTable() (*Table, error) {
	t := &Table{Path: b.a.Files.Base + " (read directly)", inMemory: true}
	t.First, t.Last = b.span()
	order := b.order
	sort.Slice(order, func(i, j int) bool { return keyLess(order[i].key, order[j].key) })
	t.Series = make([]Series, 0, len(order))
	var err error
	for _, s := range order {
		if ferr := s.finish(); ferr != nil && err == nil {
			err = ferr
		}
		if s.n == 0 {
			continue
		}
		t.Series = append(t.Series, Series{PMID: s.key.pmid, Inst: s.key.inst, Named: s.key.named, IName: s.key.iname,
			MinT: s.minT, MaxT: s.maxT, Samples: s.n, len: s.chunkLen(), mem: s.pieces()})
	}
	return t, err
}

// InMemory tells a table Decode made from one kept on disk.
func (t *Table) InMemory() bool { return t.inMemory }
