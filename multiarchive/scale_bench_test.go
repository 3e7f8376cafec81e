package multiarchive_test

// Scale benchmarks: a directory of 10,000 small archives of one
// host, written by libpcp's archive writer (testdata/gen/make-scale.py), in
// bench/cache/ (gitignored), generated on first use and reused after.
//
//	make bench-scale
//	go test -run '^$' -bench Scale -benchmem ./multiarchive/
//
// PCP_SCALE_DIR names another set (made by make-scale.py); PCP_SCALE_ARCHIVES
// changes the size of the default one. Figures are reported with
// b.ReportMetric; the one assertion is the open file descriptor bound.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// fdBound is the most file descriptors the whole test process may hold
// while it opens the set or queries it, however many archives there are.
const fdBound = 64

var scale struct {
	once sync.Once
	dir  string
	n    int
	err  error

	mu   sync.Mutex
	sets map[int]*multiarchive.Set // by CacheArchives
}

// scaleCorpus returns the directory of the scale set, generating it first
// when it is missing.
func scaleCorpus(b *testing.B) (string, int) {
	b.Helper()
	if testing.Short() {
		b.Skip("scale benchmarks are not run with -short")
	}
	scale.once.Do(func() {
		scale.n = 10000
		if v := os.Getenv("PCP_SCALE_ARCHIVES"); v != "" {
			if scale.n, scale.err = strconv.Atoi(v); scale.err != nil {
				return
			}
		}
		scale.dir = os.Getenv("PCP_SCALE_DIR")
		if scale.dir == "" {
			scale.dir = filepath.Join(pcptest.RepoRoot(b), "bench", "cache", fmt.Sprintf("scale-n%d-s1", scale.n))
		}
		manifest := filepath.Join(scale.dir, "MANIFEST")
		if _, err := os.Stat(manifest); err != nil {
			if exec.Command("/usr/bin/python3", "-c", "import pcp.pmi").Run() != nil {
				scale.err = errNoPMI
				return
			}
			gen := filepath.Join(pcptest.RepoRoot(b), "testdata", "gen", "make-scale.py")
			out, err := exec.Command("/usr/bin/python3", gen, scale.dir, "--archives", strconv.Itoa(scale.n)).CombinedOutput()
			if err != nil {
				scale.err = fmt.Errorf("make-scale.py: %v\n%s", err, out)
				return
			}
			fmt.Fprint(os.Stderr, string(out))
		}
		// The set made before (or named by PCP_SCALE_DIR) says its size.
		var m struct{ Archives int }
		buf, err := os.ReadFile(manifest)
		if err == nil {
			err = json.Unmarshal(buf, &m)
		}
		if err != nil || m.Archives < 100 {
			scale.err = fmt.Errorf("%s: %v (want a set of at least 100 archives made by make-scale.py)", manifest, err)
			return
		}
		scale.n = m.Archives
	})
	if scale.err == errNoPMI {
		pcptest.Require(b, "python3-pcp for /usr/bin/python3 (make deps)", false)
	}
	if scale.err != nil {
		b.Fatal(scale.err)
	}
	return scale.dir, scale.n
}

var errNoPMI = fmt.Errorf("no pcp.pmi")

// scaleSet returns the whole set opened with the given cache size, opened
// once per process.
func scaleSet(b *testing.B, cacheArchives int) (*multiarchive.Set, *multiarchive.Timeline) {
	b.Helper()
	dir, n := scaleCorpus(b)
	scale.mu.Lock()
	defer scale.mu.Unlock()
	if scale.sets == nil {
		scale.sets = map[int]*multiarchive.Set{}
	}
	s := scale.sets[cacheArchives]
	if s == nil {
		var err error
		s, err = multiarchive.Open(multiarchive.Options{Paths: []string{dir}, CacheArchives: cacheArchives})
		if err != nil {
			b.Fatal(err)
		}
		scale.sets[cacheArchives] = s
	}
	hosts := s.Hosts()
	if len(hosts) == 0 || countArchives(s) != n {
		b.Fatalf("%s: %d hosts, %d archives, want %d archives", dir, len(hosts), countArchives(s), n)
	}
	return s, hosts[0]
}

