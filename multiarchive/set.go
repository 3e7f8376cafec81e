// Package multiarchive serves sets of PCP archives: it discovers archives
// under configured paths, groups them by host into timelines ordered by
// start time, opens them lazily through a small cache, reads across archive
// boundaries (synthesising the <mark> libpcp puts there), and notices new
// archives and growth while pmlogger writes.
package multiarchive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
)

// Options configures a Set.
type Options struct {
	Paths []string // archive base names, files, directories, comma lists
	// CacheArchives and CacheBytes bound the cache of opened archives
	// (metadata in memory). Bytes are counted as the size of each .meta.
	CacheArchives int
	CacheBytes    int64
	Logger        *slog.Logger
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// TableDir, when set, is where column tables of archives are kept
	// (see coltable.Table): whole tables of closed archives, prefix tables of each
	// host's newest; they are built in the background after a query first
	// reads an archive. TableSync builds them on demand instead. Open
	// creates the directory; if it cannot be written, tables are off and
	// TableStats.Problem says why.
	TableDir  string
	TableSync bool
	// TableAll makes whole tables of each host's newest archive too, for
	// sets known to be complete (tests, benchmarks, copied archives).
	TableAll bool
	// TableTail is how many bytes of records past the prefix table of a
	// host's newest archive make it worth extending (0: 4 MiB).
	TableTail int64
	// TableMaxBytes bounds the total size of the tables in TableDir:
	// past it, the least recently used go (0: no bound).
	TableMaxBytes int64
	// TableBuilders is how many tables are built at once in the
	// background, each on one CPU at most (0: one). Queries come first:
	// builders slow down while a query reads an archive directly.
	TableBuilders int
	// BacklogDelay is how long after Open, and after the last query that
	// read an archive directly, the backlog is first planned (at most 30 s
	// after Open): the first queries of a server just started come before
	// its indexing (0: at once).
	BacklogDelay time.Duration
	// XZ decodes the archives' multi-block .xz files (internal/xz); nil:
	// one made for the Set.
	XZ *xz.Decoder
}

// Set is every archive under the configured paths, one Timeline per host.
type Set struct {
	opts   Options
	log    *slog.Logger
	cache  *cache
	tables *tableStore
	// tableProblem is why Options.TableDir cannot hold tables (then
	// tables is nil); set by Open only.
	tableProblem string

	mu       sync.RWMutex
	hosts    map[string]*Timeline
	byDir    map[string][]found
	entries  map[string]*Entry // by base path, kept across rescans
	skipped  []Skipped
	scanned  time.Time
	scanMu   sync.Mutex        // one rescan at a time
	problems map[string]string // base path -> why it was skipped after discovery
	// problemSigs are the sizes and times of a problem archive's files
	// when it was found: a rescan forgets the problem once they change.
	problemSigs map[string]string
	grew        atomic.Uint64       // archive ends raised past the next one's start (Entry.next)
	stamps      map[string]dirStamp // host -> directory of its newest archive, before the last scan

	// tableList is the table directory's listing for Status (statusinfo.go).
	tableList tableListing
}

// Open discovers the archives under the configured paths. Archives that
// cannot be read are skipped and reported in Status. A Set may hold no
// archive yet (Hosts is empty): a directory pmlogger has not written to,
// or only damaged archives; rescans add them as they appear. Open fails,
// with no Set, only when no path is given.
func Open(opts Options) (*Set, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("no archive paths given")
	}
	if opts.CacheArchives <= 0 {
		opts.CacheArchives = 16
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 512 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.XZ == nil {
		// The Set's archives share one bound on background xz block
		// decoding, one per CPU, and one pool of block buffers.
		opts.XZ = xz.NewDecoder(xz.Options{MaxConcurrent: runtime.GOMAXPROCS(0)})
	}
	s := &Set{
		opts:     opts,
		log:      opts.Logger,
		cache:    newCache(opts.CacheArchives, opts.CacheBytes),
		entries:  map[string]*Entry{},
		problems: map[string]string{},

		problemSigs: map[string]string{},
	}
	if opts.TableDir != "" {
		// An unusable directory (read-only filesystem, a file in the way)
		// disables tables for good rather than failing every build; Status
		// says why.
		if err := checkTableDir(opts.TableDir); err != nil {
			s.tableProblem = err.Error()
		} else {
			s.tables = newTableStore(opts.TableDir, opts.TableSync, opts.TableTail, s)
		}
	}
	s.Rescan()
	return s, nil
}

