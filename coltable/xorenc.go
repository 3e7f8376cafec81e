package coltable

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// xorEnc writes a Prometheus XOR chunk (tsdb/chunkenc's EncXOR: Gorilla
// time and value compression, a 2-byte sample count first), byte for byte
// what chunkenc's xorAppender writes, but without a branch per bit: that
// appender writes a bit at a time, which makes its Append most of the cost
// of decoding an archive (about 60 ns a sample against 6 for the record).
// Bits gather at the top of a 64-bit word; each put stores the whole word
// at the end of b and keeps the bytes it completed, so the word never
// holds more than 7 bits between puts and a put of up to 56 bits needs no
// test of whether it fits (the way zstd's bit writer works, MSB first).
// TestXOREncMatchesChunkenc holds the two to the same bytes.
type xorEnc struct {
	b    []byte // the count, then the stream's whole bytes
	acc  uint64 // the bits not yet in b, from the top
	used uint   // how many: 0 to 7
	n    int

	t        int64
	tDelta   uint64
	v        uint64 // bits of the last value
	leading  uint8
	trailing uint8
}

// encSlack is the room a sample needs at the end of b: its bits (at most
// 145) and the 8 bytes a put stores.
const encSlack = 32

func (e *xorEnc) reset() {
	b := e.b[:0]
	if cap(b) < 256 {
		b = make([]byte, 0, 256)
	}
	*e = xorEnc{b: append(b, 0, 0), leading: 0xff}
}

// room makes sure b has encSlack bytes to spare.
func (e *xorEnc) room() {
	if cap(e.b)-len(e.b) < encSlack {
		e.b = append(make([]byte, 0, 2*len(e.b)+encSlack), e.b...)
	}
}

// put appends the low n bits of u (1 <= n <= 64; u has no bit above
// them). The caller made room.
func (e *xorEnc) put(u uint64, n uint) { e.b, e.acc, e.used = putWide(e.b, e.acc, e.used, u, n) }

// putWide is putBits for up to 64 bits, in two puts when they are more
// than one takes.
func putWide(b []byte, acc uint64, used uint, u uint64, n uint) ([]byte, uint64, uint) {
	if n > 56 {
		b, acc, used = putBits(b, acc, used, u>>32, n-32)
		u, n = u&(1<<32-1), 32
	}
	return putBits(b, acc, used, u, n)
}

// putBits appends the low n bits of u (1 <= n <= 56) to the stream whose
// whole bytes are b, with used bits in acc; b has 8 bytes to spare. It is
// put on state held in locals (appendRun), which the compiler keeps in
// registers.
func putBits(b []byte, acc uint64, used uint, u uint64, n uint) ([]byte, uint64, uint) {
	// The shifts are below 64 (masked so that the compiler knows it):
	// used+n <= 63 before, used&^7 <= 56 after.
	used += n
	acc |= u << ((64 - used) & 63)
	l := len(b)
	binary.BigEndian.PutUint64(b[l:l+8], acc)
	return b[:l+int(used>>3)], acc << (used & 56), used & 7
}

func (e *xorEnc) append(t int64, v float64) {
	e.room()
	vb := math.Float64bits(v)
	switch e.n {
	case 0:
		var buf [binary.MaxVarintLen64]byte
		for _, c := range buf[:binary.PutVarint(buf[:], t)] {
			e.put(uint64(c), 8)
		}
		e.put(vb, 64)
	case 1:
		e.tDelta = uint64(t - e.t)
		var buf [binary.MaxVarintLen64]byte
		for _, c := range buf[:binary.PutUvarint(buf[:], e.tDelta)] {
			e.put(uint64(c), 8)
		}
		e.value(vb)
	default:
		tDelta := uint64(t - e.t)
		dod := int64(tDelta - e.tDelta)
		switch {
		case dod == 0:
			e.put(0, 1)
		case inRange(dod, 14):
			e.put(0b10<<14|uint64(dod)&(1<<14-1), 16)
		case inRange(dod, 17):
			e.put(0b110<<17|uint64(dod)&(1<<17-1), 20)
		case inRange(dod, 20):
			e.put(0b1110<<20|uint64(dod)&(1<<20-1), 24)
		default:
			e.put(0b1111, 4)
			e.put(uint64(dod), 64)
		}
		e.tDelta = tDelta
		e.value(vb)
	}
	e.t, e.v = t, vb
	e.n++
}

// inRange is chunkenc's bitRange.
func inRange(x int64, nbits uint) bool {
	return -((1<<(nbits-1))-1) <= x && x <= 1<<(nbits-1)
}

