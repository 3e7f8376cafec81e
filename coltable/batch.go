package coltable

import (
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

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
	// cols are the layout's series, each with its column in a row, in
	// the order flush adds them.
	cols []batchCol
	// With a flushPool: the rows and times of the batch being added while
	// the next one fills.
	spareRows  []float64
	spareTimes []int64
}

// batchCol is one series of a batch and where its numbers are in a row.
type batchCol struct {
	s   *seriesBuild
	col int
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
		return true, b.dispatch()
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
	bt.active, bt.cols = bt.active[:0], bt.cols[:0]
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
		for j, s := range c.series {
			if s == nil {
				continue
			}
			if s.claim == bt.claim {
				return // two values of one series in a record
			}
			s.claim = bt.claim
			bt.cols = append(bt.cols, batchCol{s, width + j})
		}
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

// flush adds the batch's rows to their series: when it returns, every
// record read has been added.
func (b *tableBuilder) flush() error {
	if err := b.dispatch(); err != nil {
		return err
	}
	return b.settle()
}

// dispatch adds the batch's rows to their series: at once, or with a
// flushPool on its workers while the next batch fills (settle waits).
func (b *tableBuilder) dispatch() error {
	bt := &b.bat
	if len(bt.times) == 0 {
		return nil
	}
	p := b.pool
	if p == nil {
		kept, opened := addRows(bt.cols, bt.times, bt.rows, bt.width, nil)
		b.open = append(b.open, opened...)
		bt.rows, bt.times = bt.rows[:0], bt.times[:0]
		return b.count(kept)
	}
	// The batch before is added by now, and its buffers are free.
	read := time.Since(p.readFrom)
	if err := b.settle(); err != nil {
		return err
	}
	// The workers take their shares; the builder adds its own, then
	// reads on while they work.
	m := p.start(bt.cols, bt.times, bt.rows, bt.width, read)
	kept, opened := addRows(bt.cols[:m], bt.times, bt.rows, bt.width, nil)
	p.readFrom = time.Now()
	b.open = append(b.open, opened...)
	if err := b.count(kept); err != nil {
		return err
	}
	if cap(bt.spareRows) < cap(bt.rows) {
		bt.spareRows, bt.spareTimes = make([]float64, 0, cap(bt.rows)), make([]int64, 0, cap(bt.times))
	}
	bt.rows, bt.spareRows = bt.spareRows[:0], bt.rows
	bt.times, bt.spareTimes = bt.spareTimes[:0], bt.times
	return nil
}

// settle waits for the batch the pool is adding, if any.
func (b *tableBuilder) settle() error {
	if b.pool == nil || !b.pool.busy {
		return nil
	}
	kept, opened := b.pool.wait()
	b.open = append(b.open, opened...)
	return b.count(kept)
}

// count adds kept to the samples kept and checks the bound on them.
func (b *tableBuilder) count(kept int64) error {
	// As record counts them: b.samples kept since it last added them to
	// the budget all parts of a Decode share.
	if b.opt.MaxSamples > 0 && b.budget.Add(kept)+b.samples > b.opt.MaxSamples {
		return ErrSampleLimit
	}
	return nil
}

// addRows adds the rows (times[i], rows[i*width:]) to the series of cols,
// and returns how many samples were kept and the series they opened
// (appended to opened).
func addRows(cols []batchCol, times []int64, rows []float64, width int, opened []*seriesBuild) (int64, []*seriesBuild) {
	var kept int64
	for _, c := range cols {
		n := c.s.addColumn(times, rows[c.col:], width)
		if n > 0 && !c.s.open {
			c.s.open = true
			opened = append(opened, c.s)
		}
		kept += int64(n)
	}
	return kept, opened
}

// A flushPool adds batches to their series on workers of their own, each
// taking a share of the series, while the builder reads the next records:
// reading (copying the volume in, checking and decoding each record) and
// encoding the samples then run side by side, and the volume is read once
// however many CPUs share the encoding. The builder adds a share of each
// batch itself before it reads on, so that one goroutine a CPU runs (a
// third beside two workers on two CPUs made one of them wait its turn, and
// the builder wait for that one); its share is sized, batch by batch, for
// it to have read the next batch when the workers have added theirs. The
// series are the workers' while they run, and the builder's after settle:
// it waits for them before it touches a series itself (a record added the
// long way, a <mark>, a new layout). A series is added by one goroutine,
// its rows in order, so the chunks are those of adding the batch at once.
type flushPool struct {
	jobs []chan flushJob
	done []chan flushResult
	busy bool
	// For the builder's share (start): its last size, when the builder
	// went back to reading, and the slowest worker's time on the batch.
	share    float64
	readFrom time.Time
	took     time.Duration
}

type flushJob struct {
	cols  []batchCol
	times []int64
	rows  []float64
	width int
}

type flushResult struct {
	took   time.Duration
	kept   int64
	opened []*seriesBuild
}

// newFlushPool starts n workers; stop ends them.
func newFlushPool(n int) *flushPool {
	p := &flushPool{share: -1}
	for range n {
		jobs, done := make(chan flushJob), make(chan flushResult, 1)
		p.jobs, p.done = append(p.jobs, jobs), append(p.done, done)
		go func() {
			var opened []*seriesBuild
			for j := range jobs {
				var r flushResult
				t0 := time.Now()
				r.kept, opened = addRows(j.cols, j.times, j.rows, j.width, opened[:0])
				r.opened, r.took = opened, time.Since(t0)
				done <- r
			}
		}()
	}
	return p
}

// start hands each worker its share of the series of a batch and returns
// how many series, from the first, are left to the builder.
//
// With a batch of N series, the builder taking m of them, each series
// costing c to add, and the builder taking R to read a batch, the builder
// is done when the workers are if R + m c = (N - m) c / w (w workers):
// m = (N/w - R/c) / (1 + 1/w). c and R come from the batch before (the
// workers' time, and read: the builder's, from its share's end to the
// settle before this), and the share moves halfway there each batch, not
// to be thrown by one slow one.
func (p *flushPool) start(cols []batchCol, times []int64, rows []float64, width int, read time.Duration) int {
	w := float64(len(p.jobs))
	total := float64(len(cols))
	if p.share < 0 {
		p.share = total / (w + 1) / 2 // the first batch: no times yet
	} else if p.took > 0 && total > 0 {
		perSeries := p.took.Seconds() / max((total-p.share)/w, 1)
		want := (total/w - read.Seconds()/perSeries) / (1 + 1/w)
		p.share = (p.share + min(max(want, 0), total)) / 2
	}
	m := min(int(p.share), len(cols))
	rest := cols[m:]
	for i, jobs := range p.jobs {
		n := len(p.jobs)
		jobs <- flushJob{rest[i*len(rest)/n : (i+1)*len(rest)/n], times, rows, width}
	}
	p.busy = true
	return m
}

// wait waits for the workers and returns what they kept and opened, in
// the order of the batch's series (as addRows on the whole batch gives).
func (p *flushPool) wait() (int64, []*seriesBuild) {
	var kept int64
	var opened []*seriesBuild
	p.took = 0
	for _, done := range p.done {
		r := <-done
		p.took = max(p.took, r.took)
		kept += r.kept
		opened = append(opened, r.opened...)
	}
	p.busy = false
	return kept, opened
}

// stop waits for the batch in hand, if any, and ends the workers.
func (p *flushPool) stop() {
	if p.busy {
		p.wait()
	}
	for _, jobs := range p.jobs {
		close(jobs)
	}
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
