package translate

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/coltable"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/pmns"
)

// target is where the values of one (metric, instance) in one archive go:
// one series per selected name of the PMID, nil where matchers rejected it.
type target struct {
	iname   string
	named   bool
	series  []*series
	useless bool // no series wants these values: skip decoding them
}

// fromArchives gathers the window's series from each archive of a host in
// start order: closed archives through their column tables when the Set
// keeps them, the others by reading their records.
//
// An archive followed by another of its host, after a gap, ends every
// series that had values since its last <mark> with a staleness marker 1 ms
// after its last record: libpcp's synthetic boundary <mark>
// (docs/pcp-archive-format.md §12.2). Where that marker falls
// depends only on the archives, never on the window: it is placed whenever
// the window holds the archive's last record and the marker's time,
// whether or not the window reaches the next archive. The newest archive of
// a host gets none: pmlogger may still be writing it.
func (g *gathering) fromArchives(ctx context.Context, host string, opened []multiarchive.Opened, ns *pmns.Namespace, mets []metric, win nsWindow) error {
	g.host++
	sc := &scan{g: g, ctx: ctx, host: host, opened: opened, ns: ns, byPMID: map[archive.PMID][]*metric{}, win: win}
	for i := range mets {
		p := mets[i].desc.PMID
		if sc.byPMID[p] == nil {
			sc.pmids = append(sc.pmids, p)
		}
		sc.byPMID[p] = append(sc.byPMID[p], &mets[i])
	}
	t1, t2 := win.start, win.end
	bounds := make([]int64, len(opened))
	g.touched = g.touched[:0]
	// From the first archive read without a table until the querier is
	// closed (the answer sent), the background builders give way
	// (Set.DirectRead): released between archives, or once the records
	// are read, they would start the builds this query queued beside it.
	var direct func()
	defer func() {
		if direct != nil {
			g.q.hold(direct)
		}
	}()
	tables := make([]*coltable.Table, len(opened))
	for ai, o := range opened {
		tables[ai] = g.q.s.set.Table(o)
	}
	// The archives without a table are decoded ahead, two at a time
	// (decodeAhead); a prefix table's tail is decoded in turn, as it
	// needs the table's series.
	ahead := sc.decodeAhead(tables, &direct)
	defer ahead.wait()
	for ai, o := range opened {
		// last is the time of the last record read; ended tells that it
		// is the archive's last record (the window reaches past it).
		var last int64
		var any, ended bool
		if tbl := tables[ai]; tbl != nil {
			sc.mu.Lock()
			segs := sc.fromTable(ai, tbl)
			sc.mu.Unlock()
			last = tbl.Last
			any, ended = last >= t1 && last <= t2, last <= t2
			if !tbl.Complete(o.Archive) {
				// The records the prefix table does not cover yet. A
				// <mark> among them ends the table's series too.
				open := make([]coltable.Series, len(segs))
				for i, sg := range segs {
					open[i] = sg.tbl.Series[sg.idx]
				}
				d, err := sc.take(ai, sc.decodeWith(sc.ctx, ai, tbl.Tail, open))
				if err != nil {
					return err
				}
				ended = !d.PastEnd
				if d.Any {
					last, any = d.Last, true
				}
			}
		} else {
			d, err := sc.take(ai, ahead.result(ai))
			if err != nil {
				return err
			}
			last, any, ended = d.Last, d.Any, !d.PastEnd
		}
		bounds[ai] = noStale
		if next := o.Entry.Next(); any && ended && next != math.MaxInt64 && next > last {
			if ms := floorMs(last) + 1; ms <= g.maxt {
				bounds[ai] = ms
			}
		}
	}
	// The marker goes on the last segment of each archive: a series may
	// have two (a prefix table's and the records after it).
	for _, s := range g.touched {
		for i := range s.segs {
			sg := &s.segs[i]
			if sg.host != g.host {
				continue
			}
			if i+1 < len(s.segs) && s.segs[i+1].host == g.host && s.segs[i+1].ai == sg.ai {
				continue
			}
			sg.stale = bounds[sg.ai]
		}
	}
	if limit := g.q.s.opts.MaxSamples; limit > 0 && g.samples > limit && !g.presence {
		return &LimitError{Limit: limit}
	}
	return nil
}

// decoded is the outcome of coltable.Decode.
type decoded struct {
	d   *coltable.Decoded
	err error
}

// ahead is the decoding of a host's archives without a table, run ahead of
// the scan that takes their series in order: while the newest archive of a
// window decodes on every CPU, the one before it (whose last records the
// window may hold, at the cost of decompressing its last block) decodes
// beside it, not after it. Two workers, taking the archives in order,
// bound the memory of the decoders (an xz block buffer each).
type ahead struct {
	res  []chan decoded
	wg   sync.WaitGroup
	stop context.CancelFunc
}