// Rescan walks the configured paths again, adding new archives and dropping
// vanished ones. Directories holding a lock file keep their previous view.
func (s *Set) Rescan() {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	s.mu.RLock()
	prev, prevHosts := s.byDir, s.hosts
	stamps := stampNewestDirs(s.hosts)
	s.mu.RUnlock()
	byDir, skipped := scan(s.opts.Paths, prev)

	entries := map[string]*Entry{}
	hosts := map[string]*Timeline{}
	for _, list := range byDir {
		for _, f := range list {
			e := s.entry(f, &skipped)
			if e == nil {
				continue
			}
			entries[e.Files.Base] = e
			tl := hosts[e.Label.Hostname]
			if tl == nil {
				tl = &Timeline{Host: e.Label.Hostname, set: s}
				hosts[e.Label.Hostname] = tl
			}
			tl.entries = append(tl.entries, e)
		}
	}
	for _, tl := range hosts {
		tl.order()
		s.logOverlaps(tl, prevHosts[tl.Host])
	}
	for _, sk := range skipped {
		s.log.Warn("archive skipped", "path", sk.Path, "reason", sk.Reason)
	}
	s.mu.RLock()
	sigs := make(map[string]string, len(s.problems))
	for base := range s.problems {
		if e := entries[base]; e != nil {
			sigs[base] = filesSig(e.Files)
		}
	}
	s.mu.RUnlock()
	s.mu.Lock()
	// A cached archive is revalidated only while it is the newest of its
	// timeline. Drop the ones that stopped being the newest: pmlogger moved
	// on to a new archive after its last writes (a new volume, metadata, the
	// final record) to this one, and the next query must load those.
	wasNewest := map[*Entry]bool{}
	for _, tl := range s.hosts {
		if n := len(tl.entries); n > 0 {
			wasNewest[tl.entries[n-1]] = true
		}
	}
	for base, old := range s.entries {
		e := entries[base]
		if e == nil || wasNewest[old] && !isNewest(hosts[e.Label.Hostname], e) {
			s.cache.drop(base)
		}
	}
	// A problem belongs to the files it was found in: it goes with them
	// (an archive removed, compressed, rewritten or repaired in place).
	for base := range s.problems {
		if e := entries[base]; e == nil || e != s.entries[base] || sigs[base] != s.problemSigs[base] {
			delete(s.problems, base)
			delete(s.problemSigs, base)
		}
	}
	// The archives that stopped being their host's newest: pmlogger has
	// closed them, and their tables are finished now, while the files
	// are as pmlogger left them (pmlogger_daily compresses them later).
	var closed []*Entry
	for old := range wasNewest {
		if e := entries[old.Files.Base]; e != nil && !isNewest(hosts[e.Label.Hostname], e) {
			closed = append(closed, e)
		}
	}
	s.byDir, s.entries, s.hosts, s.skipped, s.scanned = byDir, entries, hosts, skipped, s.opts.Now()
	s.stamps = keepStamps(stamps, hosts)
	s.mu.Unlock()
	if s.tables != nil {
		s.tables.planBacklog(s.Hosts(), closed)
	}
}

