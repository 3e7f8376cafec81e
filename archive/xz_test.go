package archive

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
	"github.com/pcp-remote-read/pcp-remote-read/internal/xz/xztest"
	ulxz "github.com/ulikunitz/xz"
)

// The .xz decoder itself (block index, random access, LZMA2) is tested in
// internal/xz; these tests are of how archive uses it: which files go
// through it and which are streamed, errors naming the file, whole archives
// with .xz volumes, and the decoder an archive is given (Files.XZ).
// testdata/xz-blocks is v2-basic with its volume compressed by xz 5.4.1
// the way pmlogger_daily does it, with smaller blocks:
// `xz -0 --block-size=2KiB` (internal/xz/testdata/blocks.xz is a copy).

// TestXZOpenSource: which .xz files are read through the index, and which
// are streamed. Either way they must read the same as streaming reads them.
func TestXZOpenSource(t *testing.T) {
	data := xztest.Data(100 << 10)
	good := xztest.Make(t, data, 8<<10, "crc64")
	footer := len(good) - 12
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name    string
		b       []byte
		indexed bool
	}{
		{"blocks", good, true},
		{"one block", xztest.Make(t, data, 1<<20, "crc64"), false},
		{"footer magic", mut(func(b []byte) []byte { b[footer+10] = 'X'; return b }), false},
		{"footer CRC32", mut(func(b []byte) []byte { b[footer+1] ^= 1; return b }), false},
		{"backward size", mut(func(b []byte) []byte {
			// A consistent footer pointing at the wrong index size.
			binary.LittleEndian.PutUint32(b[footer+4:], binary.LittleEndian.Uint32(b[footer+4:])+1)
			binary.LittleEndian.PutUint32(b[footer:], crc32.ChecksumIEEE(b[footer+4:footer+10]))
			return b
		}), false},
		{"index CRC32", mut(func(b []byte) []byte { b[footer-1] ^= 1; return b }), false},
		{"stream header", mut(func(b []byte) []byte { b[1] = 'X'; return b }), false},
		{"block header CRC32", mut(func(b []byte) []byte { b[12+5] ^= 1; return b }), false},
		{"truncated", good[:len(good)-4], false},
		{"truncated inside the index", good[:len(good)-20], false},
		{"odd size", good[:len(good)-1], false},
		{"padding only", make([]byte, 64), false},
		{"empty", nil, false},
		{"garbage", bytes.Repeat([]byte("PCP!"), 100), false},
	}
	if _, err := exec.LookPath("xz"); err == nil {
		for _, f := range []struct{ name, filter string }{{"x86 BCJ", "--x86"}, {"delta", "--delta=dist=4"}} {
			tests = append(tests, struct {
				name    string
				b       []byte
				indexed bool
			}{f.name, xztest.Command(t, data, f.filter, "--lzma2=preset=0", "--block-size=8KiB"), false})
		}
		tests = append(tests, struct {
			name    string
			b       []byte
			indexed bool
		}{"sizes in block headers", xztest.Command(t, data, "-T2", "-0", "--block-size=8KiB"), true})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.0.xz")
			writeFile(t, path, tc.b)
			read := func(open func() (source, error)) ([]byte, source, error) {
				src, err := open()
				if err != nil {
					return nil, nil, err
				}
				defer src.Close()
				b, err := readAll(src)
				return b, src, err
			}
			got, src, err := read(func() (source, error) { return openSource(path, nil) })
			want, _, werr := read(func() (source, error) {
				s := &streamSource{path: path, suffix: ".xz"}
				return s, s.reopen()
			})
			if _, indexed := src.(*xzSource); indexed != tc.indexed {
				t.Fatalf("read through the index: %v, want %v", indexed, tc.indexed)
			}
			if !bytes.Equal(got, want) || (err == nil) != (werr == nil) {
				t.Fatalf("read %d bytes, %v; streaming reads %d, %v", len(got), err, len(want), werr)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q names no file", err)
			}
		})
	}
}

// TestXZArchive reads a PCP archive whose data volume is a multi-block .xz
// and compares every record, and a read from an index entry near the end,
// with the same archive uncompressed.
func TestXZArchive(t *testing.T) {
	cases := []struct {
		name, plain string
		make        func(t *testing.T, dir string) string
	}{
		{"committed", "../testdata/archives/v2-basic/v2-basic", func(t *testing.T, dir string) string {
			return copyArchive("xz-blocks")(t, dir)
		}},
	}
	for _, name := range []string{"v2-multivol", "v3-multivol", "v3-basic"} {
		plain := "../testdata/archives/" + name + "/" + name
		cases = append(cases, struct {
			name, plain string
			make        func(t *testing.T, dir string) string
		}{name, plain, func(t *testing.T, dir string) string {
			files, err := filepath.Glob(plain + ".*")
			if err != nil || len(files) == 0 {
				t.Skipf("no %s", plain)
			}
			for _, p := range files {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, filepath.Base(p))
				if _, suffix := SplitCompress(p); suffix == "" && volumeNumber(p) >= 0 {
					b, out = xztest.Make(t, b, 1024, "crc64"), out+".xz"
				}
				writeFile(t, out, b)
			}
			return filepath.Join(dir, name)
		}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.make(t, t.TempDir())
			a, want := mustOpen(t, base), mustOpen(t, tc.plain)
			for _, vf := range a.Files.Volumes {
				src, err := openSource(vf.Path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := src.(*xzSource); !ok && !strings.HasSuffix(tc.name, "multivol") {
					t.Errorf("%s is streamed", vf.Path)
				}
				src.Close()
			}
			starts := []int64{0}
			for _, e := range want.Index() {
				starts = append(starts, e.Time+1)
			}
			for _, start := range starts {
				got := mustCollect(t, a, ReaderOptions{Start: start})
				exp := mustCollect(t, want, ReaderOptions{Start: start})
				if (start == 0 && len(got) == 0) || !reflect.DeepEqual(got, exp) {
					t.Fatalf("start %d: %d samples, want %d", start, len(got), len(exp))
				}
			}
		})
	}
}