// decodeAhead starts decoding the archives with no table.
func (sc *scan) decodeAhead(tables []*coltable.Table, direct *func()) *ahead {
	ah := &ahead{res: make([]chan decoded, len(tables))}
	ctx, stop := context.WithCancel(sc.ctx)
	ah.stop = stop
	todo := make(chan int, len(tables))
	for ai, tbl := range tables {
		if tbl == nil {
			ah.res[ai] = make(chan decoded, 1)
			todo <- ai
		}
	}
	close(todo)
	if len(todo) == 0 {
		return ah
	}
	// The background builders slow down while this reads
	// (Set.DirectRead).
	if *direct == nil {
		*direct = sc.g.q.s.set.DirectRead()
	}
	for w := min(2, len(todo)); w > 0; w-- {
		ah.wg.Add(1)
		go func() {
			defer ah.wg.Done()
			for ai := range todo {
				ah.res[ai] <- sc.decodeWith(ctx, ai, nil, nil)
			}
		}()
	}
	return ah
}

// result waits for archive ai's decoding.
func (ah *ahead) result(ai int) decoded { return <-ah.res[ai] }

// wait stops the decodings not taken (the scan failed) and waits for
// them all.
func (ah *ahead) wait() {
	ah.stop()
	ah.wg.Wait()
}

// decodeWith reads one archive's records in the window, or from a prefix
// table's tail on, through the pipeline that builds column tables
// (coltable.Decode). Only the series some selected metric's matchers
// accept are kept. It may run beside the decoding of another archive of
// the scan: what it does to the gathering (a new series, when a series
// has its first value) is done under sc.mu.
func (sc *scan) decodeWith(ctx context.Context, ai int, from *archive.Position, open []coltable.Series) decoded {
	g, o := sc.g, sc.opened[ai]
	opt := coltable.DecodeOptions{Start: sc.win.start, End: sc.win.end, PMIDs: sc.pmids, From: from, Open: open, FirstOnly: g.presence, Ctx: ctx,
		Want: func(pmid archive.PMID, inst int32, iname string, named bool) bool {
			if sc.ns.Excluded(ai, pmid) {
				return false
			}
			mlist := sc.byPMID[pmid]
			if len(mlist) == 0 {
				return false
			}
			sc.mu.Lock()
			defer sc.mu.Unlock()
			return !g.newTarget(sc.host, o.Archive.Meta, mlist, inst, iname, named).useless
		}}
	if limit := g.q.s.opts.MaxSamples; limit > 0 && !g.presence {
		sc.mu.Lock()
		opt.MaxSamples = max(limit-g.samples, 0) + 1
		sc.mu.Unlock()
	}
	d, err := coltable.Decode(o.Archive, opt)
	return decoded{d, err}
}

// take takes the series of archive ai's decoding, as from a table on
// disk, and reports what the decoding met.
func (sc *scan) take(ai int, r decoded) (*coltable.Decoded, error) {
	g, o := sc.g, sc.opened[ai]
	d, err := r.d, r.err
	if errors.Is(err, coltable.ErrSampleLimit) {
		return nil, &LimitError{Limit: g.q.s.opts.MaxSamples}
	}
	if err != nil {
		return nil, err
	}
	if d.Any {
		o.Entry.NoteTime(d.Last)
	}
	for _, b := range d.Bad {
		g.warns.Add(errors.New(b))
	}
	if d.Err != nil {
		// A corrupt record: what was read is served, the rest reported.
		g.warns.Add(d.Err)
		o.ReportProblem(d.Err)
	}
	sc.mu.Lock()
	sc.fromTable(ai, d.Table)
	sc.mu.Unlock()
	return d, nil
}

// nsWindow is a Select's window in ns, inclusive: a sample at ns t is at
// ms floor(t/1e6), so the ms window [mint, maxt] is [mint*1e6,
// maxt*1e6+999999] here.
type nsWindow struct{ start, end int64 }

// scan is the reading of one host's archives for a Select: the archives
// the window opens, their namespace, the selected metrics by PMID, and
// the window.
type scan struct {
	g      *gathering
	ctx    context.Context
	host   string
	opened []multiarchive.Opened
	ns     *pmns.Namespace
	byPMID map[archive.PMID][]*metric
	pmids  []archive.PMID
	win    nsWindow
	// mu guards the gathering while archives decode ahead (decodeAhead).
	mu sync.Mutex
}

// segmentOf returns a new segment of series s for archive ai.
func (g *gathering) segmentOf(s *series, ai int) *segment {
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].host != g.host {
		g.touched = append(g.touched, s)
	}
	s.segs = append(s.segs, segment{host: g.host, ai: ai, stale: noStale})
	return &s.segs[len(s.segs)-1]
}

