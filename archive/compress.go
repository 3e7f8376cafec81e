package archive

import (
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
	ulxz "github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// compressSuffixes are the suffixes libpcp recognises (io.c compress_ctl[]).
// pmlogger_daily compresses volumes and .meta, never the live volume.
var compressSuffixes = []string{".xz", ".lzma", ".bz2", ".bz", ".gz", ".Z", ".z", ".zst"}

// SplitCompress splits a compression suffix libpcp recognises off a file name.
func SplitCompress(name string) (base, suffix string) {
	for _, s := range compressSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return name[:len(name)-len(s)], s
		}
	}
	return name, ""
}

// source is one archive file opened for reading: random access for plain
// files and multi-block .xz files (xzSource), forward streaming for other
// compressed ones. A source is used by one goroutine at a time.
type source interface {
	io.ReaderAt
	// size is the current size of the (decompressed) file if it is known
	// without reading it all; plain files are re-examined on every call
	// because a live archive grows.
	size() (int64, bool)
	Close() error
}

// openSource opens path, decompressing by its suffix; multi-block .xz files
// are read through dec (Files.XZ; nil: see openXZ).
func openSource(path string, dec *xz.Decoder) (source, error) {
	_, suffix := SplitCompress(path)
	if suffix == "" {
		f, err := openFile(path)
		if err != nil {
			return nil, err
		}
		return &plainSource{f: f}, nil
	}
	if suffix == ".Z" {
		return nil, fmt.Errorf("%s: compress(1) .Z files are not supported; decompress it with uncompress", path)
	}
	if suffix == ".xz" {
		// Multi-block .xz files are read through their block index;
		// anything else openXZ turns down (one block, BCJ or delta
		// filters, a damaged index) is streamed like the other
		// compressions.
		x, err := openXZ(path, dec)
		if err == nil {
			return x, nil
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
	}
	s := &streamSource{path: path, suffix: suffix}
	if err := s.reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

// openFile opens an archive file. Only regular files are archive files: a
// FIFO named like one would block open (and with it every later scan)
// until a writer appears, and a device such as /dev/zero never ends.
// O_NONBLOCK makes open return at once for a FIFO; on a regular file it
// changes nothing.
func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file but %s", path, fileKind(fi.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// xzSource is a multi-block .xz file read through its block index
// (internal/xz), decoding only the blocks reads touch. Its errors name the
// file.
type xzSource struct {
	path string
	f    *os.File
	x    *xz.ReaderAt
}

// openXZ opens path for random access through dec (nil: a decoder of its
// own, with no background decoding: see Files.XZ), or
// says why it cannot: a file with a single block (nothing to gain), an
// unsupported filter or check, or a missing or damaged index. The caller
// then streams it.
func openXZ(path string, dec *xz.Decoder) (*xzSource, error) {
	if dec == nil {
		dec = xz.NewDecoder(xz.Options{})
	}
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	x, err := dec.NewReaderAt(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &xzSource{path: path, f: f, x: x}, nil
}

func (s *xzSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.x.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", s.path, err)
	}
	return n, err
}

func (s *xzSource) size() (int64, bool) { return s.x.Size(), true }

// Close stops the background decodes before closing the file they read.
func (s *xzSource) Close() error {
	s.x.Close()
	return s.f.Close()
}

type plainSource struct{ f *os.File }

func (p *plainSource) ReadAt(b []byte, off int64) (int, error) { return p.f.ReadAt(b, off) }
func (p *plainSource) Close() error                            { return p.f.Close() }
func (p *plainSource) size() (int64, bool) {
	fi, err := p.f.Stat()
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}

// streamSource serves ReadAt from a forward-only decompressor. Reads are
// expected to move forward (the archive reader scans records in order); a
// backward read restarts decompression from the beginning.
type streamSource struct {
	path   string
	suffix string
	f      *os.File
	r      io.Reader
	closer io.Closer // decompressor, if it needs closing
	pos    int64     // decompressed offset of r
	eof    bool
	total  int64 // decompressed size once EOF was seen
}

func (s *streamSource) reopen() error {
	s.closeAll()
	f, err := openFile(s.path)
	if err != nil {
		return err
	}
	r, c, err := decompressor(f, s.suffix)
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", s.path, err)
	}
	s.f, s.r, s.closer, s.pos, s.eof = f, r, c, 0, false
	return nil
}

func decompressor(f io.Reader, suffix string) (io.Reader, io.Closer, error) {
	br := &byteReader{r: f}
	switch suffix {
	case ".xz":
		r, err := ulxz.NewReader(br)
		return r, nil, err
	case ".lzma":
		r, err := lzma.NewReader(br)
		return r, nil, err
	case ".bz2", ".bz":
		return bzip2.NewReader(br), nil, nil
	case ".gz", ".z":
		r, err := gzip.NewReader(br)
		return r, r, err
	case ".zst":
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, err
		}
		return d, closerFunc(func() error { d.Close(); return nil }), nil
	}
	return nil, nil, fmt.Errorf("unknown compression suffix %q", suffix)
}

