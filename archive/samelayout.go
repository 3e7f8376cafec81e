package archive

import (
	"bytes"
	"encoding/binary"
	"math"
)

// sameCache remembers the layouts of the last records a reader decoded, so
// that a record laid out like one of them is decoded without walking its
// value sets.
//
// pmlogger writes the same metrics with the same instances record after
// record, and it places every value block at an offset that follows from
// the sets before it. So the bytes from the value set count to the end of
// the last set (PMIDs, counts, value formats, instances and block offsets)
// are usually the same as in an earlier record; only in-situ values and the
// value blocks differ. When they are the same and so is the record's
// length, every check that walking the sets makes has the same outcome and
// the record's sets and instances are those of the earlier one; only the
// values are left to check and decode, at offsets known in advance. The
// comparison is a memcmp of a few KiB between the sets in situ, whose
// instances are compared one by one.
//
// pmlogger writes one record per logging interval of its configuration, so
// the records of an archive with several intervals take turns: a few
// layouts are remembered, not one.
type sameCache struct {
	entries [maxLayouts]sameLayout
	next    int    // the entry the next layout remembered replaces
	misses  int    // records decoded the long way since the last hit
	hits    int    // records decoded the short way, for tests
	ids     uint64 // the last id given to a layout remembered
	// Buffers no entry owns, for the next record decoded the long way.
	free recBufs
}

const maxLayouts = 4

// maxLayoutHead bounds what one remembered layout holds: a record whose
// sets take more (100,000 values and up) goes the long way every time.
const maxLayoutHead = 1 << 20

// recBufs are a record's sets and numbers. A record decoded the short way
// shows those of the entry it matched (Record.shared); that entry owns
// them, and the long way must not write into them.
type recBufs struct {
	sets  []ValueSet
	insts []int32
	vals  []float64
}

// sameLayout is one remembered layout.
type sameLayout struct {
	n    int    // the record's length; 0: no layout
	id   uint64 // new each time the entry is set: Record.Layout
	head []byte // its bytes [hdr, setsEnd): the set count and the sets
	own  recBufs
	// The (inst, value) pairs of the sets in situ, in record order: their
	// instances must be the same, their values are not compared.
	insitu []insituRun
	// The value blocks in record order: the kept sets with a numeric
	// descriptor get their numbers from theirs (runs); the others are only
	// checked.
	runs  []blockRun
	offs  []int32 // block offsets, each run's [from, to)
	check []int32 // blocks only checked: vlen in [4, rest of the record]
}

// decode decodes r.buf by a remembered layout, and reports whether it
// could; if not, the caller decodes the record the long way.
func (c *sameCache) decode(r *Record, hdr int) bool {
	for i := range c.entries {
		e := &c.entries[i]
		if e.n == len(r.buf) && e.decode(r.buf, hdr) {
			r.sets, r.insts, r.vals, r.shared = e.own.sets, e.own.insts, e.own.vals, true
			r.layout = e.id
			r.NumPMID = int(int32(binary.BigEndian.Uint32(r.buf[hdr:])))
			r.Mark = r.NumPMID == 0
			c.hits++
			c.misses = 0
			return true
		}
	}
	c.misses++
	return false
}

// release gives r buffers of its own before it is decoded the long way.
func (c *sameCache) release(r *Record) {
	r.layout = 0
	if r.shared {
		r.sets, r.insts, r.vals, r.shared = c.free.sets, c.free.insts, c.free.vals, false
		c.free = recBufs{}
	}
}

// insituRun is the pairs [off, off+8n) of a set in situ; num >= 0 when
// they are numbers of type t for vals[num:num+n].
type insituRun struct {
	off, n, num int
	t           Type
}

// blockRun is the value blocks of one kept numeric set: offs[from:to]
// decode into vals[num:num+to-from] as type t.
type blockRun struct {
	from, to, num int
	t             Type
	seq           bool // offs[from+k] is offs[from] + k*(12 or 8 by t)
}

