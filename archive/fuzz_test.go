package archive

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The fuzz targets are seeded from the archives in testdata and from the
// synthetic archives of the unit tests. Run one at a time, e.g.
//
//	go test -run '^$' -fuzz '^FuzzRecord$' -fuzztime 5m ./archive/
//
// Crashers found are kept under testdata/fuzz/<target>/ as regression seeds.

// seedArchives are the testdata archives the seeds come from.
var seedArchives = []string{
	"testdata/ok-mv-foo/ok-mv-foo",
	"testdata/ok-foo_v3/ok-foo_v3",
	"testdata/sample-labels/sample-labels",
	"testdata/value-test/value-test",
}

// seedFiles are the decompressed files of one archive.
type seedFiles struct {
	version int
	meta    []byte
	index   []byte
	vols    [][]byte
}

func loadSeeds(f *testing.F) []seedFiles {
	f.Helper()
	var out []seedFiles
	for _, name := range seedArchives {
		files, err := FindFiles(name)
		if err != nil {
			f.Fatal(err)
		}
		read := func(p string) []byte {
			if p == "" {
				return nil
			}
			src, err := openSource(p, nil)
			if err != nil {
				f.Fatal(err)
			}
			defer src.Close()
			b, err := readAll(src)
			if err != nil {
				f.Fatal(err)
			}
			return b
		}
		s := seedFiles{meta: read(files.Meta), index: read(files.Index)}
		for _, v := range files.Volumes {
			s.vols = append(s.vols, read(v.Path))
		}
		s.version = int(s.meta[7])
		out = append(out, s)
	}
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		vols := synthVolumes(b, 1, 12)
		out = append(out, seedFiles{
			version: v,
			meta:    cat(b.label(volMeta), cat(synthMeta(b)...)),
			index:   b.index(b.autoIndex(vols)...),
			vols:    [][]byte{b.volume(0, vols[0])},
		})
	}
	return out
}

// checkAllocs fails when f allocates far more than the input could
// justify: no length field may make the reader allocate from it unchecked.
func checkAllocs(t testing.TB, input int, fixed uint64, f func()) {
	t.Helper()
	if got, limit := allocated(f), fixed+uint64(200*input); got > limit {
		t.Fatalf("allocated %d bytes for %d bytes of input (limit %d)", got, input, limit)
	}
}

