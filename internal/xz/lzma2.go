package xz

import "fmt"

// lzma2Decoder decodes the LZMA2 data of one .xz block
// (xz file format spec §5.3.1) into one output buffer that holds the whole
// block: the buffer is also the dictionary, so matches are copies inside it
// and nothing is kept twice. ReaderAt decodes whole blocks anyway
// (Options.MaxBlock bounds them), which is what lets it drop the general
// streaming decoder's window, interfaces and byte-at-a-time input on the
// path every cold query over a compressed day takes.
//
// LZMA2 is a sequence of chunks, each either stored or LZMA-compressed
// with a fresh range coder, and each able to reset the dictionary, the
// LZMA state and the properties (lc, lp, pb). The range coder and the
// LZMA model follow the LZMA specification (lzma-specification.txt of the
// LZMA SDK); the chunk rules are the ones liblzma enforces, so that data
// libpcp rejects is rejected here too.
//
// The decoder can stop at any symbol boundary when its output limit is
// reached and go on later (decodedBlock.fill decodes a block only as far as
// reads need).
type lzma2Decoder struct {
	in []byte // the block's LZMA2 data
	ip int    // next byte of in

	dictSize  int // from the block header; match distances must fit in it
	total     int // the block's decoded size, from the index
	dictStart int // output offset of the last dictionary reset

	// The chunk being decoded: kind is chunkNone between chunks.
	kind       int
	chunkStart int // output offset where it starts
	chunkEnd   int // and ends
	inEnd      int // offset in in where its compressed data ends
	pending    int // bytes of a match left to copy when the output was full

	needDictReset, needProps, done bool

	lc, lp, pb uint
	state      uint32
	rep        [4]uint32
	rng, code  uint32
	probs      lzmaProbs
}

const (
	chunkNone = iota
	chunkStored
	chunkLZMA
)

const (
	probBits    = 11
	probInit    = 1 << (probBits - 1)
	moveBits    = 5
	rcTop       = 1 << 24
	litStride   = 0x400 // 0x300 probabilities a context, rounded so a mask proves the index
	matchMinLen = 2
)

// lenProbs are the probabilities of one length coder (match or rep).
type lenProbs struct {
	choice, choice2 uint16
	low, mid        [16][8]uint16 // by pos state
	high            [256]uint16
}

// lzmaProbs is the whole adaptive model. Fixed-size arrays, indexed with
// masks, let the compiler drop bounds checks from the bit loops.
type lzmaProbs struct {
	isMatch    [256]uint16 // state<<4 | pos state; 192 used
	isRep      [16]uint16
	isRepG0    [16]uint16
	isRepG1    [16]uint16
	isRepG2    [16]uint16
	isRep0Long [256]uint16
	posSlot    [4][64]uint16
	posSpecial [128]uint16 // 114 used
	align      [16]uint16
	matchLen   lenProbs
	repLen     lenProbs
	lit        [16 * litStride]uint16 // lc+lp <= 4: at most 16 contexts
}

func newLZMA2Decoder(in []byte, dictSize, total int) *lzma2Decoder {
	// liblzma rounds the dictionary up to a multiple of 16.
	return &lzma2Decoder{in: in, dictSize: (dictSize + 15) &^ 15, total: total, needDictReset: true, needProps: true}
}

func (d *lzma2Decoder) errAt(off int, format string, args ...any) error {
	return fmt.Errorf("LZMA2 data offset %d: %s", off, fmt.Sprintf(format, args...))
}

// decode decodes into out[n:limit], where out[:n] is what it decoded
// before (limit <= len(out)), and returns the new n: limit, or less when
// the LZMA2 data ends (then done is set) or is bad (an error). It may stop
// short of a chunk's end and go on in the next call.
//
// Damage inside a chunk is mostly found only at its end, so on an error
// the bytes this call decoded of the failing chunk are not counted: they
// may be garbage.
func (d *lzma2Decoder) decode(out []byte, n, limit int) (int, error) {
	n0 := n
	n, err := d.decodeTo(out, n, limit)
	if err != nil {
		n = min(n, max(n0, d.chunkStart))
	}
	return n, err
}

