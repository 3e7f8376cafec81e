package coltable

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// xorEnc writes a Prometheus XOR chunk (tsdb/chunkenc's EncXOR: Gorilla
// time and value compression, a 2-byte sample count first), byte for byte
// what chunkenc's xorAppender writes, but a machine word at a time: that
// appender writes a bit at a time, which makes its Append most of the cost
// of decoding an archive (about 60 ns a sample against 6 for the record).
// TestXOREncMatchesChunkenc holds the two to the same bytes.
type xorEnc struct {
	b    []byte // the count, then whole 64-bit words of the stream
	acc  uint64 // bits not yet in b, from the top; free bits below them
	free uint   // 1 to 64
	n    int

	t        int64
	tDelta   uint64
	v        uint64 // bits of the last value
	leading  uint8
	trailing uint8
}

func (e *xorEnc) reset() {
	b := e.b[:0]
	if cap(b) == 0 {
		b = make([]byte, 0, 256)
	}
	*e = xorEnc{b: append(b, 0, 0), free: 64, leading: 0xff}
}

// put appends the low n bits of u (1 <= n <= 64; u has no bit above
// them). Whole 64-bit words go to b.
func (e *xorEnc) put(u uint64, n uint) {
	if n < e.free {
		e.free -= n
		e.acc |= u << e.free
		return
	}
	n -= e.free
	e.b = binary.BigEndian.AppendUint64(e.b, e.acc|u>>n)
	e.free = 64 - n
	e.acc = u << e.free // 0 when n == 0: Go shifts by 64 to 0
}

func (e *xorEnc) append(t int64, v float64) {
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
	out, acc := e.b, e.acc
	for used := int(64 - e.free); used > 0; used -= 8 {
		out = append(out, byte(acc>>56))
		acc <<= 8
	}
	return out
}
