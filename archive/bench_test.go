package archive

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"testing"
)

// BenchmarkDecode measures the hot path a query takes: iterate the records
// of an archive and take every numeric value as a float64, value by value
// (Value and Float64, "value") or a value set at a time (Floats, "floats").
// It reports values/s and MB/s of (decompressed) volume data, and
// allocations per value, which must be 0 in the loop: the reader reuses its
// record and buffers.
//
//	go test -run '^$' -bench Decode -benchmem ./archive/
func BenchmarkDecode(b *testing.B) {
	for _, name := range largestQAArchives(b) {
		for _, floats := range []bool{false, true} {
			b.Run("qa/"+filepath.Base(name)+"/"+loopName(floats), func(b *testing.B) { benchReader(b, name, floats) })
		}
	}
	bb := newBuilder(3)
	dir := b.TempDir()
	vols := [][][]byte{benchRecords(bb, 4000, false)}
	base := bb.write(b, dir, "big", benchMeta(), vols, nil)
	for _, floats := range []bool{false, true} {
		b.Run("synthetic/file/"+loopName(floats), func(b *testing.B) { benchReader(b, base, floats) })
	}
	// Records whose instances change every time: no layout repeats, so
	// this is what remembering layouts (sameCache) costs when it never
	// pays.
	changing := bb.write(b, dir, "changing", benchMeta(), [][][]byte{benchRecords(bb, 4000, true)}, nil)
	for _, floats := range []bool{false, true} {
		b.Run("synthetic/changing/"+loopName(floats), func(b *testing.B) { benchReader(b, changing, floats) })
	}
	for _, floats := range []bool{false, true} {
		b.Run("synthetic/memory/"+loopName(floats), func(b *testing.B) { benchMemory(b, floats) })
	}
}

func loopName(floats bool) string {
	if floats {
		return "floats"
	}
	return "value"
}

// benchMemory decodes the synthetic records from memory: the decoder alone,
// without the file.
func benchMemory(b *testing.B, floats bool) {
	bb := newBuilder(3)
	buf := cat(benchRecords(bb, 4000, false)...)
	m := newMeta("bench.meta")
	types := map[PMID]Type{}
	for i := 0; i < benchMetrics; i++ {
		types[benchPMID(i)] = benchType(i)
		m.descs[benchPMID(i)] = &Desc{PMID: benchPMID(i), Type: benchType(i)}
	}
	typeOf := func(p PMID) (Type, bool) { t, ok := types[p]; return t, ok }
	l := &setLayout{meta: m}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var rec Record
	var sum float64
	values := 0
	// Warm up: the record's slices grow to size once.
	rec.buf = buf[:binary.BigEndian.Uint32(buf)]
	rec.decodeSets(16, l)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		values = 0
		for off := 0; off < len(buf); {
			n := int(binary.BigEndian.Uint32(buf[off:]))
			rec.buf = buf[off : off+n]
			if msg := rec.decodeSets(16, l); msg != "" {
				b.Fatal(msg)
			}
			if floats {
				values += sumFloats(&rec, &sum)
			} else {
				values += sumValues(&rec, typeOf, &sum)
			}
			off += n
		}
	}
	reportValues(b, values)
}

