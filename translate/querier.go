package translate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/pmns"
)

// Options configures the Storage.
type Options struct {
	// MaxSamples bounds the samples one Select gathers; 0 means no bound.
	// Every PCP record holds every logged metric, so a Select reads all of
	// its window and gathers its series in memory before handing them out.
	MaxSamples int64
	Logger     *slog.Logger
	// AgentLabels merges PCP's domain and cluster labels into series
	// labels (agent="linux"), as pmproxy's /metrics does from PCP 6.2.2
	// on; without it a series has the labels pmproxy 6.0 gives it.
	AgentLabels bool
}

// LimitError is returned (through SeriesSet.Err) when a Select would gather
// more samples than Options.MaxSamples.
type LimitError struct{ Limit int64 }

func (e *LimitError) Error() string {
	return fmt.Sprintf("query selects more than %d samples; narrow the time range or add label matchers", e.Limit)
}

// Storage is the Prometheus view of a set of archives: a
// storage.SampleAndChunkQueryable.
type Storage struct {
	set      *multiarchive.Set
	opts     Options
	reported sync.Map // namespace problems already logged
	// namespaces of recent queries
	namespaces nsCache
}

// report logs namespace problems (a metric whose descriptor changed between
// archives, a name bound to two PMIDs) the first time they are met, and
// makes those about the selected metrics warnings of the query.
func (s *Storage) report(g *gathering, ns *pmns.Namespace, mets []metric) {
	for _, c := range ns.Conflicts {
		msg := c.String()
		for _, m := range mets {
			if m.desc.PMID == c.PMID {
				g.warns.Add(errors.New(msg))
				break
			}
		}
		if _, seen := s.reported.LoadOrStore(msg, true); !seen {
			s.opts.Logger.Warn("metric metadata differs between archives; values excluded", "problem", msg)
		}
	}
	for _, d := range ns.Duplicates {
		msg := d.String()
		if _, seen := s.reported.LoadOrStore(msg, true); !seen {
			s.opts.Logger.Info("metric name bound to two PMIDs", "problem", msg)
		}
	}
}

// New returns the storage over a set of archives.
func New(set *multiarchive.Set, opts Options) *Storage {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Storage{set: set, opts: opts}
}

// Querier implements storage.Queryable; mint and maxt are inclusive ms.
func (s *Storage) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

// ChunkQuerier implements storage.ChunkQueryable.
func (s *Storage) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	return &chunkQuerier{querier{s: s, mint: mint, maxt: maxt}}, nil
}

type querier struct {
	s          *Storage
	mint, maxt int64
	// held are the Set.DirectRead marks of the archives this querier
	// read without a table, released by Close: the background builders
	// then wait until the answer is out, not only until it is read (a
	// build started while the answer is sorted and sent slows it and
	// adds its memory to the answer's).
	mu   sync.Mutex
	held []func()
}

type chunkQuerier struct{ querier }

func (q *chunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	ss, err := q.gather(ctx, hints, ms)
	if err != nil {
		return storage.ErrChunkSeriesSet(err)
	}
	return chunkSeriesSet{ss}
}

