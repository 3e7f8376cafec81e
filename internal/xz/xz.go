// Package xz reads multi-block .xz files with random access: a read
// decodes only the blocks it touches, found through the index each xz
// stream ends with, as libpcp's io_xz.c does (docs/pcp-archive-format.md
// §9). pmlogger_daily compresses old volumes with `xz --block-size=10MiB`,
// so that a read starting from an .index offset near the end of a volume
// does not decompress everything before it. Field layouts are from "The .xz
// File Format" 1.1.0 (xz file format spec §2.1 streams, §3 blocks, §4
// index); the section numbers below are that document's.
//
// Blocks are decoded by this package's own LZMA2 decoder (lzma2.go), into
// the block's buffer. Files it does not serve (one block, filters other than
// LZMA2 alone, ...) are turned down with ErrUnsupported, and the caller
// streams them (github.com/ulikunitz/xz). The package knows nothing of PCP
// archives (the archive package is its caller, as archive/zip is
// compress/flate's), and has no state of its own: what readers share, the
// bound on background decodes and the pool of block buffers, is a Decoder
// the caller makes with the limits it chooses.
package xz

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
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ulikunitz/xz/lzma"
)

const (
	// DefaultMaxBlock is the default for Options.MaxBlock: a decoded
	// block is held in memory (cacheBlocks of them, plus aheadBlocks
	// being decoded). Files with bigger blocks (xz -T0 -9 makes 192 MiB
	// ones) are ErrUnsupported, for the caller to stream.
	DefaultMaxBlock = 64 << 20
	// cacheBlocks decoded blocks are kept: reading the label (block 0)
	// and then at an .index offset further on, and back, decodes block 0
	// once. Reads that go on from one block to the next keep only the
	// block being read (and aheadBlocks ones being decoded).
	cacheBlocks = 2
	// A read decodes its block only as far as it needs, and at least
	// minStep further, doubling as the reads go on: a label or one
	// record does not cost the whole block.
	minStep = 64 << 10
	// aheadBlocks blocks after the one being read are decoded in the
	// background once reads go from one block to the next: the
	// sequential record loop then decodes on more than one core. Each
	// takes one of the Decoder's slots (Options.MaxConcurrent), shared by
	// all its readers; with none free, blocks are decoded when read.
	aheadBlocks = 2
	// aheadStep is how much a background decode does between looks at
	// whether it is still wanted.
	aheadStep = 1 << 20
)

// Options are the limits of a Decoder.
type Options struct {
	// MaxConcurrent bounds the blocks being decoded in the background
	// (read-ahead), by all the ReaderAts of the Decoder together. Zero
	// (or less) decodes no block in the background: each is decoded
	// when read. A server gives one per CPU (runtime.GOMAXPROCS(0)).
	MaxConcurrent int
	// MaxBlock is the biggest decoded block served, in bytes; a file
	// with a bigger one is ErrUnsupported. Zero is DefaultMaxBlock.
	MaxBlock int64
}

// A Decoder makes ReaderAts and holds what they share: the slots of
// background decodes (Options.MaxConcurrent) and a pool of block buffers,
// so that reading file after file does not allocate block after block. It
// is safe for concurrent use, and must not be copied.
type Decoder struct {
	slots    chan struct{} // a background decode holds one
	pool     sync.Pool     // *[]byte: block buffers
	maxBlock int64
}

// NewDecoder returns a Decoder with the limits of o.
func NewDecoder(o Options) *Decoder {
	d := &Decoder{slots: make(chan struct{}, max(o.MaxConcurrent, 0)), maxBlock: o.MaxBlock}
	if d.maxBlock <= 0 {
		d.maxBlock = DefaultMaxBlock
	}
	return d
}

// block is one block of an .xz file, from its stream's index and its
// block header.
type block struct {
	off     int64 // file offset of the block header
	hdrLen  int64
	compLen int64 // compressed data, without header, padding and check
	uoff    int64 // decompressed offset
	ulen    int64
	check   byte // the stream's check type
	dict    int  // LZMA2 dictionary size (filter properties)
}

// ErrUnsupported marks valid .xz files that NewReaderAt leaves to a
// streaming decoder: a single block (nothing to seek), a filter other than
// plain LZMA2 (BCJ, delta), a check it does not compute, or a block too big
// to cache. NewReaderAt's other errors are a damaged or truncated file or
// the underlying reader's; a streaming decoder then reports the damage
// where it reaches it.
var ErrUnsupported = errors.New("unsupported")

