package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// xzBlocksFile is a data volume (../testdata/archives/v2-basic) compressed
// by xz 5.4.1 the way pmlogger_daily does it, with smaller blocks:
// `xz -0 --block-size=2KiB`.
const xzBlocksFile = "testdata/xz-blocks/xz-blocks.0.xz"

// xzTestData returns n deterministic bytes that compress about as well as
// a data volume.
func xzTestData(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"kernel.all.load", "mem.util.free", "disk.dev.read", "\x00\x00\x00\x10", "network.interface.in.bytes"}
	var b []byte
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
		b = binary.BigEndian.AppendUint32(b, rng.Uint32()%1000)
	}
	return b[:n]
}

// makeXZ compresses data into blocks of blockSize with the given check:
// with the xz command, as pmlogger_daily does, if there is one, otherwise
// with ulikunitz/xz's writer.
func makeXZ(t testing.TB, data []byte, blockSize int, check string) []byte {
	t.Helper()
	if path, err := exec.LookPath("xz"); err == nil {
		cmd := exec.Command(path, "-0", "--block-size="+strconv.Itoa(blockSize), "-C", check, "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz: %v", err)
		}
		return out
	}
	cfg := xz.WriterConfig{BlockSize: int64(blockSize), DictCap: 256 << 10}
	switch check {
	case "none":
		cfg.NoCheckSum = true
	case "crc32":
		cfg.CheckSum = xz.CRC32
	case "crc64":
		cfg.CheckSum = xz.CRC64
	case "sha256":
		cfg.CheckSum = xz.SHA256
	}
	var buf bytes.Buffer
	w, err := cfg.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// xzCommand runs xz with args on data.
