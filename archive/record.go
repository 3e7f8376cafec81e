package archive

import (
	"encoding/binary"
	"math"
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

	buf  []byte // the whole record, from length word to length word
	sets []ValueSet
}

// ValueSet is the values of one metric in a record. NumVal < 0 is a PCP
// error code (for example PM_ERR_AGAIN) in place of values.
type ValueSet struct {
	PMID   PMID
	NumVal int32
	ValFmt int32
	off    int // offset in the record of the first (inst, value) pair
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
// archives write vtype 0 for 64-bit values (format notes 6.4).
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
	if v.block == nil || len(v.block) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v.block), true
}

// decode validates a data record in r.buf and indexes its value sets. Only
// sets whose PMID is in want are kept (all when want is nil), but every set
// is checked: a record is whole or it is an error. hdr is 12 (v2) or 16 (v3).
func (r *Record) decode(hdr int, want map[PMID]struct{}) string {
	b := r.buf
	end := len(b) - 4
	if end < hdr+4 {
		return "record too short"
	}
	n := int(int32(binary.BigEndian.Uint32(b[hdr:])))
	r.sets = r.sets[:0]
	r.NumPMID = n
	r.Mark = n == 0
	if n < 0 || n > (end-hdr-4)/8 {
		return "impossible value set count " + itoa(n)
	}
	q := hdr + 4
	lowBlock := end
	for i := 0; i < n; i++ {
		if q+8 > end {
			return "value set " + itoa(i) + " runs past the record"
		}
		s := ValueSet{PMID: PMID(binary.BigEndian.Uint32(b[q:])), NumVal: int32(binary.BigEndian.Uint32(b[q+4:]))}
		q += 8
		if s.NumVal <= 0 {
			// 0: no values and no valfmt word; < 0: an error code.
			if keep(want, s.PMID) {
				r.sets = append(r.sets, s)
			}
			continue
		}
		if q+4 > end {
			return "value set " + itoa(i) + " runs past the record"
		}
		s.ValFmt = int32(binary.BigEndian.Uint32(b[q:]))
		q += 4
		nv := int(s.NumVal)
		if nv > (end-q)/8 {
			return "value set " + itoa(i) + ": impossible value count " + itoa(nv)
		}
		s.off = q
		// pmlogger can write PM_VAL_SPTR (2) for values that were static
		// in its memory; on disk it means the same as DPTR.
		switch s.ValFmt {
		case valInsitu:
		case valDptr, valSptr:
			for j := 0; j < nv; j++ {
				w := int64(binary.BigEndian.Uint32(b[q+8*j+4:]))
				blk := 4*w - 8
				if blk < int64(hdr) || blk+4 > int64(end) {
					return "value set " + itoa(i) + ": value block offset " + itoa(int(blk)) + " outside the record"
				}
				vlen := int(binary.BigEndian.Uint32(b[blk:]) & 0xffffff)
				if vlen < 4 || int(blk)+vlen > end {
					return "value set " + itoa(i) + ": value block length " + itoa(vlen) + " at " + itoa(int(blk)) + " outside the record"
				}
				if int(blk) < lowBlock {
					lowBlock = int(blk)
				}
			}
		default:
			return "value set " + itoa(i) + ": bad value format " + itoa(int(s.ValFmt))
		}
		q += 8 * nv
		if keep(want, s.PMID) {
			r.sets = append(r.sets, s)
		}
	}
	// Value blocks follow all the value sets (format notes 6.3).
	if lowBlock < q {
		return "value block at " + itoa(lowBlock) + " overlaps the value sets ending at " + itoa(q)
	}
	return ""
}

func keep(want map[PMID]struct{}, p PMID) bool {
	if want == nil {
		return true
	}
	_, ok := want[p]
	return ok
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
