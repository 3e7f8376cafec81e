package archive

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"strconv"
	"testing"
)

// The short way (sameLayout) must give exactly what decoding each record on
// its own gives: the same verdict, sets and numbers. These tests decode
// records one after another with one Record and one setLayout, as a Reader
// does, and compare every one with a fresh decode of its bytes.

// freshDecode decodes a copy of buf with a new record and layout that keep
// what l keeps: the long way, with nothing remembered.
func freshDecode(buf []byte, hdr int, l *setLayout) (*Record, string) {
	r := &Record{buf: append([]byte(nil), buf...)}
	msg := r.decodeSets(hdr, &setLayout{want: l.want, meta: l.meta})
	return r, msg
}

// diffRecord fails unless got (decoded after other records) and want (a
// fresh decode) agree on everything a caller can see.
func diffRecord(t testing.TB, what string, got, want *Record) {
	t.Helper()
	if got.NumPMID != want.NumPMID || got.Mark != want.Mark || len(got.Sets()) != len(want.Sets()) {
		t.Fatalf("%s: %d sets of %d (mark %v), fresh %d of %d (mark %v)", what,
			len(got.Sets()), got.NumPMID, got.Mark, len(want.Sets()), want.NumPMID, want.Mark)
	}
	gs, ws := got.Sets(), want.Sets()
	for k := range gs {
		g, w := &gs[k], &ws[k]
		if g.PMID != w.PMID || g.NumVal != w.NumVal || g.ValFmt != w.ValFmt || g.Desc != w.Desc || g.off != w.off {
			t.Fatalf("%s: set %d is %+v, fresh %+v", what, k, *g, *w)
		}
		gi, gv, gbad := got.Floats(g)
		wi, wv, wbad := want.Floats(w)
		if gbad != wbad || len(gi) != len(wi) || len(gv) != len(wv) {
			t.Fatalf("%s: set %d (%s): %d numbers and %d bad, fresh %d and %d", what, k, g.PMID, len(gv), gbad, len(wv), wbad)
		}
		for j := range gv {
			if gi[j] != wi[j] || math.Float64bits(gv[j]) != math.Float64bits(wv[j]) {
				t.Fatalf("%s: set %d (%s) value %d: inst %d = %v, fresh inst %d = %v", what, k, g.PMID, j, gi[j], gv[j], wi[j], wv[j])
			}
		}
		for j := 0; j < int(g.NumVal); j++ {
			gv, wv := got.Value(g, j), want.Value(w, j)
			if gv.Inst != wv.Inst || gv.word != wv.word || string(gv.Bytes()) != string(wv.Bytes()) || (gv.Bytes() == nil) != (wv.Bytes() == nil) {
				t.Fatalf("%s: set %d (%s) raw value %d differs", what, k, g.PMID, j)
			}
		}
	}
}

// decodeAfter decodes buf with the record and layout that decoded the
// records before it and checks the outcome against a fresh decode.
func decodeAfter(t testing.TB, what string, rec *Record, l *setLayout, buf []byte, hdr int) string {
	t.Helper()
	rec.buf = buf
	msg := rec.decodeSets(hdr, l)
	fresh, want := freshDecode(buf, hdr, l)
	if msg != want {
		t.Fatalf("%s: decode says %q, a fresh decode %q", what, msg, want)
	}
	if msg == "" {
		diffRecord(t, what, rec, fresh)
	}
	return msg
}

// The metrics of layoutRecord, one of every shape a set can have.
var (
	lyU32    = PMID(61<<22 | 1) // in situ, one value
	lyU64    = PMID(61<<22 | 2) // blocks, 4 instances
	lyDouble = PMID(61<<22 | 3) // blocks, 2 instances
	lyString = PMID(61<<22 | 4) // a string block: checked, not decoded
	lyErr    = PMID(61<<22 | 5) // an error code instead of values
	lyWide   = PMID(61<<22 | 6) // a 64-bit type written in situ: bad values
	lyFloat  = PMID(61<<22 | 7) // 4-byte blocks
	lyI64    = PMID(61<<22 | 8) // blocks, signed
	lyI32    = PMID(61<<22 | 9) // in situ, signed, 3 instances
	lyNoDesc = PMID(61<<22 | 10)
)

