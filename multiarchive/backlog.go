package multiarchive

import (
	"os"
	"sync"
	"time"
)

// The backlog is the closed archives that have no whole table, built by
// the table builders whenever no query or rescan has a job for them, so
// that months of archives are indexed before anyone asks for them. After
// every scan it is planned again: each host's archives newest first (the
// recent past is what dashboards show), taken round robin over the hosts,
// so no host waits for another's years. A host's newest archive, which
// pmlogger may still write, is not part of it: its prefix table is
// extended by a scan when enough records were added
// (docs/column-tables.md §10, §11).
type backlog struct {
	mu sync.Mutex
	// wake has a token when there may be work: a plan, or a builder that
	// took an item and left more. Closed when the Set closes.
	wake   chan struct{}
	closed bool
	items  []*Entry
	next   int
	// done holds the entries found with a table, built, or failed: a
	// later plan leaves them out (entries of unchanged archives survive
	// rescans; a changed archive is a new entry).
	done  map[*Entry]bool
	sizes map[*Entry]int64 // bytes of the entry's files on disk
	// pending counts the planned entries not yet taken, and bytes their
	// files' size; built and builtBytes count what the backlog built,
	// busy the time those builds took.
	pending    int
	bytes      int64
	built      int
	builtBytes int64
	busy       time.Duration
}

func (b *backlog) init() {
	b.wake = make(chan struct{}, 1)
	b.done = map[*Entry]bool{}
	b.sizes = map[*Entry]int64{}
}

// signal leaves a token for a waiting builder (none once closed: wake
// is closed then).
func (b *backlog) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// wakeAll ends every builder's wait, for Close.
func (b *backlog) wakeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.wake)
	}
}

// plan replaces the backlog by the closed archives of hosts that are not
// done, newest first per host, round robin over hosts.
func (b *backlog) plan(hosts []*Timeline) {
	var lists [][]*Entry
	present := map[*Entry]bool{}
	for _, tl := range hosts {
		var l []*Entry
		// Every entry but the newest, newest first.
		for i := len(tl.entries) - 2; i >= 0; i-- {
			e := tl.entries[i]
			present[e] = true
			l = append(l, e)
		}
		lists = append(lists, l)
	}
	b.mu.Lock()
	for e := range b.done {
		if !present[e] {
			delete(b.done, e)
		}
	}
	for e := range b.sizes {
		if !present[e] {
			delete(b.sizes, e)
		}
	}
	b.mu.Unlock()
	var items []*Entry
	for i := 0; ; i++ {
		more := false
		for _, l := range lists {
			if i < len(l) {
				more = true
				items = append(items, l[i])
			}
		}
		if !more {
			break
		}
	}
	var todo []*Entry
	var bytes int64
	b.mu.Lock()
	for _, e := range items {
		if b.done[e] {
			continue
		}
		todo = append(todo, e)
	}
	b.mu.Unlock()
	sizes := make([]int64, len(todo))
	for i, e := range todo {
		sizes[i] = b.size(e)
		bytes += sizes[i]
	}
	b.mu.Lock()
	b.items, b.next, b.pending, b.bytes = todo, 0, len(todo), bytes
	b.mu.Unlock()
	if len(todo) > 0 {
		b.signal()
	}
}

