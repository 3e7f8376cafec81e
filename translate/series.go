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

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
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
	// Either a table series ...
	tbl *multiarchive.Table
	idx int
	// ... or samples read from the archive.
	samples []sample
	// stale is the ms of the staleness marker that follows this archive
	// (a boundary before the next one), or noStale.
	stale int64
}

const noStale = math.MinInt64

// add appends a sample to a metadata-only series, one per millisecond.
func (s *series) add(t int64, v float64) {
	if n := len(s.samples); n > 0 && s.samples[n-1].t == t {
		return
	}
	s.samples = append(s.samples, sample{t, v})
}

// materialize gathers the series' samples in time order: one per ms (the
// earlier archive's when archives overlap), and a staleness marker only
// where it ends values: a marker with no value before it since the last
// marker is dropped, which is exactly where libpcp's <mark> ends a series
// that had values in the window.
func (s *series) materialize() []sample {
	if s.segs == nil {
		return s.samples
	}
	var out []sample
	var buf []byte
	for i := range s.segs {
		sg := &s.segs[i]
		if sg.tbl != nil {
			var err error
			buf, err = sg.tbl.Each(nil, sg.idx, s.mint, s.maxt, buf, func(t int64, v float64) { out = append(out, sample{t, v}) })
			if err != nil && s.err == nil {
				s.err = err
			}
		} else {
			out = append(out, sg.samples...)
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

// Iterator uses Prometheus' own list iterator (its Seek is the reference
// one). Samples are handed out by pointer so that no sample is boxed.
func (s *series) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return &errIterator{Iterator: storage.NewListSeriesIterator(sampleList(s.materialize())), s: s}
}

// errIterator reports a failure to read the series' table.
type errIterator struct {
	chunkenc.Iterator
	s *series
}

func (it *errIterator) Err() error { return it.s.err }

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
	return &chunkIterator{samples: c.s.materialize(), s: c.s}
}

type chunkIterator struct {
	s       *series
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
