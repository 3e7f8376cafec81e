package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// A damaged archive is a copy of a good one in a temporary directory, with
// what a full read of the good one returns.
type damaged struct {
	dir    string
	files  Files
	v      int
	orig   map[string][]byte
	want   []sample
	bounds map[int][]int64 // volume number -> record offsets, label end .. EOF
}

type archiveSource struct {
	name string
	make func(t testing.TB, dir string) string // writes the archive, returns its base
}

// copyArchive copies testdata/<name>/<name>.* into dir.
func copyArchive(name string) func(t testing.TB, dir string) string {
	return func(t testing.TB, dir string) string {
		t.Helper()
		return copyBase(t, filepath.Join("testdata", name, name), filepath.Join(dir, name))
	}
}

func synthArchive(v, nvol, per int) func(t testing.TB, dir string) string {
	return func(t testing.TB, dir string) string {
		b := newBuilder(v)
		vols := synthVolumes(b, nvol, per)
		return b.write(t, dir, fmt.Sprintf("synth-v%d", v), synthMeta(b), vols, b.autoIndex(vols))
	}
}

// damageSources are the archives the damage tests start from: real v2
// (three volumes) and v3 archives, and synthetic multi-volume ones.
var damageSources = []archiveSource{
	{"ok-mv-foo", copyArchive("ok-mv-foo")},
	{"ok-foo_v3", copyArchive("ok-foo_v3")},
	{"synth-v2", synthArchive(2, 3, 5)},
	{"synth-v3", synthArchive(3, 3, 5)},
}

func setupDamage(t *testing.T, src archiveSource) *damaged {
	t.Helper()
	d := &damaged{dir: t.TempDir(), orig: map[string][]byte{}, bounds: map[int][]int64{}}
	base := src.make(t, d.dir)
	var err error
	if d.files, err = FindFiles(base); err != nil {
		t.Fatal(err)
	}
	a := mustOpen(t, base)
	d.v = a.Label.Version
	d.want = mustCollect(t, a, ReaderOptions{})
	paths := []string{d.files.Meta, d.files.Index}
	for _, vf := range d.files.Volumes {
		paths = append(paths, vf.Path)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		d.orig[p] = b
	}
	for _, vf := range d.files.Volumes {
		d.bounds[vf.Num] = frames(d.orig[vf.Path], labelLen(d.v))
	}
	return d
}

// frames returns the offsets of the framed records from off to the end,
// and the end.
func frames(b []byte, off int) []int64 {
	out := []int64{int64(off)}
	for off+4 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n < 12 || off+n > len(b) {
			break
		}
		off += n
		out = append(out, int64(off))
	}
	return out
}

func (d *damaged) put(t testing.TB, path string, b []byte) {
	t.Helper()
	writeFile(t, path, b)
}

func (d *damaged) reset(t testing.TB) {
	t.Helper()
	for p, b := range d.orig {
		writeFile(t, p, b)
	}
}

func (d *damaged) open() (*Archive, error) { return OpenFiles(d.files) }

// recordEnd is the end of the record of volume vol starting at off.
func (d *damaged) recordEnd(vol int, off int64) int64 {
	bs := d.bounds[vol]
	i := sort.Search(len(bs), func(i int) bool { return bs[i] > off })
	return bs[i]
}

// without returns the expected samples when volume vol is cut at c: every
// record of that volume that ends after c is gone.
func (d *damaged) without(vol int, c int64) []sample {
	var out []sample
	for _, s := range d.want {
		if s.Vol == vol && d.recordEnd(vol, s.Off) > c {
			continue
		}
		out = append(out, s)
	}
	return out
}

// before returns the samples read before a failure in volume vol at c.
func (d *damaged) before(vol int, c int64) []sample {
	var out []sample
	for _, s := range d.want {
		if s.Vol > vol || s.Vol == vol && d.recordEnd(vol, s.Off) > c {
			break
		}
		out = append(out, s)
	}
	return out
}

func isBound(bs []int64, c int64) bool {
	i := sort.Search(len(bs), func(i int) bool { return bs[i] >= c })
	return i < len(bs) && bs[i] == c
}

