package archive_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// records lists the time and end offset of every record of an archive, by
// reading it whole.
func records(t *testing.T, a *archive.Archive) (times, ends []int64) {
	t.Helper()
	r := a.NewReader(archive.ReaderOptions{})
	defer r.Close()
	for r.Next() {
		times = append(times, r.Record().Time)
		p := r.Pos()
		ends = append(ends, p.Off)
	}
	if r.Err() != nil || len(times) < 10 {
		t.Fatalf("%s: %d records, %v", a.Files.Base, len(times), r.Err())
	}
	return times, ends
}

func scanTail(t *testing.T, files archive.Files, from *archive.Position) archive.Tail {
	t.Helper()
	l, _, err := archive.Probe(files)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := archive.ScanTail(files, l, from)
	if err != nil {
		t.Fatalf("ScanTail %s from %v: %v", files.Base, from, err)
	}
	return tail
}

// TestScanTail finds the last record of whole archives (plain, several
// volumes, compressed, v2 and v3) as a full read does.
func TestScanTail(t *testing.T) {
	for _, name := range []string{"v2-basic", "v3-basic", "v3-multivol", "v2-multivol", "v3-xz", "v3-merged"} {
		a, err := archive.Open(filepath.Join("../testdata/archives", name, name))
		if err != nil {
			t.Fatal(err)
		}
		times, _ := records(t, a)
		tail := scanTail(t, a.Files, nil)
		if !tail.Found || tail.End != times[len(times)-1] {
			t.Errorf("%s: end %d (found %v), want %d", name, tail.End, tail.Found, times[len(times)-1])
		}
		// Nothing was appended: reading on finds nothing and stays put.
		if again := scanTail(t, a.Files, &tail.Pos); again.Found || again.Pos != tail.Pos {
			t.Errorf("%s: reading on from %v: %+v", name, tail.Pos, again)
		}
	}
}

// TestScanTailGrowing follows a volume as pmlogger writes it, behind an
// index whose last entry is early (pmlogger writes one only with a new
// instance domain, a new volume, every 100,000 bytes or so, or at its end):
// cut at each record boundary, and inside records, the end is the last whole
// record, and reading on from a scan's position finds what was appended.
func TestScanTailGrowing(t *testing.T) {
	src := "../testdata/archives/v3-basic/v3-basic"
	a, err := archive.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	times, ends := records(t, a)
	vol, err := os.ReadFile(src + ".0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "v3-basic")
	for _, suffix := range []string{".meta", ".index"} {
		b, err := os.ReadFile(src + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := archive.Files{Base: base, Meta: base + ".meta", Index: base + ".index", Volumes: []archive.VolumeFile{{Num: 0, Path: base + ".0"}}}
	var prev *archive.Position
	for i := 3; i < len(ends); i++ {
		for _, cut := range []int64{ends[i], ends[i] + 10} {
			if cut > int64(len(vol)) {
				continue
			}
			if err := os.WriteFile(base+".0", vol[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			tail := scanTail(t, files, nil)
			if !tail.Found || tail.End != times[i] || tail.Pos.Off != ends[i] {
				t.Fatalf("cut at %d: %+v, want end %d at offset %d", cut, tail, times[i], ends[i])
			}
			if prev != nil {
				// From the last scan's position: the record appended
				// since, or (cut inside the next one) nothing.
				on := scanTail(t, files, prev)
				if on.Found != (prev.Off < ends[i]) || on.Found && on.End != times[i] || on.Pos != tail.Pos {
					t.Fatalf("cut at %d, reading on from %v: %+v, want end %d at %v", cut, *prev, on, times[i], tail.Pos)
				}
			}
			p := tail.Pos
			prev = &p
		}
	}
}
