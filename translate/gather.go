package translate

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
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

type instKey struct {
	pmid archive.PMID
	inst int32
}

// fromArchives gathers the window's series from each archive of a host in
// start order: closed archives through their column tables when the Set
// keeps them, the others by reading their records.
//
// An archive followed by another of its host, after a gap, ends every
// series that had values since its last <mark> with a staleness marker 1 ms
// after its last record: libpcp's synthetic boundary <mark> (docs/
// pcp-archive-format.md, reading across archives). Where that marker falls
// depends only on the archives, never on the window: it is placed whenever
// the window holds the archive's last record and the marker's time,
// whether or not the window reaches the next archive. The newest archive of
// a host gets none: pmlogger may still be writing it.
func (g *gathering) fromArchives(ctx context.Context, host string, opened []multiarchive.Opened, ns *pmns.Namespace, mets []metric, t1, t2 int64) error {
	g.host++
	byPMID := map[archive.PMID][]*metric{}
	var pmids []archive.PMID
	for i := range mets {
		p := mets[i].desc.PMID
		if byPMID[p] == nil {
			pmids = append(pmids, p)
		}
		byPMID[p] = append(byPMID[p], &mets[i])
	}
	bounds := make([]int64, len(opened))
	g.touched = g.touched[:0]
	for ai, o := range opened {
		// last is the time of the last record read; ended tells that it
		// is the archive's last record (the window reaches past it).
		var last int64
		var any, ended bool
		var err error
		if tbl := g.q.s.set.Table(o); tbl != nil {
			var segs []*segment
			last, segs = g.fromTable(host, ai, o, tbl, ns, byPMID)
			any, ended = last >= t1 && last <= t2, last <= t2
			if !tbl.Complete(o.Archive) {
				// The records the prefix table does not cover yet. A
				// <mark> among them ends the table's series too.
				tlast, tany, tended, err := g.fromRecords(ctx, host, ai, o, ns, byPMID, pmids, t1, t2, tbl.Tail, segs)
				if err != nil {
					return err
				}
				ended = tended
				if tany {
					last, any = tlast, true
				}
			}
		} else {
			// No table yet: the background builder slows down while
			// this reads (Set.DirectRead).
			done := g.q.s.set.DirectRead()
			last, any, ended, err = g.fromRecords(ctx, host, ai, o, ns, byPMID, pmids, t1, t2, nil, nil)
			done()
			if err != nil {
				return err
			}
		}
		bounds[ai] = noStale
		if next := o.Entry.Next(); any && ended && next != math.MaxInt64 && next > last {
			if ms := floorMs(last) + 1; ms <= g.maxt {
				bounds[ai] = ms
			}
		}
	}
	for _, s := range g.touched {
		for i := range s.segs {
			if sg := &s.segs[i]; sg.host == g.host {
				sg.stale = bounds[sg.ai]
			}
		}
	}
	if limit := g.q.s.opts.MaxSamples; limit > 0 && g.samples > limit && !g.presence {
		return &LimitError{Limit: limit}
	}
	return nil
}

// segmentOf returns the segment of series s for archive ai, making it.
func (g *gathering) segmentOf(s *series, ai int) *segment {
	if n := len(s.segs); n > 0 && s.segs[n-1].host == g.host && s.segs[n-1].ai == ai {
		return &s.segs[n-1]
	}
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].host != g.host {
		g.touched = append(g.touched, s)
	}
	s.segs = append(s.segs, segment{host: g.host, ai: ai, stale: noStale})
	return &s.segs[len(s.segs)-1]
}