func layoutMeta(withNoDesc bool) *Meta {
	m := newMeta("layout.meta")
	for p, ty := range map[PMID]Type{lyU32: TypeU32, lyU64: TypeU64, lyDouble: TypeDouble, lyString: TypeString,
		lyErr: TypeU32, lyWide: TypeU64, lyFloat: TypeFloat, lyI64: Type64, lyI32: Type32} {
		m.descs[p] = &Desc{PMID: p, Type: ty}
	}
	if withNoDesc {
		delete(m.descs, lyNoDesc)
	}
	return m
}

// layoutRecord is record i of a stream whose records are all laid out
// alike: only values change. noDesc adds a set whose PMID has no
// descriptor.
func layoutRecord(b *builder, i int, noDesc bool) []byte {
	x := uint64(i)
	sets := []tset{
		insitu(lyU32, tval{inst: InstNull, word: uint32(7 * i)}),
		dptr(lyU64, TypeU64, tval{inst: 0, data: be64(x)}, tval{inst: 1, data: be64(x << 40)},
			tval{inst: 2, data: be64(math.MaxUint64 - x)}, tval{inst: 5, data: be64(1 << 63)}),
		dptr(lyDouble, TypeDouble, tval{inst: 0, data: f64b(float64(i) / 3)}, tval{inst: 1, data: f64b(math.NaN())}),
		dptr(lyString, TypeString, tval{inst: InstNull, data: strb("host-" + string(rune('A'+i%26)))}),
		{pmid: lyErr, numval: -12389},
		insitu(lyWide, tval{inst: InstNull, word: 3}),
		dptr(lyFloat, TypeFloat, tval{inst: 0, data: f32b(float32(i) + 0.25)}, tval{inst: 1, data: f32b(-1)}),
		dptr(lyI64, Type64, tval{inst: 0, data: be64(uint64(-int64(i)))}),
		insitu(lyI32, tval{inst: 0, word: uint32(-int32(i))}, tval{inst: 1, word: 1}, tval{inst: 2, word: uint32(i)}),
	}
	if noDesc {
		sets = append(sets, dptr(lyNoDesc, TypeU64, tval{inst: InstNull, data: be64(x)}))
	}
	return b.record(t0+int64(i)*sec, sets...)
}

// setAt finds a set of a record laid out by layoutRecord.
func setAt(t *testing.T, b *builder, buf []byte, p PMID) ValueSet {
	t.Helper()
	r := &Record{buf: buf}
	if msg := r.decode(4+b.stampLen(), nil); msg != "" {
		t.Fatal(msg)
	}
	for _, s := range r.Sets() {
		if s.PMID == p {
			return s
		}
	}
	t.Fatalf("no set %s", p)
	return ValueSet{}
}

// blockOf is the offset of the value block of value j of DPTR set s.
func blockOf(buf []byte, s ValueSet, j int) int {
	return 4*int(binary.BigEndian.Uint32(buf[s.off+8*j+4:])) - 8
}

