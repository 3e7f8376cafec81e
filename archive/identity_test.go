package archive

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
	"github.com/pcp-remote-read/pcp-remote-read/internal/xz/xztest"
)

func runCommand(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// copyTestArchive copies testdata/archives/<name> into dir as base there,
// and returns the new base path.
func copyTestArchive(t testing.TB, name, dir, base string) string {
	t.Helper()
	return copyBase(t, filepath.Join("../testdata/archives", name, name), filepath.Join(dir, base))
}

func mustFindFiles(t testing.TB, base string) Files {
	t.Helper()
	f, err := FindFiles(base)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// mustContentID is the content identity of the archive at base, which
// must be cheaply known; it is the same whether or not the archive's .xz
// files are read through a shared Decoder.
func mustContentID(t testing.TB, base string) string {
	t.Helper()
	f := mustFindFiles(t, base)
	id, ok, err := ContentID(f)
	if err != nil || !ok {
		t.Fatalf("ContentID(%s) = %q, %v, %v", base, id, ok, err)
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("ContentID(%s) = %q: not 32 lowercase hex digits", base, id)
	}
	f.XZ = xz.NewDecoder(xz.Options{MaxConcurrent: runtime.GOMAXPROCS(0)})
	if id2, ok, err := ContentID(f); id2 != id || !ok || err != nil {
		t.Fatalf("ContentID(%s) with a Decoder = %q, %v, %v; without, %q", base, id2, ok, err, id)
	}
	return id
}

// compressArchive runs cmd on each of the archive's volumes and .meta, as
// pmlogger_daily does (and on .index with index): the command replaces
// the file by a compressed one.
func compressArchive(index bool, cmd ...string) func(t testing.TB, base string) string {
	return func(t testing.TB, base string) string {
		t.Helper()
		f := mustFindFiles(t, base)
		paths := []string{f.Meta}
		if index {
			paths = append(paths, f.Index)
		}
		for _, v := range f.Volumes {
			paths = append(paths, v.Path)
		}
		for _, p := range paths {
			runCommand(t, cmd[0], append(cmd[1:], p)...)
		}
		return base
	}
}

// renameArchive renames the archive's files to newBase (in another
// directory, possibly) and returns newBase.
func renameArchive(t testing.TB, base, newBase string) string {
	t.Helper()
	m, err := filepath.Glob(base + ".*")
	if err != nil || len(m) == 0 {
		t.Fatalf("no files for %s", base)
	}
	for _, p := range m {
		if err := os.Rename(p, newBase+strings.TrimPrefix(p, base)); err != nil {
			t.Fatal(err)
		}
	}
	return newBase
}

// TestContentIDSurvives changes what ContentID must not see: compression
// by the real xz and zstd commands, as pmlogger_daily runs them, renaming
// and moving.
func TestContentIDSurvives(t *testing.T) {
	xztest.RequireCommand(t, "xz")
	xztest.RequireCommand(t, "zstd")
	ids := map[string]string{}
	for _, name := range []string{"v2-multivol", "v3-multivol", "v2-basic", "v3-basic"} {
		t.Run(name, func(t *testing.T) {
			want := mustContentID(t, copyTestArchive(t, name, t.TempDir(), "20261118"))
			for _, tc := range []struct {
				name   string
				change func(t testing.TB, base string) string
			}{
				{"xz -0 --block-size=10MiB", compressArchive(false, "xz", "-0", "--block-size=10MiB")},
				{"xz", compressArchive(false, "xz")},
				// Several blocks: read through the block index.
				{"xz 1KiB blocks, index too", compressArchive(true, "xz", "-0", "--block-size=1KiB")},
				{"zstd", compressArchive(false, "zstd", "-q", "--rm")},
				{"zstd -19, index too", compressArchive(true, "zstd", "-q", "--rm", "-19")},
				{"renamed", func(t testing.TB, base string) string {
					return renameArchive(t, base, filepath.Join(filepath.Dir(base), "20261118.00.10"))
				}},
				{"moved", func(t testing.TB, base string) string {
					return renameArchive(t, base, filepath.Join(t.TempDir(), "20261118"))
				}},
				{"half compressed, renamed and moved", func(t testing.TB, base string) string {
					f := mustFindFiles(t, base)
					runCommand(t, "xz", "-0", "--block-size=10MiB", f.Meta)
					runCommand(t, "xz", "-0", "--block-size=10MiB", f.Volumes[0].Path)
					if len(f.Volumes) > 1 {
						runCommand(t, "zstd", "-q", "--rm", f.Volumes[1].Path)
					}
					return renameArchive(t, base, filepath.Join(t.TempDir(), "other"))
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					base := tc.change(t, copyTestArchive(t, name, t.TempDir(), "20261118"))
					if got := mustContentID(t, base); got != want {
						t.Errorf("ContentID = %s, want %s (plain)", got, want)
					}
				})
			}
			ids[name] = want
		})
	}
	seen := map[string]string{}
	for name, id := range ids {
		if other, ok := seen[id]; ok {
			t.Errorf("%s and %s have the same ContentID %s", name, other, id)
		}
		seen[id] = name
	}
}

// TestContentIDCorpus takes the identity of every test archive: the same
// identity for the same decompressed content (testdata's v2-xz is
// v2-multivol compressed, v3-xz and v3-zst are v3-multivol), a different
// one for any other.
func TestContentIDCorpus(t *testing.T) {
	type entry struct {
		base    string
		id      string
		content []byte // all decompressed files, framed
	}
	var all []entry
	for _, root := range []string{"../testdata/archives", "../testdata/pcp-qa"} {
		metas, _ := filepath.Glob(filepath.Join(root, "*", "*.meta*"))
		for _, m := range metas {
			base, _ := SplitCompress(m)
			base = strings.TrimSuffix(base, ".meta")
			f, err := FindFiles(base)
			if err != nil {
				t.Logf("%s: %v", base, err)
				continue
			}
			id, ok, err := ContentID(f)
			if err != nil {
				// Damaged on purpose (pcp-qa has such archives).
				t.Logf("%s: %v", base, err)
				continue
			}
			if !ok {
				continue
			}
			all = append(all, entry{base, id, archiveContent(t, f)})
		}
	}
	ids := map[string]string{}
	for _, e := range all {
		ids[filepath.Base(e.base)] = e.id
	}
	for _, same := range [][2]string{{"v2-xz", "v2-multivol"}, {"v3-xz", "v3-multivol"}, {"v3-zst", "v3-multivol"}} {
		if ids[same[0]] == "" || ids[same[0]] != ids[same[1]] {
			t.Errorf("%s: ContentID %q, %s: %q; want the same", same[0], ids[same[0]], same[1], ids[same[1]])
		}
	}
	for _, gz := range []string{"v2-gz", "v2-bz2"} {
		if id, ok := ids[gz]; ok {
			t.Errorf("%s: ContentID %s, want not known", gz, id)
		}
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			if (a.id == b.id) != bytes.Equal(a.content, b.content) {
				t.Errorf("%s and %s: ContentIDs %s and %s, content the same: %v", a.base, b.base, a.id, b.id, bytes.Equal(a.content, b.content))
			}
		}
	}
	t.Logf("%d archives with a known identity", len(all))
	if len(all) < 10 {
		t.Fatalf("only %d archives", len(all))
	}
}

// archiveContent is everything an archive holds, decompressed and framed:
// what ContentID stands for.
func archiveContent(t testing.TB, f Files) []byte {
	t.Helper()
	var out []byte
	add := func(p string) {
		b, err := readWhole(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = binary.BigEndian.AppendUint64(out, uint64(len(b)))
		out = append(out, b...)
	}
	add(f.Meta)
	if f.Index != "" {
		add(f.Index)
	}
	for _, v := range f.Volumes {
		out = binary.BigEndian.AppendUint64(out, uint64(v.Num))
		add(v.Path)
	}
	return out
}

// TestContentIDChanges changes what ContentID must see, and one thing it
// cannot: a volume changed past its first 4 KiB, same size.
func TestContentIDChanges(t *testing.T) {
	// flipFile flips the low bit of byte off of file p (from the end when
	// off < 0).
	flipFile := func(t testing.TB, p string, off int) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if off < 0 {
			off += len(b)
		}
		writeFile(t, p, flip(b, off, 0x01))
	}
	for _, name := range []string{"v3-multivol", "v2-basic"} {
		t.Run(name, func(t *testing.T) {
			base := copyTestArchive(t, name, t.TempDir(), name)
			want := mustContentID(t, base)
			for _, tc := range []struct {
				name   string
				change func(t testing.TB, f Files)
				same   bool
			}{
				{"byte appended to the first volume", func(t testing.TB, f Files) { appendByte(t, f.Volumes[0].Path) }, false},
				{"byte appended to the last volume", func(t testing.TB, f Files) { appendByte(t, f.Volumes[len(f.Volumes)-1].Path) }, false},
				{"last volume cut by a byte", func(t testing.TB, f Files) {
					p := f.Volumes[len(f.Volumes)-1].Path
					fi, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.Truncate(p, fi.Size()-1); err != nil {
						t.Fatal(err)
					}
				}, false},
				{"last volume renumbered", func(t testing.TB, f Files) {
					v := f.Volumes[len(f.Volumes)-1]
					if err := os.Rename(v.Path, f.Base+".9"); err != nil {
						t.Fatal(err)
					}
				}, false},
				{"byte of the .meta label", func(t testing.TB, f Files) { flipFile(t, f.Meta, 20) }, false},
				{"middle byte of .meta", func(t testing.TB, f Files) { flipFile(t, f.Meta, 4000) }, false},
				{"last byte of .meta", func(t testing.TB, f Files) { flipFile(t, f.Meta, -1) }, false},
				{"byte of .index", func(t testing.TB, f Files) { flipFile(t, f.Index, -3) }, false},
				{"no .index", func(t testing.TB, f Files) {
					if err := os.Remove(f.Index); err != nil {
						t.Fatal(err)
					}
				}, false},
				{"byte 4095 of the first volume", func(t testing.TB, f Files) { flipFile(t, f.Volumes[0].Path, 4095) }, false},
				// What ContentID does not prove (see its comment).
				{"byte 4096 of the first volume", func(t testing.TB, f Files) { flipFile(t, f.Volumes[0].Path, 4096) }, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					base := copyTestArchive(t, name, t.TempDir(), name)
					tc.change(t, mustFindFiles(t, base))
					if got := mustContentID(t, base); (got == want) != tc.same {
						t.Errorf("ContentID %s, unchanged %s: same = %v, want %v", got, want, got == want, tc.same)
					}
				})
			}
		})
	}
}