// cuts are the places to truncate a file of size n with records at bs: all
// of them, or in -short mode the label, every record boundary and a few
// places inside the first and last records.
func cuts(n int, bs []int64, short bool) []int64 {
	if !short {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	set := map[int64]bool{0: true, 3: true, 4: true, 8: true, bs[0] / 2: true, bs[0] - 1: true}
	for i, b := range bs {
		set[b] = true
		if i+1 < len(bs) && (i < 2 || i >= len(bs)-3) {
			e := bs[i+1]
			for _, c := range []int64{b + 1, b + 4, b + 8, b + 15, (b + e) / 2, e - 4, e - 1} {
				if c < e {
					set[c] = true
				}
			}
		}
	}
	var out []int64
	for c := range set {
		if c < int64(n) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// checkFormatError checks that err is a *FormatError naming file whose
// message says which file and at what offset.
func checkFormatError(t *testing.T, err error, file string, what string) *FormatError {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("%s: got error %v, want a *FormatError", what, err)
	}
	msg := err.Error()
	if fe.File != file || !strings.Contains(msg, file) || !strings.Contains(msg, "offset") {
		t.Fatalf("%s: error %q does not name %s and the offset", what, msg, file)
	}
	return fe
}

// TestTruncateLastVolume cuts the newest volume everywhere: what is missing
// is not written yet. The reader returns every whole record, stops without
// an error and says it is at the tail when it stopped inside a record.
func TestTruncateLastVolume(t *testing.T) {
	for _, src := range damageSources {
		t.Run(src.name, func(t *testing.T) {
			d := setupDamage(t, src)
			last := d.files.Volumes[len(d.files.Volumes)-1]
			data := d.orig[last.Path]
			bs := d.bounds[last.Num]
			for _, c := range cuts(len(data), bs, testing.Short()) {
				what := fmt.Sprintf("%s cut at %d", filepath.Base(last.Path), c)
				d.put(t, last.Path, data[:c])
				a, err := d.open()
				if len(d.files.Volumes) == 1 && c < bs[0] {
					// The only volume has no whole label: nothing to read.
					checkFormatError(t, err, last.Path, what)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				got, tail, err := collect(a, ReaderOptions{})
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if wantTail := c < bs[0] || !isBound(bs, c); tail != wantTail {
					t.Fatalf("%s: AtTail %v, want %v", what, tail, wantTail)
				}
				diffSamples(t, what, got, d.without(last.Num, c))
			}
		})
	}
}

// TestTruncateInnerVolume cuts a volume that is not the newest: a cut inside
// a record is corruption, reported with the file and the record's offset.
func TestTruncateInnerVolume(t *testing.T) {
	for _, src := range damageSources {
		t.Run(src.name, func(t *testing.T) {
			d := setupDamage(t, src)
			if len(d.files.Volumes) < 2 {
				t.Skip("one volume")
			}
			for _, vf := range d.files.Volumes[:len(d.files.Volumes)-1] {
				data := d.orig[vf.Path]
				bs := d.bounds[vf.Num]
				for _, c := range cuts(len(data), bs, testing.Short()) {
					what := fmt.Sprintf("%s cut at %d", filepath.Base(vf.Path), c)
					d.put(t, vf.Path, data[:c])
					a, err := d.open()
					if vf.Num == d.files.Volumes[0].Num && c < bs[0] {
						checkFormatError(t, err, vf.Path, what)
						continue
					}
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					got, tail, err := collect(a, ReaderOptions{})
					if tail {
						t.Fatalf("%s: AtTail in a volume that is not the newest", what)
					}
					if c >= bs[0] && isBound(bs, c) {
						// The volume is merely shorter.
						if err != nil {
							t.Fatalf("%s: %v", what, err)
						}
						diffSamples(t, what, got, d.without(vf.Num, c))
						continue
					}
					fe := checkFormatError(t, err, vf.Path, what)
					if c >= bs[0] {
						if rec := bs[sort.Search(len(bs), func(i int) bool { return bs[i] > c })-1]; fe.Offset != rec {
							t.Fatalf("%s: error at offset %d, want the record's %d", what, fe.Offset, rec)
						}
					}
					diffSamples(t, what, got, d.before(vf.Num, c))
				}
				d.reset(t)
			}
		})
	}
}

// TestTruncateMeta cuts .meta everywhere after its label: pmlogger has not
// finished writing the rest, so the whole records before the cut are used.
func TestTruncateMeta(t *testing.T) {
	for _, src := range damageSources {
		t.Run(src.name, func(t *testing.T) {
			d := setupDamage(t, src)
			meta := d.orig[d.files.Meta]
			bs := frames(meta, labelLen(d.v))
			if bs[len(bs)-1] != int64(len(meta)) {
				t.Fatalf("meta frames end at %d of %d", bs[len(bs)-1], len(meta))
			}
			for _, c := range cuts(len(meta), bs, testing.Short()) {
				what := fmt.Sprintf(".meta cut at %d", c)
				d.put(t, d.files.Meta, meta[:c])
				a, err := d.open()
				if c < bs[0] {
					checkFormatError(t, err, d.files.Meta, what)
					continue
				}
				whole := bs[sort.Search(len(bs), func(i int) bool { return bs[i] > c })-1]
				descs := 0
				for _, b := range bs[:len(bs)-1] {
					if b < whole && binary.BigEndian.Uint32(meta[b+4:]) == recDesc {
						descs++
					}
				}
				if descs == 0 {
					if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), d.files.Meta) {
						t.Fatalf("%s: got %v, want ErrNoData", what, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if a.Meta.size != whole {
					t.Fatalf("%s: decoded %d bytes, want %d", what, a.Meta.size, whole)
				}
				got, _, err := collect(a, ReaderOptions{})
				if err != nil || len(got) != len(d.want) {
					t.Fatalf("%s: %d samples (%v), want %d", what, len(got), err, len(d.want))
				}
				for i := range got {
					g, w := got[i], d.want[i]
					if _, ok := a.Meta.Desc(g.PMID); !ok {
						g.V, w.V = "", ""
					}
					if g != w {
						t.Fatalf("%s: sample %d: %v, want %v", what, i, g, w)
					}
				}
			}
		})
	}
}

// TestByteFlips damages one byte at a time in every file. Nothing may panic;
// every error names the file. The index is only a hint: damage there must
// never change what is read, with or without a time window.
func TestByteFlips(t *testing.T) {
	for _, src := range damageSources {
		t.Run(src.name, func(t *testing.T) {
			d := setupDamage(t, src)
			mid := d.want[len(d.want)/2].T
			late := d.want[len(d.want)*4/5].T
			for path, data := range d.orig {
				step := 1
				if testing.Short() {
					step = len(data)/12 + 1
				}
				isIndex := path == d.files.Index
				for off := 0; off < len(data); off += step {
					for _, x := range []byte{0xff, 0x01} {
						if testing.Short() && x != 0xff {
							break
						}
						d.put(t, path, flip(data, off, x))
						what := fmt.Sprintf("%s byte %d ^ %#x", filepath.Base(path), off, x)
						a, err := d.open()
						if err != nil {
							if isIndex {
								t.Fatalf("%s: %v", what, err)
							}
							checkErrorNames(t, err, d.dir, what)
							continue
						}
						for _, opt := range []ReaderOptions{{}, {Start: mid}, {Start: late, End: late + sec}} {
							got, _, err := collect(a, opt)
							if err != nil {
								if isIndex {
									t.Fatalf("%s: %v", what, err)
								}
								checkErrorNames(t, err, d.dir, what)
							}
							if isIndex {
								diffSamples(t, fmt.Sprintf("%s, window from %d", what, opt.Start), got, inWindow(d.want, opt.Start, opt.End))
							}
						}
					}
				}
				d.put(t, path, data)
			}
		})
	}
}

func checkErrorNames(t *testing.T, err error, dir, what string) {
	t.Helper()
	if msg := err.Error(); !strings.Contains(msg, dir) {
		t.Fatalf("%s: error %q names no file", what, msg)
	}
	var fe *FormatError
	if errors.As(err, &fe) && !strings.Contains(err.Error(), "offset") {
		t.Fatalf("%s: error %q has no offset", what, err)
	}
}

// TestCorruptions damages the synthetic archive in specific ways.
func TestCorruptions(t *testing.T) {
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		hdr := int64(4 + b.stampLen() + 4) // record offset of the first value set
		vols := synthVolumes(b, 3, 5)
		ll := int64(labelLen(v))
		// recAt is the offset of record i of volume vol.
		recAt := func(vol, i int) int64 {
			off := ll
			for _, r := range vols[vol][:i] {
				off += int64(len(r))
			}
			return off
		}
		meta := synthMeta(b)
		metaAt := func(i int) int64 {
			off := ll
			for _, r := range meta[:i] {
				off += int64(len(r))
			}
			return off
		}
		type patch struct {
			file string // "meta", "index", "0", "1", "2"
			off  int64
			val  []byte
		}
		type want struct {
			openErr string // Open fails with this
			readErr string // the full read fails with this
			file    string // ... in this file
			off     int64  // ... at this offset
			tail    bool
			recs    int // records read (of 15)
			warn    bool
		}
		// Label fields (docs/pcp-archive-format.md §4).
		hostOff, volOff := int64(24), int64(20)
		if v == 3 {
			hostOff, volOff = 36, 24
		}
		// Records are t0+i s, i = 5*vol + j; records 6 and 13 are marks.
		cases := []struct {
			name    string
			patches []patch
			want    want
		}{
			{"length 0 inner", []patch{{"1", recAt(1, 1), be32(0)}}, want{readErr: "bad record length 0", file: "1", off: recAt(1, 1), recs: 6}},
			{"length 0 last", []patch{{"2", recAt(2, 2), be32(0)}}, want{readErr: "bad record length 0", file: "2", off: recAt(2, 2), recs: 12}},
			{"length 2^31 inner", []patch{{"0", recAt(0, 3), be32(1 << 31)}}, want{readErr: "volume ends inside a record", file: "0", off: recAt(0, 3), recs: 3}},
			{"length 2^31 last", []patch{{"2", recAt(2, 2), be32(1 << 31)}}, want{tail: true, recs: 12}},
			{"length 2^32-4 last", []patch{{"2", recAt(2, 2), be32(1<<32 - 4)}}, want{tail: true, recs: 12}},
			{"length not a multiple of 4", []patch{{"1", recAt(1, 1), be32(uint32(len(vols[1][1]) + 2))}}, want{readErr: "bad record length", file: "1", off: recAt(1, 1), recs: 6}},
			{"trailer", []patch{{"0", recAt(0, 2) - 1, []byte{0x55}}}, want{readErr: "trailer length", file: "0", off: recAt(0, 1), recs: 1}},
			{"DPTR outside the record", []patch{{"0", recAt(0, 1) + hdr + 36, be32(0x10000)}}, want{readErr: "outside the record", file: "0", off: recAt(0, 1), recs: 1}},
			{"DPTR before the record", []patch{{"1", recAt(1, 0) + hdr + 36, be32(1)}}, want{readErr: "outside the record", file: "1", off: recAt(1, 0), recs: 5}},
			{"numpmid -1", []patch{{"0", recAt(0, 1) + hdr - 4, be32(math.MaxUint32)}}, want{readErr: "impossible value set count -1", file: "0", off: recAt(0, 1), recs: 1}},
			{"numpmid 2^31-1", []patch{{"0", recAt(0, 1) + hdr - 4, be32(math.MaxInt32)}}, want{readErr: "impossible value set count", file: "0", off: recAt(0, 1), recs: 1}},
			{"numval 2^31-1", []patch{{"0", recAt(0, 1) + hdr + 24, be32(math.MaxInt32)}}, want{readErr: "impossible value count", file: "0", off: recAt(0, 1), recs: 1}},
			{"valfmt 7", []patch{{"0", recAt(0, 1) + hdr + 28, be32(7)}}, want{readErr: "bad value format 7", file: "0", off: recAt(0, 1), recs: 1}},
			{"zero-filled tail", []patch{{"2", int64(len(b.volume(2, vols[2]))), make([]byte, 4096)}}, want{tail: true, recs: 15}},
			{"zero tail then garbage", []patch{{"2", int64(len(b.volume(2, vols[2]))), cat(make([]byte, 64), []byte{1})}}, want{readErr: "bad record length 0", file: "2", off: int64(len(b.volume(2, vols[2]))), recs: 15}},
			// .meta
			{"meta record length 2^31", []patch{{"meta", metaAt(3), be32(1 << 31)}}, want{recs: 15}}, // not written yet: the rest is lost
			{"meta record length 0", []patch{{"meta", metaAt(2), be32(0)}}, want{openErr: "length 0 too short", file: "meta", off: metaAt(2)}},
			{"meta unknown type", []patch{{"meta", metaAt(1) + 4, be32(99)}}, want{openErr: "unknown record type 99", file: "meta", off: metaAt(1)}},
			{"indom count -1", []patch{{"meta", metaAt(4) + 8 + int64(b.stampLen()) + 4, be32(math.MaxUint32)}}, want{openErr: "impossible instance count -1", file: "meta", off: metaAt(4)}},
			{"indom count 2^31-1", []patch{{"meta", metaAt(4) + 8 + int64(b.stampLen()) + 4, be32(math.MaxInt32)}}, want{openErr: "impossible instance count", file: "meta", off: metaAt(4)}},
			{"indom name without NUL", []patch{{"meta", metaAt(5) - 5, []byte("X")}}, want{openErr: "without NUL", file: "meta", off: metaAt(4)}},
			{"desc name count 2^31-1", []patch{{"meta", metaAt(0) + 28, be32(math.MaxInt32)}}, want{openErr: "impossible name count", file: "meta", off: metaAt(0)}},
			{"desc name length 2^31", []patch{{"meta", metaAt(0) + 32, be32(1 << 31)}}, want{openErr: "beyond the record", file: "meta", off: metaAt(0)}},
			{"desc type change", []patch{{"meta", metaAt(1), descRec(pmidU32, TypeU64, InDomNull, SemCounter, 0x00100000, "test.count")}}, want{openErr: "type changed", file: "meta", off: metaAt(1)}},
			// Labels.
			{"meta magic", []patch{{"meta", 4, be32(0x50052700 | uint32(v))}}, want{openErr: "bad magic", file: "meta", off: 4}},
			{"volume 0 magic", []patch{{"0", 4, be32(0x12345678)}}, want{openErr: "bad magic", file: "0", off: 4}},
			{"volume 1 magic", []patch{{"1", 4, be32(0)}}, want{readErr: "bad magic", file: "1", off: 4, recs: 5}},
			{"volume 1 pid", []patch{{"1", 8, be32(1)}}, want{readErr: "pid 1 differs", file: "1", off: 8, recs: 5}},
			{"volume 0 host", []patch{{"0", hostOff, []byte("other")}}, want{openErr: `hostname "otherost" differs`, file: "0", off: hostOff}},
			{"volume 2 numbered 1", []patch{{"2", volOff, be32(1)}}, want{readErr: "label volume 1, want 2", file: "2", off: 0, recs: 10}},
			{"index magic", []patch{{"index", 4, be32(0)}}, want{recs: 15, warn: true}},
			{"index pid", []patch{{"index", 8, be32(99)}}, want{recs: 15, warn: true}},
			{"index entries past the end", []patch{{"index", ll + 16, be64(1 << 40)}}, want{recs: 15}},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("v%d/%s", v, c.name), func(t *testing.T) {
				dir := t.TempDir()
				base := b.write(t, dir, "a", meta, vols, b.autoIndex(vols))
				path := func(f string) string { return base + "." + f }
				for _, p := range c.patches {
					buf, err := os.ReadFile(path(p.file))
					if err != nil {
						t.Fatal(err)
					}
					if need := p.off + int64(len(p.val)); need > int64(len(buf)) {
						buf = append(buf, make([]byte, need-int64(len(buf)))...)
					}
					copy(buf[p.off:], p.val)
					writeFile(t, path(p.file), buf)
				}
				good := filepath.Join(t.TempDir(), "good")
				b.write(t, filepath.Dir(good), "good", meta, vols, nil)
				full := mustCollect(t, mustOpen(t, good), ReaderOptions{})
				for i := range full {
					full[i].Off, full[i].Vol = 0, 0
				}
				var a *Archive
				var err error
				mem := allocated(func() { a, err = Open(base) })
				if mem > 8<<20 {
					t.Errorf("Open allocated %d bytes", mem)
				}
				if c.want.openErr != "" {
					fe := checkFormatError(t, err, path(c.want.file), "Open")
					if !strings.Contains(err.Error(), c.want.openErr) || fe.Offset != c.want.off {
						t.Fatalf("Open: got %v, want %q at offset %d", err, c.want.openErr, c.want.off)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []sample
				var tail bool
				mem = allocated(func() { got, tail, err = collect(a, ReaderOptions{}) })
				if mem > 8<<20 {
					t.Errorf("reading allocated %d bytes", mem)
				}
				if c.want.readErr != "" {
					fe := checkFormatError(t, err, path(c.want.file), "read")
					if !strings.Contains(err.Error(), c.want.readErr) || fe.Offset != c.want.off {
						t.Fatalf("read: got %v, want %q at offset %d", err, c.want.readErr, c.want.off)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if tail != c.want.tail {
					t.Fatalf("AtTail %v, want %v", tail, c.want.tail)
				}
				if c.want.warn != (len(a.Warnings) > 0) {
					t.Fatalf("warnings %q", a.Warnings)
				}
				recs := 0
				for i := range got {
					if i == 0 || got[i].Off != got[i-1].Off || got[i].Vol != got[i-1].Vol {
						recs++
					}
				}
				for i := range got {
					got[i].Off, got[i].Vol = 0, 0
					if _, ok := a.Meta.Desc(got[i].PMID); !ok {
						got[i].V, full[i].V = "", ""
					}
				}
				if recs != c.want.recs {
					t.Fatalf("%d records read, want %d", recs, c.want.recs)
				}
				diffSamples(t, "read", got, full[:len(got)])
			})
		}
	}
}

// TestMissingAndEmptyFiles removes or empties each file of a three-volume
// archive in turn.
func TestMissingAndEmptyFiles(t *testing.T) {
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		vols := synthVolumes(b, 3, 5)
		ll := labelLen(v)
		cases := []struct {
			name    string
			file    string // "meta", "index", "0", "1", "2"
			content []byte // nil: remove the file
			openErr string
			readErr string
			tail    bool
			recs    []int // volumes whose records are all read
		}{
			{name: "no .meta", file: "meta", openErr: "no .meta file"},
			{name: "empty .meta", file: "meta", content: []byte{}, openErr: "too short for a label"},
			{name: ".meta label only", file: "meta", content: b.label(volMeta), openErr: "no metric descriptors"},
			{name: "no .index", file: "index", recs: []int{0, 1, 2}},
			{name: "empty .index", file: "index", content: []byte{}, recs: []int{0, 1, 2}},
			{name: ".index label only", file: "index", content: b.label(volIndex), recs: []int{0, 1, 2}},
			{name: "no volume 0", file: "0", recs: []int{1, 2}},
			{name: "no volume 1", file: "1", recs: []int{0, 2}},
			{name: "no volume 2", file: "2", recs: []int{0, 1}},
			{name: "empty volume 0", file: "0", content: []byte{}, openErr: "too short for a label"},
			{name: "empty volume 1", file: "1", content: []byte{}, readErr: "too short for a label", recs: []int{0}},
			{name: "empty volume 2", file: "2", content: []byte{}, tail: true, recs: []int{0, 1}},
			{name: "half a label in volume 1", file: "1", content: b.label(1)[:ll/2], readErr: "too short", recs: []int{0}},
			{name: "half a label in volume 2", file: "2", content: b.label(2)[:ll/2], tail: true, recs: []int{0, 1}},
			{name: "6 bytes of a label in volume 2", file: "2", content: b.label(2)[:6], tail: true, recs: []int{0, 1}},
			{name: "garbage instead of a label in volume 2", file: "2", content: []byte("garbage"), readErr: "too short", recs: []int{0, 1}},
			{name: "label only volume 1", file: "1", content: b.label(1), recs: []int{0, 2}},
			{name: "label only volume 2", file: "2", content: b.label(2), recs: []int{0, 1}},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("v%d/%s", v, c.name), func(t *testing.T) {
				dir := t.TempDir()
				base := b.write(t, dir, "a", synthMeta(b), vols, b.autoIndex(vols))
				path := base + "." + c.file
				if c.content == nil {
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
				} else {
					writeFile(t, path, c.content)
				}
				a, err := Open(base)
				if c.openErr != "" {
					if err == nil || !strings.Contains(err.Error(), c.openErr) || !strings.Contains(err.Error(), dir) {
						t.Fatalf("Open: got %v, want %q", err, c.openErr)
					}
					var fe *FormatError
					if errors.As(err, &fe) {
						checkFormatError(t, err, path, "Open")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if c.file == "index" && c.content != nil && len(c.content) < ll {
					if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], path) {
						t.Fatalf("warnings %q", a.Warnings)
					}
				}
				var want []sample
				for _, vol := range c.recs {
					for i := 0; i < 5; i++ {
						want = append(want, synthSamples(b, vol*5+i)...)
					}
				}
				for _, opt := range []ReaderOptions{{}, {Start: t0 + 7*sec}} {
					got, tail, err := collect(a, opt)
					if c.readErr != "" {
						checkFormatError(t, err, path, "read")
						if !strings.Contains(err.Error(), c.readErr) {
							t.Fatalf("read: got %v, want %q", err, c.readErr)
						}
					} else if err != nil {
						t.Fatal(err)
					}
					if tail != c.tail {
						t.Fatalf("AtTail %v, want %v", tail, c.tail)
					}
					for i := range got {
						got[i].Vol, got[i].Off = 0, 0
					}
					diffSamples(t, fmt.Sprintf("from %d", opt.Start), got, inWindow(want, opt.Start, 0))
				}
			})
		}
	}
	t.Run("no volumes", func(t *testing.T) {
		b := newBuilder(2)
		base := b.write(t, t.TempDir(), "a", synthMeta(b), nil, nil)
		if _, err := Open(base); err == nil || !strings.Contains(err.Error(), "no data volumes") || !strings.Contains(err.Error(), base) {
			t.Fatalf("got %v", err)
		}
	})
}

// synthSamples is what a reader returns for synthRecord(b, i), without
// volume and offset.
func synthSamples(b *builder, i int) []sample {
	ts := t0 + int64(i)*sec
	if i%7 == 6 {
		return []sample{{T: ts, Mark: true}}
	}
	f := func(x float64) string { return fmt.Sprint(x) }
	s := func(p PMID, inst int32, n int32, val string) sample {
		return sample{T: ts, PMID: p, NumVal: n, Inst: inst, V: val}
	}
	out := []sample{
		s(pmidU32, InstNull, 1, fmt.Sprint(i)),
		s(pmidDouble, 0, 2, f(float64(i)+0.5)),
		s(pmidDouble, 1, 2, f(-float64(i))),
	}
	if i%5 == 4 {
		out = append(out, sample{T: ts, PMID: pmidString, NumVal: -12389})
	} else {
		out = append(out, s(pmidString, InstNull, 1, fmt.Sprintf("%q", fmt.Sprint("name-", i))))
	}
	return append(out, s(pmidU64, 0, 2, f(float64(1<<40+uint64(i)))), s(pmidU64, 1, 2, fmt.Sprint(i)))
}

// TestLabelMismatch gives one file of an archive another version, pid or
// host: libpcp refuses such archives (PM_ERR_LABEL); the index is only
// dropped, with a warning.
func TestLabelMismatch(t *testing.T) {
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		vols := synthVolumes(b, 2, 5)
		other := map[int]int{2: 3, 3: 2}[v]
		ob := newBuilder(other)
		for _, c := range []struct {
			name  string
			file  string
			label []byte
			want  string
		}{
			{"version of volume 0", "0", ob.label(0), fmt.Sprintf("version %d differs", other)},
			{"version of volume 1", "1", ob.label(1), fmt.Sprintf("version %d differs", other)},
			{"version of .index", "index", ob.label(volIndex), fmt.Sprintf("version %d differs", other)},
			{"pid of volume 1", "1", (&builder{v: v, pid: 1, host: b.host}).label(1), "pid 1 differs"},
			{"host of volume 0", "0", (&builder{v: v, pid: b.pid, host: "elsewhere"}).label(0), `hostname "elsewhere" differs`},
			{"host of .index", "index", (&builder{v: v, pid: b.pid, host: "elsewhere"}).label(volIndex), `hostname "elsewhere" differs`},
		} {
			t.Run(fmt.Sprintf("v%d/%s", v, c.name), func(t *testing.T) {
				base := b.write(t, t.TempDir(), "a", synthMeta(b), vols, b.autoIndex(vols))
				path := base + "." + c.file
				buf, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, cat(c.label, buf[labelLen(v):]))
				a, err := Open(base)
				switch c.file {
				case "0":
					checkFormatError(t, err, path, "Open")
					if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), base+".meta") {
						t.Fatalf("got %v, want %q", err, c.want)
					}
				case "1":
					if err != nil {
						t.Fatal(err)
					}
					_, _, err := collect(a, ReaderOptions{})
					checkFormatError(t, err, path, "read")
					if !strings.Contains(err.Error(), c.want) {
						t.Fatalf("got %v, want %q", err, c.want)
					}
				case "index":
					if err != nil {
						t.Fatal(err)
					}
					if a.Index() != nil || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], c.want) || !strings.Contains(a.Warnings[0], path) {
						t.Fatalf("index %v, warnings %q", a.Index(), a.Warnings)
					}
					if got := mustCollect(t, a, ReaderOptions{Start: t0 + 6*sec}); len(got) == 0 {
						t.Fatal("nothing read")
					}
				}
			})
		}
	}
	// A v3 .meta with v2 volumes.
	b2, b3 := newBuilder(2), newBuilder(3)
	dir := t.TempDir()
	b2.write(t, dir, "a", synthMeta(b2), synthVolumes(b2, 1, 3), nil)
	writeFile(t, filepath.Join(dir, "a.meta"), cat(b3.label(volMeta), cat(synthMeta(b3)...)))
	_, err := Open(filepath.Join(dir, "a"))
	checkFormatError(t, err, filepath.Join(dir, "a.0"), "Open")
	if !strings.Contains(err.Error(), "version 2 differs") {
		t.Fatalf("got %v", err)
	}
}