// decode decodes buf, a record as long as the one the layout was made
// from, into the numbers the layout owns, and reports whether it could:
// false leaves them in an unknown state.
func (c *sameLayout) decode(buf []byte, hdr int) bool {
	if len(buf) < hdr+len(c.head)+4 {
		return false
	}
	head, b, vals := c.head, buf[hdr:hdr+len(c.head)], c.own.vals
	pos := 0
	for _, run := range c.insitu {
		off := run.off - hdr
		if off < pos || run.n < 0 || run.n > (len(b)-off)/8 || !bytes.Equal(b[pos:off], head[pos:off]) {
			return false
		}
		pos = off + 8*run.n
		if run.num < 0 {
			if !sameInsts(b[off:pos], head[off:pos]) {
				return false
			}
			continue
		}
		if run.num > len(vals)-run.n || !insituSame(vals[run.num:run.num+run.n], b[off:pos], head[off:pos], run.t) {
			return false
		}
	}
	if !bytes.Equal(b[pos:], head[pos:]) {
		return false
	}
	body := buf[:len(buf)-4]
	for _, o := range c.check {
		// o is 4*w-8 for the block's value word w.
		if _, _, ok := blockAt(body, uint32(o+8)/4, 0); !ok {
			return false
		}
	}
	for _, run := range c.runs {
		if run.from < 0 || run.to > len(c.offs) || run.from > run.to || run.num < 0 || run.num+run.to-run.from > len(vals) {
			return false
		}
		offs, vals := c.offs[run.from:run.to], vals[run.num:run.num+run.to-run.from]
		if run.seq {
			// The blocks follow each other, each as long as its value.
			if !seqWords(vals, body, int(offs[0]), run.t) {
				return false
			}
			continue
		}
		if !sameWords(vals, offs, body, blockSize(run.t)) {
			return false
		}
		toFloat(vals, run.t)
	}
	return true
}

// seqWords decodes len(vals) value blocks that follow each other from
// offset first of body, each of the length a value of type t takes (12 or
// 8 bytes, header included), converting as it goes. A block of another
// length is not a failure of the record, only of this short way: false.
func seqWords(vals []float64, body []byte, first int, t Type) bool {
	size := blockSize(t)
	if first < 0 || len(vals) > (len(body)-first)/size {
		return false
	}
	// Each loop steps o through blocks; its test is the only range check
	// per value.
	blocks := body[first : first+size*len(vals)]
	o := 0
	switch t {
	case TypeDouble:
		for i := range vals {
			if o > len(blocks)-12 || binary.BigEndian.Uint32(blocks[o:])&0xffffff != 12 {
				return false
			}
			vals[i] = math.Float64frombits(binary.BigEndian.Uint64(blocks[o+4:]))
			o += 12
		}
	case TypeU64:
		for i := range vals {
			if o > len(blocks)-12 || binary.BigEndian.Uint32(blocks[o:])&0xffffff != 12 {
				return false
			}
			vals[i] = float64(binary.BigEndian.Uint64(blocks[o+4:]))
			o += 12
		}
	case Type64:
		for i := range vals {
			if o > len(blocks)-12 || binary.BigEndian.Uint32(blocks[o:])&0xffffff != 12 {
				return false
			}
			vals[i] = float64(int64(binary.BigEndian.Uint64(blocks[o+4:])))
			o += 12
		}
	default:
		for i := range vals {
			if o > len(blocks)-8 || binary.BigEndian.Uint32(blocks[o:])&0xffffff != 8 {
				return false
			}
			vals[i] = math.Float64frombits(uint64(binary.BigEndian.Uint32(blocks[o+4:])))
			o += 8
		}
		toFloat(vals, t)
	}
	return true
}

