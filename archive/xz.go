package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ulikunitz/xz/lzma"
)

// Random access into .xz files (docs/pcp-archive-format.md §9). pmlogger_daily
// compresses old volumes with `xz --block-size=10MiB`, and libpcp (io_xz.c)
// reads them by decoding only the blocks a read needs, found through the index
// each xz stream ends with. xzSource does the same, so that a read starting
// from an .index offset near the end of a volume does not decompress
// everything before it. Field layouts are from "The .xz File Format" 1.1.0
// (xz file format spec §2.1 streams, §3 blocks, §4 index); the section numbers
// below are that document's.

const (
	// xzMaxBlock bounds the blocks xzSource decodes: a decoded block is
	// held in memory (xzCacheBlocks of them, plus xzAhead being decoded).
	// Files with bigger blocks (xz -T0 -9 makes 192 MiB ones) are streamed.
	xzMaxBlock = 64 << 20
	// xzCacheBlocks decoded blocks are kept: reading the label (block 0)
	// and then at an .index offset further on, and back, decodes block 0
	// once. Reads that go on from one block to the next keep only the
	// block being read (and xzAhead ones being decoded).
	xzCacheBlocks = 2
	// A read decodes its block only as far as it needs, and at least
	// xzMinStep further, doubling as the reads go on: a label or one
	// record does not cost the whole block.
	xzMinStep = 64 << 10
	// xzAhead blocks after the one being read are decoded in the
	// background once reads go from one block to the next: the
	// sequential record loop then decodes on more than one core. Each
	// takes one of xzDecodeSlots, shared by all files; with none free,
	// blocks are decoded when read.
	xzAhead = 2
	// xzStep is how much a background decode does between looks at
	// whether it is still wanted.
	xzStep = 1 << 20
)

var xzDecodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// xzBlock is one block of an .xz file, from its stream's index and its
// block header.
type xzBlock struct {
	off     int64 // file offset of the block header
	hdrLen  int64
	compLen int64 // compressed data, without header, padding and check
	uoff    int64 // decompressed offset
	ulen    int64
	check   byte // the stream's check type
	dict    int  // LZMA2 dictionary size (filter properties)
}

// errXZUnsupported marks valid .xz files that xzSource leaves to the
// streaming decoder: a filter other than plain LZMA2 (BCJ, delta), a check
// it does not compute, or a block too big to cache.
var errXZUnsupported = errors.New("unsupported")

// xzCheckLen is the size of a block's check for each check type
// (xz file format spec §2.1.1.2).
func xzCheckLen(id byte) int64 {
	switch {
	case id == 0:
		return 0
	case id <= 3:
		return 4
	case id <= 6:
		return 8
	case id <= 9:
		return 16
	case id <= 12:
		return 32
	}
	return 64
}

// xzUvarint decodes a multibyte integer (xz file format spec §1.2): at most
// 9 bytes, 7 bits each, least significant first, with no needless trailing
// zero byte.
func xzUvarint(b []byte) (uint64, int, bool) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			if b[i] == 0 && i > 0 {
				return 0, 0, false
			}
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