func appendByte(t testing.TB, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestContentIDUnknown: volumes whose size costs decompressing leave the
// identity unknown, without an error; a .meta compressed so does not.
func TestContentIDUnknown(t *testing.T) {
	xztest.RequireCommand(t, "zstd")
	xztest.RequireCommand(t, "gzip")
	plain := mustContentID(t, copyTestArchive(t, "v3-multivol", t.TempDir(), "a"))
	for _, tc := range []struct {
		name   string
		change func(t testing.TB, f Files)
		known  bool
	}{
		{"zstd from a pipe", func(t testing.TB, f Files) { zstdPipe(t, f.Volumes[1].Path) }, false},
		{"zstd --no-content-size", func(t testing.TB, f Files) {
			runCommand(t, "zstd", "-q", "--rm", "--no-content-size", f.Volumes[0].Path)
		}, false},
		{"gzip", func(t testing.TB, f Files) { runCommand(t, "gzip", f.Volumes[2].Path) }, false},
		{"bzip2 .meta, gzip .index", func(t testing.TB, f Files) {
			xztest.RequireCommand(t, "bzip2")
			runCommand(t, "bzip2", f.Meta)
			runCommand(t, "gzip", f.Index)
		}, true},
		{".meta from a pipe", func(t testing.TB, f Files) { zstdPipe(t, f.Meta) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := copyTestArchive(t, "v3-multivol", t.TempDir(), "a")
			tc.change(t, mustFindFiles(t, base))
			id, ok, err := ContentID(mustFindFiles(t, base))
			switch {
			case err != nil:
				t.Fatal(err)
			case ok != tc.known:
				t.Errorf("ok = %v, want %v", ok, tc.known)
			case ok && id != plain:
				t.Errorf("ContentID %s, plain %s", id, plain)
			case !ok && id != "":
				t.Errorf("ContentID %q when not known", id)
			}
		})
	}
}

// zstdPipe compresses p as `zstd -c < p > p.zst` does: a frame that does
// not record its content size.
func zstdPipe(t testing.TB, p string) {
	t.Helper()
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command("zstd", "-q", "-c")
	cmd.Stdin = in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	writeFile(t, p+".zst", out)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// TestContentIDErrors: a damaged or missing file is an error naming it.
func TestContentIDErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		// change returns the file the error must name, and whether the
		// archive's files are listed again after it (else they change
		// after they were listed).
		change func(t testing.TB, f Files) (string, bool)
	}{
		{"volume gone", func(t testing.TB, f Files) (string, bool) {
			p := f.Volumes[1].Path
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p, false
		}},
		{"xz volume truncated", func(t testing.TB, f Files) (string, bool) {
			p := f.Volumes[0].Path
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, b[:len(b)-8])
			return p, true
		}},
		{"zstd volume damaged", func(t testing.TB, f Files) (string, bool) {
			// A frame of 5 bytes holding 3.
			p := f.Base + ".1.zst"
			writeFile(t, p, zstdFrameBytes(0x20, []byte{5}, zstdRaw(true, []byte("abc"))))
			if err := os.Remove(f.Base + ".1.xz"); err != nil {
				t.Fatal(err)
			}
			return p, true
		}},
		{"zstd volume truncated", func(t testing.TB, f Files) (string, bool) {
			p := f.Base + ".2.zst"
			writeFile(t, p, zstdFrameBytes(0x20, []byte{5}, zstdRaw(true, []byte("hello")))[:12])
			if err := os.Remove(f.Base + ".2.xz"); err != nil {
				t.Fatal(err)
			}
			return p, true
		}},
		{".meta gone", func(t testing.TB, f Files) (string, bool) {
			if err := os.Remove(f.Meta); err != nil {
				t.Fatal(err)
			}
			return f.Meta, false
		}},
		{".meta damaged", func(t testing.TB, f Files) (string, bool) {
			writeFile(t, f.Meta, []byte("not xz at all"))
			return f.Meta, true
		}},
		{".index gone", func(t testing.TB, f Files) (string, bool) {
			if err := os.Remove(f.Index); err != nil {
				t.Fatal(err)
			}
			return f.Index, false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := copyTestArchive(t, "v3-xz", t.TempDir(), "a")
			f := mustFindFiles(t, base)
			p, relist := tc.change(t, f)
			if relist {
				f = mustFindFiles(t, base)
			}
			id, ok, err := ContentID(f)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("ContentID = %q, %v, %v; want an error naming %s", id, ok, err, p)
			}
			t.Log(err)
		})
	}
}