// insituSame reads the in-situ values of pairs into vals as numbers of
// type t, as insituWords and toFloat do, and reports whether the instances
// are those of was. It is one pass where those are three (compare, copy,
// convert): about an eighth of a typical record's values are in situ, yet
// three passes over them would be a fifth of the short way's time. A
// difference is noticed only at the end, which leaves vals unknown, as a
// failed record may.
func insituSame(vals []float64, pairs, was []byte, t Type) bool {
	if len(pairs) != len(was) || len(vals) != len(pairs)/8 {
		return false
	}
	// Instances are the first 4 bytes of each pair: the low half of a
	// little-endian word.
	var diff uint64
	switch t {
	case Type32:
		for j := range vals {
			p, w := pairs[8*j:8*j+8:8*j+8], was[8*j:8*j+8:8*j+8]
			diff |= binary.LittleEndian.Uint64(p) ^ binary.LittleEndian.Uint64(w)
			vals[j] = float64(int32(binary.BigEndian.Uint32(p[4:])))
		}
	case TypeU32:
		for j := range vals {
			p, w := pairs[8*j:8*j+8:8*j+8], was[8*j:8*j+8:8*j+8]
			diff |= binary.LittleEndian.Uint64(p) ^ binary.LittleEndian.Uint64(w)
			vals[j] = float64(binary.BigEndian.Uint32(p[4:]))
		}
	case TypeFloat:
		for j := range vals {
			p, w := pairs[8*j:8*j+8:8*j+8], was[8*j:8*j+8:8*j+8]
			diff |= binary.LittleEndian.Uint64(p) ^ binary.LittleEndian.Uint64(w)
			vals[j] = float64(math.Float32frombits(binary.BigEndian.Uint32(p[4:])))
		}
	default:
		return false // set decides which sets are numbers in situ
	}
	return uint32(diff) == 0
}

// sameInsts reports whether two runs of (inst, value) pairs of the same
// length have the same instances.
func sameInsts(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i+8 <= len(a); i += 8 {
		if binary.BigEndian.Uint32(a[i:]) != binary.BigEndian.Uint32(b[i:]) {
			return false
		}
	}
	return true
}

// sameWords reads the value of each block at offs into vals, as raw bits:
// 8 bytes when size (blockSize) is 12, 4 when it is 8. It fails at a block
// shorter than size or running past body.
func sameWords(vals []float64, offs []int32, body []byte, size int) bool {
	vals = vals[:len(offs)]
	for i, o := range offs {
		blk := int(o)
		if blk < 0 || blk > len(body)-size {
			return false
		}
		b := body[blk : blk+size : blk+size]
		if vlen := int(binary.BigEndian.Uint32(b) & 0xffffff); vlen < size || vlen > len(body)-blk {
			return false
		}
		if size == 12 {
			vals[i] = math.Float64frombits(binary.BigEndian.Uint64(b[4:]))
		} else {
			vals[i] = math.Float64frombits(uint64(binary.BigEndian.Uint32(b[4:])))
		}
	}
	return true
}

// blockSize is the length of a value block, header included, that holds
// one value of numeric type t.
func blockSize(t Type) int {
	if t == Type64 || t == TypeU64 || t == TypeDouble {
		return 12
	}
	return 8
}

// remember remembers the layout of r, just decoded the long way with every
// set ending at setsEnd, in place of the oldest one. A record with a kept
// set the layout knows no descriptor for (a later Refresh may bring one) or
// with a value that did not decode is not remembered: only records that
// decode whole take the short way.
func (cc *sameCache) remember(r *Record, hdr, setsEnd int, l *setLayout) {
	// Remembering walks the sets again and copies them. When layouts stop
	// repeating (instances that change every time, more logging
	// intervals than entries), remember only now and then, to notice when
	// they repeat again.
	if cc.misses > 2*maxLayouts && cc.misses%16 != 0 {
		return
	}
	c := &cc.entries[cc.next]
	c.n = 0
	if !c.set(r, hdr, setsEnd, l) {
		return
	}
	cc.next = (cc.next + 1) % maxLayouts
	// The entry takes the record's buffers; its old ones are free.
	old := c.own
	c.own = recBufs{r.sets, r.insts, r.vals}
	r.shared = true
	cc.ids++
	c.id = cc.ids
	r.layout = c.id
	if cc.free.sets == nil {
		cc.free = old
	}
}