func countArchives(s *multiarchive.Set) int {
	n := 0
	for _, tl := range s.Hosts() {
		n += len(tl.Entries())
	}
	return n
}

// openFDs counts this process's open file descriptors (-1: unknown).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read
}

// raise sets peak to n if n is larger.
func raise(peak *atomic.Int64, n int) {
	for {
		p := peak.Load()
		if int64(n) <= p || peak.CompareAndSwap(p, int64(n)) {
			return
		}
	}
}

// fdWatch samples the descriptor count in the background until stopped and
// returns the largest seen.
func fdWatch(b *testing.B) (stop func() int) {
	if openFDs() < 0 {
		b.Skip("no /proc/self/fd to count open file descriptors")
	}
	var peak atomic.Int64
	raise(&peak, openFDs())
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			raise(&peak, openFDs())
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() int {
		close(done)
		<-finished
		return int(peak.Load())
	}
}

func checkFDs(b *testing.B, what string, n int) {
	b.Helper()
	b.ReportMetric(float64(n), "max-fds")
	if n >= fdBound {
		b.Fatalf("%s: %d open file descriptors, bound %d", what, n, fdBound)
	}
}

// query reads [t1, t2] of a timeline and returns the records read.
func query(b *testing.B, tl *multiarchive.Timeline, t1, t2 int64, at func()) int {
	n, err := queryErr(tl, t1, t2, at)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// queryErr is query for other goroutines than the benchmark's. At each
// archive it enters it calls at (when not nil).
func queryErr(tl *multiarchive.Timeline, t1, t2 int64, at func()) (int, error) {
	arcs, errs := tl.Open(t1, t2)
	if len(errs) > 0 {
		return 0, fmt.Errorf("opening archives: %v", errs)
	}
	r := multiarchive.NewReader(context.Background(), arcs, multiarchive.ReadOptions{Start: t1, End: t2})
	n, cur := 0, -1
	for r.Next() {
		if at != nil {
			if _, i := r.Current(); i != cur {
				cur = i
				at()
			}
		}
		n++
	}
	r.Close()
	if len(r.Warnings()) > 0 || r.Err() != nil {
		return n, fmt.Errorf("reading: %v %v", r.Warnings(), r.Err())
	}
	return n, nil
}

// readRaw is the same query on an already loaded archive: the floor.
func readRaw(b *testing.B, a *archive.Archive, t1, t2 int64) int {
	r := a.NewReader(archive.ReaderOptions{Start: t1, End: t2})
	n := 0
	for r.Next() {
		n++
	}
	r.Close()
	if r.Err() != nil {
		b.Fatal(r.Err())
	}
	return n
}

// alone copies one archive of the set into a directory of its own and opens
// it as a set: the same query on that archive alone.
func alone(b *testing.B, e *multiarchive.Entry) (*multiarchive.Timeline, *archive.Archive) {
	dir := b.TempDir()
	files := []string{e.Files.Meta, e.Files.Index}
	for _, v := range e.Files.Volumes {
		files = append(files, v.Path)
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		if err := copyFile(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			b.Fatal(err)
		}
	}
	s, err := multiarchive.Open(multiarchive.Options{Paths: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	a, err := archive.Open(filepath.Join(dir, filepath.Base(e.Files.Base)))
	if err != nil {
		b.Fatal(err)
	}
	return s.Hosts()[0], a
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// window is a query inside one archive: from just after its first record to
// its last, so that no neighbour is touched.
func window(e *multiarchive.Entry) (int64, int64) { return e.Start + 1, e.End() }

// BenchmarkScaleOpen measures startup: discovering the 10,000 archives and
// reading each one's label and index. It reports the heap the open Set
// holds (after a GC), the process RSS before and after (the whole test
// binary), and the most file descriptors open at any time during the opens.
func BenchmarkScaleOpen(b *testing.B) {
	dir, n := scaleCorpus(b)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rss0 := rssMiB()
	stop := fdWatch(b)
	var s *multiarchive.Set
	for b.Loop() {
		var err error
		if s, err = multiarchive.Open(multiarchive.Options{Paths: []string{dir}}); err != nil {
			b.Fatal(err)
		}
	}
	checkFDs(b, "Open", stop())
	if got := countArchives(s); got != n {
		b.Fatalf("found %d archives, want %d", got, n)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	b.ReportMetric(heap/(1<<20), "heap-MiB")
	b.ReportMetric(heap/float64(n), "heap-B/archive")
	b.ReportMetric(rssMiB(), "rss-MiB")
	b.ReportMetric(rss0, "rss-before-MiB")
	b.ReportMetric(float64(n), "archives")
	runtime.KeepAlive(s)
}

// rssMiB is the process's resident set size (the whole test binary).
func rssMiB() float64 {
	buf, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(buf), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkScaleRescan is a rescan of the unchanged set: what a query that
// reaches past the end of the newest archive costs at most once a second,
// and what each tick of --rescan costs.
func BenchmarkScaleRescan(b *testing.B) {
	s, _ := scaleSet(b, 16)
	b.ReportAllocs()
	for b.Loop() {
		s.Rescan()
	}
}

// BenchmarkScaleQuery compares a query that touches one archive of the
// 10,000 (first, middle, next-to-last and last) with the same query on that
// archive alone: a set of just a copy of it ("alone"), and the archive
// opened directly, without multiarchive ("raw", the floor). The two are
// timed interleaved, query for query; "x-alone" is set/alone (means), the
// figure whose target is at most 1.5, "x-alone-p50" the same of medians, and
// "x-raw" set/raw. The archive stays in the
// cache, as it does for repeated queries of a dashboard.
//
// "live-end" asks from inside the newest archive to far past its end, as
// Prometheus' read_recent queries do: the set revalidates the newest
// archive and, at most once a second, rescans for new archives.
func BenchmarkScaleQuery(b *testing.B) {
	_, tl := scaleSet(b, 16)
	es := tl.Entries()
	n := len(es)
	type pos struct {
		name  string
		i     int
		toNow bool
	}
	for _, p := range []pos{{"first", 0, false}, {"middle", n / 2, false}, {"next-to-last", n - 2, false}, {"last", n - 1, false}, {"live-end", n - 1, true}} {
		b.Run(p.name, func(b *testing.B) {
			e := es[p.i]
			t1, t2 := window(e)
			if p.toNow {
				t2 = time.Now().Add(time.Hour).UnixNano()
			}
			atl, a := alone(b, e)
			want := readRaw(b, a, t1, t2)
			if got := query(b, tl, t1, t2, nil); got != want {
				b.Fatalf("set query read %d records, the archive alone %d", got, want)
			}
			if got := query(b, atl, t1, t2, nil); got != want {
				b.Fatalf("alone query read %d records, the archive %d", got, want)
			}
			var set, single, raw []time.Duration
			for b.Loop() {
				t := time.Now()
				query(b, tl, t1, t2, nil)
				t0 := time.Now()
				query(b, atl, t1, t2, nil)
				t00 := time.Now()
				readRaw(b, a, t1, t2)
				set, single, raw = append(set, t0.Sub(t)), append(single, t00.Sub(t0)), append(raw, time.Since(t00))
			}
			// Means carry what happens once in a while (a rescan, a GC);
			// medians are steadier on a busy machine.
			b.ReportMetric(mean(set), "set-ns/query")
			b.ReportMetric(mean(single), "alone-ns/query")
			b.ReportMetric(mean(raw), "raw-ns/query")
			b.ReportMetric(mean(set)/mean(single), "x-alone")
			b.ReportMetric(mean(set)/mean(raw), "x-raw")
			b.ReportMetric(median(set)/median(single), "x-alone-p50")
			b.ReportMetric(float64(want), "records/query")
		})
	}
}

func mean(ds []time.Duration) float64 {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return float64(sum) / float64(max(len(ds), 1))
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[len(ds)/2])
}

// BenchmarkScaleQueryAllocs is the one-archive query of the middle archive
// alone in the loop, for ns/op and allocations: in the set of 10,000 and on
// a copy of the archive as a set of its own.
func BenchmarkScaleQueryAllocs(b *testing.B) {
	_, tl := scaleSet(b, 16)
	e := tl.Entries()[len(tl.Entries())/2]
	t1, t2 := window(e)
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			query(b, tl, t1, t2, nil)
		}
	})
	b.Run("alone", func(b *testing.B) {
		atl, _ := alone(b, e)
		b.ReportAllocs()
		for b.Loop() {
			query(b, atl, t1, t2, nil)
		}
	})
}

// BenchmarkScaleSweep is one query across 1,000 consecutive archives (about
// 3.5 days), by one reader and by 4 at once, counting the open file
// descriptors at every archive the readers enter and in the background:
// they must stay below fdBound. This is the assertion of the scale set.
func BenchmarkScaleSweep(b *testing.B) {
	_, tl := scaleSet(b, 16)
	es := tl.Entries()
	lo := len(es) / 3
	hi := min(lo+1000, len(es)) - 1
	t1, t2 := es[lo].Start, es[hi].End()
	for _, readers := range []int{1, 4} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			var peak atomic.Int64
			at := func() { raise(&peak, openFDs()) }
			stop := fdWatch(b)
			records := 0
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				counts := make([]int, readers)
				errs := make([]error, readers)
				for g := range readers {
					wg.Go(func() { counts[g], errs[g] = queryErr(tl, t1, t2, at) })
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				records = counts[0]
			}
			checkFDs(b, "sweep", max(stop(), int(peak.Load())))
			b.ReportMetric(float64(hi-lo+1), "archives/query")
			b.ReportMetric(float64(records), "records/query")
		})
	}
}

