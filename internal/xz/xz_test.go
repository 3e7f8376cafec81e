package xz

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

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz/xztest"
	ulxz "github.com/ulikunitz/xz"
)

// xzBlocksFile is a data volume (testdata/archives/v2-basic) compressed
// by xz 5.4.1 the way pmlogger_daily does it, with smaller blocks:
// `xz -0 --block-size=2KiB` (archive/testdata/xz-blocks/xz-blocks.0.xz).
const xzBlocksFile = "testdata/blocks.xz"

// unxz decompresses a whole .xz file the way the streaming path does.
func unxz(b []byte) ([]byte, error) {
	r, err := ulxz.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newTestDecoder is a decoder with a server's limits: one background
// decode per CPU.
func newTestDecoder() *Decoder {
	return NewDecoder(Options{MaxConcurrent: runtime.GOMAXPROCS(0)})
}

func mustXZSource(t testing.TB, b []byte) *ReaderAt {
	t.Helper()
	return mustReaderAt(t, newTestDecoder(), b)
}

func mustReaderAt(t testing.TB, d *Decoder, b []byte) *ReaderAt {
	t.Helper()
	s, err := d.NewReaderAt(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readAll reads a whole file the way archive's readAll reads a source:
// in one read when it is small, else 32 KiB at a time, to io.EOF.
func readAll(s *ReaderAt) ([]byte, error) {
	var buf []byte
	chunkSize := int64(32 << 10)
	if n := s.Size(); n < 1<<31 {
		buf = make([]byte, 0, min(n, 64<<20))
		chunkSize = min(chunkSize, n+512)
	}
	var off int64
	chunk := make([]byte, chunkSize)
	for {
		n, err := s.ReadAt(chunk, off)
		buf = append(buf, chunk[:n]...)
		off += int64(n)
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// TestXZIndex pins the block list of a file made by xz against what
// `xz -lvv` says of it.
func TestXZIndex(t *testing.T) {
	b, err := os.ReadFile(xzBlocksFile)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readIndex(bytes.NewReader(b), int64(len(b)), DefaultMaxBlock)
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
		want := block{off: offs[i], hdrLen: 12, compLen: comp[i], uoff: int64(i) * 2048, ulen: 2048, check: 4, dict: 4096}
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
	data := xztest.Data(200 << 10)
	one := xztest.Make(t, data[:70<<10], 16<<10, "crc64")
	two := xztest.Make(t, data[70<<10:], 32<<10, "sha256")
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"crc32", xztest.Make(t, data, 10<<10, "crc32")},
		{"none", xztest.Make(t, data, 64<<10, "none")},
		{"sizes in block headers", xztest.Command(t, data, "-T2", "-0", "--block-size=20KiB")},
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
			var want []block
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Split(line, "\t")
				if f[0] != "block" {
					continue
				}
				n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
				want = append(want, block{off: n(4), uoff: n(5), ulen: n(7), hdrLen: n(11), compLen: n(13)})
			}
			blocks, err := readIndex(bytes.NewReader(tc.b), int64(len(tc.b)), DefaultMaxBlock)
			if err != nil {
				t.Fatal(err)
			}
			var got []block
			for _, bl := range blocks {
				got = append(got, block{off: bl.off, uoff: bl.uoff, ulen: bl.ulen, hdrLen: bl.hdrLen, compLen: bl.compLen})
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
	data := xztest.Data(300 << 10)
	committed, err := os.ReadFile(xzBlocksFile)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := unxz(committed)
	if err != nil {
		t.Fatal(err)
	}
	one, two := xztest.Make(t, data[:100<<10], 8<<10, "crc32"), xztest.Make(t, data[100<<10:], 40<<10, "crc64")
	for _, tc := range []struct {
		name string
		b    []byte
		want []byte
	}{
		{"committed", committed, plain},
		{"crc64", xztest.Make(t, data, 16<<10, "crc64"), data},
		{"crc32", xztest.Make(t, data, 10000, "crc32"), data},
		{"sha256", xztest.Make(t, data, 50<<10, "sha256"), data},
		{"none", xztest.Make(t, data, 7<<10, "none"), data},
		{"two streams and padding", bytes.Join([][]byte{one, make([]byte, 16), two, make([]byte, 4)}, nil), data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustXZSource(t, tc.b)
			if n := s.Size(); n != int64(len(tc.want)) {
				t.Fatalf("size %d, want %d", n, len(tc.want))
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

func checkReadAt(t *testing.T, s *ReaderAt, want []byte, off int64, n int) {
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

// TestXZDamagedBlock damages one block of a file whose index is intact:
// reads of other blocks succeed, reads of that one fail with an error
// saying where (the caller adds which file: archive's
// TestXZSourceErrorsNameFile), nothing panics.
func TestXZDamagedBlock(t *testing.T) {
	data := xztest.Data(100 << 10)
	good := xztest.Make(t, data, 8<<10, "crc64")
	blocks, err := readIndex(bytes.NewReader(good), int64(len(good)), DefaultMaxBlock)
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
			if msg := err.Error(); !strings.Contains(msg, "decompressing at offset") || !strings.Contains(msg, "file offset") {
				t.Fatalf("error %q says no offset", msg)
			}
			t.Log(err)
		})
	}
}

// TestXZReadAhead reads a many-block file in order, as the record loop
// does, so that blocks are decoded in the background; it stops in the
// middle, closes, and reads again after a jump back. Run with -race.
func TestXZReadAhead(t *testing.T) {
	data := xztest.Data(1 << 20)
	b := xztest.Make(t, data, 16<<10, "crc64")
	d := newTestDecoder()
	for _, stop := range []int64{100 << 10, 500 << 10, int64(len(data))} {
		s := mustReaderAt(t, d, b)
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
	for i := 0; i < cap(d.slots); i++ {
		select {
		case d.slots <- struct{}{}:
		default:
			t.Fatalf("decode slot %d not handed back", i)
		}
	}
	for i := 0; i < cap(d.slots); i++ {
		<-d.slots
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
	// One stream, two blocks that claim DefaultMaxBlock bytes each but
	// hold 10 bytes of LZMA2 (an uncompressed chunk and the end marker).
	b := hostileXZ(2, []byte{1, 0, 4, 'h', 'e', 'l', 'l', 'o', 0}, "hello", DefaultMaxBlock)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := mustXZSource(t, b)
	if n := s.Size(); n != 2*DefaultMaxBlock {
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
	if grew := after.TotalAlloc - before.TotalAlloc; grew > DefaultMaxBlock+(4<<20) {
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
	d := newTestDecoder()
	if _, err := d.NewReaderAt(bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("stored chunks at the bound: %v", err)
	}
	bad := hostileXZ(2, chunks, data, 100)
	_, err := d.NewReaderAt(bytes.NewReader(bad), int64(len(bad)))
	if !errors.Is(err, ErrUnsupported) {
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
		v, n, ok := uvarint(tc.in)
		if ok == tc.fail || v != tc.v || n != tc.n {
			t.Errorf("uvarint(%x) = %d, %d, %v", tc.in, v, n, ok)
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
	f.Add(xztest.Make(f, xztest.Data(20<<10), 4<<10, "crc32"))
	f.Add(append(append(append([]byte{}, b...), 0, 0, 0, 0), b...))
	d := newTestDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := d.NewReaderAt(bytes.NewReader(b), int64(len(b)))
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

// TestXZOptions: a Decoder's limits are its own. MaxConcurrent 0 decodes
// nothing in the background and reads the same; MaxBlock turns down files
// with bigger blocks; one block and other filters are ErrUnsupported too.
func TestXZOptions(t *testing.T) {
	data := xztest.Data(300 << 10)
	b := xztest.Make(t, data, 16<<10, "crc64")

	s := mustReaderAt(t, NewDecoder(Options{}), b)
	p := make([]byte, 5000)
	for off := int64(0); off < int64(len(data)); off += int64(len(p)) {
		n, err := s.ReadAt(p, off)
		if !bytes.Equal(p[:n], data[off:off+int64(n)]) || (err != nil && err != io.EOF) {
			t.Fatalf("offset %d: %d bytes, %v", off, n, err)
		}
		if len(s.ahead) != 0 {
			t.Fatalf("offset %d: %d background decodes with MaxConcurrent 0", off, len(s.ahead))
		}
	}

	for _, tc := range []struct {
		name, want string // want: open, unsupported or damaged
		maxBlock   int64
		b          []byte
	}{
		{"blocks within MaxBlock", "open", 16 << 10, b},
		{"blocks over MaxBlock", "unsupported", 16<<10 - 1, b},
		{"one block", "unsupported", 0, xztest.Make(t, data, 1<<20, "crc64")},
		{"garbage", "damaged", 0, bytes.Repeat([]byte("PCP!"), 100)},
	} {
		d := NewDecoder(Options{MaxConcurrent: 1, MaxBlock: tc.maxBlock})
		_, err := d.NewReaderAt(bytes.NewReader(tc.b), int64(len(tc.b)))
		got := "open"
		if errors.Is(err, ErrUnsupported) {
			got = "unsupported"
		} else if err != nil {
			got = "damaged"
		}
		if got != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.name, got, err, tc.want)
		}
	}
	if _, err := exec.LookPath("xz"); err == nil {
		bcj := xztest.Command(t, data, "--x86", "--lzma2=preset=0", "--block-size=8KiB")
		if _, err := newTestDecoder().NewReaderAt(bytes.NewReader(bcj), int64(len(bcj))); !errors.Is(err, ErrUnsupported) {
			t.Errorf("x86 BCJ: %v, want unsupported", err)
		}
	}
}

// BenchmarkXZ reads a 24 MiB file of 4 MiB blocks: whole, in order, as
// the record loop does (blocks decoded ahead in the background), and one
// read at three quarters in, as a seek through the .index does.
func BenchmarkXZ(b *testing.B) {
	data := xztest.Data(24 << 20)
	file := xztest.Make(b, data, 4<<20, "crc64")
	d := newTestDecoder()
	b.Run("ReadAt/sequential", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		p := make([]byte, 32<<10)
		for i := 0; i < b.N; i++ {
			s := mustReaderAt(b, d, file)
			for off := int64(0); ; off += int64(len(p)) {
				if _, err := s.ReadAt(p, off); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			s.Close()
		}
	})
	b.Run("ReadAt/seek", func(b *testing.B) {
		p := make([]byte, 4<<10)
		for i := 0; i < b.N; i++ {
			s := mustReaderAt(b, d, file)
			if _, err := s.ReadAt(p, int64(len(data))*3/4); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
}
