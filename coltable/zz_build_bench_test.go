package coltable

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

func BenchmarkZZBuildDay(b *testing.B) {
	path := os.Getenv("PCP_BUILD_DAY")
	if path == "" {
		b.Skip()
	}
	for i := 0; i < b.N; i++ {
		a, err := archive.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := buildTable(a, filepath.Join(b.TempDir(), "t.tbl"), nil); err != nil {
			b.Fatal(err)
		}
	}
}