func TestSameLayout(t *testing.T) {
	type mutation struct {
		name string
		edit func(t *testing.T, b *builder, buf []byte) []byte
		hit  bool // the record is decoded the short way
	}
	put := func(buf []byte, off int, v uint32) { binary.BigEndian.PutUint32(buf[off:], v) }
	block := func(p PMID, j int, v uint32) func(t *testing.T, b *builder, buf []byte) []byte {
		return func(t *testing.T, b *builder, buf []byte) []byte {
			put(buf, blockOf(buf, setAt(t, b, buf, p), j), v)
			return buf
		}
	}
	mutations := []mutation{
		{"values only", func(t *testing.T, b *builder, buf []byte) []byte { return buf }, true},
		{"in-situ instance", func(t *testing.T, b *builder, buf []byte) []byte {
			put(buf, setAt(t, b, buf, lyI32).off+8, 9)
			return buf
		}, false},
		{"block instance", func(t *testing.T, b *builder, buf []byte) []byte {
			put(buf, setAt(t, b, buf, lyU64).off+8*3, 4)
			return buf
		}, false},
		{"blocks swapped", func(t *testing.T, b *builder, buf []byte) []byte {
			s := setAt(t, b, buf, lyU64)
			w0, w1 := binary.BigEndian.Uint32(buf[s.off+4:]), binary.BigEndian.Uint32(buf[s.off+12:])
			put(buf, s.off+4, w1)
			put(buf, s.off+12, w0)
			return buf
		}, false},
		{"value count", func(t *testing.T, b *builder, buf []byte) []byte {
			put(buf, setAt(t, b, buf, lyDouble).off-8, 1)
			return buf
		}, false},
		{"block type byte", block(lyU64, 1, 0xff<<24|12), true},
		{"u64 block too short", block(lyU64, 2, uint32(TypeU64)<<24|8), false},
		{"u64 block longer", block(lyU64, 0, uint32(TypeU64)<<24|16), false},
		{"u64 block past the record", block(lyU64, 3, 0xffffff), false},
		{"u64 block of length 0", block(lyU64, 3, 0), false},
		{"float block too short", block(lyFloat, 1, 4), false},
		{"float block past the record", block(lyFloat, 0, 0xfffff0), false},
		{"i64 block too short", block(lyI64, 0, 11), false},
		{"double block too short", block(lyDouble, 1, 8), false},
		{"string block empty", block(lyString, 0, 4), true},
		{"string block past the record", block(lyString, 0, 0x10000), false},
		{"string block too short", block(lyString, 0, 3), false},
		{"longer record", func(t *testing.T, b *builder, buf []byte) []byte {
			n := len(buf) + 8
			out := cat(buf[:len(buf)-4], make([]byte, 8), be32(uint32(n)))
			put(out, 0, uint32(n))
			return out
		}, false},
		{"trailer", func(t *testing.T, b *builder, buf []byte) []byte {
			// The trailer is the reader's to check; decodeSets sees only
			// the body, so the record is the same.
			put(buf, len(buf)-4, 1)
			return buf
		}, true},
	}
	for _, v := range []int{2, 3} {
		for _, m := range mutations {
			t.Run(m.name+"/v"+string(rune('0'+v)), func(t *testing.T) {
				b := newBuilder(v)
				hdr := 4 + b.stampLen()
				l := &setLayout{meta: layoutMeta(false)}
				var rec Record
				decodeAfter(t, "record 0", &rec, l, layoutRecord(b, 0, false), hdr)
				decodeAfter(t, "record 1", &rec, l, layoutRecord(b, 1, false), hdr)
				if l.same.hits != 1 {
					t.Fatalf("record 1 was not decoded the short way (hits %d)", l.same.hits)
				}
				buf := m.edit(t, b, layoutRecord(b, 2, false))
				decodeAfter(t, m.name, &rec, l, buf, hdr)
				if hit := l.same.hits == 2; hit != m.hit {
					t.Fatalf("short way %v, want %v", hit, m.hit)
				}
				// Whatever that record was, the next ones decode right.
				for i := 3; i < 6; i++ {
					decodeAfter(t, "after "+m.name, &rec, l, layoutRecord(b, i, false), hdr)
				}
				if l.same.hits < 3 {
					t.Fatalf("only %d records decoded the short way", l.same.hits)
				}
			})
		}
	}
}

// TestSameLayoutLooseBlocks covers blocks longer than their value, which
// do not follow each other at the value's size: they are read one by one,
// at their remembered offsets.
func TestSameLayoutLooseBlocks(t *testing.T) {
	b := newBuilder(2)
	hdr := 4 + b.stampLen()
	rec := func(i int, u64Len uint32) []byte {
		x := uint64(i)
		buf := b.record(t0+int64(i)*sec,
			dptr(lyU64, TypeU64, tval{inst: 0, data: cat(be64(x), be32(7))}, tval{inst: 1, data: cat(be64(x<<33), be32(7))}),
			dptr(lyFloat, TypeFloat, tval{inst: 0, data: cat(f32b(float32(i)), be32(7))}),
		)
		if u64Len != 0 {
			binary.BigEndian.PutUint32(buf[blockOf(buf, setAt(t, b, buf, lyU64), 1):], u64Len)
		}
		return buf
	}
	l := &setLayout{meta: layoutMeta(false)}
	var r Record
	for i := 0; i < 4; i++ {
		decodeAfter(t, "record", &r, l, rec(i, 0), hdr)
	}
	if l.same.hits != 3 {
		t.Fatalf("%d of 3 records decoded the short way", l.same.hits)
	}
	if _, vals, _ := r.Floats(&r.Sets()[0]); len(vals) != 2 || vals[1] != float64(uint64(3)<<33) {
		t.Fatalf("u64 values %v", vals)
	}
	for _, n := range []uint32{11, 12, 0xfff} { // too short, exact, past the record
		decodeAfter(t, "block length "+strconv.Itoa(int(n)), &r, l, rec(5, n), hdr)
		decodeAfter(t, "the next", &r, l, rec(6, 0), hdr)
	}
}

