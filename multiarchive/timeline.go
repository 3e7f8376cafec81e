package multiarchive

import (
	"errors"
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// Entry is one archive of a timeline. Only its label and index were read
// at discovery; metadata is loaded through the Set's cache when needed.
type Entry struct {
	Files archive.Files
	Label archive.Label
	Start int64 // ns, from the label
	set   *Set  // where read failures are reported; nil in tests

	mu  sync.Mutex
	end int64 // the last index entry, or the latest record a query read
	// exactEnd is the last record's time as Status found it in the files
	// (liveend.go); 0 if unknown. It is kept apart from end: a query
	// ending after end revalidates the cached archive (new volumes and
	// metadata), which may not cover what Status saw.
	exactEnd int64
	// next is the start of the following archive in the newest ordering
	// (MaxInt64 for the newest archive): an end raised past it is counted
	// in the Set's grew, after which timelines recompute their reach.
	next int64
	// tail is what Status last read of the archive's end while it was the
	// newest of its host (liveend.go).
	tail tailScan
	// pathHash is the hash of Files.Base that its table names begin with,
	// once Status has needed it; 0 before (statusinfo.go).
	pathHash atomic.Uint64
}

// End returns the best known end of the archive (ns).
func (e *Entry) End() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return max(e.end, e.exactEnd)
}

// readEnd is the end of what queries have read of the archive (or its
// index's last entry): a query reaching past it must look for growth.
func (e *Entry) readEnd() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.end
}

// Next returns the start of the archive that follows this one on its
// host's timeline (ns), or math.MaxInt64 for the newest archive: the
// boundary after which libpcp stamps its synthetic <mark>.
func (e *Entry) Next() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.next
}

// NoteTime raises the known end after a record at t was read.
func (e *Entry) NoteTime(t int64) {
	e.mu.Lock()
	if t > e.end {
		e.end = t
		if t > e.next && e.set != nil {
			e.set.grew.Add(1) // a new or longer overlap: see Timeline.reachEnds
		}
	}
	e.mu.Unlock()
}

// ReportProblem records that reading the archive failed past its label (a
// corrupt record, a volume gone): /status shows it as the archive's problem,
// /metrics counts it, and it is logged once.
func (e *Entry) ReportProblem(err error) {
	if e.set != nil && err != nil {
		e.set.noteProblem(e, err)
	}
}

func (e *Entry) sameFiles(f archive.Files) bool {
	if e.Files.Meta != f.Meta || e.Files.Index != f.Index || len(e.Files.Volumes) != len(f.Volumes) {
		return false
	}
	for i, v := range f.Volumes {
		if e.Files.Volumes[i] != v {
			return false
		}
	}
	return true
}

// Overlap reports two archives of one host whose time ranges intersect.
type Overlap struct {
	First  string `json:"first"`
	Second string `json:"second"`
}

// Timeline is the archives of one host in start-time order.
type Timeline struct {
	Host    string
	set     *Set
	entries []*Entry // immutable once ordered; a rescan builds a new Timeline
	// overlaps lists the first maxOverlaps pairs of archives whose ranges
	// intersect; nOverlaps counts them all.
	overlaps  []Overlap
	nOverlaps int
	reach     atomic.Pointer[reach]
}

// maxOverlaps bounds the pairs a timeline lists: n archives that all
// overlap (labels with one start time) make n(n-1)/2 pairs, 50 million for
// 10,000 archives.
const maxOverlaps = 1000

// reach holds, for each archive but the newest, the latest known end of it
// and all before it, as of the Set's grew count gen.
type reach struct {
	gen  uint64
	ends []int64
}

