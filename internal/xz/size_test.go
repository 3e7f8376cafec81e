package xz

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz/xztest"
)

// xzFile writes data to name in dir and compresses it there with
// `xz -k args...`, as pmlogger_daily compresses a volume; it returns the
// .xz file's bytes.
func xzFile(t testing.TB, dir, name string, data []byte, args ...string) []byte {
	t.Helper()
	p := filepath.Join(dir, name)
	writeFile(t, p, data)
	cmd := exec.Command("xz", append(append([]string{"-k", "-f"}, args...), p)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xz %s: %v: %s", strings.Join(args, " "), err, out)
	}
	b, err := os.ReadFile(p + ".xz")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xzDecompressedLen is the length of what `xz -dc` makes of b: the true
// decompressed size, concatenated streams and padding included.
func xzDecompressedLen(t testing.TB, b []byte) int64 {
	t.Helper()
	cmd := exec.Command("xz", "-dc")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz -dc: %v", err)
	}
	return int64(len(out))
}

func mustSize(t testing.TB, b []byte) int64 {
	t.Helper()
	n, err := Size(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSize compares Size with the true decompressed length for files of
// every shape xz makes: one block and many, presets -0 and the default,
// concatenated streams, stream padding, and an empty file.
func TestSize(t *testing.T) {
	xztest.RequireCommand(t, "xz")
	dir := t.TempDir()
	data := xztest.Data(300 << 10)
	one := xzFile(t, dir, "one", data)
	one0 := xzFile(t, dir, "one0", data, "-0")
	multi := xzFile(t, dir, "multi", data, "--block-size=64KiB")
	multi0 := xzFile(t, dir, "multi0", data, "-0", "--block-size=64KiB")
	daily := xzFile(t, dir, "daily", data[:100<<10], "-0", "--block-size=10MiB")
	bcj := xzFile(t, dir, "bcj", data[:70<<10], "--x86", "--lzma2=preset=0", "--block-size=16KiB")
	sha := xzFile(t, dir, "sha", data[:50<<10], "-C", "sha256", "--block-size=8KiB")
	none := xzFile(t, dir, "none", data[:50<<10], "-C", "none")
	empty := xzFile(t, dir, "empty", nil)
	pad := make([]byte, 8)
	for _, tc := range []struct {
		name string
		b    []byte
		want int64
	}{
		{"single block", one, int64(len(data))},
		{"single block -0", one0, int64(len(data))},
		{"64KiB blocks", multi, int64(len(data))},
		{"64KiB blocks -0", multi0, int64(len(data))},
		{"pmlogger_daily", daily, 100 << 10},
		{"BCJ filter", bcj, 70 << 10},
		{"sha256 check", sha, 50 << 10},
		{"no check", none, 50 << 10},
		{"empty", empty, 0},
		{"two streams", cat(multi, one0), 2 * int64(len(data))},
		{"three streams, padding", cat(one, pad, multi0, pad[:4], empty, pad), 2 * int64(len(data))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := xzDecompressedLen(t, tc.b); got != tc.want {
				t.Fatalf("xz -dc gives %d bytes, test wants %d", got, tc.want)
			}
			if got := mustSize(t, tc.b); got != tc.want {
				t.Errorf("Size = %d, want %d", got, tc.want)
			}
		})
	}
	// NewReaderAt turns these down, Size does not.
	for _, b := range [][]byte{one, bcj} {
		if _, err := newTestDecoder().NewReaderAt(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewReaderAt: %v, want ErrUnsupported", err)
		}
	}
}

// TestSizeDamaged flips every byte of a two-stream file and cuts it at
// every length: a change to what Size reads (stream headers, indexes,
// footers, padding) is an error, a change inside a block is not seen, and
// nothing panics.
func TestSizeDamaged(t *testing.T) {
	xztest.RequireCommand(t, "xz")
	dir := t.TempDir()
	data := xztest.Data(20 << 10)
	a := xzFile(t, dir, "a", data, "-0", "--block-size=4KiB")
	b := xzFile(t, dir, "b", data[:3000])
	good := cat(a, make([]byte, 4), b)
	want := mustSize(t, good)
	meta := streamMeta(t, a, 0)
	meta = append(meta, streamMeta(t, b, int64(len(a)+4))...)
	for off := range good {
		bad := bytes.Clone(good)
		bad[off] ^= 0x55
		n, err := Size(bytes.NewReader(bad), int64(len(bad)))
		isMeta := off >= len(a) && off < len(a)+4 // the padding
		for _, m := range meta {
			isMeta = isMeta || (int64(off) >= m[0] && int64(off) < m[1])
		}
		switch {
		case isMeta && err == nil:
			t.Errorf("byte %d flipped: no error (size %d)", off, n)
		case !isMeta && (err != nil || n != want):
			t.Errorf("byte %d flipped inside a block: %d, %v", off, n, err)
		}
	}
	for n := 0; n < len(b); n++ {
		if _, err := Size(bytes.NewReader(b[:n]), int64(n)); err == nil {
			t.Errorf("cut to %d of %d bytes: no error", n, len(b))
		}
	}
	// A file shorter than the size it is said to have.
	if _, err := Size(bytes.NewReader(b), int64(len(b)+4)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("file shorter than its size: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := Size(bytes.NewReader(nil), 0); err == nil {
		t.Error("empty file: no error")
	}
	if _, err := Size(bytes.NewReader(make([]byte, 64)), 64); err == nil {
		t.Error("only padding: no error")
	}
}

// streamMeta returns the byte ranges of the single stream b (at file
// offset base) that Size reads: its header, and its index and footer.
func streamMeta(t testing.TB, b []byte, base int64) [][2]int64 {
	t.Helper()
	blocks, start, err := readStream(bytes.NewReader(b), int64(len(b)))
	if err != nil || start != 0 {
		t.Fatalf("readStream: %v, start %d", err, start)
	}
	end := int64(12)
	for _, bl := range blocks {
		end += (bl.compLen + 3) &^ 3
	}
	return [][2]int64{{base, base + 12}, {base + end, base + int64(len(b))}}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// FuzzSize checks that no input makes Size panic, or return a negative
// size without an error.
func FuzzSize(f *testing.F) {
	if b, err := os.ReadFile(xzBlocksFile); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Size(bytes.NewReader(b), int64(len(b)))
		if err == nil && n < 0 {
			t.Fatalf("size %d", n)
		}
	})
}