func readAtFull(r io.ReaderAt, off int64, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

func xzErr(off int64, format string, args ...any) error {
	return fmt.Errorf("xz: offset %d: %s", off, fmt.Sprintf(format, args...))
}

// readXZIndex reads the block list of an .xz file of size bytes: every
// stream's footer, index and header, from the end of the file back, and
// every block header. A file xzSource cannot serve (see errXZUnsupported)
// or a damaged one is an error; the caller then streams the file.
func readXZIndex(r io.ReaderAt, size int64) ([]xzBlock, error) {
	if size%4 != 0 {
		return nil, xzErr(size, "file size is not a multiple of 4")
	}
	var streams [][]xzBlock // last stream first
	pos := size
	for {
		var err error
		if pos, err = skipXZPadding(r, pos); err != nil {
			return nil, err
		}
		if pos == 0 {
			break
		}
		var blocks []xzBlock
		if blocks, pos, err = readXZStream(r, pos); err != nil {
			return nil, err
		}
		streams = append(streams, blocks)
	}
	if len(streams) == 0 {
		return nil, xzErr(0, "no xz stream")
	}
	var all []xzBlock
	var uoff int64
	for i := len(streams) - 1; i >= 0; i-- {
		for _, b := range streams[i] {
			b.uoff = uoff
			uoff += b.ulen
			all = append(all, b)
		}
	}
	for i := range all {
		if err := readXZBlockHeader(r, &all[i]); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// skipXZPadding returns the offset before the stream padding (zero 4-byte
// words, xz file format spec §2.2) that ends at pos.
func skipXZPadding(r io.ReaderAt, pos int64) (int64, error) {
	var buf [4096]byte
	for pos > 0 {
		n := min(pos, int64(len(buf)))
		if _, err := r.ReadAt(buf[:n], pos-n); err != nil {
			return 0, err
		}
		i := n
		for i >= 4 && binary.LittleEndian.Uint32(buf[i-4:i]) == 0 {
			i -= 4
		}
		pos -= n - i
		if i > 0 {
			break
		}
	}
	return pos, nil
}

// readXZStream reads the stream that ends at end: its footer, index and
// header (xz file format spec §2.1.2, §4, §2.1.1). It returns the stream's
// blocks, with file offsets and sizes, and where the stream starts.
func readXZStream(r io.ReaderAt, end int64) ([]xzBlock, int64, error) {
	const hdrLen = 12 // stream header and footer alike
	if end < 2*hdrLen {
		return nil, 0, xzErr(end, "%d bytes are too few for a stream", end)
	}
	footOff := end - hdrLen
	foot, err := readAtFull(r, footOff, hdrLen)
	if err != nil {
		return nil, 0, err
	}
	if foot[10] != 'Y' || foot[11] != 'Z' {
		return nil, 0, xzErr(footOff, "no stream footer magic")
	}
	if crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot[0:4]) {
		return nil, 0, xzErr(footOff, "stream footer CRC32 mismatch")
	}
	flags := foot[8:10]
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return nil, 0, xzErr(footOff, "reserved stream flags %#x %#x set", flags[0], flags[1])
	}
	check := flags[1]
	if check != 0 && check != 1 && check != 4 && check != 10 {
		return nil, 0, fmt.Errorf("xz: offset %d: check type %d: %w", footOff, check, errXZUnsupported)
	}
	idxLen := (int64(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	idxOff := footOff - idxLen
	if idxOff < hdrLen {
		return nil, 0, xzErr(footOff, "index of %d bytes does not fit in the stream", idxLen)
	}
	idx, err := readAtFull(r, idxOff, idxLen)
	if err != nil {
		return nil, 0, err
	}
	blocks, err := parseXZIndex(idx, idxOff, check)
	if err != nil {
		return nil, 0, err
	}
	// The blocks come right after the stream header, each padded to a
	// multiple of 4 bytes (xz file format spec §3.3).
	var blocksLen int64
	for i := range blocks {
		padded := (blocks[i].compLen + 3) &^ 3 // compLen holds the unpadded size here
		if padded > idxOff-hdrLen-blocksLen {
			return nil, 0, xzErr(idxOff, "index: blocks do not fit before the index")
		}
		blocksLen += padded
	}
	start := idxOff - blocksLen - hdrLen
	head, err := readAtFull(r, start, hdrLen)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case !bytes.Equal(head[:6], []byte{0xFD, '7', 'z', 'X', 'Z', 0}):
		return nil, 0, xzErr(start, "no stream header magic where the index puts the stream start")
	case crc32.ChecksumIEEE(head[6:8]) != binary.LittleEndian.Uint32(head[8:12]):
		return nil, 0, xzErr(start, "stream header CRC32 mismatch")
	case !bytes.Equal(head[6:8], flags):
		return nil, 0, xzErr(start, "stream header flags %x differ from the footer's %x", head[6:8], flags)
	}
	off := start + hdrLen
	for i := range blocks {
		blocks[i].off = off
		off += (blocks[i].compLen + 3) &^ 3
	}
	return blocks, start, nil
}

// parseXZIndex decodes an index (xz file format spec §4) read from file offset
// off. The blocks it returns have ulen set and the unpadded size in compLen;
// check is the stream's check type.
func parseXZIndex(idx []byte, off int64, check byte) ([]xzBlock, error) {
	if len(idx) < 8 || len(idx)%4 != 0 {
		return nil, xzErr(off, "index of %d bytes", len(idx))
	}
	body := idx[:len(idx)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(idx[len(idx)-4:]) {
		return nil, xzErr(off, "index CRC32 mismatch")
	}
	if body[0] != 0 {
		return nil, xzErr(off, "index indicator %#x, want 0", body[0])
	}
	p := 1
	n, k, ok := xzUvarint(body[p:])
	if !ok {
		return nil, xzErr(off+int64(p), "index: bad number of records")
	}
	p += k
	// Each record takes at least 2 bytes: bound n before allocating.
	if n > uint64(len(body)-p)/2 {
		return nil, xzErr(off+1, "index: %d records in %d bytes", n, len(body)-p)
	}
	blocks := make([]xzBlock, 0, n)
	for i := uint64(0); i < n; i++ {
		unpadded, k1, ok1 := xzUvarint(body[p:])
		if !ok1 {
			return nil, xzErr(off+int64(p), "index record %d: bad unpadded size", i)
		}
		ulen, k2, ok2 := xzUvarint(body[p+k1:])
		if !ok2 {
			return nil, xzErr(off+int64(p+k1), "index record %d: bad uncompressed size", i)
		}
		// The smallest block: an 8-byte header, one byte of LZMA2 data and
		// the check.
		if unpadded < 9+uint64(xzCheckLen(check)) || unpadded > 1<<62 || ulen > 1<<62 {
			return nil, xzErr(off+int64(p), "index record %d: unpadded size %d, uncompressed size %d", i, unpadded, ulen)
		}
		blocks = append(blocks, xzBlock{compLen: int64(unpadded), ulen: int64(ulen), check: check})
		p += k1 + k2
	}
	for ; p < len(body); p++ {
		if body[p] != 0 {
			return nil, xzErr(off+int64(p), "index padding is not zero")
		}
	}
	return blocks, nil
}

// readXZBlockHeader reads and checks the header of b
// (xz file format spec §3.1), and sets its header length, compressed length
// and dictionary size. b.compLen holds the unpadded size from the index on
// entry.
func readXZBlockHeader(r io.ReaderAt, b *xzBlock) error {
	var one [1]byte
	if _, err := r.ReadAt(one[:], b.off); err != nil {
		return err
	}
	if one[0] == 0 {
		return xzErr(b.off, "index indicator where the index puts a block")
	}
	hlen := (int64(one[0]) + 1) * 4
	unpadded, checkLen := b.compLen, xzCheckLen(b.check)
	if hlen+checkLen >= unpadded {
		return xzErr(b.off, "block header of %d bytes in a block of %d", hlen, unpadded)
	}
	h, err := readAtFull(r, b.off, hlen)
	if err != nil {
		return err
	}
	if crc32.ChecksumIEEE(h[:hlen-4]) != binary.LittleEndian.Uint32(h[hlen-4:]) {
		return xzErr(b.off, "block header CRC32 mismatch")
	}
	b.hdrLen, b.compLen = hlen, unpadded-hlen-checkLen
	flags := h[1]
	if flags&0x3C != 0 {
		return xzErr(b.off+1, "reserved block flags %#x set", flags)
	}
	p, end := 2, int(hlen-4)
	field := func(what string) (uint64, error) {
		v, k, ok := xzUvarint(h[p:end])
		if !ok {
			return 0, xzErr(b.off+int64(p), "block header: bad %s", what)
		}
		p += k
		return v, nil
	}
	if flags&0x40 != 0 {
		v, err := field("compressed size")
		if err != nil {
			return err
		}
		if v != uint64(b.compLen) {
			return xzErr(b.off, "block header compressed size %d, index says %d", v, b.compLen)
		}
	}
	if flags&0x80 != 0 {
		v, err := field("uncompressed size")
		if err != nil {
			return err
		}
		if v != uint64(b.ulen) {
			return xzErr(b.off, "block header uncompressed size %d, index says %d", v, b.ulen)
		}
	}
	if flags&3 != 0 {
		return fmt.Errorf("xz: offset %d: %d filters (BCJ or delta before LZMA2): %w", b.off, flags&3+1, errXZUnsupported)
	}
	id, err := field("filter ID")
	if err != nil {
		return err
	}
	if id != 0x21 {
		return fmt.Errorf("xz: offset %d: filter %#x: %w", b.off, id, errXZUnsupported)
	}
	if size, err := field("filter properties size"); err != nil || size != 1 || p >= end {
		return xzErr(b.off+int64(p), "block header: bad LZMA2 properties")
	}
	dict, err := lzma.DecodeDictCap(h[p])
	if err != nil {
		return xzErr(b.off+int64(p), "block header: LZMA2 dictionary size code %d", h[p])
	}
	p++
	for ; p < end; p++ {
		if h[p] != 0 {
			return xzErr(b.off+int64(p), "block header padding is not zero")
		}
	}
	if b.ulen > xzMaxBlock {
		return fmt.Errorf("xz: offset %d: block of %d bytes: %w", b.off, b.ulen, errXZUnsupported)
	}
	// The compressed block is read into memory whole (xzDecoded.start).
	// Real encoders store what LZMA would expand, at 3 bytes a 64 KiB
	// chunk; more than that bound is left to the streaming decoder, so
	// that an index cannot make us read a huge block for a small one.
	if b.compLen > b.ulen+b.ulen/1024+64<<10 {
		return fmt.Errorf("xz: offset %d: %d compressed bytes for %d: %w", b.off, b.compLen, b.ulen, errXZUnsupported)
	}
	// Each block starts with a fresh dictionary (the first LZMA2 chunk
	// resets it), so it never needs to be bigger than the block: a
	// hostile dictionary size cannot make us allocate more than that.
	b.dict = int(max(lzma.MinDictCap, min(dict, b.ulen)))
	return nil
}

// xzSource serves ReadAt from a multi-block .xz file, decoding only the
// blocks a read touches and keeping the last xzCacheBlocks of them. It
// decodes with lzma2Decoder, which needs the whole block in memory and is
// about 2x faster than the streaming decoder (ulikunitz/xz) that serves
// the files it cannot: compressed days are read at about libpcp's speed.
type xzSource struct {
	path   string
	r      io.ReaderAt
	closer io.Closer
	blocks []xzBlock
	total  int64
	cache  []*xzDecoded // most recently used first
	ahead  []*xzDecoded // being decoded in the background
	spare  [][]byte     // buffers of released blocks
	last   int          // block of the last read
}

// openXZ opens path for random access, or says why it cannot: a file with
// a single block (nothing to gain), an unsupported filter or check, or a
// missing or damaged index. The caller then streams it.
func openXZ(path string) (*xzSource, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s, err := newXZSource(path, f, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closer = f
	return s, nil
}

// newXZSource reads the index of the .xz file in r; path names it in errors.
func newXZSource(path string, r io.ReaderAt, size int64) (*xzSource, error) {
	blocks, err := readXZIndex(r, size)
	if err == nil && len(blocks) < 2 {
		err = fmt.Errorf("xz: %d blocks: nothing to seek", len(blocks))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	last := blocks[len(blocks)-1]
	return &xzSource{path: path, r: r, blocks: blocks, total: last.uoff + last.ulen, last: -2}, nil
}

func (s *xzSource) size() (int64, bool) { return s.total, true }

func (s *xzSource) Close() error {
	s.stopAhead()
	for _, d := range s.cache {
		s.release(d)
	}
	s.cache = nil
	for _, b := range s.spare {
		xzBufPool.Put(&b)
	}
	s.spare = nil
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// stopAhead stops the background decodes and waits for them (at most
// about one xzStep each), so none reads the file after Close.
func (s *xzSource) stopAhead() {
	for _, d := range s.ahead {
		d.cancel.Store(true)
	}
	for _, d := range s.ahead {
		<-d.done
		s.release(d)
	}
	s.ahead = s.ahead[:0]
}

func (s *xzSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset %d", s.path, off)
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		if o >= s.total {
			return n, io.EOF
		}
		i := sort.Search(len(s.blocks), func(i int) bool { return s.blocks[i].uoff+s.blocks[i].ulen > o })
		b := &s.blocks[i]
		d := s.block(i)
		rel := o - b.uoff
		want := min(b.ulen, rel+int64(len(p)-n))
		d.fill(want, max(xzMinStep, int64(len(d.buf))))
		if have := min(want, int64(len(d.buf))); rel < have {
			n += copy(p[n:], d.buf[rel:have])
		}
		if int64(len(d.buf)) < want {
			return n, fmt.Errorf("%s: decompressing at offset %d: xz block %d at file offset %d: %w", s.path, off+int64(n), i, b.off, d.err)
		}
	}
	return n, nil
}

// block returns the decoder of block i: cached, decoded in the background,
// or new.
func (s *xzSource) block(i int) *xzDecoded {
	seq := i == s.last+1
	if i != s.last {
		s.last = i
		if !seq {
			s.stopAhead() // a jump: what was decoded ahead is not wanted
		}
	}
	d := s.take(i)
	if seq {
		// Reading on: the blocks before are not read again, and
		// xzAhead blocks are decoded while this one is read. At most
		// 1+xzAhead blocks are held.
		for _, c := range s.cache {
			s.release(c)
		}
		s.cache = s.cache[:0]
		s.readAhead(i)
	}
	if len(s.cache) == xzCacheBlocks {
		s.release(s.cache[len(s.cache)-1])
		s.cache = s.cache[:len(s.cache)-1]
	}
	s.cache = append([]*xzDecoded{d}, s.cache...)
	return d
}

// take takes the decoder of block i out of the cache or the background
// decodes, or makes a new one.
func (s *xzSource) take(i int) *xzDecoded {
	for j, d := range s.cache {
		if d.b == &s.blocks[i] {
			s.cache = append(s.cache[:j], s.cache[j+1:]...)
			return d
		}
	}
	for j, d := range s.ahead {
		if d.b == &s.blocks[i] {
			<-d.done
			s.ahead = append(s.ahead[:j], s.ahead[j+1:]...)
			return d
		}
	}
	return s.newDecoded(i)
}

// readAhead starts decoding the xzAhead blocks after block i in the
// background, as far as decode slots are free.
func (s *xzSource) readAhead(i int) {
	for j := i + 1; j <= i+xzAhead && j < len(s.blocks); j++ {
		if s.has(j) {
			continue
		}
		select {
		case xzDecodeSlots <- struct{}{}:
		default:
			return
		}
		d := s.newDecoded(j)
		d.done = make(chan struct{})
		s.ahead = append(s.ahead, d)
		go func() {
			defer func() { <-xzDecodeSlots; close(d.done) }()
			for d.err == nil && !d.cancel.Load() {
				d.fill(0, xzStep)
			}
		}()
	}
}

func (s *xzSource) has(i int) bool {
	for _, d := range s.ahead {
		if d.b == &s.blocks[i] {
			return true
		}
	}
	return false
}

// xzDecoded is one block being decoded: buf holds what is decoded so far.
type xzDecoded struct {
	b   *xzBlock
	f   io.ReaderAt
	buf []byte
	lz  *lzma2Decoder
	h   hash.Hash
	err error // why buf stops short of the block's end; io.EOF once complete
	// done is closed when a background decode ends; until then only
	// its goroutine touches the fields above. cancel asks it to stop.
	done   chan struct{}
	cancel atomic.Bool
}

var (
	xzBufPool   sync.Pool // *[]byte: block buffers
	crc64Table  = crc64.MakeTable(crc64.ECMA)
	errXZLonger = errors.New("more data than the index says")
)

// newDecoded starts block i in a buffer of a block released before: the
// source's own, or another file's (xzBufPool), so that reading block
// after block does not allocate block after block.
func (s *xzSource) newDecoded(i int) *xzDecoded {
	d := &xzDecoded{b: &s.blocks[i], f: s.r}
	if k := len(s.spare); k > 0 {
		d.buf, s.spare = s.spare[k-1], s.spare[:k-1]
	} else if bp, _ := xzBufPool.Get().(*[]byte); bp != nil {
		d.buf = (*bp)[:0]
	}
	return d
}

// release keeps the buffer of a block no longer wanted for the next one;
// d is not used again.
func (s *xzSource) release(d *xzDecoded) {
	if d.buf != nil && len(s.spare) < xzCacheBlocks+xzAhead {
		s.spare = append(s.spare, d.buf[:0])
	} else if d.buf != nil {
		b := d.buf[:0]
		xzBufPool.Put(&b)
	}
	d.buf, d.lz = nil, nil
}

func (d *xzDecoded) start() error {
	// The compressed block is read whole: it is a small part of the
	// decoded block held beside it, and the decoder then needs no
	// buffered reader.
	in, err := readAtFull(d.f, d.b.off+d.b.hdrLen, d.b.compLen)
	if err != nil {
		return err
	}
	d.lz = newLZMA2Decoder(in, d.b.dict, int(d.b.ulen))
	switch d.b.check {
	case 1:
		d.h = crc32.NewIEEE()
	case 4:
		d.h = crc64.New(crc64Table)
	case 10:
		d.h = sha256.New()
	}
	return nil
}

// fill decodes the block up to at least upto bytes and grow bytes further
// than it is, or to where it fails.
func (d *xzDecoded) fill(upto, grow int64) {
	upto = max(upto, int64(len(d.buf))+grow)
	for int64(len(d.buf)) < upto && d.err == nil {
		if d.lz == nil {
			if d.err = d.start(); d.err != nil {
				return
			}
		}
		n := len(d.buf)
		end := min(d.b.ulen, upto)
		if int64(cap(d.buf)) < end {
			// Grown as the data comes, not made as big as the
			// index says at once: the index may lie.
			nb := make([]byte, n, min(d.b.ulen, max(end, 2*int64(cap(d.buf)))))
			copy(nb, d.buf)
			d.buf = nb
		}
		k, err := d.lz.decode(d.buf[:end], n, int(end))
		if d.h != nil {
			d.h.Write(d.buf[n:k])
		}
		d.buf = d.buf[:k]
		if err == nil && int64(k) < end {
			err = fmt.Errorf("LZMA2 data ends after %d of %d bytes", k, d.b.ulen)
		}
		if err != nil {
			d.err = err
			return
		}
		if int64(len(d.buf)) == d.b.ulen {
			if d.err = d.finish(); d.err != nil {
				// A block whose check fails is not served at all.
				d.buf = d.buf[:0]
			}
			d.lz = nil
			if d.err == nil {
				d.err = io.EOF // nothing more in this block
			}
			return
		}
	}
}

// finish checks the end of a fully decoded block: the LZMA2 data ends
// where the index says, then padding and the check
// (xz file format spec §3.3, §3.4).
func (d *xzDecoded) finish() error {
	if err := d.lz.finish(len(d.buf)); err != nil {
		return err
	}
	pad := (4 - (d.b.hdrLen+d.b.compLen)%4) % 4
	tail, err := readAtFull(d.f, d.b.off+d.b.hdrLen+d.b.compLen, pad+xzCheckLen(d.b.check))
	if err != nil {
		return err
	}
	for _, c := range tail[:pad] {
		if c != 0 {
			return errors.New("block padding is not zero")
		}
	}
	want := tail[pad:]
	switch d.b.check {
	case 0:
		return nil
	case 1:
		if binary.LittleEndian.Uint32(want) != d.h.(hash.Hash32).Sum32() {
			return errors.New("CRC32 mismatch")
		}
	case 4:
		if binary.LittleEndian.Uint64(want) != d.h.(hash.Hash64).Sum64() {
			return errors.New("CRC64 mismatch")
		}
	case 10:
		if !bytes.Equal(want, d.h.Sum(nil)) {
			return errors.New("SHA-256 mismatch")
		}
	}
	return nil
}
