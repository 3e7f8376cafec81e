package coltable

import (
	"math"
	"os"
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
		built, err := buildTable(a, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		read, err := Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(built.Series, read.Series) || built.First != read.First || built.Last != read.Last || len(read.Series) == 0 {
			t.Fatalf("%s: directory differs after reading back", name)
		}
		// Every chunk's flags say whether its first and last samples are
		// staleness markers.
		for i := range read.Series {
			region, err := read.ReadSeries(nil, i, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for len(region) > 0 {
				var c Chunk
				if c, region, err = read.NextChunk(region); err != nil {
					t.Fatal(err)
				}
				var vs []float64
				if _, err := eachInChunk(nil, c.Data, c.MinT, c.MaxT, func(_ int64, v float64) { vs = append(vs, v) }); err != nil {
					t.Fatal(err)
				}
				n += len(vs)
				if len(vs) == 0 || c.FirstStale != isStaleNaN(vs[0]) || c.LastStale != isStaleNaN(vs[len(vs)-1]) {
					t.Fatalf("%s series %d: chunk flags %v/%v for %v", name, i, c.FirstStale, c.LastStale, vs)
				}
			}
			if n != read.Series[i].Samples {
				t.Fatalf("%s series %d: %d samples in chunks, %d in the directory", name, i, n, read.Series[i].Samples)
			}
			// Windows read through the sparse index give what the
			// whole series gives inside them.
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			ts := read.Series[i]
			for _, w := range [][2]int64{{ts.MinT, ts.MaxT}, {ts.MinT + (ts.MaxT-ts.MinT)/3, ts.MinT + (ts.MaxT-ts.MinT)/2}, {ts.MaxT, ts.MaxT}, {ts.MinT - 1, ts.MinT}} {
				var whole, window []int64
				if _, err := read.Each(f, i, w[0], w[1], nil, func(t int64, _ float64) { whole = append(whole, t) }); err != nil {
					t.Fatal(err)
				}
				if _, err := read.Each(nil, i, w[0], w[1], nil, func(t int64, _ float64) { window = append(window, t) }); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(whole, window) || w[0] == ts.MinT && len(whole) == 0 {
					t.Fatalf("%s series %d window %v: %v through the index, %v from the whole series", name, i, w, window, whole)
				}
				// The whole series (the first window) needs no index: it
				// is not loaded, so long queries do not keep one per series.
				if w == [2]int64{ts.MinT, ts.MaxT} && read.sparseOf(i).Load() != nil {
					t.Fatalf("%s series %d: reading it whole loaded its sparse index", name, i)
				}
			}
			f.Close()
		}
	}
}

func isStaleNaN(v float64) bool { return math.Float64bits(v) == math.Float64bits(staleNaN) }

// TestPrefixTable writes the prefix table of a copied archive and checks
// what makes it usable: its tail position and source files read back, and
// it stops being valid when a file it was built from is replaced or
// shrinks, while growth keeps it valid.
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
	b := newTableBuilder(a)
	if err := b.feed(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.tbl")
	built, err := b.write(path, true)
	if err != nil {
		t.Fatal(err)
	}
	read, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if read.Tail == nil || *read.Tail != *built.Tail || !reflect.DeepEqual(read.files, built.files) || len(read.files) != 2 {
		t.Fatalf("prefix read back as tail %v files %v, built %v %v", read.Tail, read.files, built.Tail, built.files)
	}
	if !read.valid() || uncovered(a.Files, read) != 0 {
		t.Fatalf("fresh prefix table: valid %v, uncovered %d", read.valid(), uncovered(a.Files, read))
	}
	vol := filepath.Join(dir, "a.0")
	f, err := os.OpenFile(vol, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 100))
	f.Close()
	if !read.valid() || uncovered(a.Files, read) != 100 {
		t.Fatalf("after growth: valid %v, uncovered %d", read.valid(), uncovered(a.Files, read))
	}
	// Extending it reads the same series back, then the (garbage) tail
	// is an error and nothing is lost.
	x, err := extendTable(a, read)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.order) != len(read.Series) || *x.pos != *read.Tail {
		t.Fatalf("extendTable: %d series at %v, want %d at %v", len(x.order), x.pos, len(read.Series), read.Tail)
	}
	os.Truncate(vol, built.files[1].size-1)
	if read.valid() {
		t.Fatal("valid after the volume shrank")
	}
	// A new file with the same content is as good as the old one (and may
	// reuse its inode number); one with other content is not.
	data, _ := os.ReadFile(src + ".0")
	os.Remove(vol)
	os.WriteFile(vol, data, 0o644)
	if read.valid() != sameInode(t, vol, built.files[1]) {
		t.Fatalf("valid %v after the volume was written anew with the same bytes", read.valid())
	}
	os.Remove(vol)
	data[len(data)-5]++ // inside the last record covered
	os.WriteFile(vol, data, 0o644)
	if read.valid() {
		t.Fatal("valid after the volume was rewritten")
	}
}

