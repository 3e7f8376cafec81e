package archive_test

import (
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// TestResume reads an archive in pieces, each reader starting where the
// last stopped, and checks the pieces add up to one full read.
func TestResume(t *testing.T) {
	for _, name := range []string{"../testdata/archives/v2-multivol/v2-multivol", "../testdata/archives/v3-multivol/v3-multivol", "../testdata/archives/v3-xz/v3-xz"} {
		a, err := archive.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		var full []int64
		r := a.NewReader(archive.ReaderOptions{})
		for r.Next() {
			full = append(full, r.Record().Offset<<8|int64(r.Record().Vol))
		}
		if r.Err() != nil || len(full) < 10 {
			t.Fatalf("%s: %d records, %v", name, len(full), r.Err())
		}
		end := r.Pos()
		var got []int64
		var pos *archive.Position
		for step := 0; step < 100 && len(got) < len(full); step++ {
			r := a.NewReader(archive.ReaderOptions{From: pos})
			for n := 0; n < 3 && r.Next(); n++ {
				got = append(got, r.Record().Offset<<8|int64(r.Record().Vol))
			}
			if r.Err() != nil {
				t.Fatal(r.Err())
			}
			p := r.Pos()
			pos = &p
			r.Close()
		}
		if len(got) != len(full) {
			t.Fatalf("%s: pieces give %d records, one read %d", name, len(got), len(full))
		}
		for i := range full {
			if got[i] != full[i] {
				t.Fatalf("%s: record %d differs", name, i)
			}
		}
		// At the end, a resumed reader finds nothing more.
		r = a.NewReader(archive.ReaderOptions{From: &end})
		if r.Next() || r.Err() != nil {
			t.Errorf("%s: reading on from the end: %v %v", name, r.Record().Offset, r.Err())
		}
		if r := a.NewReader(archive.ReaderOptions{From: &archive.Position{Vol: 99, Off: 900}}); r.Next() || r.Err() == nil {
			t.Errorf("%s: resuming in a missing volume is not an error", name)
		}
	}
}