// volumeNumber is the volume number of a data volume's path, or -1.
func volumeNumber(path string) int {
	ext := filepath.Ext(path)
	n, err := strconv.Atoi(strings.TrimPrefix(ext, "."))
	if err != nil {
		return -1
	}
	return n
}

// TestCompressedVolumeLabelChecked: the label of a compressed first volume
// is checked when a reader opens it rather than by OpenFiles, and a wrong
// one is still an error naming the file.
func TestCompressedVolumeLabelChecked(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{".meta", ".index"} {
		b, err := os.ReadFile("../testdata/archives/v2-basic/v2-basic" + ext)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "a"+ext), b, 0o644)
	}
	// Another archive's volume: its label names another pmlogger.
	other, err := os.ReadFile("../testdata/archives/v2-merged/v2-merged.0")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := ulxz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(other)
	w.Close()
	vol := filepath.Join(dir, "a.0.xz")
	os.WriteFile(vol, buf.Bytes(), 0o644)
	a, err := Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	r := a.NewReader(ReaderOptions{})
	if r.Next() || r.Err() == nil || !strings.Contains(r.Err().Error(), vol) || !strings.Contains(r.Err().Error(), "differs") {
		t.Fatalf("reading a volume whose label is another archive's: %v", r.Err())
	}
}

// TestXZSourceErrorsNameFile: internal/xz says where in the file a read
// failed; xzSource adds which file, and leaves io.EOF as it is.
func TestXZSourceErrorsNameFile(t *testing.T) {
	data := xztest.Data(100 << 10)
	b := xztest.Make(t, data, 8<<10, "crc64")
	// Inside block 0's LZMA2 data: after the stream header (12 bytes)
	// and the block header (12 from xz -0), in a block of 2-4 KB.
	b[12+12+100] ^= 0x55
	path := filepath.Join(t.TempDir(), "f.0.xz")
	writeFile(t, path, b)
	src, err := openSource(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, ok := src.(*xzSource); !ok {
		t.Fatalf("%T, want the file read through its index", src)
	}
	p := make([]byte, 8<<10)
	for _, tc := range []struct {
		off  int64
		want string
	}{{0, "decompressing at offset"}, {-1, "negative offset"}} {
		_, err := src.ReadAt(p, tc.off)
		if err == nil || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("ReadAt at %d: %v; want an error naming %s and saying %q", tc.off, err, path, tc.want)
		}
		t.Log(err)
	}
	if n, err := src.ReadAt(p, int64(len(data))-10); n != 10 || err != io.EOF {
		t.Fatalf("ReadAt over the end: %d, %v; want 10, io.EOF", n, err)
	}
}

// TestXZFilesDecoder: the decoder in Files.XZ is the one an archive and its
// readers use, and Refresh keeps it. One whose MaxBlock is below the
// blocks of xz-blocks' volume turns the volume down, which is then streamed
// and reads the same.
func TestXZFilesDecoder(t *testing.T) {
	files, err := FindFiles(copyArchive("xz-blocks")(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	small := xz.NewDecoder(xz.Options{MaxConcurrent: 1, MaxBlock: 1 << 10})
	var want []sample
	for _, tc := range []struct {
		dec     *xz.Decoder
		indexed bool
	}{{nil, true}, {small, false}} {
		files.XZ = tc.dec
		a, err := OpenFiles(files)
		if err != nil {
			t.Fatal(err)
		}
		r := a.NewReader(ReaderOptions{})
		if !r.Next() {
			t.Fatalf("no record: %v", r.Err())
		}
		if _, indexed := r.vr.src.(*xzSource); indexed != tc.indexed {
			t.Errorf("decoder %p: read through the index %v, want %v", tc.dec, indexed, tc.indexed)
		}
		r.Close()
		got := mustCollect(t, a, ReaderOptions{})
		if want == nil {
			want = got
		} else if len(got) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("decoder %p: %d samples, the default decoder %d", tc.dec, len(got), len(want))
		}
		if err := a.Refresh(); err != nil {
			t.Fatal(err)
		}
		if a.Files.XZ != tc.dec {
			t.Errorf("Refresh replaced decoder %p with %p", tc.dec, a.Files.XZ)
		}
	}
}

// BenchmarkXZ/archive reads an archive whose 10 MB volume is an .xz of
// 1 MiB blocks, as BenchmarkDecode reads plain ones (internal/xz's
// BenchmarkXZ is the decoder alone).
func BenchmarkXZ(b *testing.B) {
	b.Run("archive/floats", func(b *testing.B) {
		bb := newBuilder(3)
		dir := b.TempDir()
		base := bb.write(b, dir, "big", benchMeta(), [][][]byte{benchRecords(bb, 4000, false)}, nil)
		plain, err := os.ReadFile(base + ".0")
		if err != nil {
			b.Fatal(err)
		}
		writeFile(b, base+".0.xz", xztest.Make(b, plain, 1<<20, "crc64"))
		os.Remove(base + ".0")
		benchReader(b, base, true)
	})
}
