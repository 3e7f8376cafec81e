package multiarchive

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// TestRecheckSkipsUnchangedDir checks that a query reaching past the newest
// archive rescans only when the directory of that archive changed, and that
// a new archive there is still found by the next such query.
func TestRecheckSkipsUnchangedDir(t *testing.T) {
	src := filepath.Join("..", "testdata", "demo", "demo-web1")
	dir := t.TempDir()
	copyArchive := func(base string) {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(src, base+".*"))
		for _, f := range m {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyArchive("20261119.12.30")
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	s, err := Open(Options{Paths: []string{dir}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	host := s.Hosts()[0].Host
	s.Rescan() // the first scan had no host to stamp

	now = now.Add(2 * minRecheck)
	scanned := s.scanned
	if tl := s.recheck(host); tl != nil || !s.scanned.Equal(scanned) {
		t.Fatalf("recheck of an unchanged directory rescanned (timeline %v)", tl)
	}

	copyArchive("20261120.00.10")
	if err := os.Chtimes(dir, time.Now(), time.Now()); err != nil { // coarse clocks
		t.Fatal(err)
	}
	tl := s.recheck(host)
	if tl == nil || len(tl.Entries()) != 2 {
		t.Fatalf("recheck after a new archive: %v, want a timeline of 2 archives", tl)
	}
	// Changed within dirSettle: not stamped, so the next recheck rescans.
	now = now.Add(2 * minRecheck)
	scanned = s.scanned
	s.recheck(host)
	if s.scanned.Equal(scanned) {
		t.Fatal("recheck trusted the mtime of a directory changed just before the scan")
	}
}

// TestCurrentFiles checks the stat-only revalidation of the newest
// archive's files against a directory listing.
func TestCurrentFiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "testdata", "demo", "demo-web1")
	for _, ext := range []string{"0", "index", "meta"} {
		b, err := os.ReadFile(filepath.Join(src, "20261120.00.10."+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "20261120.00.10."+ext), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(dir, "20261120.00.10")
	var prev archive.Files
	same := func(step string) {
		t.Helper()
		want, err := archive.FindFiles(base)
		if err != nil {
			t.Fatal(err)
		}
		got, err := currentFiles(prev)
		if err != nil || filesKey(got) != filesKey(want) {
			t.Fatalf("%s: currentFiles = %+v, %v; want %+v", step, got, err, want)
		}
		prev = got
	}
	var err error
	if prev, err = archive.FindFiles(base); err != nil {
		t.Fatal(err)
	}
	same("unchanged")
	touch := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch("20261120.00.10.1")
	same("new volume")
	if err := os.Remove(base + ".index"); err != nil {
		t.Fatal(err)
	}
	same("index removed")
	touch("20261120.00.10.index")
	same("index back")
	if err := os.Rename(base+".0", base+".0.xz"); err != nil {
		t.Fatal(err)
	}
	same("volume compressed")
}
