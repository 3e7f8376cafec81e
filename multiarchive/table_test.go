package multiarchive

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// TestTableRoundTrip writes the tables of test archives and reads them
// back: same directory, same samples; and a damaged file is an error.
func TestTableRoundTrip(t *testing.T) {
	for _, name := range []string{"v2-basic", "v3-multivol", "v2-merged"} {
		a, err := archive.Open(filepath.Join("../testdata/archives", name, name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".tbl")
		built, err := BuildTable(a, path)
		if err != nil {
			t.Fatal(err)
		}
		read, err := OpenTable(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(built.Series, read.Series) || built.First != read.First || built.Last != read.Last || len(read.Series) == 0 {
			t.Fatalf("%s: directory differs after reading back", name)
		}
		// In memory, the live form gives the same samples.
		b := newTableBuilder(a)
		if err := b.feed(); err != nil {
			t.Fatal(err)
		}
		mem := b.snapshot(nil)
		for i := range read.Series {
			var fromFile, fromMem []float64
			if _, err := read.Each(nil, i, -1<<62, 1<<62, nil, func(_ int64, v float64) { fromFile = append(fromFile, v) }); err != nil {
				t.Fatal(err)
			}
			if _, err := mem.Each(nil, i, -1<<62, 1<<62, nil, func(_ int64, v float64) { fromMem = append(fromMem, v) }); err != nil {
				t.Fatal(err)
			}
			if len(fromFile) != read.Series[i].Samples || len(fromFile) != len(fromMem) {
				t.Fatalf("%s series %d: %d samples from the file, %d in memory, %d in the directory", name, i, len(fromFile), len(fromMem), read.Series[i].Samples)
			}
		}
	}
}
