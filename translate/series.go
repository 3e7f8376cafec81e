package translate

import (
	"math"
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

type sample struct {
	t int64 // ms
	v float64
}

// series is one Prometheus series gathered from the archives.
type series struct {
	lset     labels.Labels
	samples  []sample
	unsorted bool // overlapping archives appended out of order
}

// add appends a sample, keeping one per millisecond: the first read wins.
func (s *series) add(t int64, v float64) {
	if n := len(s.samples); n > 0 {
		last := s.samples[n-1].t
		if t == last {
			return
		}
		if t < last {
			s.unsorted = true
		}
	}
	s.samples = append(s.samples, sample{t, v})
}

// finish sorts and de-duplicates the samples of overlapping archives:
// values from both, one sample per timestamp, the earlier archive's first.
func (s *series) finish() {
	if !s.unsorted {
		return
	}
	sort.SliceStable(s.samples, func(i, j int) bool { return s.samples[i].t < s.samples[j].t })
	out := s.samples[:0]
	for i, x := range s.samples {
		if i > 0 && x.t == out[len(out)-1].t {
			continue
		}
		out = append(out, x)
	}
	s.samples = out
	s.unsorted = false
}

func (s *series) Labels() labels.Labels { return s.lset }

// Iterator uses Prometheus' own list iterator (its Seek is the reference
// one). Samples are handed out by pointer so that no sample is boxed.
func (s *series) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return storage.NewListSeriesIterator(sampleList(s.samples))
}

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

// maxChunkSamples is the TSDB convention clients expect (protocol notes 5).
const maxChunkSamples = 120

// ChunkSeries form: XOR chunks of at most 120 samples.
func (s *series) chunkSeries() storage.ChunkSeries { return &chunkSeries{s} }

type chunkSeries struct{ s *series }

func (c *chunkSeries) Labels() labels.Labels { return c.s.lset }

func (c *chunkSeries) Iterator(chunks.Iterator) chunks.Iterator {
	return &chunkIterator{samples: c.s.samples}
}

type chunkIterator struct {
	samples []sample
	cur     chunks.Meta
	err     error
}

func (it *chunkIterator) Next() bool {
	if len(it.samples) == 0 {
		return false
	}
	n := min(len(it.samples), maxChunkSamples)
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		it.err = err
		return false
	}
	for _, x := range it.samples[:n] {
		app.Append(0, x.t, x.v)
	}
	it.cur = chunks.Meta{Chunk: c, MinTime: it.samples[0].t, MaxTime: it.samples[n-1].t}
	it.samples = it.samples[n:]
	return true
}

func (it *chunkIterator) At() chunks.Meta { return it.cur }
func (it *chunkIterator) Err() error      { return it.err }

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
