package multiarchive

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/coltable"
)

// TestPrefixTable writes the prefix table of a copied archive as the
// store builds it and checks what the store relies on: it stays valid
// while the archive grows, and stops being valid when a file it was built
// from shrinks or is replaced.
func TestPrefixTable(t *testing.T) {
	src := "../testdata/archives/v3-basic/v3-basic"
	dir := t.TempDir()
	for _, ext := range []string{".meta", ".index", ".0"} {
		b, err := os.ReadFile(src + ext)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a"+ext), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := archive.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := coltable.StartPrefix(a, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Feed(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.tbl")
	built, err := b.Write(path)
	if err != nil {
		t.Fatal(err)
	}
	read, err := coltable.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if read.Tail == nil || *read.Tail != b.Pos() || *read.Tail != *built.Tail {
		t.Fatalf("prefix read back as tail %v, built %v at %v", read.Tail, built.Tail, b.Pos())
	}
	if !read.Valid() || coltable.Uncovered(a, read) != 0 {
		t.Fatalf("fresh prefix table: valid %v, uncovered %d", read.Valid(), coltable.Uncovered(a, read))
	}
	vol := filepath.Join(dir, "a.0")
	f, err := os.OpenFile(vol, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 100))
	f.Close()
	if !read.Valid() || coltable.Uncovered(a, read) != 100 {
		t.Fatalf("after growth: valid %v, uncovered %d", read.Valid(), coltable.Uncovered(a, read))
	}
	// Extending it goes on from its tail.
	x, err := coltable.StartPrefix(a, read, nil)
	if err != nil {
		t.Fatal(err)
	}
	if x.Pos() != *read.Tail {
		t.Fatalf("StartPrefix from the table: at %v, want %v", x.Pos(), *read.Tail)
	}
	if read.Tail.Vol != 0 {
		t.Fatalf("tail in volume %d, want 0", read.Tail.Vol)
	}
	os.Truncate(vol, read.Tail.Off-1)
	if read.Valid() {
		t.Fatal("valid after the volume shrank")
	}
	// A new file with the same content is as good as the old one (and may
	// reuse its inode number); one with other content is not.
	before, err := os.Stat(vol)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(src + ".0")
	os.Remove(vol)
	os.WriteFile(vol, data, 0o644)
	if read.Valid() != sameInode(t, vol, before) {
		t.Fatalf("valid %v after the volume was written anew with the same bytes", read.Valid())
	}
	os.Remove(vol)
	data[len(data)-5]++ // inside the last record covered
	os.WriteFile(vol, data, 0o644)
	if read.Valid() {
		t.Fatal("valid after the volume was rewritten")
	}
}

// sameInode tells whether path is now the file (device and inode) it was.
func sameInode(t *testing.T, path string, was os.FileInfo) bool {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fi, was)
}

// TestSweep: at start the table directory loses tables of other format
// versions and temporary files of killed builds (once they are old), and
// keeps current tables and files that are not ours.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	cur, old := fmt.Sprintf("-v%d.tbl", coltable.Version), fmt.Sprintf("-v%d.tbl", coltable.Version-1)
	files := map[string]bool{ // name -> kept
		"0123456789abcdef-0123456789abcdef" + old: false,
		"0123456789abcdef-0123456789abcdef" + cur: true,
		"0123456789abcdef-L0.132" + cur:           true,
		"0123456789abcdef-L0.132" + old:           false,
		".tmp-123":                                false,
		".tmp-new":                                true, // a build in progress
		"notes.txt":                               true,
		"short" + old:                             true, // not a name we make
		"0123456789abcdef-0123456789abcdef" + old + ".bak": true,
	}
	then := time.Now().Add(-2 * tableGrace)
	for name := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if name != ".tmp-new" {
			os.Chtimes(p, then, then)
		}
	}
	(&tableStore{dir: dir}).sweep()
	for name, kept := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", name, err == nil, kept)
		}
	}
}

// TestTableNamesAbsolute: an archive named by a relative path finds the
// tables made when it was named by its absolute path.
func TestTableNamesAbsolute(t *testing.T) {
	rel := filepath.Join("..", "testdata", "archives", "v2-basic", "v2-basic")
	abs, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	if baseHash(rel) != baseHash(abs) || baseHash(abs) == baseHash(abs+"x") {
		t.Fatalf("table names: %s for %s, %s for %s", baseHash(rel), rel, baseHash(abs), abs)
	}
}