// benchReader reads a whole archive b.N times.
func benchReader(b *testing.B, name string, floats bool) {
	a := mustOpen(b, name)
	size := int64(0)
	for _, vf := range a.Files.Volumes {
		src, err := openSource(vf.Path, nil)
		if err != nil {
			b.Fatal(err)
		}
		buf, err := readAll(src)
		src.Close()
		if err != nil {
			b.Fatal(err)
		}
		size += int64(len(buf))
	}
	lookup := func(p PMID) (Type, bool) {
		if d, ok := a.Meta.Desc(p); ok {
			return d.Type, true
		}
		return 0, false
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var sum float64
	values := 0
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		values = 0
		r := a.NewReader(ReaderOptions{})
		for r.Next() {
			if floats {
				values += sumFloats(r.Record(), &sum)
			} else {
				values += sumValues(r.Record(), lookup, &sum)
			}
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	reportValues(b, values)
	if values > 0 {
		// Per pass the reader allocates a little (itself, a file, a
		// buffer per volume); per value, nothing.
		b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(values)/float64(b.N), "allocs/value")
	}
}

// sumValues is the hot loop: every numeric value of a record as a float64.
func sumValues(rec *Record, typeOf func(PMID) (Type, bool), sum *float64) int {
	n := 0
	sets := rec.Sets()
	for k := range sets {
		s := &sets[k]
		t, ok := typeOf(s.PMID)
		if !ok || !t.Numeric() {
			continue
		}
		for j := 0; j < int(s.NumVal); j++ {
			if f, ok := rec.Value(s, j).Float64(t); ok {
				*sum += f
				n++
			}
		}
	}
	return n
}

// sumFloats is the same loop through Floats: one call per value set.
func sumFloats(rec *Record, sum *float64) int {
	n := 0
	sets := rec.Sets()
	for k := range sets {
		s := &sets[k]
		if s.Desc == nil || !s.Desc.Type.Numeric() {
			continue
		}
		_, vals, _ := rec.Floats(s)
		for _, f := range vals {
			*sum += f
		}
		n += len(vals)
	}
	return n
}

func reportValues(b *testing.B, values int) {
	if values == 0 {
		b.Fatal("no values")
	}
	b.ReportMetric(float64(values)*float64(b.N)/b.Elapsed().Seconds(), "values/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(values), "ns/value")
}

// largestQAArchives returns the largest archive of ../testdata/pcp-qa and the
// largest with plain (uncompressed) volumes, skipping when there are none.
func largestQAArchives(b *testing.B) []string {
	root := filepath.Join("..", "testdata", "pcp-qa")
	names := testArchives(root)
	if len(names) == 0 {
		b.Logf("no archives under %s; only the synthetic cases run", root)
		return nil
	}
	type cand struct {
		name  string
		size  int64
		plain bool
	}
	var cs []cand
	for _, name := range names {
		files, err := FindFiles(name)
		if err != nil {
			b.Fatal(err)
		}
		c := cand{name: name, plain: true}
		for _, vf := range files.Volumes {
			if fi, err := os.Stat(vf.Path); err == nil {
				c.size += fi.Size()
			}
			c.plain = c.plain && !isCompressed(vf.Path)
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].size > cs[j].size })
	var out []string
	for _, c := range cs {
		if len(out) == 0 {
			out = append(out, c.name)
			if c.plain {
				break
			}
		} else if c.plain {
			out = append(out, c.name)
			break
		}
	}
	return out
}

// The synthetic archive: benchMetrics metrics of the numeric types, most
// with 8 instances, in records like a busy pmlogger's.
const benchMetrics = 60

func benchPMID(i int) PMID { return PMID(60<<22 | uint32(i/10)<<10 | uint32(i)) }
func benchType(i int) Type {
	return []Type{TypeU64, TypeDouble, TypeU32, Type64, TypeFloat, Type32}[i%6]
}
func benchInsts(i int) int   { return []int{8, 8, 1, 8, 4, 1}[i%6] }
func benchInDom(i int) InDom { return InDom(60<<22 | uint32(benchInsts(i))) }

func benchMeta() [][]byte {
	var out [][]byte
	for i := 0; i < benchMetrics; i++ {
		indom := benchInDom(i)
		if benchInsts(i) == 1 {
			indom = InDomNull
		}
		out = append(out, descRec(benchPMID(i), benchType(i), indom, SemCounter, 0, "bench.m"+strconv.Itoa(i)))
	}
	for _, n := range []int{4, 8} {
		var insts []tinst
		for j := 0; j < n; j++ {
			insts = append(insts, tinst{id: int32(j), name: "i" + strconv.Itoa(j)})
		}
		out = append(out, indomRec(recInDom, t0, InDom(60<<22|uint32(n)), insts...))
	}
	return out
}

// benchRecords makes n records; with changing, every record has other
// instances than the one before.
func benchRecords(b *builder, n int, changing bool) [][]byte {
	recs := make([][]byte, n)
	for r := range recs {
		sets := make([]tset, benchMetrics)
		for i := range sets {
			typ := benchType(i)
			var vals []tval
			for j := 0; j < benchInsts(i); j++ {
				inst := int32(j)
				if changing {
					inst += int32(r)
				}
				if benchInsts(i) == 1 {
					inst = InstNull
				}
				x := uint64(r*1000 + i*10 + j)
				switch typ {
				case Type32, TypeU32:
					vals = append(vals, tval{inst: inst, word: uint32(x)})
				case TypeFloat:
					vals = append(vals, tval{inst: inst, data: f32b(float32(x))})
				case TypeDouble:
					vals = append(vals, tval{inst: inst, data: f64b(float64(x) / 3)})
				default:
					vals = append(vals, tval{inst: inst, data: be64(x << 20)})
				}
			}
			if typ == Type32 || typ == TypeU32 {
				sets[i] = insitu(benchPMID(i), vals...)
			} else {
				sets[i] = dptr(benchPMID(i), typ, vals...)
			}
		}
		recs[r] = b.record(t0+int64(r)*sec, sets...)
	}
	return recs
}