func (d *lzma2Decoder) decodeTo(out []byte, n, limit int) (int, error) {
	for n < limit {
		if d.kind == chunkNone {
			if d.done {
				return n, nil
			}
			d.chunkStart = n // what came before is checked
			if err := d.chunkHeader(n); err != nil {
				return n, err
			}
			if d.done {
				return n, nil
			}
			if d.chunkEnd > d.total {
				return n, fmt.Errorf("LZMA2 data offset %d: chunk ends at %d, after the block's %d bytes: %w", d.ip, d.chunkEnd, d.total, errLonger)
			}
		}
		stop := min(limit, d.chunkEnd)
		var err error
		switch d.kind {
		case chunkStored:
			k := copy(out[n:stop], d.in[d.ip:d.inEnd])
			d.ip += k
			n += k
		case chunkLZMA:
			n, err = d.decodeLZMA(out, n, stop)
		}
		if err != nil {
			return n, err
		}
		if n == d.chunkEnd {
			if err := d.endChunk(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// finish reads what must follow the last byte of the block: the end of
// the last chunk and the end marker (control byte 0), which must be the
// last byte of the data.
func (d *lzma2Decoder) finish(n int) error {
	if d.kind != chunkNone {
		return d.errAt(d.ip, "chunk goes on after the block's last byte")
	}
	if !d.done {
		if err := d.chunkHeader(n); err != nil {
			return err
		}
		if !d.done {
			return errLonger
		}
	}
	if d.ip != len(d.in) {
		return d.errAt(d.ip, "%d bytes after the end marker", len(d.in)-d.ip)
	}
	return nil
}

// chunkHeader reads the header of the chunk that starts output offset n.
func (d *lzma2Decoder) chunkHeader(n int) error {
	at := d.ip
	if at >= len(d.in) {
		return d.errAt(at, "no end marker")
	}
	control := d.in[at]
	if control == 0 {
		d.ip++
		d.done = true
		return nil
	}
	// A dictionary reset (stored chunk 1, LZMA chunk 0xE0 and up) must
	// come first, and the LZMA chunk after one must set properties.
	if control == 1 || control >= 0xE0 {
		d.needDictReset, d.needProps = false, true
		d.dictStart = n
	} else if d.needDictReset {
		return d.errAt(at, "first chunk (control %#x) does not reset the dictionary", control)
	}
	if control < 0x80 {
		if control > 2 {
			return d.errAt(at, "bad chunk control byte %#x", control)
		}
		if at+3 > len(d.in) {
			return d.errAt(at, "chunk header cut short")
		}
		size := int(d.in[at+1])<<8 | int(d.in[at+2]) + 1
		d.ip = at + 3
		if size > len(d.in)-d.ip {
			return d.errAt(at, "stored chunk of %d bytes runs past the data", size)
		}
		d.kind, d.chunkStart, d.chunkEnd, d.inEnd = chunkStored, n, n+size, d.ip+size
		return nil
	}
	hlen := 5
	if control >= 0xC0 {
		hlen = 6
	}
	if at+hlen > len(d.in) {
		return d.errAt(at, "chunk header cut short")
	}
	h := d.in[at : at+hlen]
	usize := int(control&0x1F)<<16 | int(h[1])<<8 | int(h[2]) + 1
	csize := int(h[3])<<8 | int(h[4]) + 1
	switch {
	case control >= 0xC0:
		if err := d.setProps(h[5]); err != nil {
			return d.errAt(at+5, "%v", err)
		}
		d.needProps = false
		d.resetState()
	case d.needProps:
		return d.errAt(at, "LZMA chunk (control %#x) without the properties a reset needs", control)
	case control >= 0xA0:
		d.resetState()
	}
	d.ip = at + hlen
	if csize > len(d.in)-d.ip || csize < 5 {
		return d.errAt(at, "LZMA chunk of %d compressed bytes, %d left", csize, len(d.in)-d.ip)
	}
	d.kind, d.chunkStart, d.chunkEnd, d.inEnd = chunkLZMA, n, n+usize, d.ip+csize
	// Each LZMA chunk starts a new range coder: a zero byte, then the
	// first code word.
	b := d.in[d.ip : d.ip+5]
	if b[0] != 0 {
		return d.errAt(d.ip, "range coder does not start with a zero byte")
	}
	d.code = uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
	d.rng = 0xFFFFFFFF
	d.ip += 5
	return nil
}

// endChunk checks the end of a chunk whose output is complete: an LZMA
// chunk has used its compressed bytes exactly, its range coder is
// finished, and no match runs on into the next chunk.
func (d *lzma2Decoder) endChunk() error {
	if d.kind == chunkLZMA {
		if d.pending > 0 {
			return d.errAt(d.ip, "match runs past the end of its chunk")
		}
		if d.rng < rcTop {
			d.rng <<= 8
			d.code = d.code<<8 | uint32(d.byteAt(d.ip))
			d.ip++
		}
		if d.ip != d.inEnd || d.code != 0 {
			return d.errAt(d.ip, "LZMA chunk ends badly (used %d of its compressed bytes up to %d, range coder %#x)", d.ip, d.inEnd, d.code)
		}
	}
	d.kind = chunkNone
	return nil
}

func (d *lzma2Decoder) byteAt(i int) byte {
	if i < d.inEnd {
		return d.in[i]
	}
	return 0
}

func (d *lzma2Decoder) setProps(b byte) error {
	if b >= 9*5*5 {
		return fmt.Errorf("bad LZMA properties %#x", b)
	}
	lc, lp, pb := uint(b%9), uint(b/9%5), uint(b/45)
	if lc+lp > 4 {
		return fmt.Errorf("LZMA properties lc=%d lp=%d: lc+lp > 4", lc, lp)
	}
	d.lc, d.lp, d.pb = lc, lp, pb
	return nil
}

// resetState starts the LZMA model afresh.
func (d *lzma2Decoder) resetState() {
	d.state = 0
	d.rep = [4]uint32{}
	p := &d.probs
	fill := func(s []uint16) {
		for i := range s {
			s[i] = probInit
		}
	}
	fill(p.isMatch[:])
	fill(p.isRep[:])
	fill(p.isRepG0[:])
	fill(p.isRepG1[:])
	fill(p.isRepG2[:])
	fill(p.isRep0Long[:])
	for i := range p.posSlot {
		fill(p.posSlot[i][:])
	}
	fill(p.posSpecial[:])
	fill(p.align[:])
	for _, l := range []*lenProbs{&p.matchLen, &p.repLen} {
		l.choice, l.choice2 = probInit, probInit
		for i := range l.low {
			fill(l.low[i][:])
			fill(l.mid[i][:])
		}
		fill(l.high[:])
	}
	fill(p.lit[:litStride<<(d.lc+d.lp)])
}

// rcBit decodes one bit of probability *p. The range coder's registers go
// in and come out as values, and rcBit inlines, so they stay in machine
// registers through the decode loops.
func rcBit(rng, code uint32, p *uint16) (uint32, uint32, uint32) {
	bound := (rng >> probBits) * uint32(*p)
	if code < bound {
		*p += (1<<probBits - *p) >> moveBits
		return bound, code, 0
	}
	*p -= *p >> moveBits
	return rng - bound, code - bound, 1
}

// rcBitFlat is rcBit without a branch on the bit: for the bits of
// literals, which are the hardest to predict. The update of *p is the
// same: for a 0 bit p + (2048-p)>>5 equals p - (p-2017)>>5 with an
// arithmetic shift, and for a 1 bit p - p>>5.
func rcBitFlat(rng, code uint32, p *uint16) (uint32, uint32, uint32) {
	pv := uint32(*p)
	bound := (rng >> probBits) * pv
	mask := uint32((uint64(code)-uint64(bound))>>63) - 1 // all ones for a 1 bit
	rng = bound + (rng-2*bound)&mask
	code -= bound & mask
	*p = uint16(int32(pv) - (int32(pv)-int32(2017&^mask))>>moveBits)
	return rng, code, mask & 1
}

// rcNorm shifts in the next input byte when the range is too small. Past
// the chunk's data it shifts in zeros; endChunk then finds the chunk bad.
func rcNorm(rng, code uint32, in []byte, ip int) (uint32, uint32, int) {
	if rng < rcTop {
		var c byte
		if ip < len(in) {
			c = in[ip]
		}
		return rng << 8, code<<8 | uint32(c), ip + 1
	}
	return rng, code, ip
}

// rcNormFlat is rcNorm without a branch, for the literal loops. in must
// not be empty.
func rcNormFlat(rng, code uint32, in []byte, ip int) (uint32, uint32, int) {
	need := uint32((uint64(rng) - rcTop) >> 63) // 1 when rng < rcTop
	c := uint32(in[min(ip, len(in)-1)])
	if ip >= len(in) {
		c = 0
	}
	sh := need * 8
	return rng << sh, code<<sh | c&(0-need), ip + int(need)
}

// rcTree decodes a bits-bit symbol MSB first with the probabilities p
// (indices 1 to 1<<bits-1).
func rcTree(rng, code uint32, in []byte, ip int, p []uint16, bits uint) (uint32, uint32, int, uint32) {
	m := uint32(1)
	var b uint32
	for i := uint(0); i < bits; i++ {
		rng, code, ip = rcNorm(rng, code, in, ip)
		rng, code, b = rcBit(rng, code, &p[m])
		m = m<<1 | b
	}
	return rng, code, ip, m - 1<<bits
}

// rcReverse decodes a bits-bit symbol LSB first; the probabilities of
// tree node m (from 1) are p[m-1].
func rcReverse(rng, code uint32, in []byte, ip int, p []uint16, bits uint) (uint32, uint32, int, uint32) {
	m, sym := uint32(1), uint32(0)
	var b uint32
	for i := uint(0); i < bits; i++ {
		rng, code, ip = rcNorm(rng, code, in, ip)
		rng, code, b = rcBit(rng, code, &p[m-1])
		m = m<<1 | b
		sym |= b << i
	}
	return rng, code, ip, sym
}

// rcLen decodes a match length less matchMinLen (0 to 271).
func rcLen(rng, code uint32, in []byte, ip int, l *lenProbs, posState int) (uint32, uint32, int, uint32) {
	var b, v uint32
	rng, code, ip = rcNorm(rng, code, in, ip)
	if rng, code, b = rcBit(rng, code, &l.choice); b == 0 {
		rng, code, ip, v = rcTree(rng, code, in, ip, l.low[posState&15][:], 3)
		return rng, code, ip, v
	}
	rng, code, ip = rcNorm(rng, code, in, ip)
	if rng, code, b = rcBit(rng, code, &l.choice2); b == 0 {
		rng, code, ip, v = rcTree(rng, code, in, ip, l.mid[posState&15][:], 3)
		return rng, code, ip, 8 + v
	}
	rng, code, ip, v = rcTree(rng, code, in, ip, l.high[:], 8)
	return rng, code, ip, 16 + v
}

// rcDist decodes the distance of a match of length (less matchMinLen)
// length: 0 means the byte just before.
func rcDist(rng, code uint32, in []byte, ip int, p *lzmaProbs, length uint32) (uint32, uint32, int, uint32) {
	var slot, v uint32
	rng, code, ip, slot = rcTree(rng, code, in, ip, p.posSlot[min(length, 3)][:], 6)
	if slot < 4 {
		return rng, code, ip, slot
	}
	direct := uint(slot>>1) - 1
	dist := (2 | slot&1) << direct
	if slot < 14 {
		// The probabilities of this slot's bits start at dist-slot.
		rng, code, ip, v = rcReverse(rng, code, in, ip, p.posSpecial[dist-slot:], direct)
		return rng, code, ip, dist + v
	}
	// direct-4 bits with fixed probability 1/2, then 4 through the
	// align coder.
	for i := uint(0); i < direct-4; i++ {
		rng, code, ip = rcNorm(rng, code, in, ip)
		rng >>= 1
		// code >= rng: the bit is 1 and rng is taken off code.
		t := 0 - ((code - rng) >> 31) // all ones when code < rng
		code -= rng &^ t
		v = v<<1 | (t + 1)
	}
	dist += v << 4
	rng, code, ip, v = rcReverse(rng, code, in, ip, p.align[1:], 4)
	return rng, code, ip, dist + v
}

// decodeLZMA decodes LZMA symbols into out[n:stop] (stop <= the chunk's
// end) and returns the new n.
func (d *lzma2Decoder) decodeLZMA(out []byte, n, stop int) (int, error) {
	if d.pending > 0 {
		n = d.copyMatch(out, n, stop, int(d.rep[0])+1, d.pending)
		if n == stop {
			return n, nil
		}
	}
	in := d.in[:d.inEnd]
	ip := d.ip
	rng, code := d.rng, d.code
	state := d.state
	rep0, rep1, rep2, rep3 := d.rep[0], d.rep[1], d.rep[2], d.rep[3]
	p := &d.probs
	base := d.dictStart
	pbMask := 1<<d.pb - 1
	lpMask := 1<<d.lp - 1
	lc := d.lc
	var err error
	var b uint32
	for n < stop {
		pos := n - base
		posState := pos & pbMask
		rng, code, ip = rcNorm(rng, code, in, ip)
		if rng, code, b = rcBit(rng, code, &p.isMatch[(state<<4|uint32(posState))&0xff]); b == 0 {
			// A literal, coded in the context of the byte before it
			// (0 at the start of the dictionary) and its position.
			prev := 0
			if pos > 0 {
				prev = int(out[n-1])
			}
			ctx := ((pos&lpMask)<<lc + prev>>(8-lc)) & 15
			lit := (*[litStride]uint16)(p.lit[ctx*litStride:])
			sym := uint32(1)
			if state < 7 {
				for sym < 0x100 {
					rng, code, ip = rcNormFlat(rng, code, in, ip)
					rng, code, b = rcBitFlat(rng, code, &lit[sym&0x3ff])
					sym = sym<<1 | b
				}
			} else {
				// After a match the literal is coded against the byte
				// at the last distance, bit by bit while they agree.
				if int(rep0) >= pos {
					err = d.errAt(ip, "distance %d before the dictionary", rep0+1)
					break
				}
				mb := uint32(out[n-int(rep0)-1])
				offset := uint32(0x100)
				for sym < 0x100 {
					mb <<= 1
					mbit := mb & offset
					rng, code, ip = rcNormFlat(rng, code, in, ip)
					rng, code, b = rcBitFlat(rng, code, &lit[(offset+mbit+sym)&0x3ff])
					sym = sym<<1 | b
					// Matched mode (offset 0x100) lasts while the bits
					// agree; no branch, as with the bit itself.
					offset &^= mbit ^ b<<8
				}
			}
			out[n] = byte(sym)
			n++
			switch {
			case state < 4:
				state = 0
			case state < 10:
				state -= 3
			default:
				state -= 6
			}
			continue
		}
		var length uint32
		rng, code, ip = rcNorm(rng, code, in, ip)
		if rng, code, b = rcBit(rng, code, &p.isRep[state&15]); b == 0 {
			// A match at a new distance.
			rng, code, ip, length = rcLen(rng, code, in, ip, &p.matchLen, posState)
			rep3, rep2, rep1 = rep2, rep1, rep0
			rng, code, ip, rep0 = rcDist(rng, code, in, ip, p, length)
			if rep0 == 0xFFFFFFFF {
				err = d.errAt(ip, "end of payload marker inside an LZMA2 chunk")
				break
			}
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
		} else {
			rng, code, ip = rcNorm(rng, code, in, ip)
			if rng, code, b = rcBit(rng, code, &p.isRepG0[state&15]); b == 0 {
				rng, code, ip = rcNorm(rng, code, in, ip)
				if rng, code, b = rcBit(rng, code, &p.isRep0Long[(state<<4|uint32(posState))&0xff]); b == 0 {
					// A short rep: one byte at the last distance.
					if int(rep0) >= pos || int(rep0) >= d.dictSize {
						err = d.errAt(ip, "distance %d before the dictionary", rep0+1)
						break
					}
					out[n] = out[n-int(rep0)-1]
					n++
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					continue
				}
			} else {
				var dist uint32
				rng, code, ip = rcNorm(rng, code, in, ip)
				if rng, code, b = rcBit(rng, code, &p.isRepG1[state&15]); b == 0 {
					dist = rep1
				} else {
					rng, code, ip = rcNorm(rng, code, in, ip)
					if rng, code, b = rcBit(rng, code, &p.isRepG2[state&15]); b == 0 {
						dist = rep2
					} else {
						dist, rep3 = rep3, rep2
					}
					rep2 = rep1
				}
				rep1, rep0 = rep0, dist
			}
			rng, code, ip, length = rcLen(rng, code, in, ip, &p.repLen, posState)
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		}
		if int(rep0) >= pos || int(rep0) >= d.dictSize {
			err = d.errAt(ip, "distance %d before the dictionary", rep0+1)
			break
		}
		length += matchMinLen
		if n+int(length) > d.chunkEnd {
			err = d.errAt(ip, "match runs past the end of its chunk")
			break
		}
		n = d.copyMatch(out, n, stop, int(rep0)+1, int(length))
	}
	d.ip, d.rng, d.code, d.state = ip, rng, code, state
	d.rep = [4]uint32{rep0, rep1, rep2, rep3}
	if ip > d.inEnd && err == nil {
		err = d.errAt(d.inEnd, "LZMA chunk needs more than its %d compressed bytes", d.inEnd)
	}
	return n, err
}

// copyMatch copies length bytes from dist back to out[n:], as far as stop;
// what does not fit is left in d.pending. The source may overlap the
// destination (a run): each copy then doubles what can be copied next.
func (d *lzma2Decoder) copyMatch(out []byte, n, stop, dist, length int) int {
	end := min(n+length, stop)
	d.pending = n + length - end
	src := n - dist
	if dist >= end-n {
		copy(out[n:end], out[src:])
		return end
	}
	for n < end {
		n += copy(out[n:end], out[src:n])
	}
	return end
}