// TestDecompressedSize compares decompressedSize with the length of what
// the archive reader decompresses, for the compressed files of testdata
// and files made by the xz and zstd commands.
func TestDecompressedSize(t *testing.T) {
	xztest.RequireCommand(t, "xz")
	xztest.RequireCommand(t, "zstd")
	dir := t.TempDir()
	data := xztest.Data(700 << 10)
	paths, _ := filepath.Glob("../testdata/archives/*/*")
	for i, n := range []int{0, 1, 4096, 300 << 10, 700 << 10} {
		p := filepath.Join(dir, "d"+string(rune('a'+i)))
		writeFile(t, p, data[:n])
		for _, cmd := range [][]string{
			{"xz", "-k", "-0", "--block-size=10MiB"},
			{"zstd", "-q", "-k", "-19", "-o", p + ".19.zst"},
			{"zstd", "-q", "-k", "-T2", "-B64KiB", "-o", p + ".T2.zst"},
			{"zstd", "-q", "-k", "--no-check", "-o", p + ".nc.zst"},
		} {
			runCommand(t, cmd[0], append(cmd[1:], p)...)
		}
		paths = append(paths, p, p+".xz", p+".19.zst", p+".T2.zst", p+".nc.zst")
	}
	// Incompressible data makes raw blocks, zeros RLE ones; and two
	// frames with a skippable frame between.
	random := filepath.Join(dir, "random")
	writeFile(t, random, randomBytes(300<<10))
	zeros := filepath.Join(dir, "zeros")
	writeFile(t, zeros, make([]byte, 1<<20))
	runCommand(t, "zstd", "-q", "-k", random)
	runCommand(t, "zstd", "-q", "-k", zeros)
	a, err := os.ReadFile(random + ".zst")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(zeros + ".zst")
	if err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(dir, "two.zst")
	writeFile(t, two, cat(a, zstdSkip(0x184D2A53, []byte("pcp")), b))
	paths = append(paths, random+".zst", zeros+".zst", two)

	for _, p := range paths {
		n, ok, err := decompressedSize(p)
		_, suffix := SplitCompress(p)
		if suffix != "" && suffix != ".xz" && suffix != ".zst" {
			if ok || err != nil {
				t.Errorf("%s: %d, %v, %v: want not known", p, n, ok, err)
			}
			continue
		}
		if err != nil || !ok {
			t.Errorf("%s: %d, %v, %v", p, n, ok, err)
			continue
		}
		b, err := readWhole(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(b)) {
			t.Errorf("%s: decompressedSize %d, decompressed %d bytes", p, n, len(b))
		}
	}
}