func (tl *Timeline) order() {
	sort.Slice(tl.entries, func(i, j int) bool {
		a, b := tl.entries[i], tl.entries[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.Files.Base < b.Files.Base
	})
	tl.findOverlaps()
	for i, e := range tl.entries {
		e.mu.Lock()
		e.next = math.MaxInt64
		if i+1 < len(tl.entries) {
			e.next = tl.entries[i+1].Start
		}
		e.mu.Unlock()
	}
}

// findOverlaps finds every pair (i, j), i < j, of archives whose ranges
// intersect: j starts before i ends, or both start together. A merged
// daily archive beside the pieces it was made of overlaps each of them,
// not only its neighbour. As entries are in start order, the archives
// overlapping i are the run after it that starts with it or before its
// end, found by binary search: a timeline of thousands of
// archives that follow each other costs a few comparisons an archive, and
// counting the pairs past maxOverlaps costs no more.
func (tl *Timeline) findOverlaps() {
	es := tl.entries
	tl.overlaps, tl.nOverlaps = nil, 0
	for i, a := range es {
		end := a.End()
		rest := es[i+1:]
		n := sort.Search(len(rest), func(k int) bool { s := rest[k].Start; return s > a.Start && s >= end })
		tl.nOverlaps += n
		for _, b := range rest[:min(n, maxOverlaps-len(tl.overlaps))] {
			tl.overlaps = append(tl.overlaps, Overlap{First: a.Files.Base, Second: b.Files.Base})
		}
	}
}

// reachEnds returns the running maximum of the archives' ends (all but the
// newest), recomputed when an archive's end has grown past the next one's
// start since: ends that grow less cannot change what Select picks.
func (tl *Timeline) reachEnds() []int64 {
	var gen uint64
	if tl.set != nil {
		gen = tl.set.grew.Load()
	}
	if r := tl.reach.Load(); r != nil && r.gen == gen {
		return r.ends
	}
	r := &reach{gen: gen, ends: make([]int64, max(len(tl.entries)-1, 0))}
	end := int64(math.MinInt64)
	for i := range r.ends {
		end = max(end, tl.entries[i].End())
		r.ends[i] = end
	}
	tl.reach.Store(r)
	return r.ends
}

// Entries returns the archives in start-time order.
func (tl *Timeline) Entries() []*Entry { return tl.entries }

// Overlaps returns the pairs of archives whose time ranges intersect (at
// most maxOverlaps of them; see OverlapCount), each archive of a pair
// named in start order.
func (tl *Timeline) Overlaps() []Overlap { return tl.overlaps }

// OverlapCount is the number of pairs of archives whose time ranges
// intersect, listed in Overlaps or not.
func (tl *Timeline) OverlapCount() int { return tl.nOverlaps }

// Span returns the start of the first archive and the best known end of the
// last (ns).
func (tl *Timeline) Span() (start, end int64) {
	if len(tl.entries) == 0 {
		return 0, 0
	}
	start = tl.entries[0].Start
	for _, e := range tl.entries {
		end = max(end, e.End())
	}
	return start, end
}

// Select returns the archives whose time ranges meet [t1, t2] (ns), in
// start order, found by binary search: those i with upper(i) >= t1 that
// start by t2, without looking at the others (a timeline may have many
// thousands of archives).
func (tl *Timeline) Select(t1, t2 int64) []*Entry {
	es := tl.entries
	// The first archive starting after t2 and everything later is out.
	hi := sort.Search(len(es), func(i int) bool { return es[i].Start > t2 })
	// From lo on, the next archive's start alone puts upper(i) >= t1.
	lo := sort.Search(hi, func(i int) bool { return i+1 >= len(es) || es[i+1].Start >= t1 })
	var out []*Entry
	if lo > 0 {
		// Before lo, upper(i) >= t1 only for an archive whose own end
		// reaches t1 (one overlapping its successors): none before the
		// first whose running maximum of ends does.
		ends := tl.reachEnds()
		for i := sort.Search(lo, func(i int) bool { return ends[i] >= t1 }); i < lo; i++ {
			if es[i].End() >= t1 {
				out = append(out, es[i])
			}
		}
	}
	return append(out, es[lo:hi]...)
}

// Opened is an archive of a timeline with its loaded metadata.
type Opened struct {
	Entry   *Entry
	Archive *archive.Archive
	Live    bool   // the newest archive of its host: pmlogger may still write it
	sig     string // of the files when opened (see ReportProblem)
}

// ReportProblem is Entry.ReportProblem for a failure met reading the
// archive as it was opened: a failure of files that have changed since
// (pmlogger_daily rewrote them, or a truncated volume was restored while
// the query read it) is not recorded against the files now there.
func (o Opened) ReportProblem(err error) {
	if o.Entry.set != nil && err != nil {
		o.Entry.set.noteProblemAt(o.Entry, err, o.sig)
	}
}

// Open loads the archives meeting [t1, t2] through the Set's cache. When
// the window reaches past the end of the last archive, the directory is
// rechecked first for new archives and the live archive for growth.
// Archives that cannot be opened are skipped and returned as errors.
func (tl *Timeline) Open(t1, t2 int64) ([]Opened, []error) {
	if len(tl.entries) > 0 && t2 > tl.entries[len(tl.entries)-1].readEnd() && tl.set != nil {
		if fresh := tl.set.recheck(tl.Host); fresh != nil {
			tl = fresh
		}
	}
	sel := tl.Select(t1, t2)
	var out []Opened
	var errs []error
	last := len(tl.entries) - 1
	for _, e := range sel {
		live := last >= 0 && e == tl.entries[last]
		a, err := tl.set.cache.get(e, live && t2 > e.readEnd())
		if live && errors.Is(err, archive.ErrNoData) {
			// pmlogger has labelled the files of a new archive and not
			// written its metadata yet: nothing to read, no problem.
			continue
		}
		if err != nil {
			tl.set.noteProblem(e, err)
			errs = append(errs, err)
			continue
		}
		out = append(out, Opened{Entry: e, Archive: a, Live: live, sig: filesSig(e.Files)})
	}
	return out, errs
}
