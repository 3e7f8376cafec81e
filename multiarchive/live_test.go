package multiarchive_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/pmns"
)

const (
	livePoll   = 200 * time.Millisecond  // how often the test reads, like a busy dashboard
	liveMaxLag = 2 * time.Second         // new data must show within this
	liveVolume = "3s"                    // pmlogger -v: a new volume every 3 s
	phase1     = 10 * time.Second        // first pmlogger: volumes 0-3
	idleGap    = 3500 * time.Millisecond // no queries: longer than a volume
	phase2     = 4 * time.Second         // second pmlogger, after it shows up
	phase3     = 2 * time.Second         // third pmlogger
)

// recKey names one data record of the directory.
type recKey struct {
	archive string
	vol     int
	off     int64
}

// boundary is a <mark> record returned by a read, with its neighbours.
type boundary struct {
	t            int64
	before       string // archive the mark closes
	prevT, nextT int64  // the records on either side (nextT 0: none yet)
	after        string // archive of the next record
}

// liveRead is what one read of the host's whole timeline returned.
type liveRead struct {
	at       time.Time // when the read had finished
	archives []string  // in timeline order
	recs     map[recKey]int64
	order    []recKey // data records in read order
	marks    []boundary
	newest   int64
	vols     map[string]map[int]bool // volumes each archive's records came from
	values   map[string]int          // values read, per archive
}