// Select gathers the matching series. Series are always sorted by
// labels.Compare, whatever sortSeries says: remote-read clients merge
// results and need sorted input.
func (q *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	ss, err := q.gather(ctx, hints, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return ss
}

// Close releases what the querier's reads held (see querier.held).
func (q *querier) Close() error {
	q.mu.Lock()
	held := q.held
	q.held = nil
	q.mu.Unlock()
	for _, done := range held {
		done()
	}
	return nil
}

// hold keeps a Set.DirectRead mark until Close.
func (q *querier) hold(done func()) {
	q.mu.Lock()
	q.held = append(q.held, done)
	q.mu.Unlock()
}

// msBound keeps ms times where ns fit in an int64 (about ±292 years):
// /api/v1/series without start and end sends about ±9.2e18 ms.
const msBound int64 = math.MaxInt64/1_000_000 - 1

// window turns inclusive ms bounds, narrowed by hints, into inclusive ns
// bounds: a sample at ns t is at ms floor(t/1e6).
func (q *querier) window(hints *storage.SelectHints) (mint, maxt, t1, t2 int64, ok bool) {
	mint, maxt = q.mint, q.maxt
	if hints != nil && hints.Start <= hints.End {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	mint, maxt = max(mint, -msBound), min(maxt, msBound)
	if mint > maxt {
		return 0, 0, 0, 0, false
	}
	return mint, maxt, mint * 1e6, maxt*1e6 + 999999, true
}

// floorMs is floor(ns / 1e6), also for times before 1970.
func floorMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// gathering is the state of one Select.
type gathering struct {
	q       *querier
	ms      []*labels.Matcher
	index   map[uint64][]*series
	all     []*series
	samples int64
	warns   annotations.Annotations
	lc      *labelCache
	sb      labels.ScratchBuilder
	// The window in ms, and the timeline being gathered (numbered) with
	// the series it touched.
	mint, maxt int64
	host       int
	touched    []*series
	// presence: only which series have a value in the window is wanted
	// (Func "series": /api/v1/series, the label APIs); see keepPresent.
	presence bool
}

func (q *querier) gather(ctx context.Context, hints *storage.SelectHints, ms []*labels.Matcher) (*seriesSet, error) {
	mint, maxt, t1, t2, ok := q.window(hints)
	if !ok {
		return &seriesSet{}, nil
	}
	g := &gathering{q: q, ms: ms, index: map[uint64][]*series{}, lc: newLabelCache(q.s.opts.AgentLabels), sb: labels.NewScratchBuilder(16), mint: mint, maxt: maxt}
	g.presence = hints != nil && hints.Func == "series"
	nameMs, hostMs := splitMatchers(ms)
	for _, tl := range q.s.set.Hosts() {
		if !matchAll(hostMs, tl.Host) {
			continue
		}
		opened, errs := tl.Open(t1, t2)
		for _, err := range errs {
			g.warns.Add(fmt.Errorf("archive skipped: %w", err))
		}
		if len(opened) == 0 {
			continue
		}
		e := q.s.namespaces.get(opened)
		ns := e.ns
		mets := selectMetrics(e, nameMs)
		q.s.report(g, ns, mets)
		if len(mets) == 0 {
			continue
		}
		if err := g.fromArchives(ctx, tl.Host, opened, ns, mets, nsWindow{t1, t2}); err != nil {
			return nil, err
		}
	}
	if g.presence {
		g.keepPresent()
	}
	sort.Slice(g.all, func(i, j int) bool { return labels.Compare(g.all[i].lset, g.all[j].lset) < 0 })
	return &seriesSet{series: g.all, warns: g.warns}, nil
}

// splitMatchers picks out the matchers that can be decided before reading:
// on the metric name and on the host.
func splitMatchers(ms []*labels.Matcher) (name, host []*labels.Matcher) {
	for _, m := range ms {
		switch m.Name {
		case model.MetricNameLabel:
			name = append(name, m)
		case LabelHostname:
			host = append(host, m)
		}
	}
	return name, host
}

func matchAll(ms []*labels.Matcher, v string) bool {
	for _, m := range ms {
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// metric is one PCP name selected for a query.
type metric struct {
	prom, pcp string
	desc      *archive.Desc
	collision bool // another PCP name maps to the same Prometheus name
}

// selectMetrics resolves the name matchers against a namespace. Equality
// and plain alternations look names up; other regexes scan the names.
func selectMetrics(e *nsEntry, nameMs []*labels.Matcher) []metric {
	ns, byProm := e.ns, e.byProm
	var candidates []string
	for _, m := range nameMs {
		var c []string
		switch {
		case m.Type == labels.MatchEqual:
			c = []string{m.Value}
		case m.Type == labels.MatchRegexp && len(m.SetMatches()) > 0:
			c = m.SetMatches()
		default:
			continue
		}
		candidates = c
		break
	}
	if candidates == nil {
		candidates = make([]string, 0, len(byProm))
		for p := range byProm {
			candidates = append(candidates, p)
		}
	}
	var out []metric
	for _, p := range candidates {
		pcps, ok := byProm[p]
		if !ok || !matchAll(nameMs, p) {
			continue
		}
		for _, n := range pcps {
			pmid, _ := ns.Lookup(n)
			d, ok := ns.Desc(pmid)
			if !ok || !d.Type.Numeric() {
				continue // strings, aggregates and events are not samples
			}
			out = append(out, metric{prom: p, pcp: n, desc: d, collision: len(pcps) > 1})
		}
	}
	return out
}

// seriesFor finds or makes the series of a label set.
func (g *gathering) seriesFor(lset labels.Labels) *series {
	h := lset.Hash()
	for _, s := range g.index[h] {
		if labels.Equal(s.lset, lset) {
			return s
		}
	}
	s := &series{lset: lset, mint: g.mint, maxt: g.maxt}
	g.index[h] = append(g.index[h], s)
	g.all = append(g.all, s)
	return s
}

// labelsOf builds a series' labels and reports whether they pass every
// matcher of the Select.
func (g *gathering) labelsOf(host string, m *metric, pl *pcpLabels, inst int32, iname string, named bool) (labels.Labels, bool) {
	g.sb.Reset()
	set := map[string]string{}
	for k, v := range pl.base {
		set[k] = v
	}
	if pl.insts != nil {
		for _, ml := range pl.insts[inst] {
			set[LabelName(ml.Name)] = LabelValue(ml.Value)
		}
	}
	set[LabelHostname] = host
	if m.desc.InDom != archive.InDomNull {
		delete(set, LabelInstName)
		if named {
			set[LabelInstName] = iname
		}
		set[LabelInstID] = strconv.Itoa(int(inst))
	}
	if m.collision {
		set[LabelPCPName] = m.pcp
	}
	set[model.MetricNameLabel] = m.prom
	for k, v := range set {
		if v != "" {
			g.sb.Add(k, v)
		}
	}
	g.sb.Sort()
	lset := g.sb.Labels()
	for _, mt := range g.ms {
		if !mt.Matches(lset.Get(mt.Name)) {
			return lset, false
		}
	}
	return lset, true
}