// fromTable takes the selected series of an archive from its table:
// labels from the archive's metadata, samples left on disk. It returns the
// segments it made.
func (g *gathering) fromTable(host string, ai int, o multiarchive.Opened, tbl *multiarchive.Table, ns *pmns.Namespace, byPMID map[archive.PMID][]*metric) (last int64, segs []*segment) {
	for pmid, mlist := range byPMID {
		if ns.Excluded(ai, pmid) {
			continue
		}
		lo, hi := tbl.Find(pmid)
		for i := lo; i < hi; i++ {
			ts := &tbl.Series[i]
			if ts.MaxT < g.mint || ts.MinT > g.maxt {
				continue
			}
			tg := g.newTarget(host, o.Archive.Meta, mlist, ts.Inst, ts.IName, ts.Named)
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
	return tbl.Last, segs
}

// estimate is the samples of a table series inside the window, assuming
// they are spread evenly: exact when the window covers the series.
func estimate(ts *multiarchive.TableSeries, mint, maxt int64) int64 {
	if ts.MinT >= mint && ts.MaxT <= maxt || ts.MaxT == ts.MinT {
		return int64(ts.Samples)
	}
	span := float64(ts.MaxT - ts.MinT)
	in := float64(min(ts.MaxT, maxt) - max(ts.MinT, mint))
	return int64(math.Ceil(float64(ts.Samples) * in / span))
}

// fromRecords reads one archive's records in the window, from position
// from when not nil, and gathers their samples. A <mark> ends every series
// that had samples since the last one with a staleness marker, so PromQL
// draws nothing across the gap; the segments in open (from a prefix table)
// count as having had samples: a marker after none is dropped later (see
// series.materialize). ended reports that the reader reached the end of the
// archive, not a record after the window.
func (g *gathering) fromRecords(ctx context.Context, host string, ai int, o multiarchive.Opened, ns *pmns.Namespace, byPMID map[archive.PMID][]*metric, pmids []archive.PMID, t1, t2 int64, from *archive.Position, open []*segment) (last int64, any, ended bool, err error) {
	r := o.Archive.NewReader(archive.ReaderOptions{Start: t1, End: t2, PMIDs: pmids, From: from})
	defer r.Close()
	targets := map[instKey]*target{}
	resolvers := map[archive.InDom]*archive.Resolver{}
	isOpen := make(map[*segment]bool, len(open))
	for _, sg := range open {
		isOpen[sg] = true
	}
	limit := g.q.s.opts.MaxSamples
	if g.presence {
		limit = 0 // one sample a series and archive at most
	}
	n := 0
	var instBuf []int32
	var valBuf []float64
	for r.Next() {
		if n++; n&63 == 0 && ctx.Err() != nil {
			return 0, false, false, ctx.Err()
		}
		rec := r.Record()
		last, any = rec.Time, true
		o.Entry.NoteTime(rec.Time)
		ms := floorMs(rec.Time)
		if rec.Mark {
			if g.presence {
				continue // markers decide nothing about presence
			}
			for _, sg := range open {
				sg.samples = append(sg.samples, sample{ms, staleNaN})
				delete(isOpen, sg)
			}
			open = open[:0]
			continue
		}
		sets := rec.Sets()
		for k := range sets {
			vs := &sets[k]
			if vs.NumVal <= 0 || ns.Excluded(ai, vs.PMID) {
				continue
			}
			mlist := byPMID[vs.PMID]
			d := mlist[0].desc
			var res *archive.Resolver
			var hist *archive.InDomHistory
			if d.InDom != archive.InDomNull {
				if hist = o.Archive.Meta.InDoms[d.InDom]; hist != nil {
					if res = resolvers[d.InDom]; res == nil {
						res = hist.Resolver()
						resolvers[d.InDom] = res
					}
					res.At(rec.Time)
				}
			}
			// The numbers as the namespace's descriptor says (the same
			// type as this archive's, or the set is excluded).
			var insts []int32
			var vals []float64
			var bad int
			if vs.Desc != nil && vs.Desc.Type == d.Type {
				insts, vals, bad = rec.Floats(vs)
			} else {
				insts, vals, bad = rec.AppendFloats(instBuf[:0], valBuf[:0], vs, d.Type)
				instBuf, valBuf = insts, vals
			}
			if bad > 0 {
				g.warns.Add(fmt.Errorf("%s: record at offset %d of volume %d: %d bad values for %s", o.Entry.Files.Base, rec.Offset, rec.Vol, bad, d.PMID))
			}
			for j, f := range vals {
				inst := insts[j]
				key := instKey{vs.PMID, inst}
				tg := targets[key]
				iname, named := "", false
				if res != nil {
					if iname, named = res.Name(inst); !named {
						iname, named = hist.NameAnyTime(inst)
					}
				}
				if tg == nil || tg.iname != iname || tg.named != named {
					tg = g.newTarget(host, o.Archive.Meta, mlist, inst, iname, named)
					targets[key] = tg
				}
				if tg.useless {
					continue
				}
				for _, s := range tg.series {
					if s == nil {
						continue
					}
					sg := g.segmentOf(s, ai)
					if k := len(sg.samples); k > 0 && (sg.samples[k-1].t == ms || g.presence) {
						continue // one sample per ms: the first; for presence, one
					}
					sg.samples = append(sg.samples, sample{ms, f})
					if !isOpen[sg] {
						isOpen[sg] = true
						open = append(open, sg)
					}
					g.samples++
				}
				if limit > 0 && g.samples > limit {
					return 0, false, false, &LimitError{Limit: limit}
				}
			}
		}
	}
	if err := r.Err(); err != nil {
		// A corrupt record: what was read is served, the rest reported.
		g.warns.Add(err)
		o.Entry.ReportProblem(err)
	}
	return last, any, !r.PastEnd(), nil
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
			for _, x := range sg.samples {
				if !isStale(x.v) && (!ok || x.t < first) {
					first, ok = x.t, true
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
