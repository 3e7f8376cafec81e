package remoteread

import (
	"context"
	"sync"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// sample is a test chunks.Sample: a float, or a histogram when h is set.
// A non-zero st makes chunks.ChunkFromSamples build an XOR2 chunk.
type sample struct {
	st, t int64
	f     float64
	h     *histogram.Histogram
}

func (s sample) T() int64                      { return s.t }
func (s sample) ST() int64                     { return s.st }
func (s sample) F() float64                    { return s.f }
func (s sample) H() *histogram.Histogram       { return s.h }
func (s sample) FH() *histogram.FloatHistogram { return nil }
func (s sample) Copy() chunks.Sample           { return s }
func (s sample) Type() chunkenc.ValueType {
	if s.h != nil {
		return chunkenc.ValHistogram
	}
	return chunkenc.ValFloat
}

// floats returns n float samples from t0 every step ms, valued t/1000.
func floats(t0, step int64, n int) []chunks.Sample {
	out := make([]chunks.Sample, n)
	for i := range out {
		t := t0 + int64(i)*step
		out[i] = sample{t: t, f: float64(t) / 1000}
	}
	return out
}

// fakeSeries is one fixture series; each batch becomes one chunk of the
// chunk querier, and their concatenation the samples of the querier.
type fakeSeries struct {
	lset    labels.Labels
	batches [][]chunks.Sample
}

func series(lset labels.Labels, batches ...[]chunks.Sample) fakeSeries {
	return fakeSeries{lset: lset, batches: batches}
}

func (s fakeSeries) samples() []chunks.Sample {
	var out []chunks.Sample
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

// selectCall records what the handler asked the storage for.
type selectCall struct {
	mint, maxt int64
	chunked    bool
	sorted     bool
	hints      *storage.SelectHints
	matchers   []*labels.Matcher
}

// fakeStorage is an in-memory storage.SampleAndChunkQueryable. It returns
// matching series in fixture order, so tests can feed the handler unsorted
// or duplicate series on purpose.
type fakeStorage struct {
	series     []fakeSeries
	querierErr error                   // returned by Querier/ChunkQuerier
	selectErr  error                   // returned by SeriesSet.Err
	warnings   annotations.Annotations // returned by SeriesSet.Warnings
	// hinted gives the querier's series iterators a SamplesHint, as
	// translate's have.
	hinted bool
	// chunkSeries, when set, replaces the chunk querier's series.
	chunkSeries []storage.ChunkSeries
	// When block is set, Select signals entered and waits for block.
	entered chan struct{}
	block   chan struct{}

	mu     sync.Mutex
	calls  []selectCall
	closed int
}

func (f *fakeStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	if f.querierErr != nil {
		return nil, f.querierErr
	}
	return &fakeQuerier{f: f, mint: mint, maxt: maxt}, nil
}

func (f *fakeStorage) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	if f.querierErr != nil {
		return nil, f.querierErr
	}
	return &fakeChunkQuerier{fakeQuerier{f: f, mint: mint, maxt: maxt}}, nil
}

func (f *fakeStorage) selectCalls() []selectCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]selectCall(nil), f.calls...)
}

func (f *fakeStorage) closedQueriers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// record notes the call, waits if told to, and returns the matching series.
func (f *fakeStorage) record(ctx context.Context, c selectCall) []fakeSeries {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.block != nil {
		f.entered <- struct{}{}
		select {
		case <-f.block:
		case <-ctx.Done():
		}
	}
	var out []fakeSeries
	for _, s := range f.series {
		if matchesAll(s.lset, c.matchers) {
			out = append(out, s)
		}
	}
	return out
}

func matchesAll(lset labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		// Get returns "" for an absent label: PromQL semantics
		// (docs/remote-read-protocol.md §2.5).
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

type fakeQuerier struct {
	f          *fakeStorage
	mint, maxt int64
}

func (q *fakeQuerier) Select(ctx context.Context, sorted bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	matched := q.f.record(ctx, selectCall{mint: q.mint, maxt: q.maxt, sorted: sorted, hints: hints, matchers: ms})
	set := &sliceSet[storage.Series]{err: q.f.selectErr, warnings: q.f.warnings}
	for _, s := range matched {
		var ls storage.Series = storage.NewListSeries(s.lset, s.samples())
		if q.f.hinted {
			ls = hintedSeries{ls, len(s.samples())}
		}
		set.items = append(set.items, ls)
	}
	return set
}

func (*fakeQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (*fakeQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (q *fakeQuerier) Close() error {
	q.f.mu.Lock()
	defer q.f.mu.Unlock()
	q.f.closed++
	return nil
}

type fakeChunkQuerier struct{ fakeQuerier }

func (q *fakeChunkQuerier) Select(ctx context.Context, sorted bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	matched := q.f.record(ctx, selectCall{mint: q.mint, maxt: q.maxt, chunked: true, sorted: sorted, hints: hints, matchers: ms})
	set := &sliceSet[storage.ChunkSeries]{err: q.f.selectErr, warnings: q.f.warnings}
	if q.f.chunkSeries != nil {
		set.items = q.f.chunkSeries
		return set
	}
	for _, s := range matched {
		set.items = append(set.items, storage.NewListChunkSeriesFromSamples(s.lset, s.batches...))
	}
	return set
}

// sliceSet is a storage.SeriesSet or storage.ChunkSeriesSet over a slice.
type sliceSet[T any] struct {
	items    []T
	next     int
	cur      T
	err      error
	warnings annotations.Annotations
}

func (s *sliceSet[T]) Next() bool {
	if s.next >= len(s.items) {
		return false
	}
	s.cur = s.items[s.next]
	s.next++
	return true
}

func (s *sliceSet[T]) At() T                             { return s.cur }
func (s *sliceSet[T]) Err() error                        { return s.err }
func (s *sliceSet[T]) Warnings() annotations.Annotations { return s.warnings }

// hintedSeries gives its iterator a SamplesHint of n.
type hintedSeries struct {
	storage.Series
	n int
}

func (s hintedSeries) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return hintedIterator{s.Series.Iterator(nil), s.n}
}

type hintedIterator struct {
	chunkenc.Iterator
	n int
}

func (h hintedIterator) SamplesHint() int { return h.n }