// logOverlaps logs the overlaps of a timeline that its previous scan did
// not have: every rescan (once a minute) would repeat them, and a merged
// day beside its 288 five-minute pieces is 288 pairs. /status lists them all.
func (s *Set) logOverlaps(tl, prev *Timeline) {
	known := map[Overlap]bool{}
	if prev != nil {
		for _, o := range prev.overlaps {
			known[o] = true
		}
	}
	const most = 10 // pairs logged one by one per host and scan
	logged := 0
	for _, o := range tl.overlaps {
		if known[o] {
			continue
		}
		if logged++; logged <= most {
			s.log.Warn("archives overlap in time", "host", tl.Host, "first", o.First, "second", o.Second)
		}
	}
	if logged > most {
		s.log.Warn("more archives overlap in time: see /status", "host", tl.Host, "not_logged", logged-most, "pairs", tl.nOverlaps)
	}
}

// entry returns the Entry of a found archive, reusing the previous scan's
// when its files are unchanged, or probing its label and index.
func (s *Set) entry(f found, skipped *[]Skipped) *Entry {
	s.mu.RLock()
	old := s.entries[f.files.Base]
	s.mu.RUnlock()
	if old != nil && old.sameFiles(f.files) {
		return old
	}
	f.files.XZ = s.opts.XZ
	l, idx, err := archive.Probe(f.files)
	if err != nil {
		*skipped = append(*skipped, Skipped{Path: f.files.Base, Reason: err.Error()})
		return nil
	}
	e := &Entry{Files: f.files, Label: l, Start: l.Start, end: l.Start, set: s}
	if n := len(idx); n > 0 && idx[n-1].Time > e.end {
		e.end = idx[n-1].Time
	}
	if old != nil && old.Label.Start == l.Start {
		// Same archive, grown (new volume, more metadata): keep what we knew.
		old.mu.Lock()
		e.exactEnd = old.exactEnd
		old.mu.Unlock()
	}
	return e
}

func isNewest(tl *Timeline, e *Entry) bool {
	return tl != nil && len(tl.entries) > 0 && tl.entries[len(tl.entries)-1] == e
}

// Hosts returns the timelines, sorted by host name.
func (s *Set) Hosts() []*Timeline {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Timeline, 0, len(s.hosts))
	for _, tl := range s.hosts {
		out = append(out, tl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// Span returns the earliest start and latest known end over all hosts.
func (s *Set) Span() (start, end int64) {
	start, end = math.MaxInt64, math.MinInt64
	for _, tl := range s.Hosts() {
		a, b := tl.Span()
		start, end = min(start, a), max(end, b)
	}
	return start, end
}

// noteProblem records an archive that failed after discovery (corrupt data,
// vanished files), for the status report. A failure of files a rescan has
// since replaced (compressed, rewritten, removed) is not recorded: the
// archive's current files decide. Each problem is logged once, not on
// every query that meets it.
func (s *Set) noteProblem(e *Entry, err error) {
	s.noteProblemAt(e, err, "")
}

// noteProblemAt is noteProblem for a failure met reading the files as
// they were when their signature was read (read; "" for now): one they no
// longer have (restored or rewritten while the query read them) is not
// recorded, nor kept against the files that replaced them.
func (s *Set) noteProblemAt(e *Entry, err error, read string) {
	base := e.Files.Base
	sig := filesSig(e.Files)
	if read != "" && read != sig {
		return
	}
	s.mu.Lock()
	if s.entries[base] != e {
		s.mu.Unlock()
		return
	}
	known := s.problems[base] == err.Error()
	s.problems[base] = err.Error()
	s.problemSigs[base] = sig
	s.mu.Unlock()
	if !known {
		s.log.Warn("archive unreadable, skipped", "archive", base, "err", err)
	}
}

// minRecheck is how often a query reaching past the end of a host's last
// archive may rescan: new archives and volumes show up within this time.
const minRecheck = time.Second

// recheck rescans when the last scan is older than minRecheck and returns
// the host's new timeline.
func (s *Set) recheck(host string) *Timeline {
	s.mu.RLock()
	stale := s.opts.Now().Sub(s.scanned) >= minRecheck
	st, stamped := s.stamps[host]
	s.mu.RUnlock()
	if !stale || stamped && st.unchanged() {
		return nil
	}
	s.Rescan()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hosts[host]
}

// Watch rescans every interval until ctx is done: new archives appear
// without a query having to reach past the end of a timeline.
func (s *Set) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Rescan()
		}
	}
}

