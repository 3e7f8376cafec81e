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

// fromData reads the window's records and gathers samples. A <mark>
// (pmlogger restart, archive boundary) ends every series that had samples
// with a staleness marker, so PromQL draws nothing across the gap.
func (g *gathering) fromData(ctx context.Context, host string, opened []multiarchive.Opened, ns *pmns.Namespace, mets []metric, t1, t2 int64) error {
	byPMID := map[archive.PMID][]*metric{}
	var pmids []archive.PMID
	for i := range mets {
		p := mets[i].desc.PMID
		if byPMID[p] == nil {
			pmids = append(pmids, p)
		}
		byPMID[p] = append(byPMID[p], &mets[i])
	}
	r := multiarchive.NewReader(ctx, opened, multiarchive.ReadOptions{Start: t1, End: t2, PMIDs: pmids})
	defer r.Close()

	cur := -1
	var targets map[instKey]*target
	var resolvers map[archive.InDom]*archive.Resolver
	var open []*series // series with samples since the last mark
	isOpen := map[*series]bool{}
	limit := g.q.s.opts.MaxSamples
	for r.Next() {
		rec := r.Record()
		if rec.Mark {
			ms := floorMs(rec.Time)
			for _, s := range open {
				s.add(ms, staleNaN)
				delete(isOpen, s)
			}
			open = open[:0]
			continue
		}
		o, ai := r.Current()
		if ai != cur {
			cur = ai
			targets = map[instKey]*target{}
			resolvers = map[archive.InDom]*archive.Resolver{}
		}
		ms := floorMs(rec.Time)
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
				hist = o.Archive.Meta.InDoms[d.InDom]
				if hist != nil {
					res = resolvers[d.InDom]
					if res == nil {
						res = hist.Resolver()
						resolvers[d.InDom] = res
					}
					res.At(rec.Time)
				}
			}
			for j := 0; j < int(vs.NumVal); j++ {
				v := rec.Value(vs, j)
				key := instKey{vs.PMID, v.Inst}
				tg := targets[key]
				iname, named := "", false
				if res != nil {
					if iname, named = res.Name(v.Inst); !named {
						iname, named = hist.NameAnyTime(v.Inst)
					}
				}
				if tg == nil || tg.iname != iname || tg.named != named {
					tg = g.newTarget(host, o.Archive.Meta, mlist, v.Inst, iname, named)
					targets[key] = tg
				}
				if tg.useless {
					continue
				}
				f, ok := v.Float64(d.Type)
				if !ok {
					g.warns.Add(fmt.Errorf("%s: record at offset %d of volume %d: bad value block for %s", o.Entry.Files.Base, rec.Offset, rec.Vol, d.PMID))
					continue
				}
				for _, s := range tg.series {
					if s == nil {
						continue
					}
					s.add(ms, f)
					if !isOpen[s] {
						isOpen[s] = true
						open = append(open, s)
					}
					g.samples++
				}
				if limit > 0 && g.samples > limit {
					return &LimitError{Limit: limit}
				}
			}
		}
	}
	for _, w := range r.Warnings() {
		g.warns.Add(w)
	}
	return r.Err()
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

// fromMetadata lists the window's series from metadata alone, for
// Func == "series" hints (/api/v1/series) and the label APIs: the instances
// of each metric's instance domain in force during the window. Each series
// gets one NaN sample at the start of the window so that clients which drop
// empty series keep it.
func (g *gathering) fromMetadata(host string, opened []multiarchive.Opened, ns *pmns.Namespace, mets []metric, t1, t2 int64) {
	for ai, o := range opened {
		m := o.Archive.Meta
		from := max(t1, o.Entry.Start)
		for i := range mets {
			mt := &mets[i]
			if ns.Excluded(ai, mt.desc.PMID) {
				continue
			}
			pl := g.lc.get(m, mt.desc)
			add := func(inst int32, iname string, named bool) {
				lset, ok := g.labelsOf(host, mt, pl, inst, iname, named)
				if !ok {
					return
				}
				if s := g.seriesFor(lset); len(s.samples) == 0 {
					s.add(floorMs(from), math.NaN())
				}
			}
			if mt.desc.InDom == archive.InDomNull {
				add(archive.InstNull, "", false)
				continue
			}
			for _, in := range instancesDuring(m.InDoms[mt.desc.InDom], from, t2) {
				add(in.ID, in.Name, true)
			}
		}
	}
}

// instancesDuring returns the instances an instance domain lists at any
// time in [t1, t2].
func instancesDuring(h *archive.InDomHistory, t1, t2 int64) []archive.Instance {
	if h == nil {
		return nil
	}
	seen := map[archive.Instance]bool{}
	var out []archive.Instance
	res := h.Resolver()
	collect := func() {
		for _, in := range res.Instances() {
			if !seen[in] {
				seen[in] = true
				out = append(out, in)
			}
		}
	}
	res.At(t1)
	collect()
	for _, t := range h.Times() {
		if t > t1 && t <= t2 {
			res.At(t)
			collect()
		}
	}
	return out
}

// LabelNames lists the label names of the series the matchers select in
// the querier's window, from metadata.
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
// select in the querier's window, from metadata.
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
