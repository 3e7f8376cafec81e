package archive

import (
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"
)

// Helpers the tests of package archive share. internal/pcptest has some of
// the same kind, but these tests are package archive's own, and pcptest
// imports archive: they cannot import it.

// flip returns a copy of b with byte off XORed with mask.
func flip(b []byte, off int, mask byte) []byte {
	out := append([]byte(nil), b...)
	out[off] ^= mask
	return out
}

// heapAllocs is the bytes allocated so far. runtime/metrics is cheap enough
// to read on every fuzz input (runtime.ReadMemStats stops the world), but it
// counts small objects a span at a time: the limits tests set allow for
// that and still catch a length field of 2^31 turned into an allocation.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// allocated returns the bytes allocated while f runs (see heapAllocs).
func allocated(f func()) uint64 {
	before := heapAllocs()
	f()
	return heapAllocs() - before
}

// copyBase copies every file of the archive with base name src (src.meta,
// src.index, src.0, ...: every src.*) to base name dst, and returns dst.
func copyBase(t testing.TB, src, dst string) string {
	t.Helper()
	m, err := filepath.Glob(src + ".*")
	if err != nil || len(m) == 0 {
		t.Fatalf("no archive files %s.*", src)
	}
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dst+strings.TrimPrefix(p, src), b)
	}
	return dst
}

// testArchives returns the archives under roots that are one per folder,
// root/<name>/<name>, in directory order; a folder of several archives, or
// a root that is not there, adds none.
func testArchives(roots ...string) []string {
	var out []string
	for _, root := range roots {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			name := filepath.Join(root, e.Name(), e.Name())
			if _, err := FindFiles(name); err == nil {
				out = append(out, name)
			}
		}
	}
	return out
}