// BenchmarkScaleCrossing measures crossing archive boundaries back and
// forth with the LRU of opened archives (CacheArchives=16, the design's
// option 3) and without it (CacheArchives=1: every switch reopens the
// archive, metadata and all, the design's option 1). Each op is one query
// of one archive's window (or, for span, one query across the boundary
// between two archives), going round the archives of the pattern:
//
//	A-B        two neighbouring archives alternately
//	A-B-far    two archives half the set (5,000) apart alternately
//	4-cycle    4 neighbouring archives in turn
//	32-cycle   32 in turn: more than the LRU holds, so it misses every time too
//	span       one query over the boundary of A and B (touches both)
func BenchmarkScaleCrossing(b *testing.B) {
	type pattern struct {
		name    string
		windows func(es []*multiarchive.Entry) [][2]int64
	}
	one := func(idx ...int) func(es []*multiarchive.Entry) [][2]int64 {
		return func(es []*multiarchive.Entry) [][2]int64 {
			var w [][2]int64
			for _, i := range idx {
				t1, t2 := window(es[i])
				w = append(w, [2]int64{t1, t2})
			}
			return w
		}
	}
	seq := func(from, n int) []int {
		var out []int
		for i := range n {
			out = append(out, from+i)
		}
		return out
	}
	_, n := scaleCorpus(b)
	a := n / 10
	patterns := []pattern{
		{"A-B", one(a, a+1)},
		{"A-B-far", one(a, a+n/2)},
		{"4-cycle", one(seq(a, 4)...)},
		{"32-cycle", one(seq(a, 32)...)},
		{"span", func(es []*multiarchive.Entry) [][2]int64 {
			return [][2]int64{{es[a].End() - 30e9, es[a+1].Start + 30e9}}
		}},
	}
	for _, p := range patterns {
		for _, cache := range []int{16, 1} {
			b.Run(fmt.Sprintf("%s/cache=%d", p.name, cache), func(b *testing.B) {
				s, tl := scaleSet(b, cache)
				ws := p.windows(tl.Entries())
				for _, w := range ws { // warm: the page cache, and the LRU
					query(b, tl, w[0], w[1], nil)
				}
				st0 := s.Status().Cache
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					w := ws[i%len(ws)]
					i++
					query(b, tl, w[0], w[1], nil)
				}
				st := s.Status().Cache
				if lookups := (st.Hits - st0.Hits) + (st.Misses - st0.Misses); lookups > 0 {
					b.ReportMetric(float64(st.Hits-st0.Hits)/float64(lookups), "hit-ratio")
				}
			})
		}
	}
}