// TestUnreadableFiles makes each file unreadable in turn. Root reads
// anything, so the test skips when run as root.
func TestUnreadableFiles(t *testing.T) {
	b := newBuilder(3)
	vols := synthVolumes(b, 2, 5)
	for _, f := range []string{"meta", "index", "0", "1"} {
		t.Run(f, func(t *testing.T) {
			base := b.write(t, t.TempDir(), "a", synthMeta(b), vols, b.autoIndex(vols))
			path := base + "." + f
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(path, 0o644)
			if fh, err := os.Open(path); err == nil {
				fh.Close()
				t.Skip("the file is still readable (running as root?)")
			}
			a, err := Open(base)
			switch f {
			case "meta", "0":
				if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrPermission) {
					t.Fatalf("got %v", err)
				}
				return
			case "index":
				if err != nil || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], path) {
					t.Fatalf("got %v, warnings %q", err, a.Warnings)
				}
				mustCollect(t, a, ReaderOptions{})
			case "1":
				if err != nil {
					t.Fatal(err)
				}
				got, _, err := collect(a, ReaderOptions{})
				if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrPermission) || len(got) == 0 {
					t.Fatalf("got %v after %d samples", err, len(got))
				}
			}
		})
	}
}

// TestGrowingArchive reads an archive while "pmlogger" appends to it.
func TestGrowingArchive(t *testing.T) {
	for _, v := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			b := newBuilder(v)
			vols := synthVolumes(b, 2, 4)
			meta := synthMeta(b)
			base := b.write(t, t.TempDir(), "a", meta, vols, b.autoIndex(vols))
			a := mustOpen(t, base)
			before := mustCollect(t, a, ReaderOptions{})

			appendTo := func(path string, p []byte) {
				t.Helper()
				f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Write(p); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			// pmlogger is half way through writing record 8.
			rec := synthRecord(b, 8)
			appendTo(base+".1", rec[:len(rec)/2])
			r := a.NewReader(ReaderOptions{})
			n := 0
			for r.Next() {
				n++
			}
			if r.Err() != nil || !r.AtTail() || n != 8 {
				t.Fatalf("at the tail: %d records, err %v, AtTail %v", n, r.Err(), r.AtTail())
			}
			// It finishes: a new reader from the start sees the record.
			appendTo(base+".1", rec[len(rec)/2:])
			if r.Next() {
				t.Fatal("a finished reader went on")
			}
			got, tail, err := collect(a, ReaderOptions{})
			if err != nil || tail {
				t.Fatal(err, tail)
			}
			diffSamples(t, "old records", got[:len(before)], before)
			if news := got[len(before):]; len(news) == 0 || news[0].T != t0+8*sec || news[0].Vol != 1 {
				t.Fatalf("new samples %v", news)
			}
			if from := mustCollect(t, a, ReaderOptions{Start: t0 + 8*sec}); !samplesEqual(from, got[len(before):]) {
				t.Fatalf("reading from the new record: %v", from)
			}

			// A new metric and a new volume. .meta first, half written:
			// Refresh leaves the partial record for later.
			pNew := PMID(60<<22 | 9<<10 | 9)
			d := descRec(pNew, Type32, InDomNull, SemInstant, 0, "test.new")
			appendTo(base+".meta", d[:10])
			writeFile(t, base+".2", b.label(2)[:20])
			if err := a.Refresh(); err != nil {
				t.Fatal(err)
			}
			if _, ok := a.Meta.Desc(pNew); ok || len(a.Files.Volumes) != 3 {
				t.Fatalf("after the first refresh: desc %v, %d volumes", ok, len(a.Files.Volumes))
			}
			if _, tail, err := collect(a, ReaderOptions{}); err != nil || !tail {
				t.Fatalf("new volume with half a label: %v, AtTail %v", err, tail)
			}
			appendTo(base+".meta", d[10:])
			writeFile(t, base+".2", b.volume(2, [][]byte{b.record(t0+9*sec, insitu(pNew, tval{inst: InstNull, word: uint32(0xffffffff)}))}))
			if err := a.Refresh(); err != nil {
				t.Fatal(err)
			}
			if _, ok := a.Meta.Desc(pNew); !ok {
				t.Fatal("the new descriptor is missing")
			}
			got, tail, err = collect(a, ReaderOptions{Start: t0 + 9*sec})
			if err != nil || tail || len(got) != 1 || got[0].PMID != pNew || got[0].V != "-1" || got[0].Vol != 2 {
				t.Fatalf("new volume: %v, %v, %v", got, err, tail)
			}
		})
	}
}

