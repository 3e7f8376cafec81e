package translate

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// TestNamespaceCache: a query over the same archives reuses their merged
// namespace, and metadata that grew (pmlogger logged a new metric) is
// merged again.
func TestNamespaceCache(t *testing.T) {
	src := "../testdata/archives/v2-basic/v2-basic"
	dir := t.TempDir()
	base := filepath.Join(dir, "a")
	for _, ext := range []string{".0", ".meta"} {
		b, err := os.ReadFile(src + ext)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+ext, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	full, err := os.ReadFile(base + ".meta")
	if err != nil {
		t.Fatal(err)
	}
	// The label and the first half of the records: each record is its
	// length, its body and its length again.
	var ends []int
	for off := 132; off+4 <= len(full); {
		n := int(binary.BigEndian.Uint32(full[off:]))
		if n < 8 || off+n > len(full) {
			t.Fatalf("meta record at %d: length %d", off, n)
		}
		off += n
		ends = append(ends, off)
	}
	if len(ends) < 4 {
		t.Fatalf("%d meta records", len(ends))
	}
	if err := os.WriteFile(base+".meta", full[:ends[len(ends)/2]], 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	opened := []multiarchive.Opened{{Entry: &multiarchive.Entry{Files: a.Files}, Archive: a}}
	var c nsCache
	e1 := c.get(opened)
	if c.get(opened) != e1 {
		t.Fatal("the same archives merged again")
	}
	if err := os.WriteFile(base+".meta", full, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(); err != nil {
		t.Fatal(err)
	}
	e2 := c.get(opened)
	if e2 == e1 || len(e2.ns.Names()) <= len(e1.ns.Names()) {
		t.Fatalf("after .meta grew: %d names, %d before", len(e2.ns.Names()), len(e1.ns.Names()))
	}
	if c.get(opened) != e2 {
		t.Fatal("the grown metadata merged again")
	}
	// Least recently used goes first: fill the cache with other sets
	// (the same metadata under other names), touching the first one on
	// the way; it stays and the second one is evicted.
	other := func(i int) []multiarchive.Opened {
		f := a.Files
		f.Base = fmt.Sprintf("%s-%d", f.Base, i)
		return []multiarchive.Opened{{Entry: &multiarchive.Entry{Files: f}, Archive: a}}
	}
	first := c.get(other(0))
	second := c.get(other(1))
	for i := 2; i <= nsCacheSize; i++ {
		c.get(other(i))
		if i == nsCacheSize/2 && c.get(other(0)) != first {
			t.Fatal("a cached set merged again")
		}
	}
	if len(c.entries) != nsCacheSize || c.get(other(0)) != first {
		t.Fatalf("%d entries; the recently used set was evicted", len(c.entries))
	}
	if c.get(other(1)) == second {
		t.Fatal("the least recently used set was kept")
	}
	for p, names := range e2.byProm {
		for _, n := range names {
			if MetricName(n) != p {
				t.Fatalf("%s indexed under %s", n, p)
			}
		}
	}
}
