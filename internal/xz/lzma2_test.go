package xz

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz/xztest"

	"github.com/ulikunitz/xz/lzma"
)

// lzma2Blocks returns the blocks of an .xz file made by the xz command:
// each block's LZMA2 data, decoded size and dictionary size.
type lzma2Block struct {
	data       []byte
	ulen, dict int
}

func lzma2Blocks(t testing.TB, xzFile []byte) []lzma2Block {
	t.Helper()
	blocks, err := readIndex(bytes.NewReader(xzFile), int64(len(xzFile)), DefaultMaxBlock)
	if err != nil {
		t.Fatal(err)
	}
	var out []lzma2Block
	for _, b := range blocks {
		start := b.off + b.hdrLen
		out = append(out, lzma2Block{xzFile[start : start+b.compLen], int(b.ulen), b.dict})
	}
	return out
}

// lzma2Data is test data that gives the decoder all it has to do:
// literals in and out of matched mode, short and long matches at near and
// far distances, runs (overlapping copies), and a stretch of random bytes
// that xz stores uncompressed.
func lzma2Data(n int) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	b := xztest.Data(n / 2)
	for len(b) < n {
		switch rng.IntN(4) {
		case 0: // a run
			c := byte(rng.IntN(256))
			for k := rng.IntN(600); k > 0; k-- {
				b = append(b, c)
			}
		case 1: // a copy from far back
			from := rng.IntN(len(b))
			b = append(b, b[from:min(len(b), from+rng.IntN(2000))]...)
		case 2: // incompressible
			for k := rng.IntN(70000); k > 0; k-- {
				b = append(b, byte(rng.Uint32()))
			}
		default:
			b = append(b, xztest.Data(rng.IntN(5000))...)
		}
	}
	return b[:n]
}

// TestLZMA2Encodings decodes what xz makes with every choice of literal
// context (lc, lp), position bits (pb), dictionary size and preset,
// through ReaderAt, and compares with the original bytes.
func TestLZMA2Encodings(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz command")
	}
	size := 600 << 10
	if testing.Short() {
		size = 200 << 10
	}
	data := lzma2Data(size)
	cases := [][]string{
		{"-0"}, {"-6"}, {"-9e"},
		{"--lzma2=preset=0,dict=4KiB"},          // distances bounded by a small dictionary
		{"--lzma2=preset=6,mode=fast,nice=273"}, // the longest matches
	}
	for lc := 0; lc <= 4; lc++ {
		for lp := 0; lc+lp <= 4; lp++ {
			cases = append(cases, []string{"--lzma2=preset=1,lc=" + strconv.Itoa(lc) + ",lp=" + strconv.Itoa(lp) + ",pb=" + strconv.Itoa((lc+lp)%5)})
		}
	}
	for _, args := range cases {
		name := args[0]
		t.Run(name, func(t *testing.T) {
			b := xztest.Command(t, data, append(args, "--block-size=150KiB")...)
			s := mustXZSource(t, b)
			got, err := readAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("decoded %d bytes that differ from the %d compressed", len(got), len(data))
			}
		})
	}
}

// TestLZMA2Steps decodes blocks in steps of every size, down to one byte,
// so that every kind of symbol, matches cut by the output limit included,
// is stopped at and resumed, and compares with decoding in one go.
func TestLZMA2Steps(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz command")
	}
	data := lzma2Data(300 << 10)
	blocks := lzma2Blocks(t, xztest.Command(t, data, "-6", "--block-size=100KiB"))
	rng := rand.New(rand.NewPCG(9, 10))
	off := 0
	for i, b := range blocks {
		want := data[off : off+b.ulen]
		off += b.ulen
		for _, maxStep := range []int{1, 7, 300, 70000} {
			d := newLZMA2Decoder(b.data, b.dict, b.ulen)
			out := make([]byte, b.ulen)
			n := 0
			for n < b.ulen {
				limit := min(b.ulen, n+1+rng.IntN(maxStep))
				k, err := d.decode(out, n, limit)
				if err != nil || k != limit {
					t.Fatalf("block %d, steps up to %d: decoded to %d of %d: %v", i, maxStep, k, limit, err)
				}
				n = k
			}
			if err := d.finish(n); err != nil {
				t.Fatalf("block %d: finish: %v", i, err)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("block %d, steps up to %d: output differs", i, maxStep)
			}
		}
	}
}

// TestLZMA2Damaged: damage anywhere in a block's LZMA2 data is an error or
// decodes to something (which the block check then rejects), never a
// panic, and the decoder never writes past what it was asked for.
func TestLZMA2Damaged(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz command")
	}
	data := lzma2Data(60 << 10)
	b := lzma2Blocks(t, xztest.Command(t, data, "-6", "--block-size=1MiB"))[0]
	rng := rand.New(rand.NewPCG(11, 12))
	errs := 0
	for i := 0; i < 300; i++ {
		in := append([]byte(nil), b.data...)
		in[rng.IntN(len(in))] ^= byte(1 + rng.IntN(255))
		if i%10 == 0 {
			in = in[:rng.IntN(len(in))]
		}
		d := newLZMA2Decoder(in, b.dict, b.ulen)
		out := make([]byte, b.ulen+64)
		n, err := d.decode(out[:b.ulen], 0, b.ulen)
		if err == nil && n == b.ulen {
			err = d.finish(n)
		}
		if err == nil && n < b.ulen {
			err = errors.New("short")
		}
		if err != nil {
			errs++
		}
		if !bytes.Equal(out[b.ulen:], make([]byte, 64)) {
			t.Fatal("wrote past the limit")
		}
	}
	if errs < 250 {
		t.Fatalf("only %d of 300 damaged blocks were errors", errs)
	}
}

// FuzzLZMA2 decodes fuzzed LZMA2 data with ours and with ulikunitz/xz's
// decoder (the streaming path's): no panic, and when both decode it whole,
// the same bytes.
func FuzzLZMA2(f *testing.F) {
	if _, err := exec.LookPath("xz"); err == nil {
		for _, args := range [][]string{{"-0"}, {"-9e"}, {"--lzma2=preset=1,lc=0,lp=4,pb=0"}} {
			for _, b := range lzma2Blocks(f, xztest.Command(f, lzma2Data(20<<10), append(args, "--block-size=8KiB")...))[:2] {
				f.Add(b.data, uint16(b.ulen))
			}
		}
	}
	f.Add([]byte{1, 0, 3, 'a', 'b', 'c', 'd', 0}, uint16(4))
	f.Fuzz(func(t *testing.T, in []byte, ulen uint16) {
		const dict = 64 << 10
		total := int(ulen)
		d := newLZMA2Decoder(in, dict, total)
		out := make([]byte, total)
		n, err := d.decode(out, 0, total)
		if err == nil && n == total {
			err = d.finish(n)
		}
		ok := err == nil && n == total
		r, rerr := lzma.Reader2Config{DictCap: dict}.NewReader2(bytes.NewReader(in))
		if rerr != nil {
			return
		}
		want, rerr := io.ReadAll(io.LimitReader(r, int64(total)+1))
		if ok && rerr == nil && !bytes.Equal(out, want) {
			t.Fatalf("decoded %d bytes, ulikunitz/xz %d, and they differ", len(out), len(want))
		}
	})
}