// checkSize is the size of a block's check for each check type
// (xz file format spec §2.1.1.2).
func checkSize(id byte) int64 {
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

// uvarint decodes a multibyte integer (xz file format spec §1.2): at most
// 9 bytes, 7 bits each, least significant first, with no needless trailing
// zero byte.
func uvarint(b []byte) (uint64, int, bool) {
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

func offsetErr(off int64, format string, args ...any) error {
	return fmt.Errorf("xz: offset %d: %s", off, fmt.Sprintf(format, args...))
}

// readIndex reads the block list of an .xz file of size bytes: every
// stream's footer, index and header, from the end of the file back, and
// every block header; maxBlock is Options.MaxBlock. A file NewReaderAt
// cannot serve (see ErrUnsupported) or a damaged one is an error; the
// caller then streams the file.
func readIndex(r io.ReaderAt, size, maxBlock int64) ([]block, error) {
	if size%4 != 0 {
		return nil, offsetErr(size, "file size is not a multiple of 4")
	}
	var streams [][]block // last stream first
	pos := size
	for {
		var err error
		if pos, err = skipPadding(r, pos); err != nil {
			return nil, err
		}
		if pos == 0 {
			break
		}
		var blocks []block
		if blocks, pos, err = readStream(r, pos); err != nil {
			return nil, err
		}
		streams = append(streams, blocks)
	}
	if len(streams) == 0 {
		return nil, offsetErr(0, "no xz stream")
	}
	var all []block
	var uoff int64
	for i := len(streams) - 1; i >= 0; i-- {
		for _, b := range streams[i] {
			b.uoff = uoff
			uoff += b.ulen
			all = append(all, b)
		}
	}
	for i := range all {
		if err := readBlockHeader(r, &all[i], maxBlock); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// skipPadding returns the offset before the stream padding (zero 4-byte
// words, xz file format spec §2.2) that ends at pos.
func skipPadding(r io.ReaderAt, pos int64) (int64, error) {
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

// readStream reads the stream that ends at end: its footer, index and
// header (xz file format spec §2.1.2, §4, §2.1.1). It returns the stream's
// blocks, with file offsets and sizes, and where the stream starts.
func readStream(r io.ReaderAt, end int64) ([]block, int64, error) {
	const hdrLen = 12 // stream header and footer alike
	if end < 2*hdrLen {
		return nil, 0, offsetErr(end, "%d bytes are too few for a stream", end)
	}
	footOff := end - hdrLen
	foot, err := readAtFull(r, footOff, hdrLen)
	if err != nil {
		return nil, 0, err
	}
	if foot[10] != 'Y' || foot[11] != 'Z' {
		return nil, 0, offsetErr(footOff, "no stream footer magic")
	}
	if crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot[0:4]) {
		return nil, 0, offsetErr(footOff, "stream footer CRC32 mismatch")
	}
	flags := foot[8:10]
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return nil, 0, offsetErr(footOff, "reserved stream flags %#x %#x set", flags[0], flags[1])
	}
	check := flags[1]
	if check != 0 && check != 1 && check != 4 && check != 10 {
		return nil, 0, fmt.Errorf("xz: offset %d: check type %d: %w", footOff, check, ErrUnsupported)
	}
	idxLen := (int64(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	idxOff := footOff - idxLen
	if idxOff < hdrLen {
		return nil, 0, offsetErr(footOff, "index of %d bytes does not fit in the stream", idxLen)
	}
	idx, err := readAtFull(r, idxOff, idxLen)
	if err != nil {
		return nil, 0, err
	}
	blocks, err := parseIndex(idx, idxOff, check)
	if err != nil {
		return nil, 0, err
	}
	// The blocks come right after the stream header, each padded to a
	// multiple of 4 bytes (xz file format spec §3.3).
	var blocksLen int64
	for i := range blocks {
		padded := (blocks[i].compLen + 3) &^ 3 // compLen holds the unpadded size here
		if padded > idxOff-hdrLen-blocksLen {
			return nil, 0, offsetErr(idxOff, "index: blocks do not fit before the index")
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
		return nil, 0, offsetErr(start, "no stream header magic where the index puts the stream start")
	case crc32.ChecksumIEEE(head[6:8]) != binary.LittleEndian.Uint32(head[8:12]):
		return nil, 0, offsetErr(start, "stream header CRC32 mismatch")
	case !bytes.Equal(head[6:8], flags):
		return nil, 0, offsetErr(start, "stream header flags %x differ from the footer's %x", head[6:8], flags)
	}
	off := start + hdrLen
	for i := range blocks {
		blocks[i].off = off
		off += (blocks[i].compLen + 3) &^ 3
	}
	return blocks, start, nil
}

// parseIndex decodes an index (xz file format spec §4) read from file offset
// off. The blocks it returns have ulen set and the unpadded size in compLen;
// check is the stream's check type.
func parseIndex(idx []byte, off int64, check byte) ([]block, error) {
	if len(idx) < 8 || len(idx)%4 != 0 {
		return nil, offsetErr(off, "index of %d bytes", len(idx))
	}
	body := idx[:len(idx)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(idx[len(idx)-4:]) {
		return nil, offsetErr(off, "index CRC32 mismatch")
	}
	if body[0] != 0 {
		return nil, offsetErr(off, "index indicator %#x, want 0", body[0])
	}
	p := 1
	n, k, ok := uvarint(body[p:])
	if !ok {
		return nil, offsetErr(off+int64(p), "index: bad number of records")
	}
	p += k
	// Each record takes at least 2 bytes: bound n before allocating.
	if n > uint64(len(body)-p)/2 {
		return nil, offsetErr(off+1, "index: %d records in %d bytes", n, len(body)-p)
	}
	blocks := make([]block, 0, n)
	for i := uint64(0); i < n; i++ {
		unpadded, k1, ok1 := uvarint(body[p:])
		if !ok1 {
			return nil, offsetErr(off+int64(p), "index record %d: bad unpadded size", i)
		}
		ulen, k2, ok2 := uvarint(body[p+k1:])
		if !ok2 {
			return nil, offsetErr(off+int64(p+k1), "index record %d: bad uncompressed size", i)
		}
		// The smallest block: an 8-byte header, one byte of LZMA2 data and
		// the check.
		if unpadded < 9+uint64(checkSize(check)) || unpadded > 1<<62 || ulen > 1<<62 {
			return nil, offsetErr(off+int64(p), "index record %d: unpadded size %d, uncompressed size %d", i, unpadded, ulen)
		}
		blocks = append(blocks, block{compLen: int64(unpadded), ulen: int64(ulen), check: check})
		p += k1 + k2
	}
	for ; p < len(body); p++ {
		if body[p] != 0 {
			return nil, offsetErr(off+int64(p), "index padding is not zero")
		}
	}
	return blocks, nil
}

// readBlockHeader reads and checks the header of b
// (xz file format spec §3.1), and sets its header length, compressed length
// and dictionary size. b.compLen holds the unpadded size from the index on
// entry. A block that decodes to more than maxBlock is ErrUnsupported.
func readBlockHeader(r io.ReaderAt, b *block, maxBlock int64) error {
	var one [1]byte
	if _, err := r.ReadAt(one[:], b.off); err != nil {
		return err
	}
	if one[0] == 0 {
		return offsetErr(b.off, "index indicator where the index puts a block")
	}
	hlen := (int64(one[0]) + 1) * 4
	unpadded, checkLen := b.compLen, checkSize(b.check)
	if hlen+checkLen >= unpadded {
		return offsetErr(b.off, "block header of %d bytes in a block of %d", hlen, unpadded)
	}
	h, err := readAtFull(r, b.off, hlen)
	if err != nil {
		return err
	}
	if crc32.ChecksumIEEE(h[:hlen-4]) != binary.LittleEndian.Uint32(h[hlen-4:]) {
		return offsetErr(b.off, "block header CRC32 mismatch")
	}
	b.hdrLen, b.compLen = hlen, unpadded-hlen-checkLen
	flags := h[1]
	if flags&0x3C != 0 {
		return offsetErr(b.off+1, "reserved block flags %#x set", flags)
	}
	p, end := 2, int(hlen-4)
	field := func(what string) (uint64, error) {
		v, k, ok := uvarint(h[p:end])
		if !ok {
			return 0, offsetErr(b.off+int64(p), "block header: bad %s", what)
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
			return offsetErr(b.off, "block header compressed size %d, index says %d", v, b.compLen)
		}
	}
	if flags&0x80 != 0 {
		v, err := field("uncompressed size")
		if err != nil {
			return err
		}
		if v != uint64(b.ulen) {
			return offsetErr(b.off, "block header uncompressed size %d, index says %d", v, b.ulen)
		}
	}
	if flags&3 != 0 {
		return fmt.Errorf("xz: offset %d: %d filters (BCJ or delta before LZMA2): %w", b.off, flags&3+1, ErrUnsupported)
	}
	id, err := field("filter ID")
	if err != nil {
		return err
	}
	if id != 0x21 {
		return fmt.Errorf("xz: offset %d: filter %#x: %w", b.off, id, ErrUnsupported)
	}
	if size, err := field("filter properties size"); err != nil || size != 1 || p >= end {
		return offsetErr(b.off+int64(p), "block header: bad LZMA2 properties")
	}
	dict, err := lzma.DecodeDictCap(h[p])
	if err != nil {
		return offsetErr(b.off+int64(p), "block header: LZMA2 dictionary size code %d", h[p])
	}
	p++
	for ; p < end; p++ {
		if h[p] != 0 {
			return offsetErr(b.off+int64(p), "block header padding is not zero")
		}
	}
	if b.ulen > maxBlock {
		return fmt.Errorf("xz: offset %d: block of %d bytes: %w", b.off, b.ulen, ErrUnsupported)
	}
	// The compressed block is read into memory whole (decodedBlock.start).
	// Real encoders store what LZMA would expand, at 3 bytes a 64 KiB
	// chunk; more than that bound is left to the streaming decoder, so
	// that an index cannot make us read a huge block for a small one.
	if b.compLen > b.ulen+b.ulen/1024+64<<10 {
		return fmt.Errorf("xz: offset %d: %d compressed bytes for %d: %w", b.off, b.compLen, b.ulen, ErrUnsupported)
	}
	// Each block starts with a fresh dictionary (the first LZMA2 chunk
	// resets it), so it never needs to be bigger than the block: a
	// hostile dictionary size cannot make us allocate more than that.
	b.dict = int(max(lzma.MinDictCap, min(dict, b.ulen)))
	return nil
}

// ReaderAt serves ReadAt from a multi-block .xz file, decoding only the
// blocks a read touches and keeping the last cacheBlocks of them. It
// decodes with lzma2Decoder, which needs the whole block in memory and is
// about 2x faster than the streaming decoder (ulikunitz/xz) that serves
// the files it cannot: compressed days are read at about libpcp's speed.
//
// Unlike most io.ReaderAt implementations, a ReaderAt must not be used by
// more than one goroutine at a time: reads share its decoded blocks.
type ReaderAt struct {
	d      *Decoder
	r      io.ReaderAt
	blocks []block
	total  int64
	cache  []*decodedBlock // most recently used first
	ahead  []*decodedBlock // being decoded in the background
	spare  [][]byte        // buffers of released blocks
	last   int             // block of the last read
}

// NewReaderAt reads the index of the .xz file of size bytes in r, for
// random access to its decompressed bytes. A file it does not serve is an
// error wrapping ErrUnsupported (a single block, for one: nothing to
// seek); a damaged index is another error. Errors say where in the file,
// not which file: the caller names it. r is read until Close, and not
// closed.
func (d *Decoder) NewReaderAt(r io.ReaderAt, size int64) (*ReaderAt, error) {
	blocks, err := readIndex(r, size, d.maxBlock)
	if err != nil {
		return nil, err
	}
	if len(blocks) < 2 {
		return nil, fmt.Errorf("xz: %d blocks: nothing to seek: %w", len(blocks), ErrUnsupported)
	}
	last := blocks[len(blocks)-1]
	return &ReaderAt{d: d, r: r, blocks: blocks, total: last.uoff + last.ulen, last: -2}, nil
}

// Size is the decompressed size of the file, from its index.
func (s *ReaderAt) Size() int64 { return s.total }

// Close stops the background decodes and hands the block buffers back to
// the Decoder. It does not close the underlying reader, which no
// background decode reads once Close has returned.
func (s *ReaderAt) Close() error {
	s.stopAhead()
	for _, d := range s.cache {
		s.release(d)
	}
	s.cache = nil
	for _, b := range s.spare {
		s.d.pool.Put(&b)
	}
	s.spare = nil
	return nil
}

// stopAhead stops the background decodes and waits for them (at most
// about one aheadStep each), so none reads the file after Close.
func (s *ReaderAt) stopAhead() {
	for _, d := range s.ahead {
		d.cancel.Store(true)
	}
	for _, d := range s.ahead {
		<-d.done
		s.release(d)
	}
	s.ahead = s.ahead[:0]
}

// ReadAt reads len(p) decompressed bytes at off. It returns io.EOF when
// the file ends before, and an error saying at which decompressed offset,
// in which block and at which file offset when a block fails to decode (or
// its check fails); the bytes before are in p.
func (s *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		if o >= s.total {
			return n, io.EOF
		}
		i := sort.Search(len(s.blocks), func(i int) bool { return s.blocks[i].uoff+s.blocks[i].ulen > o })
		b := &s.blocks[i]
		d := s.decoded(i)
		rel := o - b.uoff
		want := min(b.ulen, rel+int64(len(p)-n))
		d.fill(want, max(minStep, int64(len(d.buf))))
		if have := min(want, int64(len(d.buf))); rel < have {
			n += copy(p[n:], d.buf[rel:have])
		}
		if int64(len(d.buf)) < want {
			return n, fmt.Errorf("decompressing at offset %d: xz block %d at file offset %d: %w", off+int64(n), i, b.off, d.err)
		}
	}
	return n, nil
}

// decoded returns the decoder of block i: cached, decoded in the
// background, or new.
func (s *ReaderAt) decoded(i int) *decodedBlock {
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
		// aheadBlocks blocks are decoded while this one is read. At
		// most 1+aheadBlocks blocks are held.
		for _, c := range s.cache {
			s.release(c)
		}
		s.cache = s.cache[:0]
		s.readAhead(i)
	}
	if len(s.cache) == cacheBlocks {
		s.release(s.cache[len(s.cache)-1])
		s.cache = s.cache[:len(s.cache)-1]
	}
	s.cache = append([]*decodedBlock{d}, s.cache...)
	return d
}

// take takes the decoder of block i out of the cache or the background
// decodes, or makes a new one.
func (s *ReaderAt) take(i int) *decodedBlock {
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

// readAhead starts decoding the aheadBlocks blocks after block i in the
// background, as far as the Decoder's slots are free.
func (s *ReaderAt) readAhead(i int) {
	slots := s.d.slots
	for j := i + 1; j <= i+aheadBlocks && j < len(s.blocks); j++ {
		if s.has(j) {
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			return
		}
		d := s.newDecoded(j)
		d.done = make(chan struct{})
		s.ahead = append(s.ahead, d)
		go func() {
			defer func() { <-slots; close(d.done) }()
			for d.err == nil && !d.cancel.Load() {
				d.fill(0, aheadStep)
			}
		}()
	}
}

func (s *ReaderAt) has(i int) bool {
	for _, d := range s.ahead {
		if d.b == &s.blocks[i] {
			return true
		}
	}
	return false
}

// decodedBlock is one block being decoded: buf holds what is decoded so far.
type decodedBlock struct {
	b   *block
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
	crc64Table = crc64.MakeTable(crc64.ECMA)
	errLonger  = errors.New("more data than the index says")
)

// newDecoded starts block i in a buffer of a block released before: the
// reader's own, or another reader's (the Decoder's pool), so that reading
// block after block does not allocate block after block.
func (s *ReaderAt) newDecoded(i int) *decodedBlock {
	d := &decodedBlock{b: &s.blocks[i], f: s.r}
	if k := len(s.spare); k > 0 {
		d.buf, s.spare = s.spare[k-1], s.spare[:k-1]
	} else if bp, _ := s.d.pool.Get().(*[]byte); bp != nil {
		d.buf = (*bp)[:0]
	}
	return d
}

// release keeps the buffer of a block no longer wanted for the next one;
// d is not used again.
func (s *ReaderAt) release(d *decodedBlock) {
	if d.buf != nil && len(s.spare) < cacheBlocks+aheadBlocks {
		s.spare = append(s.spare, d.buf[:0])
	} else if d.buf != nil {
		b := d.buf[:0]
		s.d.pool.Put(&b)
	}
	d.buf, d.lz = nil, nil
}

func (d *decodedBlock) start() error {
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
func (d *decodedBlock) fill(upto, grow int64) {
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
func (d *decodedBlock) finish() error {
	if err := d.lz.finish(len(d.buf)); err != nil {
		return err
	}
	pad := (4 - (d.b.hdrLen+d.b.compLen)%4) % 4
	tail, err := readAtFull(d.f, d.b.off+d.b.hdrLen+d.b.compLen, pad+checkSize(d.b.check))
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
