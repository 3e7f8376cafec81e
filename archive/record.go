package archive

import (
	"encoding/binary"
	"math"
	"strconv"
)

const (
	valInsitu = 0 // PM_VAL_INSITU: the value word is the datum
	valDptr   = 1 // PM_VAL_DPTR: the value word locates a value block
	valSptr   = 2 // PM_VAL_SPTR: as DPTR once on disk
)

// Record is one decoded data record (a pmResult). It is reused by the Reader
// that returns it: copy what you keep before calling Next again.
type Record struct {
	Time    int64 // ns since the epoch
	Vol     int   // volume number
	Offset  int64 // byte offset of the record in its (decompressed) volume
	Mark    bool  // a <mark> record: a gap in the data
	NumPMID int   // value sets in the record, selected or not

	buf     []byte // the whole record, from length word to length word
	sets    []ValueSet
	skipped []ValueSet // sets not kept, whose value blocks are checked
	// The numbers of the kept sets with a numeric descriptor, decoded
	// as the record is checked (see Floats); each set has a range.
	insts []int32
	vals  []float64
	// shared: sets, insts and vals are a remembered layout's (sameCache).
	shared bool
	layout uint64 // see Layout
}

// Raw returns the record as it is in its volume, from its leading length
// word to its trailing one. It belongs to the Reader, as the Record does.
func (r *Record) Raw() []byte { return r.buf }

// Layout identifies the layout of a record the Reader decoded the short
// way (sameCache), or of one it remembered: two records of one Reader with
// the same nonzero Layout have the same sets (PMIDs, descriptors, value
// counts and instances, in order), and every value of their numeric sets
// decoded. They differ only in their numbers, which Numbers holds at the
// same places. 0 is a record decoded the long way and not remembered,
// which promises nothing.
func (r *Record) Layout() uint64 { return r.layout }

// Numbers returns the numbers of all the record's kept numeric sets, each
// set's at [s.NumbersAt(), s.NumbersAt()+len) (the vals Floats returns).
// The slice belongs to the record, as Floats' do.
func (r *Record) Numbers() []float64 { return r.vals }

// NumbersAt is where the set's numbers begin in its record's Numbers.
func (s *ValueSet) NumbersAt() int { return s.num }

// ValueSet is the values of one metric in a record. NumVal < 0 is a PCP
// error code (for example PM_ERR_AGAIN) in place of values.
type ValueSet struct {
	PMID   PMID
	NumVal int32
	ValFmt int32
	// Desc is the archive's descriptor of PMID, nil when its .meta has
	// none; set by Readers so that callers need no lookup per set.
	Desc *Desc
	off  int // offset in the record of the first (inst, value) pair
	// Its numbers are insts and vals [num, num+nnum) of the record; set
	// only when Desc is numeric.
	num, nnum int
}

// Sets returns the value sets the reader was asked for, in record order.
func (r *Record) Sets() []ValueSet { return r.sets }

// Value is one raw value of a value set: the instance and either the
// in-situ 32-bit datum or the bytes of a value block.
type Value struct {
	Inst  int32
	word  uint32
	block []byte // value bytes after the block header; nil for in-situ values
}

// Value returns value j (0 <= j < s.NumVal) of a set from r.Sets().
func (r *Record) Value(s *ValueSet, j int) Value {
	p := r.buf[s.off+8*j:]
	v := Value{Inst: int32(binary.BigEndian.Uint32(p)), word: binary.BigEndian.Uint32(p[4:])}
	if s.ValFmt != valInsitu {
		b := 4*int(v.word) - 8
		vlen := int(binary.BigEndian.Uint32(r.buf[b:]) & 0xffffff)
		v.block = r.buf[b+4 : b+vlen]
	}
	return v
}

// Bytes returns the value block's bytes (nil for an in-situ value). For a
// STRING this includes the trailing NUL; see String.
func (v Value) Bytes() []byte { return v.block }

// String returns a STRING value: the block up to its NUL.
func (v Value) String() string {
	b := v.block
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return string(b)
}

// Int64 decodes a 32 or 64 bit signed integer value by descriptor type.
func (v Value) Int64(t Type) (int64, bool) {
	switch t {
	case Type32:
		w, ok := v.word32()
		return int64(int32(w)), ok
	case Type64:
		w, ok := v.word64()
		return int64(w), ok
	}
	return 0, false
}

// Uint64 decodes an unsigned integer value by descriptor type.
func (v Value) Uint64(t Type) (uint64, bool) {
	switch t {
	case TypeU32:
		w, ok := v.word32()
		return uint64(w), ok
	case TypeU64:
		return v.word64()
	}
	return 0, false
}