// readTimeline reads the only host's whole timeline up to now through s,
// as the server does for a query ending now. Any error, reader warning or
// archive warning fails the test: pmlogger writing is no excuse for one.
func readTimeline(t *testing.T, s *multiarchive.Set, what string) liveRead {
	t.Helper()
	hosts := s.Hosts()
	if len(hosts) != 1 {
		t.Fatalf("%s: want 1 host, got %d", what, len(hosts))
	}
	opened, errs := hosts[0].Open(0, time.Now().UnixNano())
	if len(errs) > 0 {
		t.Fatalf("%s: Timeline.Open: %v", what, errs)
	}
	lr := liveRead{recs: map[recKey]int64{}, vols: map[string]map[int]bool{}, values: map[string]int{}}
	for _, o := range opened {
		name := filepath.Base(o.Entry.Files.Base)
		lr.archives = append(lr.archives, name)
		lr.vols[name] = map[int]bool{}
		if len(o.Archive.Warnings) > 0 {
			t.Fatalf("%s: archive %s: warnings %q", what, name, o.Archive.Warnings)
		}
	}
	r := multiarchive.NewReader(context.Background(), opened, multiarchive.ReadOptions{})
	defer r.Close()
	var prevT int64
	for r.Next() {
		rec := r.Record()
		o, _ := r.Current()
		name := filepath.Base(o.Entry.Files.Base)
		if rec.Time < prevT {
			t.Fatalf("%s: record at %d (%s vol %d offset %d) after one at %d", what, rec.Time, name, rec.Vol, rec.Offset, prevT)
		}
		if rec.Mark {
			lr.marks = append(lr.marks, boundary{t: rec.Time, before: name, prevT: prevT})
			prevT = rec.Time
			continue
		}
		if n := len(lr.marks); n > 0 && lr.marks[n-1].nextT == 0 {
			lr.marks[n-1].nextT, lr.marks[n-1].after = rec.Time, name
		}
		prevT = rec.Time
		k := recKey{name, rec.Vol, rec.Offset}
		lr.recs[k] = rec.Time
		lr.order = append(lr.order, k)
		lr.newest = max(lr.newest, rec.Time)
		lr.vols[name][rec.Vol] = true
		for _, vs := range rec.Sets() {
			lr.values[name] += int(max(vs.NumVal, 0))
		}
	}
	if w := r.Warnings(); len(w) > 0 {
		t.Fatalf("%s: reader warnings: %v", what, w)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	lr.at = time.Now()
	return lr
}

// liveWatch follows what the long-lived Set returns poll after poll.
type liveWatch struct {
	t     *testing.T
	set   *multiarchive.Set // one Set for the whole test, like the server's
	dir   string
	since time.Time            // records stamped earlier existed before the Set
	first map[recKey]time.Time // when the Set first returned each record
	disk  map[recKey]time.Time // when a freshly opened Set first did
	last  liveRead             // the Set's latest read
	polls int
	grew  int           // polls that returned a newer record than the one before
	slow  time.Duration // the slowest read through the Set
}

// poll reads the timeline through the long-lived Set, and through a Set
// opened just now (no cache, no rate limit: what is on disk), and checks
// that the long-lived Set lost nothing it returned before.
func (w *liveWatch) poll() liveRead {
	t := w.t
	t.Helper()
	start := time.Now()
	lr := readTimeline(t, w.set, fmt.Sprintf("poll %d", w.polls))
	w.slow = max(w.slow, lr.at.Sub(start))
	fresh, err := multiarchive.Open(multiarchive.Options{Paths: []string{w.dir}})
	if err != nil {
		t.Fatalf("poll %d: opening a fresh Set: %v", w.polls, err)
	}
	disk := readTimeline(t, fresh, fmt.Sprintf("poll %d (fresh Set)", w.polls))
	w.polls++

	for k := range lr.recs {
		if _, ok := w.first[k]; !ok {
			w.first[k] = lr.at
		}
	}
	for k := range disk.recs {
		if _, ok := w.disk[k]; !ok {
			w.disk[k] = disk.at
		}
	}
	// What the Set returned once it returns again: the records (and so
	// their count) and the newest time only grow.
	for k := range w.last.recs {
		if _, ok := lr.recs[k]; !ok {
			t.Fatalf("poll %d: record %+v returned before is gone", w.polls, k)
		}
	}
	if lr.newest < w.last.newest || len(lr.recs) < len(w.last.recs) {
		t.Fatalf("poll %d: newest %d < %d or %d records < %d", w.polls, lr.newest, w.last.newest, len(lr.recs), len(w.last.recs))
	}
	if lr.newest > w.last.newest {
		w.grew++
	}
	w.last = lr
	return lr
}

// pollFor polls every livePoll for d, or until done returns true.
func (w *liveWatch) pollFor(d time.Duration, done func(liveRead) bool) liveRead {
	var lr liveRead
	for end := time.Now().Add(d); ; {
		next := time.Now().Add(livePoll)
		lr = w.poll()
		if done != nil && done(lr) || time.Now().After(end) {
			return lr
		}
		time.Sleep(time.Until(next))
	}
}

// TestLivePmlogger reads a directory while pmlogger writes it: growing data,
// volume switches every few seconds, pmlogger restarts into new archives.
// One long-lived Set, like the server's, must return new records within 2 s
// of their timestamps, never an error or warning, never less than before,
// and in the end exactly what libpcp reads from the directory.
func TestLivePmlogger(t *testing.T) {
	if testing.Short() {
		t.Skip("runs pmlogger for about 20 s")
	}
	pcptest.RequireLibpcpPython(t)
	pcptest.PMCD(t)
	began := time.Now()

	dir := t.TempDir() // the archives, and nothing else
	work := t.TempDir()
	config := filepath.Join(work, "pmlogger.config")
	if err := os.WriteFile(config, []byte(pcptest.LoggerConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var loggers []*pcptest.Pmlogger
	defer func() {
		for _, p := range loggers {
			if t.Failed() {
				t.Logf("%s:\n%s", p.Log, p.LogText())
			}
		}
	}()
	start := func(name string) *pcptest.Pmlogger {
		p := pcptest.StartPmlogger(t, config, filepath.Join(dir, name), filepath.Join(work, name+".log"),
			"-t", "1s", "-v", liveVolume)
		loggers = append(loggers, p)
		return p
	}
	stop := func(p *pcptest.Pmlogger) {
		if err := p.Stop(); err != nil {
			t.Fatalf("stopping pmlogger %s: %v", p.Base, err)
		}
	}
	// shows is the state after n archives: n archives read, a mark
	// between each two, values from every one.
	shows := func(n int) func(liveRead) bool {
		return func(lr liveRead) bool {
			if len(lr.archives) != n || len(lr.marks) != n-1 {
				return false
			}
			for _, a := range lr.archives {
				if lr.values[a] == 0 {
					return false
				}
			}
			return true
		}
	}

	// The Set is opened once the first archive has a record, as a server
	// started on an existing directory would be.
	p1 := start("live1")
	p1.WaitRecord(t)
	var logs pcptest.LogBuffer
	set, err := multiarchive.Open(multiarchive.Options{
		Paths:  []string{dir},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &liveWatch{t: t, set: set, dir: dir, since: time.Now(),
		first: map[recKey]time.Time{}, disk: map[recKey]time.Time{}}

	// Phase 1: one pmlogger, switching volumes.
	if lr := w.pollFor(phase1, nil); !shows(1)(lr) {
		t.Fatalf("one pmlogger: archives %v, marks %+v, values %v", lr.archives, lr.marks, lr.values)
	}

	// Phase 2: pmlogger restarted into a new archive while queries go on.
	stop(p1)
	start("live2")
	lr := w.pollFor(10*time.Second, shows(2))
	if !shows(2)(lr) {
		t.Fatalf("10 s after the restart: archives %v, marks %+v, values %v", lr.archives, lr.marks, lr.values)
	}
	restartSeen := lr.at
	w.pollFor(phase2, nil)

	// Phase 3: nobody queries for longer than a volume. pmlogger switches
	// volume unseen and is restarted again; the first query after that
	// must return the last volume of live2, no longer the newest archive.
	idle := time.Now()
	time.Sleep(idleGap)
	stop(loggers[1])
	p3 := start("live3")
	p3.WaitRecord(t)
	resumed := time.Now()
	lr = w.poll()
	if !shows(3)(lr) {
		t.Fatalf("after the second restart: archives %v, marks %+v, values %v", lr.archives, lr.marks, lr.values)
	}
	checkVolumes(t, dir, "live2", lr)
	w.pollFor(phase3, nil)
	stop(p3)
	lastPoll := w.last.at

	// All pmloggers have exited: the long-lived Set reads the final state.
	final := w.poll()
	if got := strings.Join(final.archives, ","); got != "live1,live2,live3" {
		t.Fatalf("archives %s, want live1,live2,live3", got)
	}
	fresh := pcptest.OpenSet(t, multiarchive.Options{}, dir)
	if disk := readTimeline(t, fresh, "fresh Set at the end"); fmt.Sprint(disk.order) != fmt.Sprint(final.order) {
		t.Fatalf("the long-lived Set reads %d records, a fresh one %d", len(final.order), len(disk.order))
	}

	// The restarts: a mark 1 ms after each archive's last record, before
	// the next one's first.
	if !shows(3)(final) {
		t.Fatalf("archives %v, marks %+v, values %v", final.archives, final.marks, final.values)
	}
	for i, m := range final.marks {
		if m.before != final.archives[i] || m.after != final.archives[i+1] || m.t != m.prevT+1e6 || m.nextT <= m.t {
			t.Fatalf("mark %+v, want 1 ms after %s's last record and before %s's first", m, final.archives[i], final.archives[i+1])
		}
	}
	var live2First int64 = math.MaxInt64
	for k, ts := range final.recs {
		if k.archive == "live2" {
			live2First = min(live2First, ts)
		}
	}
	restartLag := restartSeen.Sub(time.Unix(0, live2First))
	if restartLag >= liveMaxLag {
		t.Errorf("the new archive showed (2 archives, a mark, values of both) %v after its first record, want < %v", restartLag, liveMaxLag)
	}

	// Volume switches: several volumes per archive, records read from each.
	for _, name := range final.archives {
		if n := checkVolumes(t, dir, name, final); name == "live1" && n < 3 {
			t.Errorf("%s: %d volumes, want at least 3 (pmlogger -v %s for %v)", name, n, liveVolume, phase1)
		}
	}

	// Lags: every record stamped while the test was polling was returned
	// within liveMaxLag.
	var maxLag, maxDisk, sum time.Duration
	var worst recKey
	byArchive := map[string]time.Duration{}
	n := 0
	for k, ts := range final.recs {
		stamp := time.Unix(0, ts)
		if stamp.Before(w.since) || !stamp.Before(idle) && stamp.Before(resumed) {
			continue // written before the Set existed, or while nobody asked
		}
		seen, ok := w.first[k]
		if !ok {
			if stamp.Before(lastPoll.Add(-liveMaxLag)) {
				t.Errorf("record %+v stamped %v never returned by the polls (last at %v)", k, stamp.Format(time.StampMicro), lastPoll.Format(time.StampMicro))
			}
			continue
		}
		lag := seen.Sub(stamp)
		byArchive[k.archive] = max(byArchive[k.archive], lag.Round(time.Millisecond))
		if lag > maxLag {
			maxLag, worst = lag, k
		}
		sum += lag
		n++
		if d, ok := w.disk[k]; ok {
			maxDisk = max(maxDisk, d.Sub(stamp))
		}
	}
	if n < 10 || w.grew < 10 {
		t.Fatalf("only %d records measured, the newest grew in only %d polls", n, w.grew)
	}
	t.Logf("%d polls (slowest %v), newer data in %d, %d records measured: lag max %v (%+v), mean %v, max per archive %v; fresh Sets (what is on disk) max %v; new archive shown %v after its first record",
		w.polls, w.slow.Round(time.Millisecond), w.grew, n, maxLag.Round(time.Millisecond), worst, (sum / time.Duration(n)).Round(time.Millisecond), byArchive,
		maxDisk.Round(time.Millisecond), restartLag.Round(time.Millisecond))
	if maxLag >= liveMaxLag {
		t.Errorf("record %+v returned %v after its timestamp, want < %v", worst, maxLag, liveMaxLag)
	}

	// The Set's log: no warning but the transient skip of an archive
	// whose .meta pmlogger had created but not labelled yet.
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		switch {
		case line == "":
		case strings.Contains(line, `msg="archive skipped"`):
			t.Logf("Set log (transient): %s", line)
		default:
			t.Errorf("Set log: %s", line)
		}
	}

	// The whole directory as libpcp reads it, through the long-lived Set
	// and through a fresh one.
	dump := filepath.Join(work, "oracle.jsonl.gz")
	pcptest.LibpcpDump(t, dir, dump)
	if err := compareLiveSet(set, dump); err != nil {
		t.Errorf("long-lived Set vs libpcp: %v", err)
	}
	if err := compareSet(dir, dump); err != nil {
		t.Errorf("fresh Set vs libpcp: %v", err)
	}

	t.Run("archive being created", func(t *testing.T) { replayCreation(t, dir) })
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
}

// checkVolumes checks that a read returned records from every volume of an
// archive, and returns the number of volumes.
func checkVolumes(t *testing.T, dir, name string, lr liveRead) int {
	t.Helper()
	files, err := archive.FindFiles(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range files.Volumes {
		if !lr.vols[name][v.Num] {
			t.Errorf("%s: no record read from volume %d (of %d)", name, v.Num, len(files.Volumes))
		}
	}
	return len(files.Volumes)
}

// replayCreation replays how pmlogger starts an archive, live2 after live1,
// and reads each state through one Set: pmlogger creates .index, .meta and
// .0, writes their labels, the first record, then the metadata. A new
// archive is not readable before that, and no error.
func replayCreation(t *testing.T, src string) {
	d := t.TempDir()
	copyFiles := func(name string) {
		m, _ := filepath.Glob(filepath.Join(src, name+".*"))
		for _, p := range m {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyFiles("live1")
	s := pcptest.OpenSet(t, multiarchive.Options{}, d)
	readTimeline(t, s, "live1 alone")
	// prefix returns the first n records (the label is one) of a file.
	prefix := func(suffix string, n int) []byte {
		b, err := os.ReadFile(filepath.Join(src, "live2"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for ; n > 0; n-- {
			off += int(binary.BigEndian.Uint32(b[off:]))
		}
		return b[:off]
	}
	for _, step := range []struct {
		what    string
		records [3]int // of .index, .meta, .0
		want    string
	}{
		{"files created", [3]int{0, 0, 0}, "live1"},
		{"labels written", [3]int{1, 1, 1}, "live1"},
		{"first record written", [3]int{1, 1, 2}, "live1"},
		{"first metadata written", [3]int{1, 2, 2}, "live1,live2"},
	} {
		for i, suffix := range []string{".index", ".meta", ".0"} {
			if err := os.WriteFile(filepath.Join(d, "live2"+suffix), prefix(suffix, step.records[i]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s.Rescan()
		lr := readTimeline(t, s, step.what)
		if got := strings.Join(lr.archives, ","); got != step.want {
			t.Errorf("%s: archives %s, want %s", step.what, got, step.want)
		}
	}
	if st := s.Status(); len(st.Hosts) != 1 || st.Hosts[0].Archives[1].Problem != "" {
		t.Errorf("status: %+v", st.Hosts)
	}
	copyFiles("live2")
	s.Rescan()
	if lr := readTimeline(t, s, "live2 complete"); len(lr.marks) != 1 || lr.values["live2"] == 0 {
		t.Errorf("live2 complete: marks %+v, values %v", lr.marks, lr.values)
	}
}

// compareLiveSet reads a Set's only host as one timeline and compares it
// with libpcp's dump, boundary marks included. For a Set that already
// exists (the live test), whatever it has cached must match libpcp's fresh
// reading.
func compareLiveSet(s *multiarchive.Set, dump string) error {
	c, err := pcptest.NewChecker(dump)
	if err != nil {
		return err
	}
	hosts := s.Hosts()
	if len(hosts) != 1 {
		return fmt.Errorf("want one host, got %d", len(hosts))
	}
	arcs, errs := hosts[0].Open(math.MinInt64, math.MaxInt64)
	if len(errs) > 0 {
		return errs[0]
	}
	srcs := make([]pmns.Source, 0, len(arcs))
	for _, o := range arcs {
		srcs = append(srcs, pmns.Source{Name: o.Entry.Files.Base, Meta: o.Archive.Meta})
	}
	c.Desc = pmns.New(srcs...).Desc
	c.IName = func(d *archive.Desc, inst int32) *string {
		// libpcp merges the instance domains of all archives; its dumper
		// takes the most recent name of the instance.
		for i := len(arcs) - 1; i >= 0; i-- {
			if h := arcs[i].Archive.Meta.InDoms[d.InDom]; h != nil {
				if n, ok := h.NameAnyTime(inst); ok {
					return &n
				}
			}
		}
		return nil
	}
	r := multiarchive.NewReader(context.Background(), arcs, multiarchive.ReadOptions{})
	defer r.Close()
	for r.Next() {
		if err := c.Record(r.Record()); err != nil {
			return err
		}
	}
	if w := r.Warnings(); len(w) > 0 {
		return w[0]
	}
	return c.Finish()
}