// fromTable takes the selected series of an archive from its table (on
// disk, or made in memory by decode): labels from the archive's metadata,
// samples left in the table. It returns the segments it made. Two table
// series that make one Prometheus series (an instance named "" and one
// without a name) each get a segment.
func (sc *scan) fromTable(ai int, tbl *coltable.Table) (segs []*segment) {
	g, o := sc.g, sc.opened[ai]
	for pmid, mlist := range sc.byPMID {
		if sc.ns.Excluded(ai, pmid) {
			continue
		}
		lo, hi := tbl.Find(pmid)
		for i := lo; i < hi; i++ {
			ts := &tbl.Series[i]
			if ts.MaxT < g.mint || ts.MinT > g.maxt {
				continue
			}
			tg := g.newTarget(sc.host, o.Archive.Meta, mlist, ts.Inst, ts.IName, ts.Named)
			for _, s := range tg.series {
				if s == nil {
					continue
				}
				sg := g.segmentOf(s, ai)
				sg.tbl, sg.idx = tbl, i
				segs = append(segs, sg)
				if !g.presence {
					g.samples += estimate(ts, g.mint, g.maxt)
				}
			}
		}
	}
	return segs
}

// estimate is the samples of a table series inside the window, assuming
// they are spread evenly: exact when the window covers the series.
func estimate(ts *coltable.Series, mint, maxt int64) int64 {
	if ts.MinT >= mint && ts.MaxT <= maxt || ts.MaxT == ts.MinT {
		return int64(ts.Samples)
	}
	span := float64(ts.MaxT - ts.MinT)
	in := float64(min(ts.MaxT, maxt) - max(ts.MinT, mint))
	return int64(math.Ceil(float64(ts.Samples) * in / span))
}

func (g *gathering) newTarget(host string, m *archive.Meta, mlist []*metric, inst int32, iname string, named bool) *target {
	tg := &target{iname: iname, named: named, useless: true}
	for _, mt := range mlist {
		pl := g.lc.get(m, mt.desc)
		lset, ok := g.labelsOf(host, mt, pl, inst, iname, named)
		if !ok {
			tg.series = append(tg.series, nil)
			continue
		}
		tg.series = append(tg.series, g.seriesFor(lset))
		tg.useless = false
	}
	return tg
}

// LabelNames lists the label names of the series the matchers select in
// the querier's window: of those with a value there (see keepPresent).
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	ss, err := q.gather(ctx, &storage.SelectHints{Start: q.mint, End: q.maxt, Func: "series"}, ms)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, s := range ss.series {
		s.lset.Range(func(l labels.Label) { seen[l.Name] = true })
	}
	return limited(seen, hints), ss.warns, nil
}

// LabelValues lists the values of a label over the series the matchers
// select in the querier's window that have a value there (see keepPresent).
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	ss, err := q.gather(ctx, &storage.SelectHints{Start: q.mint, End: q.maxt, Func: "series"}, ms)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, s := range ss.series {
		if v := s.lset.Get(name); v != "" {
			seen[v] = true
		}
	}
	return limited(seen, hints), ss.warns, nil
}

func limited(set map[string]bool, hints *storage.LabelHints) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}

// keepPresent keeps the series that have a value in the window, for the
// series and label lookups: exactly the series a Select of the same window
// returns with a value, so that Grafana lists no metric or instance that
// then answers "No data" (PCP archives hold descriptors and instances of
// metrics that never had a value). The gathering read the window as a
// Select does, keeping one value per archive of a series; a column table
// says without decoding whether it has one, but for chunks the window
// cuts. Each series kept gets one NaN sample at its first value, so that
// clients which drop empty series keep it. A table that cannot be read
// keeps its series, with a warning: listing too much is the lesser harm.
func (g *gathering) keepPresent() {
	kept := g.all[:0]
	var buf []byte
	for _, s := range g.all {
		first, ok := int64(0), false
		for i := range s.segs {
			sg := &s.segs[i]
			if sg.tbl != nil {
				var t int64
				var has bool
				var err error
				t, has, buf, err = sg.tbl.FirstValue(sg.idx, s.mint, s.maxt, buf)
				if err != nil {
					g.warns.Add(err)
					t, has = max(s.mint, sg.tbl.Series[sg.idx].MinT), true
				}
				if has && (!ok || t < first) {
					first, ok = t, true
				}
			}
		}
		if ok {
			s.segs, s.samples = nil, []sample{{first, math.NaN()}}
			kept = append(kept, s)
		}
	}
	clear(g.all[len(kept):])
	g.all = kept
}
