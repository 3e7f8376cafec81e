package archive

import (
	"math"
	"testing"
)

// sameFloats checks Floats and AppendFloats of every set of a decoded record
// against Value(s, j).Float64, the per-value API they stand in for, for the
// set's descriptor type and (AppendFloats) every type there is.
func sameFloats(t testing.TB, r *Record) {
	t.Helper()
	for k := range r.Sets() {
		s := &r.Sets()[k]
		if s.Desc != nil {
			insts, vals, bad := r.Floats(s)
			checkFloats(t, r, s, s.Desc.Type, insts, vals, bad, "Floats")
		}
		for ty := TypeNoSupport; ty <= TypeHighResEvent+1; ty++ {
			pre := []float64{7}
			insts, vals, bad := r.AppendFloats([]int32{7}, pre, s, ty)
			if len(insts) != len(vals) || len(vals) < 1 || insts[0] != 7 || vals[0] != 7 {
				t.Fatalf("%s: AppendFloats(%v) lost what was there: %v %v", s.PMID, ty, insts, vals)
			}
			checkFloats(t, r, s, ty, insts[1:], vals[1:], bad, "AppendFloats")
		}
	}
}

func checkFloats(t testing.TB, r *Record, s *ValueSet, ty Type, insts []int32, vals []float64, bad int, what string) {
	t.Helper()
	if len(insts) != len(vals) {
		t.Fatalf("%s %s(%v): %d instances, %d values", s.PMID, what, ty, len(insts), len(vals))
	}
	k := 0
	for j := 0; j < int(s.NumVal); j++ {
		v := r.Value(s, j)
		f, ok := v.Float64(ty)
		if !ok {
			continue
		}
		if k >= len(vals) {
			t.Fatalf("%s %s(%v): %d values, want more", s.PMID, what, ty, len(vals))
		}
		if insts[k] != v.Inst || math.Float64bits(vals[k]) != math.Float64bits(f) {
			t.Fatalf("%s %s(%v) value %d: inst %d %v, Float64 gives inst %d %v", s.PMID, what, ty, k, insts[k], vals[k], v.Inst, f)
		}
		k++
	}
	if k != len(vals) || k+bad != max(int(s.NumVal), 0) {
		t.Fatalf("%s %s(%v): %d values and %d bad, Float64 gives %d of %d", s.PMID, what, ty, len(vals), bad, k, s.NumVal)
	}
}

// TestFloatsMatchValue reads every record of the testdata archives (and the
// PCP QA corpus, when it is there) through Floats and AppendFloats as well as
// value by value.
func TestFloatsMatchValue(t *testing.T) {
	names := append(append([]string(nil), seedArchives...), testArchives("../testdata/pcp-qa")...)
	for _, name := range names {
		a := mustOpen(t, name)
		r := a.NewReader(ReaderOptions{})
		for r.Next() {
			sameFloats(t, r.Record())
		}
		if err := r.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r.Close()
	}
}

// TestFloatsSynthetic covers every storage form and numeric type, and bad
// values: short blocks and 64-bit types stored in situ.
func TestFloatsSynthetic(t *testing.T) {
	b := newBuilder(2)
	m := newMeta("t.meta")
	var sets []tset
	for i, ty := range []Type{Type32, TypeU32, Type64, TypeU64, TypeFloat, TypeDouble, TypeString} {
		in, bl := PMID(100+2*i), PMID(101+2*i)
		m.descs[in] = &Desc{PMID: in, Type: ty}
		m.descs[bl] = &Desc{PMID: bl, Type: ty}
		sets = append(sets,
			insitu(in, tval{inst: 1, word: 0xfffffffe}, tval{inst: 2, word: 0x40490fdb}),
			dptr(bl, ty,
				tval{inst: 1, data: be64(0xfffffffffffffffe)},
				tval{inst: 2, data: []byte{0x40, 0x49, 0x0f, 0xdb}}, // 4 bytes: bad for 64-bit types
				tval{inst: 3, data: []byte{}},                       // none: bad for every type
				tval{inst: 4, data: f64b(-2.5)}))
	}
	sets = append(sets, tset{pmid: 99, numval: -12345}, insitu(98, tval{inst: 0, word: 5})) // no descriptor
	rec := &Record{buf: b.record(t0, sets...)}
	l := &setLayout{meta: m}
	for pass := 0; pass < 2; pass++ { // the second from the layout cache
		if msg := rec.decodeSets(12, l); msg != "" {
			t.Fatal(msg)
		}
		sameFloats(t, rec)
	}
	if s := rec.Sets()[len(rec.Sets())-1]; s.Desc != nil {
		t.Fatalf("%s: descriptor %v, want none", s.PMID, s.Desc)
	}
	if _, _, bad := rec.Floats(&rec.Sets()[len(rec.Sets())-1]); bad != 1 {
		t.Fatalf("set without descriptor: %d bad, want 1", bad)
	}
}

// TestDecodeVerdict pins that the two-pass check and recordError agree on
// every record of the unit tests' damaged records and the seeds.
func TestDecodeVerdict(t *testing.T) {
	b := newBuilder(2)
	good := b.record(t0,
		insitu(1, tval{inst: 0, word: 1}),
		dptr(2, TypeU64, tval{inst: 0, data: be64(1)}, tval{inst: 1, data: be64(2)}),
		tset{pmid: 3, numval: -1})
	for off := 12; off+4 <= len(good)-4; off += 4 {
		for _, w := range []uint32{0, 1, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 0x7fffffff, 0x80000000, 0xffffffff} {
			rec := append([]byte(nil), good...)
			copy(rec[off:], be32(w))
			for _, want := range []map[PMID]struct{}{nil, {}, {2: {}}} {
				r := &Record{buf: rec}
				if got, want := r.decode(12, want), recordError(rec, 12); got != want {
					t.Fatalf("word %#x at %d: decode %q, recordError %q", w, off, got, want)
				}
			}
		}
	}
}

// FuzzFloats decodes a record with descriptors of fuzzed types and checks
// Floats and AppendFloats against the per-value API, and the fast check's
// verdict against recordError's.
func FuzzFloats(f *testing.F) {
	for _, s := range loadSeeds(f) {
		for _, vol := range s.vols {
			bs := frames(vol, labelLen(s.version))
			for i := 0; i+1 < len(bs); i++ {
				f.Add(vol[bs[i]:bs[i+1]], s.version == 3, uint64(i)*0x9e3779b97f4a7c15)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, v3 bool, types uint64) {
		hdr := 12
		if v3 {
			hdr = 16
		}
		checkAllocs(t, len(b), 8<<20, func() {
			r := &Record{buf: b}
			msg := r.decode(hdr, nil)
			if want := recordError(b, hdr); msg != want {
				t.Fatalf("decode %q, recordError %q", msg, want)
			}
			if msg != "" {
				return
			}
			m := newMeta("f.meta")
			for k, s := range r.Sets() {
				ty := Type(int32(types>>(4*(k%16))&0xf) - 1)
				m.descs[s.PMID] = &Desc{PMID: s.PMID, Type: ty}
			}
			if msg := r.decodeSets(hdr, &setLayout{meta: m}); msg != "" {
				t.Fatalf("with descriptors: %s", msg)
			}
			sameFloats(t, r)
		})
	})
}
