package coltable

import "github.com/pcp-remote-read/pcp-remote-read/archive"

// A batch holds the numbers of records laid out alike (archive's
// Record.Layout: same sets, same instances, in order), one row per record,
// and adds them series by series when it is flushed: each series' chunk
// is then appended a run of samples at a time (xorEnc.appendRun), its
// state in registers, instead of every series' state being visited for
// every record. pmlogger writes the same layout record after record, so
// most records of an archive go this way. The result is exactly what
// adding each record's values in turn (tableBuilder.record) gives: the
// rows are added in record order, and only a layout whose set caches give
// each series at most one value per record is batched, so a series' samples
// come in the order the records have them.
type batch struct {
	layout uint64 // the layout the set caches resolve; 0: none
	nsets  int    // the layout's sets
	active []int  // the positions of its sets with numbers, in order
	width  int    // numbers per record
	rows   []float64
	times  []int64 // ms of each row
	max    int     // rows held at most
	claim  uint64  // see seriesBuild.claim
}

// batchBytes bounds the numbers a batch holds: its rows are read column by
// column, which stays in the CPU's caches at this size.
const batchBytes = 2 << 20

// staged takes rec's numbers into the batch when rec is laid out as the
// batch's records and nothing about its instances has changed since; it
// reports false when the record must be added on its own (after a flush).
// A full batch is flushed.
func (b *tableBuilder) staged(rec *archive.Record, ms int64) (bool, error) {
	bt := &b.bat
	id := rec.Layout()
	if id == 0 || id != bt.layout {
		return false, nil
	}
	sets := rec.Sets()
	if len(sets) != bt.nsets {
		return false, nil
	}
	for _, k := range bt.active {
		vs := &sets[k]
		c := &b.sets[k]
		d := vs.Desc
		if d == nil || c.pmid != vs.PMID || c.indom != d.InDom {
			return false, nil
		}
		if d.InDom != archive.InDomNull {
			st := c.res
			if st == nil {
				return false, nil
			}
			if st.res.At(rec.Time) {
				// The names change here: record resolves the sets anew.
				st.gen++
			}
			if st.gen != c.gen {
				return false, nil
			}
		}
	}
	nums := rec.Numbers()
	if len(nums) != bt.width {
		return false, nil
	}
	bt.rows = append(bt.rows, nums...)
	bt.times = append(bt.times, ms)
	if len(bt.times) >= bt.max {
		return true, b.flush()
	}
	return true, nil
}

// noteLayout makes rec's layout the batch's, once record has resolved its
// sets, when it can be batched: every set with numbers resolved, each
// series once.
func (b *tableBuilder) noteLayout(rec *archive.Record) {
	bt := &b.bat
	bt.layout = 0
	id := rec.Layout()
	if id == 0 || b.opt.FirstOnly || b.opt.noBatch {
		return
	}
	sets := rec.Sets()
	bt.active = bt.active[:0]
	bt.claim++
	width := 0
	for k := range sets {
		vs := &sets[k]
		if !hasNumbers(vs) {
			continue
		}
		c := &b.sets[k]
		_, vals, bad := rec.Floats(vs)
		if bad > 0 || len(c.series) != len(vals) || vs.NumbersAt() != width {
			return
		}
		for _, s := range c.series {
			if s == nil {
				continue
			}
			if s.claim == bt.claim {
				return // two values of one series in a record
			}
			s.claim = bt.claim
		}
		c.col = width
		width += len(vals)
		bt.active = append(bt.active, k)
	}
	if width != len(rec.Numbers()) || width == 0 {
		return
	}
	bt.layout, bt.nsets, bt.width = id, len(sets), width
	bt.max = min(max(batchBytes/8/width, 1), 120)
	if cap(bt.rows) < bt.max*width {
		bt.rows, bt.times = make([]float64, 0, bt.max*width), make([]int64, 0, bt.max)
	}
	bt.rows, bt.times = bt.rows[:0], bt.times[:0]
}

// flush adds the batch's rows to their series.
func (b *tableBuilder) flush() error {
	bt := &b.bat
	if len(bt.times) == 0 {
		return nil
	}
	var kept int64
	for _, k := range bt.active {
		c := &b.sets[k]
		for j, s := range c.series {
			if s == nil {
				continue
			}
			n := s.addColumn(bt.times, bt.rows[c.col+j:], bt.width)
			if n > 0 && !s.open {
				s.open = true
				b.open = append(b.open, s)
			}
			kept += int64(n)
		}
	}
	bt.rows, bt.times = bt.rows[:0], bt.times[:0]
	// As record counts them: b.samples kept since it last added them to
	// the budget all parts of a Decode share.
	if b.opt.MaxSamples > 0 && b.budget.Add(kept)+b.samples > b.opt.MaxSamples {
		return ErrSampleLimit
	}
	return nil
}

// addColumn adds the samples (times[i], vals[i*stride]) in order, as add
// would one at a time, and returns how many it kept.
func (s *seriesBuild) addColumn(times []int64, vals []float64, stride int) int {
	kept := 0
	for i := 0; i < len(times); {
		if s.enc.n >= 2 && s.enc.n < 120 && times[i] > s.lastT {
			if k := s.enc.appendRun(times[i:], vals[i*stride:], stride); k > 0 {
				t := times[i+k-1]
				s.cmax, s.maxT, s.lastT = t, t, t
				s.cflags &^= chunkLastStale
				s.n += k
				kept += k
				i += k
				continue
			}
		}
		if ok, _ := s.add(times[i], vals[i*stride]); ok {
			kept++
		}
		i++
	}
	return kept
}

// hasNumbers tells whether a value set has values the builder keeps: a
// numeric descriptor and at least one value.
func hasNumbers(vs *archive.ValueSet) bool {
	return vs.NumVal > 0 && vs.Desc != nil && vs.Desc.Type.Numeric()
}