// TestDecompressedSizeUnknown covers the other ways to not know a size.
func TestDecompressedSizeUnknown(t *testing.T) {
	dir := t.TempDir()
	// An .xz check type the xz package does not know (reserved ID 2, of
	// 4 bytes): unknown, not damage.
	good := xztest.Make(t, xztest.Data(10<<10), 4<<10, "crc32")
	foot := good[len(good)-12:]
	foot[9] = 2
	binary.LittleEndian.PutUint32(foot[0:4], crc32.ChecksumIEEE(foot[4:10]))
	p := filepath.Join(dir, "check.0.xz")
	writeFile(t, p, good)
	if n, ok, err := decompressedSize(p); ok || err != nil {
		t.Errorf("reserved check type: %d, %v, %v; want not known", n, ok, err)
	}
	// A .gz file is not even opened.
	if n, ok, err := decompressedSize(filepath.Join(dir, "missing.0.gz")); ok || err != nil {
		t.Errorf("missing .gz: %d, %v, %v; want not known", n, ok, err)
	}
	for _, name := range []string{"missing.0", "missing.0.xz", "missing.0.zst"} {
		p := filepath.Join(dir, name)
		if _, _, err := decompressedSize(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming it", name, err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := decompressedSize(filepath.Join(dir, "dir.0")); err == nil {
		t.Error("a directory: no error")
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// Hand-built zstd frames (RFC 8878 §3.1.1): magic, frame header descriptor
// fhd, the rest of the header as given, then blocks.
func zstdFrameBytes(fhd byte, header []byte, blocks ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, zstdMagic)
	b = append(b, fhd)
	b = append(b, header...)
	return cat(append([][]byte{b}, blocks...)...)
}

func zstdBlockHeader(last bool, kind, n int) []byte {
	h := uint32(n)<<3 | uint32(kind)<<1
	if last {
		h |= 1
	}
	return []byte{byte(h), byte(h >> 8), byte(h >> 16)}
}

func zstdRaw(last bool, data []byte) []byte {
	return append(zstdBlockHeader(last, 0, len(data)), data...)
}

func zstdRLE(last bool, n int) []byte { return append(zstdBlockHeader(last, 1, n), 'x') }

// zstdCompressed is a compressed block of n bytes, not decodable: the
// walker never looks inside.
func zstdCompressed(last bool, n int) []byte {
	return append(zstdBlockHeader(last, 2, n), make([]byte, n)...)
}

func zstdSkip(magic uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, magic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// TestZstdSize walks hand-built frames: every size of Frame_Content_Size,
// window descriptor and dictionary ID, raw, RLE and compressed blocks,
// checksums, skippable frames; and damage at every step.
func TestZstdSize(t *testing.T) {
	// Single segment, FCS flag 0: a 1-byte size.
	fcs1 := zstdFrameBytes(0x20, []byte{5}, zstdRaw(true, []byte("hello")))
	// FCS flag 1: 2 bytes, plus 256.
	fcs2 := zstdFrameBytes(0x60, []byte{0x00, 0x01}, zstdRLE(false, 500), zstdRLE(true, 12))
	// FCS flag 2, a window descriptor, a 1-byte dictionary ID.
	fcs4 := zstdFrameBytes(0x81, cat([]byte{0x48, 7}, binary.LittleEndian.AppendUint32(nil, 200000)),
		zstdCompressed(false, 10), zstdCompressed(true, 20))
	// FCS flag 3, a 2-byte dictionary ID, a checksum.
	fcs8 := zstdFrameBytes(0xC6, cat([]byte{0x48, 1, 2}, le64(7)),
		zstdRaw(false, []byte("abc")), zstdRLE(true, 4), []byte{1, 2, 3, 4})
	// A 4-byte dictionary ID, nothing in the frame.
	did4 := zstdFrameBytes(0x23, []byte{1, 2, 3, 4, 0}, zstdRaw(true, nil))
	// No content size.
	noFCS := zstdFrameBytes(0x00, []byte{0x48}, zstdRaw(true, []byte("hello")))
	skip := zstdSkip(0x184D2A50, []byte("abc"))
	for _, tc := range []struct {
		name string
		b    []byte
		want int64
		ok   bool
		err  string
	}{
		{"1-byte size", fcs1, 5, true, ""},
		{"2-byte size", fcs2, 512, true, ""},
		{"4-byte size", fcs4, 200000, true, ""},
		{"8-byte size, checksum", fcs8, 7, true, ""},
		{"4-byte dictionary ID", did4, 0, true, ""},
		{"frames and skippable frames", cat(skip, fcs1, zstdSkip(0x184D2A5F, nil), fcs2, fcs4, fcs8, skip), 5 + 512 + 200000 + 7, true, ""},
		{"only a skippable frame", skip, 0, true, ""},
		{"no content size", noFCS, 0, false, ""},
		{"no content size in the second frame", cat(fcs1, noFCS), 0, false, ""},

		{"empty", nil, 0, false, "offset 0: empty file"},
		{"no magic", []byte{0, 0, 0, 0}, 0, false, "offset 0: no zstd frame magic"},
		{"trailing zeros", cat(fcs1, make([]byte, 4)), 0, false, "offset 14: no zstd frame magic"},
		{"trailing bytes", cat(fcs1, []byte{0x28, 0xB5}), 0, false, "offset 14: file ends inside the frame magic"},
		{"magic alone", fcs1[:4], 0, false, "offset 4: file ends inside the frame header"},
		{"cut in the content size", fcs4[:9], 0, false, "offset 7: file ends inside the frame content size"},
		{"cut in a block header", fcs1[:7], 0, false, "offset 6: file ends inside the block header"},
		{"cut in a block", fcs1[:len(fcs1)-1], 0, false, "offset 6: block of 5 bytes runs past the end"},
		{"no last block", zstdFrameBytes(0x20, []byte{3}, zstdRaw(false, []byte("abc"))), 0, false, "offset 12: file ends inside the block header"},
		{"cut in the checksum", fcs8[:len(fcs8)-1], 0, false, "file ends inside the content checksum"},
		{"reserved header bit", zstdFrameBytes(0x28, []byte{5}, zstdRaw(true, []byte("hello"))), 0, false, "offset 4: reserved bit"},
		{"reserved block type", zstdFrameBytes(0x20, []byte{5}, zstdBlockHeader(true, 3, 5)), 0, false, "offset 6: reserved block type"},
		{"block too big", zstdFrameBytes(0x20, []byte{5}, zstdBlockHeader(true, 0, 128<<10+1)), 0, false, "offset 6: block of 131073 bytes"},
		{"size below the blocks", zstdFrameBytes(0x20, []byte{4}, zstdRaw(true, []byte("hello"))), 0, false, "offset 0: frame content size 4 does not fit"},
		{"size above the blocks", zstdFrameBytes(0xA0, binary.LittleEndian.AppendUint32(nil, 300000), zstdCompressed(false, 9), zstdCompressed(true, 9)), 0, false, "does not fit its blocks"},
		{"size of 2^63", zstdFrameBytes(0xE0, le64(1<<63), zstdRaw(true, nil)), 0, false, "offset 5: frame content size 9223372036854775808 overflows"},
		{"skippable frame cut", skip[:len(skip)-1], 0, false, "offset 0: skippable frame of 3 bytes runs past the end"},
		{"skippable frame size cut", skip[:6], 0, false, "offset 4: file ends inside the skippable frame size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok, err := zstdSize(bytes.NewReader(tc.b), int64(len(tc.b)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "zstd: offset ") {
					t.Fatalf("%d, %v, %v; want an error with %q", n, ok, err, tc.err)
				}
				return
			}
			if err != nil || n != tc.want || ok != tc.ok {
				t.Errorf("%d, %v, %v; want %d, %v", n, ok, err, tc.want, tc.ok)
			}
		})
	}
}

// FuzzZstdSize checks that no input makes zstdSize panic, or return a
// negative size.
func FuzzZstdSize(f *testing.F) {
	f.Add(zstdFrameBytes(0x20, []byte{5}, zstdRaw(true, []byte("hello"))))
	f.Add(zstdFrameBytes(0xC6, cat([]byte{0x48, 1, 2}, le64(7)), zstdRaw(false, []byte("abc")), zstdRLE(true, 4), []byte{1, 2, 3, 4}))
	if b, err := os.ReadFile("../testdata/archives/v3-zst/v3-zst.0.zst"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok, err := zstdSize(bytes.NewReader(b), int64(len(b)))
		if n < 0 || (err != nil && ok) {
			t.Fatalf("%d, %v, %v", n, ok, err)
		}
	})
}