func sameInode(t *testing.T, path string, f sourceFile) bool {
	id, err := identify(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	return id.dev == f.dev && id.ino == f.ino
}

// TestTableSingularOneSeries: the values of a singular metric are one table
// series, keyed archive.InstNull, whatever instance ids the records give
// them (an IRIX pmlogger of 1995-1996 wrote ids other than PM_IN_NULL,
// changing from record to record): a query reading the records serves them
// as one series, and a table of one series per id would serve only one of
// them.
func TestTableSingularOneSeries(t *testing.T) {
	for _, name := range []string{"pmi-nullinst", "pmi-nullinst-wide"} {
		a, err := archive.Open(filepath.Join("../testdata/archives", name, name))
		if err != nil {
			t.Fatal(err)
		}
		values, ids := map[archive.PMID]int{}, map[archive.PMID]map[int32]bool{}
		r := a.NewReader(archive.ReaderOptions{})
		for r.Next() {
			rec := r.Record()
			for k := range rec.Sets() {
				vs := &rec.Sets()[k]
				if vs.Desc == nil || vs.Desc.InDom != archive.InDomNull || vs.NumVal <= 0 {
					continue
				}
				insts, _, _ := rec.Floats(vs)
				values[vs.PMID] += len(insts)
				if ids[vs.PMID] == nil {
					ids[vs.PMID] = map[int32]bool{}
				}
				for _, i := range insts {
					ids[vs.PMID][i] = true
				}
			}
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		changing := 0
		for _, m := range ids {
			if len(m) > 1 {
				changing++
			}
		}
		if changing == 0 {
			t.Fatalf("%s: no singular metric whose instance id changes", name)
		}
		tbl, err := buildTable(a, filepath.Join(t.TempDir(), name+".tbl"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for p, n := range values {
			lo, hi := tbl.Find(p)
			if hi-lo != 1 || tbl.Series[lo].Inst != archive.InstNull || tbl.Series[lo].Samples != n {
				t.Errorf("%s: %s (ids %v): %d series, want one of %d samples with instance %d: %+v", name, p, ids[p], hi-lo, n, archive.InstNull, tbl.Series[lo:hi])
			}
		}
	}
}

// TestBuildYields checks that a table build calls yield every yieldEvery
// records and that yielding changes nothing in the table.
func TestBuildYields(t *testing.T) {
	name := "../testdata/pcp-qa/count-mark/count-mark"
	a, err := archive.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	r := a.NewReader(archive.ReaderOptions{})
	for r.Next() {
		records++
	}
	r.Close()
	if records < 2*yieldEvery {
		t.Fatalf("%s has %d records: too few to test", name, records)
	}
	calls := 0
	dir := t.TempDir()
	yielded, err := buildTable(a, filepath.Join(dir, "y.tbl"), func() { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if calls != records/yieldEvery {
		t.Fatalf("%d calls of yield for %d records, want %d", calls, records, records/yieldEvery)
	}
	plain, err := buildTable(a, filepath.Join(dir, "p.tbl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(yielded.Series, plain.Series) || yielded.First != plain.First || yielded.Last != plain.Last {
		t.Fatal("a table built with yield differs")
	}
}