func FuzzLabel(f *testing.F) {
	for _, s := range loadSeeds(f) {
		f.Add(s.meta[:labelLen(s.version)])
		f.Add(s.vols[0][:labelLen(s.version)])
		f.Add(s.index[:min(len(s.index), labelLen(s.version)+40)])
	}
	f.Add([]byte{0, 0, 0, 132, 0x50, 0x05, 0x26, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, vol := range []int32{0, 1, volMeta, volIndex} {
			l, err := parseLabel(b, "fuzz", vol)
			if err != nil {
				if fe, ok := err.(*FormatError); !ok || fe.File != "fuzz" {
					t.Fatalf("error %v is not a FormatError for the file", err)
				}
				continue
			}
			if l.Version != 2 && l.Version != 3 || len(b) < labelLen(l.Version) || l.Vol != vol {
				t.Fatalf("accepted %+v from %d bytes", l, len(b))
			}
			if len(l.Hostname) > 255 || len(l.TZ) > 255 || len(l.Zoneinfo) > 255 {
				t.Fatalf("strings too long: %+v", l)
			}
			if err := checkLabels(l, "a", l, "b"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzMeta(f *testing.F) {
	for _, s := range loadSeeds(f) {
		f.Add(s.meta[labelLen(s.version):], s.version == 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, v3 bool) {
		version := 2
		if v3 {
			version = 3
		}
		checkAllocs(t, len(b), 8<<20, func() {
			m := newMeta("fuzz.meta")
			base := int64(labelLen(version))
			n, err := m.decode(b, base, version)
			if n < 0 || n > len(b) {
				t.Fatalf("consumed %d of %d bytes", n, len(b))
			}
			if err != nil {
				if fe, ok := err.(*FormatError); !ok || fe.File != "fuzz.meta" || fe.Offset < base+int64(n) {
					t.Fatalf("error %v: not a FormatError at or after the last good record (%d)", err, base+int64(n))
				}
			}
			m.finish()
			exerciseMeta(t, m)
		})
	})
}

// exerciseMeta calls every lookup of a decoded Meta.
func exerciseMeta(t testing.TB, m *Meta) {
	for _, d := range m.Descs {
		if got, ok := m.Desc(d.PMID); !ok || got != d {
			t.Fatalf("Desc(%s) lost", d.PMID)
		}
		for _, n := range d.Names {
			if _, ok := m.Lookup(n); !ok {
				t.Fatalf("name %q lost", n)
			}
		}
		_ = d.Units.String() + d.Type.String() + d.Sem.String() + d.InDom.String() + d.PMID.String()
	}
	for _, r := range m.Labels {
		m.LabelSets(r.Type, r.Ident, r.Time)
	}
	for k := range m.Texts {
		m.Text(k.Type, k.Ident)
	}
	for _, h := range m.InDoms {
		times := h.Times()
		if !sort.SliceIsSorted(times, func(i, j int) bool { return times[i] < times[j] }) {
			t.Fatalf("indom %s history out of order", h.InDom)
		}
		all := h.All()
		for _, in := range all {
			if _, ok := h.NameAnyTime(in.ID); !ok {
				t.Fatalf("instance %d of All has no name", in.ID)
			}
		}
		r := h.Resolver()
		fresh := func(ts int64) []Instance {
			f := h.Resolver()
			f.At(ts)
			return f.Instances()
		}
		// Forwards, then backwards: each state must equal a fresh resolver's.
		order := append([]int64{}, times...)
		for i := len(times) - 1; i >= 0; i-- {
			order = append(order, times[i]-1, times[i])
		}
		if len(order) > 64 {
			order = order[:64]
		}
		for _, ts := range order {
			r.At(ts)
			got, want := r.Instances(), fresh(ts)
			if len(got) != len(want) {
				t.Fatalf("indom %s at %d: %d instances, a fresh resolver %d", h.InDom, ts, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("indom %s at %d: %v, a fresh resolver %v", h.InDom, ts, got[i], want[i])
				}
				if n, ok := r.Name(got[i].ID); !ok || n != got[i].Name {
					t.Fatalf("Name(%d)", got[i].ID)
				}
			}
		}
	}
}

func FuzzRecord(f *testing.F) {
	for _, s := range loadSeeds(f) {
		for _, vol := range s.vols {
			bs := frames(vol, labelLen(s.version))
			for i := 0; i+1 < len(bs); i++ {
				f.Add(vol[bs[i]:bs[i+1]], s.version == 3)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, v3 bool) {
		hdr := 12
		if v3 {
			hdr = 16
		}
		checkAllocs(t, len(b), 8<<20, func() {
			r := &Record{buf: b}
			msg := r.decode(hdr, nil)
			if msg != "" {
				return
			}
			sets := append([]ValueSet(nil), r.Sets()...)
			if len(sets) != r.NumPMID || r.Mark != (r.NumPMID == 0) {
				t.Fatalf("%d sets of %d, mark %v", len(sets), r.NumPMID, r.Mark)
			}
			for k := range sets {
				readSet(t, r, &sets[k])
			}
			// A filter keeps a subset and the same verdict.
			if len(sets) > 0 {
				want := map[PMID]struct{}{sets[0].PMID: {}}
				if msg := r.decode(hdr, want); msg != "" {
					t.Fatalf("filtered decode failed: %s", msg)
				}
				for _, s := range r.Sets() {
					if s.PMID != sets[0].PMID {
						t.Fatalf("filter kept %s", s.PMID)
					}
				}
			}
		})
	})
}

// readSet reads every value of a set in every way there is.
func readSet(t testing.TB, r *Record, s *ValueSet) {
	for j := 0; j < int(s.NumVal); j++ {
		v := r.Value(s, j)
		if s.ValFmt == valInsitu && v.Bytes() != nil {
			t.Fatal("in-situ value with a block")
		}
		for ty := TypeNoSupport; ty <= TypeHighResEvent; ty++ {
			v.Float64(ty)
			v.Int64(ty)
			v.Uint64(ty)
		}
		_ = v.String()
		if b := v.Bytes(); b != nil && len(b) > len(r.buf) {
			t.Fatal("block larger than the record")
		}
	}
}

func FuzzArchive(f *testing.F) {
	for _, s := range loadSeeds(f) {
		f.Add(s.meta, s.vols[0], s.index)
		f.Add(s.meta, s.vols[0], []byte(nil))
	}
	f.Fuzz(func(t *testing.T, meta, vol, index []byte) { fuzzArchive(t, meta, vol, index) })
}

func fuzzArchive(t testing.TB, meta, vol, index []byte) {
	{
		dir := t.TempDir()
		base := filepath.Join(dir, "f")
		for name, b := range map[string][]byte{".meta": meta, ".0": vol, ".index": index} {
			if name == ".index" && len(b) == 0 {
				continue
			}
			if err := os.WriteFile(base+name, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		checkAllocs(t, len(meta)+len(vol)+len(index), 32<<20, func() {
			a, err := Open(base)
			if err != nil {
				checkFuzzError(t, err, dir)
				return
			}
			exerciseMeta(t, a.Meta)
			all, tail, err := collect(a, ReaderOptions{})
			if err != nil {
				checkFuzzError(t, err, dir)
			}
			// Windows and PMID filters return what the full scan
			// returns for them, the index notwithstanding, when the
			// archive reads cleanly and in time order.
			if err != nil || len(all) == 0 {
				return
			}
			for i := 1; i < len(all); i++ {
				if all[i].T < all[i-1].T {
					return
				}
			}
			for _, i := range []int{0, len(all) / 3, len(all) - 1} {
				start, end := all[i].T, all[len(all)-1-i/2].T
				got, gtail, err := collect(a, ReaderOptions{Start: start, End: end})
				if err != nil {
					t.Fatalf("window [%d, %d]: %v after a clean full read", start, end, err)
				}
				want := inWindow(all, start, end)
				if !samplesEqual(got, want) {
					t.Fatalf("window [%d, %d]: %d samples, the full read has %d", start, end, len(got), len(want))
				}
				if gtail && !tail {
					t.Fatal("a window ended at the tail, the full read did not")
				}
			}
			p := all[len(all)-1].PMID
			if got := mustCollectNoMarks(t, a, ReaderOptions{PMIDs: []PMID{p}}); !samplesEqual(got, only(all, p)) {
				t.Fatalf("PMID %s: %d samples, the full read has %d", p, len(got), len(only(all, p)))
			}
		})
	}
}

func mustCollectNoMarks(t testing.TB, a *Archive, opt ReaderOptions) []sample {
	got, _, err := collect(a, opt)
	if err != nil {
		t.Fatal(err)
	}
	return dropMarks(got)
}

// checkFuzzError checks that an error names a file of the archive, and says
// where when it is a FormatError.
func checkFuzzError(t testing.TB, err error, dir string) {
	t.Helper()
	msg := err.Error()
	if !strings.Contains(msg, dir) {
		t.Fatalf("error %q names no file", msg)
	}
	if fe, ok := err.(*FormatError); ok && (fe.Offset < 0 || !strings.Contains(msg, "offset")) {
		t.Fatalf("error %q: bad offset", msg)
	}
}

// TestFuzzSeedsDecode runs the seed records through the same checks as the
// fuzz targets in ordinary test runs (go test runs the seed corpus too; this
// makes sure the real records decode cleanly rather than being rejected).
func TestFuzzSeedsDecode(t *testing.T) {
	for _, name := range seedArchives {
		files, err := FindFiles(name)
		if err != nil {
			t.Fatal(err)
		}
		a := mustOpen(t, name)
		for _, vf := range files.Volumes {
			src, err := openSource(vf.Path, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := readAll(src)
			src.Close()
			if err != nil {
				t.Fatal(err)
			}
			hdr := 12
			if a.Label.Version == 3 {
				hdr = 16
			}
			bs := frames(b, labelLen(a.Label.Version))
			if bs[len(bs)-1] != int64(len(b)) {
				t.Fatalf("%s: frames end at %d of %d", vf.Path, bs[len(bs)-1], len(b))
			}
			for i := 0; i+1 < len(bs); i++ {
				r := &Record{buf: b[bs[i]:bs[i+1]]}
				if msg := r.decode(hdr, nil); msg != "" {
					t.Fatalf("%s offset %d: %s", vf.Path, bs[i], msg)
				}
				if n := int(int32(binary.BigEndian.Uint32(r.buf[hdr:]))); n != r.NumPMID {
					t.Fatalf("numpmid %d != %d", n, r.NumPMID)
				}
			}
		}
	}
}