func samplesEqual(a, b []sample) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCompressedDamage truncates and damages a compressed volume: the
// decompressor's errors must name the file; nothing may panic.
func TestCompressedDamage(t *testing.T) {
	d := setupDamage(t, archiveSource{"value-test", copyArchive("value-test")})
	path := d.files.Volumes[0].Path
	data := d.orig[path]
	step := 1
	if testing.Short() {
		step = len(data)/12 + 1
	}
	for off := 0; off < len(data); off += step {
		for _, bad := range [][]byte{data[:off], flip(data, off, 0xff)} {
			d.put(t, path, bad)
			a, err := d.open()
			if err == nil {
				_, _, err = collect(a, ReaderOptions{Start: d.want[len(d.want)/2].T})
			}
			if err != nil {
				checkErrorNames(t, err, d.dir, fmt.Sprintf("%s damaged at %d", filepath.Base(path), off))
			}
		}
	}
}

// TestIndexIntoUnreadableVolume: an index entry that points into a volume
// without a whole label (one pmlogger is creating, or a damaged one) is not
// trusted, so the records of the volumes before it are not skipped.
func TestIndexIntoUnreadableVolume(t *testing.T) {
	for _, v := range []int{2, 3} {
		for _, c := range []struct {
			name    string
			label   func(b *builder) []byte
			wantErr bool
		}{
			{"half a label", func(b *builder) []byte { return b.label(2)[:labelLen(v)/2] }, false},
			{"bad magic", func(b *builder) []byte { p := b.label(2); p[5] = 0; return p }, true},
		} {
			t.Run(fmt.Sprintf("v%d/%s", v, c.name), func(t *testing.T) {
				b := newBuilder(v)
				vols := synthVolumes(b, 2, 5)
				ll := int64(labelLen(v))
				idx := append(b.autoIndex(vols)[:6], IndexEntry{Time: t0 + 6*sec, Vol: 2, MetaOff: ll, DataOff: ll})
				base := b.write(t, t.TempDir(), "a", synthMeta(b), vols, idx)
				writeFile(t, base+".2", c.label(b))
				a := mustOpen(t, base)
				got, tail, err := collect(a, ReaderOptions{Start: t0 + 7*sec})
				if c.wantErr {
					checkFormatError(t, err, base+".2", "read")
				} else if err != nil || !tail {
					t.Fatalf("err %v, AtTail %v", err, tail)
				}
				var want []sample
				for i := 7; i < 10; i++ {
					want = append(want, synthSamples(b, i)...)
				}
				for i := range got {
					got[i].Vol, got[i].Off = 0, 0
				}
				diffSamples(t, "from t0+7s", got, want)
			})
		}
	}
}