type closerFunc func() error

func (c closerFunc) Close() error { return c() }

// byteReader buffers the compressed file so decompressors that read a byte at
// a time do not make a system call per byte.
type byteReader struct {
	r    io.Reader
	buf  [64 << 10]byte
	i, n int
}

func (b *byteReader) Read(p []byte) (int, error) {
	if b.i == b.n {
		if len(p) >= len(b.buf) {
			return b.r.Read(p)
		}
		n, err := b.r.Read(b.buf[:])
		if n == 0 {
			return 0, err
		}
		b.i, b.n = 0, n
	}
	n := copy(p, b.buf[b.i:b.n])
	b.i += n
	return n, nil
}

func (b *byteReader) ReadByte() (byte, error) {
	if b.i == b.n {
		n, err := b.r.Read(b.buf[:])
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, err
		}
		b.i, b.n = 0, n
	}
	c := b.buf[b.i]
	b.i++
	return c, nil
}

func (s *streamSource) closeAll() {
	if s.closer != nil {
		s.closer.Close()
		s.closer = nil
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

func (s *streamSource) Close() error { s.closeAll(); return nil }

func (s *streamSource) size() (int64, bool) { return s.total, s.eof }

func (s *streamSource) ReadAt(p []byte, off int64) (int, error) {
	if off < s.pos || s.r == nil {
		if err := s.reopen(); err != nil {
			return 0, err
		}
	}
	if off > s.pos {
		n, err := io.CopyN(io.Discard, s.r, off-s.pos)
		s.pos += n
		if err != nil {
			return 0, s.readErr(err)
		}
	}
	n, err := io.ReadFull(s.r, p)
	s.pos += int64(n)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	if err != nil {
		return n, s.readErr(err)
	}
	return n, nil
}

func (s *streamSource) readErr(err error) error {
	if err == io.EOF {
		s.eof, s.total = true, s.pos
		return io.EOF
	}
	return fmt.Errorf("%s: decompressing at offset %d: %w", s.path, s.pos, err)
}

// readAll reads a whole source into memory, growing the buffer as data
// arrives so that no length field can make it allocate more than the file holds.
func readAll(src source) ([]byte, error) {
	var buf []byte
	// Unknown sizes are compressed .meta files, tens to hundreds of KB:
	// a small chunk keeps opening an archive from costing a big buffer.
	chunkSize := int64(32 << 10)
	if n, ok := src.size(); ok && n < 1<<31 {
		// An .xz index states the size before anything is decoded: do
		// not trust it with more than 64 MiB up front.
		buf = make([]byte, 0, min(n, 64<<20))
		// Small files (most .meta and .index) in one read, no big buffer.
		chunkSize = min(chunkSize, n+512)
	}
	var off int64
	chunk := make([]byte, chunkSize)
	for {
		n, err := src.ReadAt(chunk, off)
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

// CompressedTwins lists the names a file would have once compressed by a
// tool libpcp reads (path + ".xz", ".zst", ...), for a reader that knew
// the plain file and finds it gone.
func CompressedTwins(path string) []string {
	out := make([]string, 0, len(compressSuffixes))
	for _, s := range compressSuffixes {
		if s != ".Z" {
			out = append(out, path+s)
		}
	}
	return out
}

// ReadDecompressedAt reads len(p) decompressed bytes at off of the
// archive file at path, decompressing by its suffix as an archive's files
// are read (multi-block .xz through dec, nil for a decoder of its own;
// other compressed files streamed from their start). Reading the end of a
// file that is not seekable costs decompressing all of it before.
func ReadDecompressedAt(path string, dec *xz.Decoder, p []byte, off int64) error {
	src, err := openSource(path, dec)
	if err != nil {
		return err
	}
	defer src.Close()
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: %d bytes at %d: %w", path, len(p), off, err)
}
