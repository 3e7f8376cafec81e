package pcptest

import (
	"context"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// FakeQueryable is an in-memory storage.Queryable for the query API's
// tests: every Select returns the series matching its matchers, in order,
// with SelectErr as the set's error. When Block is set, Select signals
// Entered and waits for Block to close (or its context to end).
type FakeQueryable struct {
	Series    []storage.Series
	SelectErr error
	Entered   chan struct{}
	Block     chan struct{}
}

// BlockingQueryable holds every Select of its one float series "m"
// (samples 0, 1 and 2 ms) until Block is closed.
func BlockingQueryable() *FakeQueryable {
	return &FakeQueryable{
		Series: []storage.Series{storage.NewListSeries(labels.FromStrings("__name__", "m"), []chunks.Sample{
			fakeSample{0, 0}, fakeSample{1, 0.001}, fakeSample{2, 0.002},
		})},
		Entered: make(chan struct{}, 4),
		Block:   make(chan struct{}),
	}
}

// Querier implements storage.Queryable.
func (f *FakeQueryable) Querier(int64, int64) (storage.Querier, error) { return fakeQuerier{f}, nil }

type fakeQuerier struct{ f *FakeQueryable }

func (q fakeQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	if q.f.Block != nil {
		q.f.Entered <- struct{}{}
		select {
		case <-q.f.Block:
		case <-ctx.Done():
		}
	}
	var out []storage.Series
	for _, s := range q.f.Series {
		if matchesAll(s.Labels(), ms) {
			out = append(out, s)
		}
	}
	return &fakeSet{items: out, err: q.f.SelectErr}
}

func matchesAll(lset labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (fakeQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (fakeQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (fakeQuerier) Close() error { return nil }

type fakeSet struct {
	items []storage.Series
	cur   storage.Series
	err   error
}

func (s *fakeSet) Next() bool {
	if len(s.items) == 0 {
		return false
	}
	s.cur, s.items = s.items[0], s.items[1:]
	return true
}

func (s *fakeSet) At() storage.Series                { return s.cur }
func (s *fakeSet) Err() error                        { return s.err }
func (s *fakeSet) Warnings() annotations.Annotations { return nil }

// fakeSample is a float chunks.Sample.
type fakeSample struct {
	t int64
	f float64
}

func (s fakeSample) T() int64                      { return s.t }
func (s fakeSample) ST() int64                     { return 0 }
func (s fakeSample) F() float64                    { return s.f }
func (s fakeSample) H() *histogram.Histogram       { return nil }
func (s fakeSample) FH() *histogram.FloatHistogram { return nil }
func (s fakeSample) Copy() chunks.Sample           { return s }
func (s fakeSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
