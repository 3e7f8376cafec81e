package multiarchive_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// wantOverlaps lists, by brute force over every pair, the overlaps Status
// must report: (i, j), i < j in start order, where j starts before i's end
// or both start together.
func wantOverlaps(h multiarchive.HostStatus) []multiarchive.Overlap {
	var out []multiarchive.Overlap
	as := h.Archives
	for i := range as {
		for j := i + 1; j < len(as); j++ {
			if as[j].Start.Before(as[i].End) || as[j].Start.Equal(as[i].Start) {
				out = append(out, multiarchive.Overlap{First: as[i].Path, Second: as[j].Path})
			}
		}
	}
	return out
}

func checkOverlaps(t *testing.T, h multiarchive.HostStatus, atLeast int) {
	t.Helper()
	want := wantOverlaps(h)
	if !slices.Equal(h.Overlaps, want) || h.OverlapCount != len(want) {
		t.Errorf("%s: overlaps %v (count %d), want %v", h.Host, h.Overlaps, h.OverlapCount, want)
	}
	if len(want) < atLeast {
		t.Errorf("%s: %d overlapping pairs, the test data should make %d", h.Host, len(want), atLeast)
	}
}

// TestOverlapsEveryPair: testdata/archives holds eleven recordings of host
// vm made at the same time (one per format), each overlapping every other:
// all 55 pairs are reported, not the 10 pairs of neighbours.
func TestOverlapsEveryPair(t *testing.T) {
	s := pcptest.OpenSet(t, multiarchive.Options{}, "../testdata/archives")
	for _, h := range s.Status().Hosts {
		if h.Host == "vm" {
			checkOverlaps(t, h, 55)
			return
		}
	}
	t.Fatal("no host vm")
}