func xzCommand(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("xz", append(args, "-c")...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// unxz decompresses a whole .xz file the way the streaming path does.
func unxz(b []byte) ([]byte, error) {
	r, err := xz.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func mustXZSource(t testing.TB, b []byte) *xzSource {
	t.Helper()
	s, err := newXZSource("test.xz", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestXZIndex pins the block list of a file made by xz against what
// `xz -lvv` says of it.
func TestXZIndex(t *testing.T) {
	b, err := os.ReadFile(xzBlocksFile)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readXZIndex(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// CompOffset, Header and CompSize columns of xz -lvv; every block
	// holds 2048 bytes but the last.
	offs := []int64{12, 600, 1000, 1448, 1828, 2252, 2636, 3076, 3432}
	comp := []int64{568, 380, 425, 358, 404, 363, 417, 336, 220}
	if len(blocks) != len(offs) {
		t.Fatalf("%d blocks, want %d", len(blocks), len(offs))
	}
	for i, bl := range blocks {
		// The dictionary is 256 KiB, but a block needs no more than
		// itself, and lzma wants at least 4 KiB.
		want := xzBlock{off: offs[i], hdrLen: 12, compLen: comp[i], uoff: int64(i) * 2048, ulen: 2048, check: 4, dict: 4096}
		if i == len(blocks)-1 {
			want.ulen = 464
		}
		if bl != want {
			t.Errorf("block %d: %+v, want %+v", i, bl, want)
		}
	}
}

// TestXZIndexMatchesXZList compares the block list with `xz --robot -lvv`
// for files of several shapes, concatenated streams with padding among them.
func TestXZIndexMatchesXZList(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz command")
	}
	data := xzTestData(200 << 10)
	one := makeXZ(t, data[:70<<10], 16<<10, "crc64")
	two := makeXZ(t, data[70<<10:], 32<<10, "sha256")
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"crc32", makeXZ(t, data, 10<<10, "crc32")},
		{"none", makeXZ(t, data, 64<<10, "none")},
		{"sizes in block headers", xzCommand(t, data, "-T2", "-0", "--block-size=20KiB")},
		{"two streams", append(append([]byte{}, one...), two...)},
		{"padding", append(append(append(append([]byte{}, one...), make([]byte, 8)...), two...), make([]byte, 4096+12)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.xz")
			writeFile(t, path, tc.b)
			out, err := exec.Command("xz", "--robot", "-lvv", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			var want []xzBlock
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Split(line, "\t")
				if f[0] != "block" {
					continue
				}
				n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
				want = append(want, xzBlock{off: n(4), uoff: n(5), ulen: n(7), hdrLen: n(11), compLen: n(13)})
			}
			blocks, err := readXZIndex(bytes.NewReader(tc.b), int64(len(tc.b)))
			if err != nil {
				t.Fatal(err)
			}
			var got []xzBlock
			for _, bl := range blocks {
				got = append(got, xzBlock{off: bl.off, uoff: bl.uoff, ulen: bl.ulen, hdrLen: bl.hdrLen, compLen: bl.compLen})
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("blocks\n%+v\nxz -l says\n%+v", got, want)
			}
		})
	}
}

// TestXZReadAt reads at random offsets and lengths, within blocks, across
// them and past the end, and compares with the whole file decompressed.
func TestXZReadAt(t *testing.T) {
	data := xzTestData(300 << 10)
	committed, err := os.ReadFile(xzBlocksFile)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := unxz(committed)
	if err != nil {
		t.Fatal(err)
	}
	one, two := makeXZ(t, data[:100<<10], 8<<10, "crc32"), makeXZ(t, data[100<<10:], 40<<10, "crc64")
	for _, tc := range []struct {
		name string
		b    []byte
		want []byte
	}{
		{"committed", committed, plain},
		{"crc64", makeXZ(t, data, 16<<10, "crc64"), data},
		{"crc32", makeXZ(t, data, 10000, "crc32"), data},
		{"sha256", makeXZ(t, data, 50<<10, "sha256"), data},
		{"none", makeXZ(t, data, 7<<10, "none"), data},
		{"two streams and padding", bytes.Join([][]byte{one, make([]byte, 16), two, make([]byte, 4)}, nil), data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustXZSource(t, tc.b)
			if n, ok := s.size(); !ok || n != int64(len(tc.want)) {
				t.Fatalf("size %d %v, want %d", n, ok, len(tc.want))
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < 500; i++ {
				off := rng.Int64N(int64(len(tc.want)) + 100)
				n := rng.IntN(1 << uint(rng.IntN(17)))
				if i%10 == 0 {
					off = int64(len(tc.want)) - int64(rng.IntN(64)) // reads at and over the end
				}
				checkReadAt(t, s, tc.want, max(off, 0), n)
			}
			// Forward in small steps, as the record loop reads.
			for off := int64(0); off < int64(len(tc.want)); off += 1000 {
				checkReadAt(t, s, tc.want, off, 4000)
			}
		})
	}
}

func checkReadAt(t *testing.T, s *xzSource, want []byte, off int64, n int) {
	t.Helper()
	p := make([]byte, n)
	got, err := s.ReadAt(p, off)
	end := min(off+int64(n), int64(len(want)))
	wantN := int(max(end-off, 0))
	if got != wantN || !bytes.Equal(p[:got], want[off:off+int64(wantN)]) {
		t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d bytes of the file", n, off, got, err, wantN)
	}
	if wantN < n && err != io.EOF {
		t.Fatalf("ReadAt(%d bytes, %d) past the end: err %v, want EOF", n, off, err)
	}
	if wantN == n && err != nil {
		t.Fatalf("ReadAt(%d bytes, %d): %v", n, off, err)
	}
}

// TestXZOpenSource: which .xz files are read through the index, and which
// are streamed. Either way they must read as they did with streaming only.
func TestXZOpenSource(t *testing.T) {
	data := xzTestData(100 << 10)
	good := makeXZ(t, data, 8<<10, "crc64")
	footer := len(good) - 12
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name    string
		b       []byte
		indexed bool
	}{
		{"blocks", good, true},
		{"one block", makeXZ(t, data, 1<<20, "crc64"), false},
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
			}{f.name, xzCommand(t, data, f.filter, "--lzma2=preset=0", "--block-size=8KiB"), false})
		}
		tests = append(tests, struct {
			name    string
			b       []byte
			indexed bool
		}{"sizes in block headers", xzCommand(t, data, "-T2", "-0", "--block-size=8KiB"), true})
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
			got, src, err := read(func() (source, error) { return openSource(path) })
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

// TestXZDamagedBlock damages one block of a file whose index is intact:
// reads of other blocks succeed, reads of that one fail with an error
// naming the file and offset, nothing panics.
func TestXZDamagedBlock(t *testing.T) {
	data := xzTestData(100 << 10)
	good := makeXZ(t, data, 8<<10, "crc64")
	blocks, err := readXZIndex(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	bad := blocks[3]
	for _, tc := range []struct {
		name string
		off  int64
	}{
		{"LZMA2 data", bad.off + bad.hdrLen + bad.compLen/2},
		{"LZMA2 start", bad.off + bad.hdrLen},
		{"end of LZMA2 data", bad.off + bad.hdrLen + bad.compLen - 1},
		{"check", bad.off + bad.hdrLen + ((bad.hdrLen + bad.compLen + 3) &^ 3) - bad.hdrLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			b[tc.off] ^= 0x55
			s := mustXZSource(t, b)
			p := make([]byte, 1000)
			for _, i := range []int{0, 2, 4, len(blocks) - 1} {
				if _, err := s.ReadAt(p, blocks[i].uoff); err != nil {
					t.Fatalf("block %d: %v", i, err)
				}
			}
			// A whole-block read must fail; what was read of it must be
			// the file's.
			p = make([]byte, bad.ulen)
			n, err := s.ReadAt(p, bad.uoff)
			if err == nil {
				t.Fatalf("read of the damaged block succeeded")
			}
			if !bytes.Equal(p[:n], data[bad.uoff:bad.uoff+int64(n)]) {
				t.Fatalf("the %d bytes read before the damage differ", n)
			}
			if msg := err.Error(); !strings.Contains(msg, "test.xz") || !strings.Contains(msg, "offset") {
				t.Fatalf("error %q names no file or offset", msg)
			}
			t.Log(err)
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
					b, out = makeXZ(t, b, 1024, "crc64"), out+".xz"
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
				src, err := openSource(vf.Path)
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

// TestXZReadAhead reads a many-block file in order, as the record loop
// does, so that blocks are decoded in the background; it stops in the
// middle, closes, and reads again after a jump back. Run with -race.
func TestXZReadAhead(t *testing.T) {
	data := xzTestData(1 << 20)
	b := makeXZ(t, data, 16<<10, "crc64")
	for _, stop := range []int64{100 << 10, 500 << 10, int64(len(data))} {
		s := mustXZSource(t, b)
		p := make([]byte, 5000)
		for off := int64(0); off < stop; off += int64(len(p)) {
			n, err := s.ReadAt(p, off)
			if !bytes.Equal(p[:n], data[off:off+int64(n)]) || (err != nil && err != io.EOF) {
				t.Fatalf("offset %d: %d bytes, %v", off, n, err)
			}
			if off == 300<<10 {
				// Jump back, then on again.
				checkReadAt(t, s, data, 1000, 100)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if len(s.ahead) != 0 {
			t.Fatalf("%d background decodes left after Close", len(s.ahead))
		}
	}
	// Every slot is handed back.
	for i := 0; i < cap(xzDecodeSlots); i++ {
		select {
		case xzDecodeSlots <- struct{}{}:
		default:
			t.Fatalf("decode slot %d not handed back", i)
		}
	}
	for i := 0; i < cap(xzDecodeSlots); i++ {
		<-xzDecodeSlots
	}
}

// TestXZHostileSizes: an index may claim any sizes; nothing is allocated
// from them before the data is there.
// hostileXZ makes a one-stream .xz file of blocks blocks, each holding the
// LZMA2 data chunks (which decodes to data) and claiming ulen bytes in the
// index; the block headers give a 4 GiB dictionary.
func hostileXZ(blocks int, chunks []byte, data string, ulen uint64) []byte {
	var stream bytes.Buffer
	stream.Write([]byte{0xFD, '7', 'z', 'X', 'Z', 0, 0, 1})
	stream.Write(le32(crc32.ChecksumIEEE([]byte{0, 1})))
	var index []byte
	for i := 0; i < blocks; i++ {
		hdr := []byte{2, 0, 0x21, 1, 40, 0, 0, 0} // LZMA2, dictionary 4 GiB - 1
		hdr = append(hdr, le32(crc32.ChecksumIEEE(hdr))...)
		blk := append(hdr, chunks...)
		unpadded := len(blk) + 4
		for len(blk)%4 != 0 {
			blk = append(blk, 0)
		}
		blk = append(blk, le32(crc32.ChecksumIEEE([]byte(data)))...)
		stream.Write(blk)
		index = appendUvarint(index, uint64(unpadded))
		index = appendUvarint(index, ulen)
	}
	index = append([]byte{0, byte(blocks)}, index...)
	for len(index)%4 != 0 {
		index = append(index, 0)
	}
	index = append(index, le32(crc32.ChecksumIEEE(index))...)
	stream.Write(index)
	foot := append(le32(uint32(len(index)/4-1)), 0, 1)
	stream.Write(le32(crc32.ChecksumIEEE(foot)))
	stream.Write(foot)
	stream.Write([]byte("YZ"))
	return stream.Bytes()
}

func TestXZHostileSizes(t *testing.T) {
	// One stream, two blocks that claim xzMaxBlock bytes each but hold
	// 10 bytes of LZMA2 (an uncompressed chunk and the end marker).
	b := hostileXZ(2, []byte{1, 0, 4, 'h', 'e', 'l', 'l', 'o', 0}, "hello", xzMaxBlock)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := mustXZSource(t, b)
	if n, _ := s.size(); n != 2*xzMaxBlock {
		t.Fatalf("size %d", n)
	}
	p := make([]byte, 100)
	n, err := s.ReadAt(p, 0)
	if n != 5 || string(p[:5]) != "hello" || err == nil {
		t.Fatalf("ReadAt = %d %q, %v; want hello and an error", n, p[:n], err)
	}
	t.Log(err)
	runtime.ReadMemStats(&after)
	// The dictionary may be as big as the block claims to be, not the
	// 4 GiB of the block header; the block buffer grows with the data.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > xzMaxBlock+(4<<20) {
		t.Fatalf("allocated %d bytes", grew)
	}
}

// TestXZCompressedBound: a block whose compressed size is far more than
// any encoder makes of its claimed decoded size is left to the streaming
// decoder, not read into memory whole.
func TestXZCompressedBound(t *testing.T) {
	var chunks []byte
	data := strings.Repeat("x", 3*(64<<10))
	for i := 0; i < 3; i++ {
		chunks = append(append(chunks, 1+byte(min(i, 1)), 0xff, 0xff), data[:64<<10]...)
	}
	chunks = append(chunks, 0)
	good := hostileXZ(2, chunks, data, uint64(len(data)))
	if _, err := newXZSource("good.xz", bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("stored chunks at the bound: %v", err)
	}
	bad := hostileXZ(2, chunks, data, 100)
	_, err := newXZSource("bad.xz", bytes.NewReader(bad), int64(len(bad)))
	if !errors.Is(err, errXZUnsupported) {
		t.Fatalf("%d compressed bytes claiming 100: %v, want unsupported", len(chunks), err)
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func TestXZUvarint(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		v    uint64
		n    int
		fail bool
	}{
		{in: []byte{0}, v: 0, n: 1},
		{in: []byte{0x7F}, v: 127, n: 1},
		{in: []byte{0x80, 0x01}, v: 128, n: 2},
		{in: []byte{0x80, 0x00}, fail: true}, // a needless zero byte
		{in: []byte{0x80}, fail: true},
		{in: bytes.Repeat([]byte{0xFF}, 10), fail: true},
		{in: append(bytes.Repeat([]byte{0xFF}, 8), 0x7F), v: 1<<63 - 1, n: 9},
	} {
		v, n, ok := xzUvarint(tc.in)
		if ok == tc.fail || v != tc.v || n != tc.n {
			t.Errorf("xzUvarint(%x) = %d, %d, %v", tc.in, v, n, ok)
		}
	}
}

// FuzzXZ opens fuzzed .xz files through the index and reads them all: no
// panic, and what reads without error is what the stream decoder reads.
func FuzzXZ(f *testing.F) {
	b, err := os.ReadFile(xzBlocksFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(makeXZ(f, xzTestData(20<<10), 4<<10, "crc32"))
	f.Add(append(append(append([]byte{}, b...), 0, 0, 0, 0), b...))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := newXZSource("fuzz.xz", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		defer s.Close()
		got, err := readAll(s)
		if err != nil {
			return
		}
		if want, err := unxz(b); err == nil && !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, the stream decoder %d", len(got), len(want))
		}
	})
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
	w, err := xz.NewWriter(&buf)
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