// size is the bytes of an entry's files on disk, stat'ed once.
func (b *backlog) size(e *Entry) int64 {
	b.mu.Lock()
	n, ok := b.sizes[e]
	b.mu.Unlock()
	if ok {
		return n
	}
	for _, p := range filePaths(e.Files) {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	b.mu.Lock()
	b.sizes[e] = n
	b.mu.Unlock()
	return n
}

// take returns the next entry to look at, and leaves a token for another
// builder when more remain.
func (b *backlog) take() (*Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.next < len(b.items) && !b.closed {
		e := b.items[b.next]
		b.next++
		b.pending--
		b.bytes -= b.sizes[e]
		if b.done[e] {
			continue
		}
		if b.next < len(b.items) {
			select {
			case b.wake <- struct{}{}:
			default:
			}
		}
		return e, true
	}
	return nil, false
}

// finish records what became of an entry taken: built (it took d), or
// found with a table or failed (built false).
func (b *backlog) finish(e *Entry, built bool, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done[e] = true
	if built {
		b.built++
		b.builtBytes += b.sizes[e]
		b.busy += d
	}
}

// BacklogStats are the background indexer's figures.
type BacklogStats struct {
	// Archives and Bytes are the closed archives of the last plan not
	// yet looked at, and the size of their files on disk (some may turn
	// out to have a table already).
	Archives int   `json:"archives"`
	Bytes    int64 `json:"bytes"`
	// Built counts the tables the backlog built; Rate is the bytes of
	// archive those builds read per second of building, and ETA what
	// Bytes take at that rate (0 until something was built).
	Built int     `json:"built"`
	Rate  float64 `json:"bytes_per_second"`
	ETA   float64 `json:"eta_seconds"`
}

func (b *backlog) stats() BacklogStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BacklogStats{Archives: b.pending, Bytes: b.bytes, Built: b.built}
	if b.busy > 0 {
		st.Rate = float64(b.builtBytes) / b.busy.Seconds()
		st.ETA = float64(b.bytes) / st.Rate
	}
	return st
}

// nextJob returns the builder's next job: one queued by a query or a scan
// first, else the backlog's next entry; it waits while there is neither.
// ok is false once the Set is closing.
func (ts *tableStore) nextJob() (tableJob, bool) {
	for {
		select {
		case j, ok := <-ts.jobs:
			return j, ok
		default:
		}
		if e, ok := ts.backlog.take(); ok {
			return tableJob{o: Opened{Entry: e}, backlog: true}, true
		}
		select {
		case j, ok := <-ts.jobs:
			return j, ok
		case _, ok := <-ts.backlog.wake:
			if !ok {
				// Closing: run what queries queued, then stop.
				j, ok := <-ts.jobs
				return j, ok
			}
		}
	}
}

// planBacklog plans the backlog after a scan and has the newest archive
// of each host that stopped being the newest finished at once (its
// prefix table extended to the end into its whole table, before
// pmlogger_daily compresses it), and the prefix tables of the newest
// extended when their tails grew long.
//
// Scans come as often as once a second while queries reach the newest
// data; the plan is made at most every planEvery, in the background.
func (ts *tableStore) planBacklog(hosts []*Timeline, closed []*Entry) {
	if ts.sync {
		return
	}
	for _, e := range closed {
		ts.queue(tableJob{o: Opened{Entry: e}})
	}
	ts.mu.Lock()
	first := ts.planned.IsZero()
	due := first || time.Since(ts.planned) >= planEvery
	if due {
		ts.planned = time.Now()
	}
	ts.mu.Unlock()
	if !due {
		return
	}
	delay := time.Duration(0)
	if first && ts.set != nil {
		delay = ts.set.opts.BacklogDelay
	}
	go func() {
		if delay > 0 {
			// A server just started answers its first queries (the
			// dashboards of everyone who waited for it) before it
			// indexes.
			ts.waitIdle(delay, firstPlanMax)
		}
		ts.plan(hosts)
	}()
}

// waitIdle returns once no query has read an archive directly for d (and
// d has passed), or after most: a query that found no table is then
// answered, its answer sent, before the first builds start; queries
// that never stop do not hold them off for good.
func (ts *tableStore) waitIdle(d, most time.Duration) {
	start := time.Now()
	time.Sleep(d)
	for time.Since(start) < most {
		if ts.direct.Load() == 0 {
			idle := time.Since(time.Unix(0, ts.directEnd.Load()))
			if idle >= d {
				return
			}
			time.Sleep(d - idle)
			continue
		}
		time.Sleep(quietPoll)
	}
}

// firstPlanMax is how long the first plan waits at most for queries to
// stop (waitIdle).
const firstPlanMax = 30 * time.Second

// planEvery is how often the backlog is planned at most.
const planEvery = 10 * time.Second

func (ts *tableStore) plan(hosts []*Timeline) {
	ts.bound()
	ts.backlog.plan(hosts)
	for _, tl := range hosts {
		if n := len(tl.entries); n > 0 && !ts.set.opts.TableAll {
			ts.prefixDue(Opened{Entry: tl.entries[n-1], Live: true})
		}
	}
}
