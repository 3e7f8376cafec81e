package pcptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DemoHosts are the hosts of the demo set, testdata/demo/<host>.
var DemoHosts = []string{"demo-db1", "demo-web1"}

// CopyTree copies the directory tree src to dst (directories 0755, files
// 0644).
func CopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// CopyDemo copies the archives of the demo set's hosts to dst/<host> (not
// the libpcp dumps beside them) and returns testdata/demo.
func CopyDemo(t testing.TB, dst string) string {
	t.Helper()
	demo := filepath.Join(RepoRoot(t), "testdata", "demo")
	for _, host := range DemoHosts {
		CopyTree(t, filepath.Join(demo, host), filepath.Join(dst, host))
	}
	return demo
}

// CopyArchive copies every file of the archive with base name src (src.meta,
// src.index, src.0, ...: every src.*) to base name dst, and returns how many
// it copied; none fails the test.
func CopyArchive(t testing.TB, src, dst string) int {
	t.Helper()
	files, err := filepath.Glob(src + ".*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no archive files %s.*: %v", src, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+strings.TrimPrefix(f, src), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return len(files)
}