// TestSameLayoutMustForget covers what the short way must not remember.
func TestSameLayoutMustForget(t *testing.T) {
	b := newBuilder(2)
	hdr := 4 + b.stampLen()
	t.Run("no descriptor", func(t *testing.T) {
		// A later Refresh may bring the descriptor, and with it numbers
		// that a remembered record would not have.
		m := layoutMeta(true)
		l := &setLayout{meta: m}
		var rec Record
		for i := 0; i < 3; i++ {
			decodeAfter(t, "record", &rec, l, layoutRecord(b, i, true), hdr)
		}
		if l.same.hits != 0 {
			t.Fatalf("%d records with an unknown PMID decoded the short way", l.same.hits)
		}
		m.descs[lyNoDesc] = &Desc{PMID: lyNoDesc, Type: TypeU64}
		decodeAfter(t, "after the descriptor", &rec, l, layoutRecord(b, 3, true), hdr)
		if _, vals, _ := rec.Floats(&rec.Sets()[len(rec.Sets())-1]); len(vals) != 1 || vals[0] != 3 {
			t.Fatalf("the new descriptor's set has numbers %v", vals)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		l := &setLayout{meta: layoutMeta(false)}
		var rec Record
		short := layoutRecord(b, 0, false)
		binary.BigEndian.PutUint32(short[blockOf(short, setAt(t, b, short, lyU64), 0):], 8)
		decodeAfter(t, "a bad value", &rec, l, short, hdr)
		decodeAfter(t, "the next", &rec, l, layoutRecord(b, 1, false), hdr)
		if l.same.hits != 0 {
			t.Fatal("a record with a bad value was remembered")
		}
	})
	t.Run("layouts in turn", func(t *testing.T) {
		// pmlogger's records of several logging intervals take turns.
		l := &setLayout{meta: layoutMeta(false)}
		var rec Record
		layouts := []func(i int) []byte{
			func(i int) []byte { return layoutRecord(b, i, false) },
			func(i int) []byte { // another layout: a metric fewer
				return b.record(t0+int64(i)*sec, insitu(lyU32, tval{inst: InstNull, word: uint32(i)}),
					dptr(lyU64, TypeU64, tval{inst: 0, data: be64(uint64(i))}))
			},
			func(i int) []byte { // and one with only a string
				return b.record(t0+int64(i)*sec, dptr(lyString, TypeString, tval{inst: InstNull, data: strb("x")}))
			},
		}
		for i := 0; i < 30; i++ {
			decodeAfter(t, "record", &rec, l, layouts[i%len(layouts)](i), hdr)
		}
		if l.same.hits != 30-len(layouts) {
			t.Fatalf("%d of %d records decoded the short way", l.same.hits, 30-len(layouts))
		}
		// More layouts than are remembered: most records go the long
		// way (layouts are remembered only now and then once they stop
		// repeating), and every record decodes right.
		l = &setLayout{meta: layoutMeta(false)}
		for i := 0; i < 30; i++ {
			n := i % (maxLayouts + 1)
			sets := []tset{insitu(lyU32, tval{inst: InstNull, word: uint32(i)})}
			for j := 0; j < n; j++ {
				sets = append(sets, dptr(lyU64, TypeU64, tval{inst: int32(j), data: be64(uint64(i))}))
			}
			decodeAfter(t, "record", &rec, l, b.record(t0+int64(i)*sec, sets...), hdr)
		}
		if l.same.hits > 30/2 {
			t.Fatalf("%d of 30 records decoded the short way", l.same.hits)
		}
	})
	t.Run("filtered", func(t *testing.T) {
		l := &setLayout{meta: layoutMeta(false), want: map[PMID]struct{}{lyDouble: {}, lyU32: {}}}
		var rec Record
		for i := 0; i < 4; i++ {
			decodeAfter(t, "record", &rec, l, layoutRecord(b, i, false), hdr)
		}
		if l.same.hits != 3 {
			t.Fatalf("%d of 3 records decoded the short way", l.same.hits)
		}
		// A skipped set's block is still checked.
		buf := layoutRecord(b, 4, false)
		binary.BigEndian.PutUint32(buf[blockOf(buf, setAt(t, b, buf, lyString), 0):], 0xffff)
		if msg := decodeAfter(t, "a bad skipped block", &rec, l, buf, hdr); msg == "" {
			t.Fatal("a record with a bad block in a skipped set decoded")
		}
	})
}

// TestSameLayoutArchives reads real archives record by record as Readers
// do and checks every record against a fresh decode; pmlogger's records
// repeat their layout, so most take the short way.
func TestSameLayoutArchives(t *testing.T) {
	names := append(append([]string(nil), seedArchives...), testArchives("../testdata/archives", "../testdata/pcp-qa")...)
	hits := 0
	for _, name := range names {
		a, err := Open(name)
		if err != nil {
			continue // damaged on purpose: the corruption tests' business
		}
		for _, filter := range []bool{false, true} {
			var opt ReaderOptions
			if filter {
				for p := range a.Meta.descs {
					opt.PMIDs = append(opt.PMIDs, p)
					if len(opt.PMIDs) == 2 {
						break
					}
				}
			}
			r := a.NewReader(opt)
			n := 0
			for r.Next() {
				rec := r.Record()
				fresh, msg := freshDecode(rec.buf, r.hdr, &r.layout)
				if msg != "" {
					t.Fatalf("%s record %d: a fresh decode fails: %s", name, n, msg)
				}
				diffRecord(t, filepath.Base(name), rec, fresh)
				n++
			}
			// Damaged archives stop with an error; what came before it
			// was compared.
			t.Logf("%s (filter %v): %d records, %d the short way, err %v", filepath.Base(name), filter, n, r.layout.same.hits, r.Err())
			hits += r.layout.same.hits
			r.Close()
		}
	}
	if hits == 0 {
		t.Fatal("no record of a real archive took the short way")
	}
}

// FuzzSameLayout decodes a record and a patched copy of it in turns, all
// with one Record and layout, and checks each against a fresh decode. Every PMID gets a numeric descriptor (its type from its
// number) so that numbers, not only checks, go the short way.
func FuzzSameLayout(f *testing.F) {
	for _, s := range loadSeeds(f) {
		for _, vol := range s.vols {
			bs := frames(vol, labelLen(s.version))
			for i := 0; i+1 < len(bs) && i < 8; i++ {
				rec := vol[bs[i]:bs[i+1]]
				f.Add(rec, []byte{}, uint32(0), s.version == 3)
				f.Add(rec, []byte{0, 0, 0, 16}, uint32(len(rec)-40), s.version == 3)
			}
		}
	}
	f.Fuzz(func(t *testing.T, a, patch []byte, at uint32, v3 bool) {
		hdr := 12
		if v3 {
			hdr = 16
		}
		b := append([]byte(nil), a...)
		if len(b) > 0 {
			copy(b[int(at%uint32(len(b))):], patch)
		}
		m := newMeta("fuzz.meta")
		var probe Record
		probe.buf = a
		if probe.decode(hdr, nil) == "" {
			types := []Type{Type32, TypeU32, Type64, TypeU64, TypeFloat, TypeDouble, TypeString}
			for _, s := range probe.Sets() {
				m.descs[s.PMID] = &Desc{PMID: s.PMID, Type: types[uint32(s.PMID)%uint32(len(types))]}
			}
		}
		l := &setLayout{meta: m}
		var rec Record
		decodeAfter(t, "record", &rec, l, a, hdr)
		decodeAfter(t, "record again", &rec, l, a, hdr)
		decodeAfter(t, "patched", &rec, l, b, hdr)
		decodeAfter(t, "record after", &rec, l, a, hdr)
		decodeAfter(t, "patched again", &rec, l, b, hdr)
		decodeAfter(t, "patched a third time", &rec, l, b, hdr)
		decodeAfter(t, "record at the end", &rec, l, a, hdr)
	})
}