// Float64 decodes any numeric value by descriptor type, as PromQL sees it.
// Types are taken from the descriptor, never from the block header: old
// archives write vtype 0 for 64-bit values (docs/pcp-archive-format.md §6.4).
func (v Value) Float64(t Type) (float64, bool) {
	switch t {
	case Type32:
		w, ok := v.word32()
		return float64(int32(w)), ok
	case TypeU32:
		w, ok := v.word32()
		return float64(w), ok
	case Type64:
		w, ok := v.word64()
		return float64(int64(w)), ok
	case TypeU64:
		w, ok := v.word64()
		return float64(w), ok
	case TypeFloat:
		w, ok := v.word32()
		return float64(math.Float32frombits(w)), ok
	case TypeDouble:
		w, ok := v.word64()
		return math.Float64frombits(w), ok
	}
	return 0, false
}

func (v Value) word32() (uint32, bool) {
	if v.block == nil {
		return v.word, true
	}
	if len(v.block) < 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v.block), true
}

func (v Value) word64() (uint64, bool) {
	if len(v.block) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v.block), true
}

// decodeSets validates a data record in r.buf, indexes the value sets that
// l keeps and decodes their numbers (see Floats). Every set is checked,
// kept or not: a record is whole or it is an error. hdr is 12 (v2) or 16
// (v3).
//
// It goes in two passes: one over the value set headers, which finds where
// the sets end, then one over the values, which checks each value block
// against that (docs/pcp-archive-format.md §6.4: blocks follow all the sets)
// and decodes it. The passes only say whether the record is good; recordError,
// a plain one-pass check, says what is wrong with a bad one. A record laid out
// like one of the last few takes a short way with the same outcome
// (sameCache).
func (r *Record) decodeSets(hdr int, l *setLayout) string {
	if l.same.decode(r, hdr) {
		return ""
	}
	l.same.release(r)
	r.sets, r.skipped = r.sets[:0], r.skipped[:0]
	r.insts, r.vals = r.insts[:0], r.vals[:0]
	r.NumPMID, r.Mark = 0, false
	if len(r.buf) >= hdr+4 {
		r.NumPMID = int(int32(binary.BigEndian.Uint32(r.buf[hdr:])))
		r.Mark = r.NumPMID == 0
	}
	if setsEnd, nums, ok := r.indexSets(hdr, l); ok && r.decodeValues(setsEnd, nums) {
		l.same.remember(r, hdr, setsEnd, l)
		return ""
	}
	r.sets, r.insts, r.vals = r.sets[:0], r.insts[:0], r.vals[:0]
	if msg := recordError(r.buf, hdr); msg != "" {
		return msg
	}
	return "damaged record" // the two checks disagree: not reached
}

// indexSets is the first pass of decodeSets: it checks the value set
// headers, keeps the sets l keeps in r.sets and the others with values in
// DPTR form in r.skipped, and returns the offset where the sets end and how
// many values the kept sets with a numeric descriptor have.
func (r *Record) indexSets(hdr int, l *setLayout) (setsEnd, nums int, ok bool) {
	b := r.buf
	end := len(b) - 4
	n := r.NumPMID
	if end < hdr+4 || n < 0 || n > (end-hdr-4)/8 {
		return 0, 0, false
	}
	q := hdr + 4
	for i := 0; i < n; i++ {
		if q > end-8 {
			return 0, 0, false
		}
		s := ValueSet{PMID: PMID(binary.BigEndian.Uint32(b[q:])), NumVal: int32(binary.BigEndian.Uint32(b[q+4:]))}
		q += 8
		// numval 0: no values and no valfmt word; < 0: an error code.
		if s.NumVal > 0 {
			if q > end-4 {
				return 0, 0, false
			}
			s.ValFmt = int32(binary.BigEndian.Uint32(b[q:]))
			s.off = q + 4
			q = s.off + 8*int(s.NumVal)
			// pmlogger can write PM_VAL_SPTR (2) for values that were
			// static in its memory; on disk it means the same as DPTR.
			if int(s.NumVal) > (end-s.off)/8 || uint32(s.ValFmt) > valSptr {
				return 0, 0, false
			}
		}
		keep, d := l.at(i, s.PMID)
		switch {
		case keep:
			s.Desc = d
			r.sets = append(r.sets, s)
			if s.NumVal > 0 && d != nil && d.Type.Numeric() {
				nums += int(s.NumVal)
			}
		case s.NumVal > 0 && s.ValFmt != valInsitu:
			r.skipped = append(r.skipped, s)
		}
	}
	return q, nums, true
}