// TestOverlapsMergedDay: a directory holding a merged day beside the
// pieces it was made from, as pmlogger_daily leaves it when a merge is
// interrupted. The pieces are cut from a demo day with libpcp's own
// pmlogextract; the merged day overlaps each of them, and the pieces do not
// overlap one another.
func TestOverlapsMergedDay(t *testing.T) {
	extract, err := exec.LookPath("pmlogextract")
	pcptest.Require(t, "pmlogextract (Debian package pcp)", err == nil)
	dir := t.TempDir()
	src := filepath.Join(pcptest.RepoRoot(t), "testdata", "demo", "demo-db1")
	for _, f := range []string{"20261119.0.xz", "20261119.index", "20261119.meta.xz"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pieces := []string{"00.00", "03.00", "06.00", "09.00"}
	for _, p := range pieces {
		var h int
		fmt.Sscanf(p, "%d", &h)
		out, err := exec.Command(extract, "-Z", "UTC",
			"-S", fmt.Sprintf("@2026-11-19 %02d:00:30", h), "-T", fmt.Sprintf("@2026-11-19 %02d:59:30", h+2),
			filepath.Join(dir, "20261119"), filepath.Join(dir, "20261119."+p)).CombinedOutput()
		if err != nil {
			t.Fatalf("pmlogextract: %v\n%s", err, out)
		}
	}
	s := pcptest.OpenSet(t, multiarchive.Options{}, dir)
	st := s.Status()
	if len(st.Hosts) != 1 || len(st.Hosts[0].Archives) != 1+len(pieces) {
		t.Fatalf("status: %+v", st.Hosts)
	}
	h := st.Hosts[0]
	checkOverlaps(t, h, len(pieces))
	merged := filepath.Join(dir, "20261119")
	for _, o := range h.Overlaps {
		if o.First != merged && o.Second != merged {
			t.Errorf("pieces %s and %s overlap", o.First, o.Second)
		}
	}
}

// copyPrefix writes the first n bytes of src to dst (all of it for n < 0).
func copyPrefix(t *testing.T, src, dst string, n int64) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if n >= 0 {
		b = b[:n]
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordEnds lists each record's time and the offset after it, by volume.
func recordEnds(t *testing.T, base string) (times []int64, vols []int, ends []int64) {
	t.Helper()
	a, err := archive.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	r := a.NewReader(archive.ReaderOptions{})
	defer r.Close()
	for r.Next() {
		rec := r.Record()
		times, vols = append(times, rec.Time), append(vols, rec.Vol)
		ends = append(ends, r.Pos().Off)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return times, vols, ends
}

// readUpTo reads the host's timeline over [0, t2] as a query does and
// returns the time of the last record.
func readUpTo(t *testing.T, s *multiarchive.Set, t2 int64) int64 {
	t.Helper()
	opened, errs := s.Hosts()[0].Open(0, t2)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := multiarchive.NewReader(context.Background(), opened, multiarchive.ReadOptions{End: t2})
	defer r.Close()
	var last int64
	for r.Next() {
		last = r.Record().Time
	}
	if r.Err() != nil || len(r.Warnings()) > 0 {
		t.Fatal(r.Err(), r.Warnings())
	}
	return last
}

// TestStatusLiveEnd grows an archive as pmlogger writes one: records
// appended to the newest volume, then new volumes, behind an index whose
// last entry (what discovery knows) is the start of volume 2. Status must
// show the last whole record each time, and a query over the window Status
// shows must still find every record, in the new volumes too (its cached
// archive is revalidated).
func TestStatusLiveEnd(t *testing.T) {
	src := filepath.Join(pcptest.RepoRoot(t), "testdata", "archives", "v3-multivol", "v3-multivol")
	times, vols, ends := recordEnds(t, src)
	dir := t.TempDir()
	base := filepath.Join(dir, "20261121.07.38")
	copyPrefix(t, src+".meta", base+".meta", -1)
	// The label and six entries: metadata, then the starts of volumes 1, 2.
	copyPrefix(t, src+".index", base+".index", 808+6*32)
	copyPrefix(t, src+".0", base+".0", -1)
	copyPrefix(t, src+".1", base+".1", -1)
	last := func(vol int) int { // the index of the last record of vol
		return slices.IndexFunc(vols, func(v int) bool { return v > vol }) - 1
	}
	in2 := slices.Index(vols, 2)
	copyPrefix(t, src+".2", base+".2", ends[in2+1])
	s, err := multiarchive.Open(multiarchive.Options{Paths: []string{dir}, Now: func() time.Time { return time.Unix(0, times[0]) }})
	if err != nil {
		t.Fatal(err)
	}
	statusEnd := func(what string, want int64) {
		t.Helper()
		st := s.Status()
		h := st.Hosts[0]
		if !h.End.Equal(time.Unix(0, want)) || !h.Archives[0].End.Equal(time.Unix(0, want)) {
			t.Errorf("%s: status end %v (archive %v), want %v", what, h.End, h.Archives[0].End, time.Unix(0, want).UTC())
		}
		if p := h.Archives[0].Problem; p != "" {
			t.Errorf("%s: problem %s", what, p)
		}
	}
	statusEnd("two records into volume 2", times[in2+1])
	// A query reads (and caches) the archive as it is now.
	if got := readUpTo(t, s, times[in2+1]); got != times[in2+1] {
		t.Fatalf("query: last record %d, want %d", got, times[in2+1])
	}
	// pmlogger writes on: a record cut short at the end is not counted.
	copyPrefix(t, src+".2", base+".2", ends[last(2)-1]+10)
	statusEnd("inside a record", times[last(2)-1])
	copyPrefix(t, src+".2", base+".2", -1)
	statusEnd("volume 2 whole", times[last(2)])
	// Unchanged size, nothing read: bytes rewritten in place are not seen
	// (nor reported as damage) until the volume grows.
	vol2, _ := os.ReadFile(base + ".2")
	if err := os.WriteFile(base+".2", make([]byte, len(vol2)), 0o644); err != nil {
		t.Fatal(err)
	}
	statusEnd("volume 2 zeroed, same size", times[last(2)])
	copyPrefix(t, src+".2", base+".2", -1)
	// New volumes, not rescanned yet.
	copyPrefix(t, src+".3", base+".3", -1)
	copyPrefix(t, src+".4", base+".4", -1)
	statusEnd("volumes 3 and 4", times[len(times)-1])
	// The query over what Status shows finds the records of the new
	// volumes, which the cached archive did not know.
	if got := readUpTo(t, s, times[len(times)-1]); got != times[len(times)-1] {
		t.Errorf("query up to the status end: last record %d, want %d", got, times[len(times)-1])
	}
}

// TestStatusWhileGrowing calls Status from two goroutines and queries the
// timeline from a third while the newest volume grows record by record
// (run it with -race): the end shown never goes back, and ends at the last
// record.
func TestStatusWhileGrowing(t *testing.T) {
	src := filepath.Join(pcptest.RepoRoot(t), "testdata", "archives", "v3-basic", "v3-basic")
	times, _, ends := recordEnds(t, src)
	dir := t.TempDir()
	base := filepath.Join(dir, "20261121.07.38")
	copyPrefix(t, src+".meta", base+".meta", -1)
	copyPrefix(t, src+".index", base+".index", 808+4*32)
	copyPrefix(t, src+".0", base+".0", ends[3])
	s := pcptest.OpenSet(t, multiarchive.Options{}, dir)
	vol, err := os.ReadFile(src + ".0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(base+".0", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{})
	errs := make(chan error, 3)
	watch := func() {
		var prev time.Time
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			end := s.Status().Hosts[0].End
			if end.Before(prev) {
				errs <- fmt.Errorf("status end went back from %v to %v", prev, end)
				return
			}
			prev = end
		}
	}
	go watch()
	go watch()
	go func() {
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			opened, _ := s.Hosts()[0].Open(0, times[len(times)-1])
			r := multiarchive.NewReader(context.Background(), opened, multiarchive.ReadOptions{})
			for r.Next() {
			}
			r.Close()
		}
	}()
	for i := 3; i+1 < len(ends); i++ {
		// Half a record, then the rest: pmlogger's write seen halfway.
		mid := (ends[i] + ends[i+1]) / 2
		if _, err := f.Write(vol[ends[i]:mid]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		if _, err := f.Write(vol[mid:ends[i+1]]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	h := s.Status().Hosts[0]
	if want := time.Unix(0, times[len(times)-1]); !h.End.Equal(want) || h.Archives[0].Problem != "" {
		t.Errorf("end %v (problem %q), want %v", h.End, h.Archives[0].Problem, want.UTC())
	}
}