// set makes c describe r, walking the set headers again for the sets not
// kept: their in-situ values are not compared either.
func (c *sameLayout) set(r *Record, hdr, setsEnd int, l *setLayout) bool {
	if setsEnd < hdr+4 || setsEnd > len(r.buf)-4 || setsEnd-hdr > maxLayoutHead || len(r.buf) > math.MaxInt32 {
		return false
	}
	c.runs, c.offs, c.check, c.insitu = c.runs[:0], c.offs[:0], c.check[:0], c.insitu[:0]
	b := r.buf[:setsEnd] // checked by indexSets
	k := 0               // the next kept set
	for i, q := 0, hdr+4; i < r.NumPMID; i++ {
		numval := int(int32(binary.BigEndian.Uint32(b[q+4:])))
		q += 8
		if numval <= 0 {
			continue
		}
		valfmt, off := int32(binary.BigEndian.Uint32(b[q:])), q+4
		q = off + 8*numval
		// Kept sets are in record order; those without values have off 0.
		for k < len(r.sets) && r.sets[k].off < off {
			k++
		}
		var s *ValueSet
		if k < len(r.sets) && r.sets[k].off == off {
			s = &r.sets[k]
		}
		if s != nil && l.meta != nil && s.Desc == nil {
			return false // a later Refresh may bring its descriptor
		}
		numeric := s != nil && s.Desc != nil && s.Desc.Type.Numeric()
		if valfmt == valInsitu {
			run := insituRun{off: off, n: numval, num: -1}
			if numeric && s.nnum == numval {
				run.num, run.t = s.num, s.Desc.Type
			}
			c.insitu = append(c.insitu, run)
			continue
		}
		if !numeric {
			c.check = appendBlocks(c.check, b, off, numval)
			continue
		}
		if s.nnum != numval {
			return false // a bad value: decode such records the long way
		}
		c.addRun(r.buf, s)
	}
	c.head = append(c.head[:0], r.buf[hdr:setsEnd]...)
	c.n = len(r.buf)
	return true
}

// addRun adds the blocks of kept numeric DPTR set s of record buf, whose
// blocks decodeSets checked.
func (c *sameLayout) addRun(buf []byte, s *ValueSet) {
	from := len(c.offs)
	c.offs = appendBlocks(c.offs, buf, s.off, int(s.NumVal))
	run := blockRun{from: from, to: len(c.offs), num: s.num, t: s.Desc.Type, seq: from < len(c.offs)}
	// seqWords wants blocks of exactly the value's size, each right after
	// the one before; blocks padded or apart are read one by one.
	size := int32(blockSize(run.t))
	for k := from; k < run.to && run.seq; k++ {
		o := c.offs[k]
		run.seq = (k == from || o == c.offs[k-1]+size) && int32(binary.BigEndian.Uint32(buf[o:])&0xffffff) == size
	}
	// pmlogger writes the blocks of one set after those of the set before:
	// sets of one type next to each other in both the record and r.vals
	// make one run.
	if n := len(c.runs); n > 0 && run.seq {
		p := &c.runs[n-1]
		if p.seq && p.t == run.t && p.to == run.from && p.num+p.to-p.from == run.num && c.offs[p.to-1]+size == c.offs[run.from] {
			p.to = run.to
			return
		}
	}
	c.runs = append(c.runs, run)
}

// appendBlocks appends the offsets of the value blocks of the n (inst,
// offset) pairs at off in b.
func appendBlocks(offs []int32, b []byte, off, n int) []int32 {
	for j := 0; j < n; j++ {
		w := binary.BigEndian.Uint32(b[off+8*j+4:])
		offs = append(offs, int32(4*int64(w)-8))
	}
	return offs
}