// decodeValues is the second pass of decodeSets: it checks every value block
// and decodes the numbers of the kept sets with a numeric descriptor.
func (r *Record) decodeValues(setsEnd, nums int) bool {
	r.reserveFloats(nums)
	body := r.buf[:len(r.buf)-4]
	for k := range r.skipped {
		s := &r.skipped[k]
		if !checkBlocks(body, r.buf[s.off:s.off+8*int(s.NumVal)], setsEnd) {
			return false
		}
	}
	for k := range r.sets {
		s := &r.sets[k]
		if s.NumVal <= 0 {
			continue
		}
		pairs := r.buf[s.off : s.off+8*int(s.NumVal)]
		if s.Desc != nil && s.Desc.Type.Numeric() {
			// Check the blocks and decode the numbers in one go, onto
			// r.insts and r.vals (reserveFloats made room).
			i0, n := len(r.vals), len(pairs)/8
			k, ok := decodeWords(r.insts[i0:i0+n], r.vals[i0:i0+n], pairs, body, s.ValFmt, setsEnd, s.Desc.Type)
			if !ok {
				return false
			}
			r.insts, r.vals = r.insts[:i0+k], r.vals[:i0+k]
			s.num, s.nnum = i0, k
		} else if s.ValFmt != valInsitu && !checkBlocks(body, pairs, setsEnd) {
			return false
		}
	}
	return true
}

// checkBlocks reports whether the value blocks the (inst, offset) pairs of
// a DPTR set point at lie inside body (the record without its trailer) and
// after the value sets, which end at setsEnd.
func checkBlocks(body, pairs []byte, setsEnd int) bool {
	for ; len(pairs) >= 8; pairs = pairs[8:] {
		if _, _, ok := blockAt(body, binary.BigEndian.Uint32(pairs[4:]), setsEnd); !ok {
			return false
		}
	}
	return true
}

// blockAt locates the value block a DPTR value word w points at: its offset
// in the record and its length, header included. It is ok when the block
// lies inside body at or after low (len(body) >= low+4). w*4 cannot
// overflow in 64 bits; blockAt is small enough to inline into the loops
// over values.
func blockAt(body []byte, w uint32, low int) (blk, vlen int, ok bool) {
	b := 4*int64(w) - 8
	if b < int64(low) || b > int64(len(body)-4) {
		return 0, 0, false
	}
	blk = int(b)
	vlen = int(binary.BigEndian.Uint32(body[blk:]) & 0xffffff)
	return blk, vlen, vlen >= 4 && vlen <= len(body)-blk
}

// recordError says what is wrong with a data record, or "" when nothing
// is: the one-pass form of decodeSets's checks, for the error message.
func recordError(b []byte, hdr int) string {
	end := len(b) - 4
	if end < hdr+4 {
		return "record too short"
	}
	n := int(int32(binary.BigEndian.Uint32(b[hdr:])))
	if n < 0 || n > (end-hdr-4)/8 {
		return "impossible value set count " + itoa(n)
	}
	q := hdr + 4
	lowBlock := end
	for i := 0; i < n; i++ {
		if q+8 > end {
			return "value set " + itoa(i) + " runs past the record"
		}
		numval := int32(binary.BigEndian.Uint32(b[q+4:]))
		q += 8
		if numval <= 0 {
			continue
		}
		if q+4 > end {
			return "value set " + itoa(i) + " runs past the record"
		}
		valfmt := int32(binary.BigEndian.Uint32(b[q:]))
		q += 4
		nv := int(numval)
		if nv > (end-q)/8 {
			return "value set " + itoa(i) + ": impossible value count " + itoa(nv)
		}
		switch valfmt {
		case valInsitu:
		case valDptr, valSptr:
			for j := 0; j < nv; j++ {
				// int64: 4*w can pass 2^32, also on 32-bit platforms.
				blk := 4*int64(binary.BigEndian.Uint32(b[q+8*j+4:])) - 8
				if blk < int64(hdr) || blk+4 > int64(end) {
					return "value set " + itoa(i) + ": value block offset " + strconv.FormatInt(blk, 10) + " outside the record"
				}
				vlen := int(binary.BigEndian.Uint32(b[blk:]) & 0xffffff)
				if vlen < 4 || int(blk)+vlen > end {
					return "value set " + itoa(i) + ": value block length " + itoa(vlen) + " at " + itoa(int(blk)) + " outside the record"
				}
				lowBlock = min(lowBlock, int(blk))
			}
		default:
			return "value set " + itoa(i) + ": bad value format " + itoa(int(valfmt))
		}
		q += 8 * nv
	}
	// Value blocks follow all the value sets
	// (docs/pcp-archive-format.md §6.4).
	if lowBlock < q {
		return "value block at " + itoa(lowBlock) + " overlaps the value sets ending at " + itoa(q)
	}
	return ""
}

// itoa avoids fmt in the decode path; errors are rare but must not allocate
// on the good path.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	var d [24]byte
	i := len(d)
	for u > 0 {
		i--
		d[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		d[i] = '-'
	}
	return string(d[i:])
}