// Status is what the server reports about its archives.
type Status struct {
	Hosts   []HostStatus `json:"hosts"`
	Skipped []Skipped    `json:"skipped"`
	Cache   CacheStats   `json:"cache"`
	Tables  TableStats   `json:"tables"`
	Scanned time.Time    `json:"scanned"`
}

// HostStatus describes one timeline.
type HostStatus struct {
	Host     string          `json:"host"`
	Start    time.Time       `json:"start"`
	End      time.Time       `json:"end"`
	Archives []ArchiveStatus `json:"archives"`
	// Overlaps lists every pair of archives whose time ranges intersect,
	// up to 1,000; OverlapCount counts them all.
	Overlaps     []Overlap `json:"overlaps"`
	OverlapCount int       `json:"overlap_count"`
}

// ArchiveStatus describes one archive.
type ArchiveStatus struct {
	Path    string    `json:"path"`
	Version int       `json:"version"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Volumes int       `json:"volumes"`
	Problem string    `json:"problem,omitempty"`
	// Table is the archive's column table: TableComplete, TablePrefix or
	// "" (none yet: a query reading the archive has its table built).
	// TableEnd is the last record a prefix table covers, when the table
	// is in memory; TableQueued says a build or extension waits for the
	// builder; TableProblem is why no table can be built (the archive is
	// read directly). See statusinfo.go.
	Table        string     `json:"table,omitempty"`
	TableEnd     *time.Time `json:"table_end,omitempty"`
	TableQueued  bool       `json:"table_queued,omitempty"`
	TableProblem string     `json:"table_problem,omitempty"`

	hash uint64 // of Path, as table names begin (statusinfo.go); 0 if not known
}

// Status returns a snapshot for the status page and /metrics. The end of
// each host's newest archive is its last record now (Entry.refreshEnd),
// not the last index entry seen at the last scan.
func (s *Set) Status() Status {
	st := Status{Cache: s.cache.stats(), Tables: s.tableStats()}
	hosts := s.Hosts()
	for _, tl := range hosts {
		if n := len(tl.entries); n > 0 {
			tl.entries[n-1].refreshEnd() // before problems are copied: it may find one
		}
	}
	s.mu.RLock()
	st.Skipped = append([]Skipped{}, s.skipped...)
	st.Scanned = s.scanned
	problems := make(map[string]string, len(s.problems))
	for k, v := range s.problems {
		problems[k] = v
	}
	s.mu.RUnlock()
	var ph *pathHasher
	if s.tables != nil {
		ph = newPathHasher()
	}
	for _, tl := range hosts {
		a, b := tl.Span()
		hs := HostStatus{Host: tl.Host, Start: time.Unix(0, a).UTC(), End: time.Unix(0, b).UTC(), Overlaps: tl.overlaps, OverlapCount: tl.nOverlaps,
			Archives: make([]ArchiveStatus, 0, len(tl.entries))}
		for _, e := range tl.entries {
			hs.Archives = append(hs.Archives, ArchiveStatus{
				Path: e.Files.Base, Version: e.Label.Version, Volumes: len(e.Files.Volumes),
				Start: time.Unix(0, e.Start).UTC(), End: time.Unix(0, e.End()).UTC(),
				Problem: problems[e.Files.Base], hash: e.tableHash(ph),
			})
		}
		if hs.Overlaps == nil {
			hs.Overlaps = []Overlap{}
		}
		st.Hosts = append(st.Hosts, hs)
	}
	if st.Skipped == nil {
		st.Skipped = []Skipped{}
	}
	s.tableInfo(&st)
	return st
}

// filesSig is the paths, sizes and modification times of an archive's
// files.
func filesSig(f archive.Files) string {
	var b strings.Builder
	for _, p := range filePaths(f) {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s -\n", p)
		}
	}
	return b.String()
}