// value writes a value as the XOR with the previous one (chunkenc's
// xorWrite).
func (e *xorEnc) value(vb uint64) {
	delta := vb ^ e.v
	if delta == 0 {
		e.put(0, 1)
		return
	}
	leading := uint8(bits.LeadingZeros64(delta))
	trailing := uint8(bits.TrailingZeros64(delta))
	if leading >= 32 {
		leading = 31
	}
	if e.leading != 0xff && leading >= e.leading && trailing >= e.trailing {
		e.put(0b10, 2)
		e.put(delta>>e.trailing, uint(64-e.leading-e.trailing))
		return
	}
	e.leading, e.trailing = leading, trailing
	sig := 64 - leading - trailing
	// '11', 5 bits of leading zeros, 6 of significant bits (64 as 0).
	e.put(0b11<<11|uint64(leading)<<6|uint64(sig)&63, 13)
	e.put(delta>>trailing, uint(sig))
}

// bytes returns the chunk: the count set and the last bits padded with
// zeros. The encoder can go on appending after it.
func (e *xorEnc) bytes() []byte {
	binary.BigEndian.PutUint16(e.b, uint16(e.n))
	if e.used == 0 {
		return e.b
	}
	return append(e.b, byte(e.acc>>56))
}

// staleBits is the bit pattern of Prometheus' staleness marker.
const staleBits = 0x7ff0000000000002

// appendRun appends samples (ts[i], vals[i*stride]) from i = 0 while the
// chunk has room (120 samples) and each sample is a plain one: after the
// chunk's last (ts increasing) and not a staleness marker. It returns how
// many it appended; the caller adds the sample it stopped at the long way
// (append, with the rules of seriesBuild.add). The chunk must hold two
// samples already. The bytes are those append writes, sample by sample
// (TestAppendRunMatchesAppend).
func (e *xorEnc) appendRun(ts []int64, vals []float64, stride int) int {
	ts = ts[:min(len(ts), 120-e.n)]
	k := 0
	for k < len(ts) {
		// Room for a group of samples at once: none needs more than
		// encSlack bytes, and a test per sample would leave too few
		// registers for the encoder's state.
		g := min(len(ts)-k, runGroup)
		if need := g*encSlack + 8; cap(e.b)-len(e.b) < need {
			e.b = append(make([]byte, 0, 2*len(e.b)+need), e.b...)
		}
		n := e.appendGroup(ts[k:k+g], vals[k*stride:], stride)
		k += n
		if n < g {
			break
		}
	}
	e.n += k
	return k
}

// runGroup is how many samples appendGroup takes at most.
const runGroup = 16

// appendGroup is appendRun for up to runGroup samples with room for all
// of them in b; it does not count them in e.n.
func (e *xorEnc) appendGroup(ts []int64, vals []float64, stride int) int {
	b, acc, used := e.b, e.acc, e.used
	t0, tDelta, vPrev := e.t, e.tDelta, e.v
	leading, trailing := e.leading, e.trailing
	k, j := 0, 0
	for ; k < len(ts); k++ {
		t := ts[k]
		vb := math.Float64bits(vals[j])
		if t <= t0 || vb == staleBits {
			break
		}
		j += stride
		td := uint64(t - t0)
		dod := int64(td - tDelta)
		t0, tDelta = t, td
		delta := vb ^ vPrev
		vPrev = vb
		// The sample's bits gather in (u, n) and go out in one put when
		// they fit: the time, then the value. A steady step is one zero
		// bit; a logger's clock jitter fits the 16-bit form.
		var u uint64
		var n uint
		switch {
		case dod == 0:
			n = 1
		case inRange(dod, 14):
			u, n = 0b10<<14|uint64(dod)&(1<<14-1), 16
		case inRange(dod, 17):
			u, n = 0b110<<17|uint64(dod)&(1<<17-1), 20
		case inRange(dod, 20):
			u, n = 0b1110<<20|uint64(dod)&(1<<20-1), 24
		default:
			b, acc, used = putBits(b, acc, used, 0b1111<<32|uint64(dod)>>32, 36)
			u, n = uint64(dod)&(1<<32-1), 32
		}
		if delta == 0 {
			b, acc, used = putBits(b, acc, used, u<<1, n+1)
			continue
		}
		lead := uint8(bits.LeadingZeros64(delta))
		trail := uint8(bits.TrailingZeros64(delta))
		if lead >= 32 {
			lead = 31
		}
		var sig uint
		if leading != 0xff && lead >= leading && trail >= trailing {
			// '10' and the bits between the last value's zeros.
			sig = uint(64 - leading - trailing)
			u, n = u<<2|0b10, n+2
			delta >>= trailing & 63
		} else {
			// '11', 5 bits of leading zeros, 6 of significant bits (64
			// as 0), and those bits.
			leading, trailing = lead, trail
			sig = uint(64 - lead - trail)
			u, n = u<<13|0b11<<11|uint64(lead)<<6|uint64(sig)&63, n+13
			delta >>= trail & 63
		}
		if n+sig <= 56 {
			b, acc, used = putBits(b, acc, used, u<<(sig&63)|delta, n+sig)
			continue
		}
		b, acc, used = putBits(b, acc, used, u, n)
		b, acc, used = putWide(b, acc, used, delta, sig)
	}
	e.b, e.acc, e.used = b, acc, used
	e.t, e.tDelta, e.v = t0, tDelta, vPrev
	e.leading, e.trailing = leading, trailing
	return k
}
