package archive

import (
	"encoding/binary"
	"math"
	"slices"
)

// Floats returns the numbers of a value set from r.Sets(): the instance and
// value of each value that decodes as its descriptor's type, in set order,
// and how many do not. It gives exactly what Value(s, j).Float64(s.Desc.Type)
// gives for each j that is ok, without a call per value: a Reader decodes
// the numbers of the sets it keeps as it checks the record. A set without a
// numeric descriptor has no numbers: all its values are bad.
//
// The slices belong to the record: they are overwritten by the next call to
// the Reader's Next.
func (r *Record) Floats(s *ValueSet) (insts []int32, vals []float64, bad int) {
	n := max(int(s.NumVal), 0)
	if s.Desc == nil || !s.Desc.Type.Numeric() {
		return nil, nil, n
	}
	insts = r.insts[s.num : s.num+s.nnum : s.num+s.nnum]
	vals = r.vals[s.num : s.num+s.nnum : s.num+s.nnum]
	return insts, vals, n - s.nnum
}

// AppendFloats is Floats for a type other than the set's descriptor's (a
// caller that takes descriptors from elsewhere): it decodes the values of s
// as numbers of type t, as Value(s, j).Float64(t) does, appends the
// instance and number of each one that is ok to insts and vals, and counts
// the others.
func (r *Record) AppendFloats(insts []int32, vals []float64, s *ValueSet, t Type) ([]int32, []float64, int) {
	n := int(s.NumVal)
	if n <= 0 {
		return insts, vals, 0
	}
	if !t.Numeric() {
		return insts, vals, n
	}
	i0 := len(vals)
	insts = slices.Grow(insts[:i0], n)[:i0+n]
	vals = slices.Grow(vals, n)[:i0+n]
	// decode checked every block: low 0 accepts what it accepted.
	k, ok := decodeWords(insts[i0:], vals[i0:], r.buf[s.off:s.off+8*n], r.buf[:len(r.buf)-4], s.ValFmt, 0, t)
	if !ok {
		k = 0 // not reached
	}
	return insts[:i0+k], vals[:i0+k], n - k
}

// reserveFloats makes room in r.insts and r.vals for n values (indexSets
// counted them), so that decoding a set does not grow them.
func (r *Record) reserveFloats(n int) {
	if cap(r.vals) < n || cap(r.insts) < n {
		r.insts, r.vals = make([]int32, 0, n), make([]float64, 0, n)
	}
}

// decodeWords decodes the values of one set, given its (inst, value) pairs
// and the record body (without its trailer), into insts and vals
// (len(pairs)/8 long), and returns how many it decoded. Value blocks must
// lie at or after low, as in checkBlocks; ok is false when one does not.
//
// The loops store the raw bits of each value in its float64 slot; toFloat
// converts them in place by type: one loop per storage form, not one per
// storage form and type.
func decodeWords(insts []int32, vals []float64, pairs, body []byte, valfmt int32, low int, t Type) (k int, ok bool) {
	wide := t == Type64 || t == TypeU64 || t == TypeDouble
	switch {
	case valfmt == valInsitu && wide:
		// word64 has no bits for a 64-bit type in situ.
		return 0, true
	case valfmt == valInsitu:
		k, ok = insituWords(insts, vals, pairs), true
	case wide:
		if n := len(pairs) / 8; fastWords64(insts[:n], vals, pairs, body, low, t) {
			return n, true
		}
		k, ok = blockWords64(insts, vals, pairs, body, low)
	default:
		k, ok = blockWords32(insts, vals, pairs, body, low)
	}
	toFloat(vals[:k], t)
	return k, ok
}

// insituWords copies in-situ 32-bit words.
func insituWords(insts []int32, vals []float64, pairs []byte) int {
	n := len(pairs) / 8
	insts, vals = insts[:n], vals[:n]
	for j := range insts {
		w := binary.BigEndian.Uint64(pairs[8*j:])
		insts[j] = int32(w >> 32)
		vals[j] = math.Float64frombits(uint64(uint32(w)))
	}
	return n
}

// fastWords64 is the common case of blockWords64, converting as it goes:
// every block in place and 8 bytes or longer. At the first value that is
// not, it returns false, and blockWords64 decodes the set again.
//
// It is the innermost loop of every query, written for the compiler's
// bounds check elimination: three-index slices of constant length need no
// check of the result's length, and a body whose capacity is its length
// lets the checks of blk prove the slices in range.
func fastWords64(insts []int32, vals []float64, pairs, body []byte, low int, t Type) bool {
	body = body[:len(body):len(body)]
	vals = vals[:len(insts)]
	for i := range insts {
		w := binary.BigEndian.Uint64(pairs[8*i : 8*i+8 : 8*i+8])
		blk := int(4*int64(uint32(w)) - 8)
		if blk < low || blk > len(body)-12 {
			return false
		}
		vlen := int(binary.BigEndian.Uint32(body[blk:blk+4:blk+4]) & 0xffffff)
		if vlen < 12 || vlen > len(body)-blk {
			return false
		}
		insts[i] = int32(w >> 32)
		bits := binary.BigEndian.Uint64(body[blk+4 : blk+12 : blk+12])
		switch t {
		case TypeU64:
			vals[i] = float64(bits)
		case Type64:
			vals[i] = float64(int64(bits))
		default:
			vals[i] = math.Float64frombits(bits)
		}
	}
	return true
}

// blockWords64 reads the first 8 bytes of each value block; a block with
// fewer (vlen < 12) is a bad value, as in word64. It stops at a block
// outside body or before low.
//
// This and blockWords32 are the innermost loop of every query: few live
// values, so that they stay in registers, and one branch per check.
func blockWords64(insts []int32, vals []float64, pairs, body []byte, low int) (k int, ok bool) {
	for ; len(pairs) >= 8; pairs = pairs[8:] {
		w := binary.BigEndian.Uint64(pairs)
		blk, vlen, ok := blockAt(body, uint32(w), low)
		if !ok {
			return k, false
		}
		if vlen >= 12 {
			insts[k] = int32(w >> 32)
			vals[k] = math.Float64frombits(binary.BigEndian.Uint64(body[blk+4:]))
			k++
		}
	}
	return k, true
}

// blockWords32 is blockWords64 for 4-byte values (vlen >= 8, as in word32).
func blockWords32(insts []int32, vals []float64, pairs, body []byte, low int) (k int, ok bool) {
	for ; len(pairs) >= 8; pairs = pairs[8:] {
		w := binary.BigEndian.Uint64(pairs)
		blk, vlen, ok := blockAt(body, uint32(w), low)
		if !ok {
			return k, false
		}
		if vlen >= 8 {
			insts[k] = int32(w >> 32)
			vals[k] = math.Float64frombits(uint64(binary.BigEndian.Uint32(body[blk+4:])))
			k++
		}
	}
	return k, true
}

// toFloat converts the raw words the loops above store to numbers of type t,
// as Float64 does.
func toFloat(vals []float64, t Type) {
	switch t {
	case Type32:
		for i, v := range vals {
			vals[i] = float64(int32(uint32(math.Float64bits(v))))
		}
	case TypeU32:
		for i, v := range vals {
			vals[i] = float64(uint32(math.Float64bits(v)))
		}
	case Type64:
		for i, v := range vals {
			vals[i] = float64(int64(math.Float64bits(v)))
		}
	case TypeU64:
		for i, v := range vals {
			vals[i] = float64(math.Float64bits(v))
		}
	case TypeFloat:
		for i, v := range vals {
			vals[i] = float64(math.Float32frombits(uint32(math.Float64bits(v))))
		}
	}
	// TypeDouble: the bits are the number.
}
