package multiarchive

import (
	"errors"
	"math"
	"sort"
	"sync"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// Entry is one archive of a timeline. Only its label and index were read
// at discovery; metadata is loaded through the Set's cache when needed.
type Entry struct {
	Files archive.Files
	Label archive.Label
	Start int64 // ns, from the label

	mu       sync.Mutex
	end      int64 // best known end: the last index entry, or later knowledge
	exactEnd int64 // the last record's time, once read to the end; 0 if unknown
}

// End returns the best known end of the archive (ns).
func (e *Entry) End() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.end
}

// noteTime raises the known end after a record at t was read.
func (e *Entry) noteTime(t int64) {
	e.mu.Lock()
	if t > e.end {
		e.end = t
	}
	e.mu.Unlock()
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
	Host     string
	set      *Set
	entries  []*Entry // immutable once ordered; a rescan builds a new Timeline
	overlaps []Overlap
}

func (tl *Timeline) order() {
	sort.Slice(tl.entries, func(i, j int) bool {
		a, b := tl.entries[i], tl.entries[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.Files.Base < b.Files.Base
	})
	for i := 0; i+1 < len(tl.entries); i++ {
		a, b := tl.entries[i], tl.entries[i+1]
		if a.End() > b.Start || a.Start == b.Start {
			tl.overlaps = append(tl.overlaps, Overlap{First: a.Files.Base, Second: b.Files.Base})
		}
	}
}

// Entries returns the archives in start-time order.
func (tl *Timeline) Entries() []*Entry { return tl.entries }

// Overlaps returns the pairs of archives whose time ranges intersect.
func (tl *Timeline) Overlaps() []Overlap { return tl.overlaps }

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

// upper is a bound no record of entry i lies after: the next archive's
// start, unless the archive is known to run past it (an overlap); the last
// archive may still be growing.
func (tl *Timeline) upper(i int) int64 {
	if i+1 >= len(tl.entries) {
		return math.MaxInt64
	}
	return max(tl.entries[i].End(), tl.entries[i+1].Start)
}

// Select returns the archives whose time ranges meet [t1, t2] (ns), in
// start order, found by binary search.
func (tl *Timeline) Select(t1, t2 int64) []*Entry {
	es := tl.entries
	// The first archive starting after t2 and everything later is out.
	hi := sort.Search(len(es), func(i int) bool { return es[i].Start > t2 })
	var out []*Entry
	for i := 0; i < hi; i++ {
		if tl.upper(i) >= t1 {
			out = append(out, es[i])
		}
	}
	return out
}

// Opened is an archive of a timeline with its loaded metadata.
type Opened struct {
	Entry   *Entry
	Archive *archive.Archive
}

// Open loads the archives meeting [t1, t2] through the Set's cache. When
// the window reaches past the end of the last archive, the directory is
// rechecked first for new archives and the live archive for growth.
// Archives that cannot be opened are skipped and returned as errors.
func (tl *Timeline) Open(t1, t2 int64) ([]Opened, []error) {
	if len(tl.entries) > 0 && t2 > tl.entries[len(tl.entries)-1].End() && tl.set != nil {
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
		a, err := tl.set.cache.get(e, live && t2 > e.End())
		if live && errors.Is(err, archive.ErrNoData) {
			// pmlogger has labelled the files of a new archive and not
			// written its metadata yet: nothing to read, no problem.
			continue
		}
		if err != nil {
			tl.set.noteProblem(e.Files.Base, err)
			errs = append(errs, err)
			continue
		}
		out = append(out, Opened{Entry: e, Archive: a})
	}
	return out, errs
}
