package multiarchive

import (
	"context"
	"errors"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

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
	Open []TableSeries
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
	parts := split(a, opt.PMIDs, runtime.GOMAXPROCS(0))
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
	for i, pmids := range parts {
		b := newTableBuilder(a)
		b.opt = opt
		b.opt.PMIDs = pmids
		b.budget = &budget
		if opt.From != nil {
			from := *opt.From
			b.pos = &from
		}
		b.seedOpen(opt.Open, pmids)
		bs[i] = b
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.feed()
		}()
	}
	wg.Wait()
	b := bs[0]
	d := &Decoded{Any: b.first <= b.last, First: b.first, Last: b.last, PastEnd: b.pastEnd}
	for i, p := range bs {
		d.Bad = append(d.Bad, p.bad...)
		if i > 0 {
			b.order = append(b.order, p.order...)
		}
		if err := errs[i]; err != nil {
			if errors.Is(err, ErrSampleLimit) || opt.Ctx != nil && errors.Is(err, opt.Ctx.Err()) {
				return nil, err
			}
			if d.Err == nil {
				d.Err = err
			}
		}
	}
	t, ferr := b.memTable()
	if ferr != nil && d.Err == nil {
		d.Err = ferr
	}
	d.Table = t
	return d, nil
}

// minSplit is the fewest PMIDs worth decoding in parts: each part reads
// the whole window of records (reading is cheap: the values of its PMIDs
// are what it decodes and encodes).
const minSplit = 16

// split divides the PMIDs to decode (all of the archive's numeric ones
// for nil) into up to n parts, taking turns so that each gets some of
// every kind; it returns one part of nil (all) when there are too few.
func split(a *archive.Archive, pmids []archive.PMID, n int) [][]archive.PMID {
	if pmids == nil && a.Meta != nil {
		for _, d := range a.Meta.Descs {
			if d.Type.Numeric() {
				pmids = append(pmids, d.PMID)
			}
		}
		if len(pmids) < minSplit*2 || n < 2 {
			return [][]archive.PMID{nil}
		}
	}
	if n < 2 || len(pmids) < minSplit*2 {
		return [][]archive.PMID{pmids}
	}
	n = min(n, len(pmids)/minSplit)
	parts := make([][]archive.PMID, n)
	for i, p := range pmids {
		parts[i%n] = append(parts[i%n], p)
	}
	return parts
}

// seedOpen makes the series of Open that belong to the part's PMIDs (nil:
// all), open, so that a <mark> ends them.
func (b *tableBuilder) seedOpen(open []TableSeries, pmids []archive.PMID) {
	var in map[archive.PMID]bool
	if pmids != nil {
		in = make(map[archive.PMID]bool, len(pmids))
		for _, p := range pmids {
			in[p] = true
		}
	}
	for _, ts := range open {
		if in != nil && !in[ts.PMID] {
			continue
		}
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
	t.Series = make([]TableSeries, 0, len(order))
	var err error
	for _, s := range order {
		if ferr := s.finish(); ferr != nil && err == nil {
			err = ferr
		}
		if s.n == 0 {
			continue
		}
		t.Series = append(t.Series, TableSeries{PMID: s.key.pmid, Inst: s.key.inst, Named: s.key.named, IName: s.key.iname,
			MinT: s.minT, MaxT: s.maxT, Samples: s.n, len: len(s.buf), mem: s.buf})
	}
	return t, err
}

// InMemory tells a table Decode made from one kept on disk.
func (t *Table) InMemory() bool { return t.inMemory }
