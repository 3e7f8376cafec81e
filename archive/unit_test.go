package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// A test-only archive builder. It writes the bytes libpcp writes
// (docs/pcp-archive-format.md §3–§8) so each test can say exactly which bytes
// matter.

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func i32(v int32) []byte   { return be32(uint32(v)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func f64b(f float64) []byte { return be64(math.Float64bits(f)) }
func f32b(f float32) []byte { return be32(math.Float32bits(f)) }
func strb(s string) []byte  { return append([]byte(s), 0) }

// t0 is 2023-11-14T22:13:20.25Z: whole microseconds, so v2 can hold it.
const t0 = int64(1_700_000_000_250_000_000)

const sec = int64(1e9)

type builder struct {
	v        int // 2 or 3
	pid      int32
	host     string
	tz       string
	zone     string
	start    int64
	features uint32
}

func newBuilder(v int) *builder {
	return &builder{v: v, pid: 4242, host: "testhost", tz: "UTC", zone: ":UTC", start: t0}
}

// stampOf encodes t as a pmTimeval (8 bytes) or a v3 __pmTimestamp (12
// bytes, seconds low word first).
func stampOf(width int, t int64) []byte {
	s, ns := t/sec, t%sec
	if width == 8 {
		return cat(i32(int32(s)), i32(int32(ns/1000)))
	}
	return cat(be32(uint32(uint64(s))), be32(uint32(uint64(s)>>32)), i32(int32(ns)))
}

func (b *builder) stampLen() int {
	if b.v == 3 {
		return 12
	}
	return 8
}

func (b *builder) stamp(t int64) []byte { return stampOf(b.stampLen(), t) }

// label returns the label record for file role vol.
func (b *builder) label(vol int32) []byte {
	n := labelLen(b.v)
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p, uint32(n))
	binary.BigEndian.PutUint32(p[4:], uint32(logMagic|b.v))
	binary.BigEndian.PutUint32(p[8:], uint32(b.pid))
	if b.v == 2 {
		copy(p[12:], stampOf(8, b.start))
		binary.BigEndian.PutUint32(p[20:], uint32(vol))
		copy(p[24:88], b.host)
		copy(p[88:128], b.tz)
	} else {
		copy(p[12:], stampOf(12, b.start))
		binary.BigEndian.PutUint32(p[24:], uint32(vol))
		binary.BigEndian.PutUint32(p[28:], b.features)
		copy(p[36:292], b.host)
		copy(p[292:548], b.tz)
		copy(p[548:804], b.zone)
	}
	binary.BigEndian.PutUint32(p[n-4:], uint32(n))
	return p
}

// metaRec frames a .meta record: [len][type][payload][len].
func metaRec(typ uint32, payload ...[]byte) []byte {
	p := cat(payload...)
	n := uint32(12 + len(p))
	return cat(be32(n), be32(typ), p, be32(n))
}

// descRec is a TYPE_DESC record that always carries the numnames word.
func descRec(pmid PMID, typ Type, indom InDom, sem Sem, units Units, names ...string) []byte {
	p := cat(be32(uint32(pmid)), i32(int32(typ)), be32(uint32(indom)), i32(int32(sem)), be32(uint32(units)), i32(int32(len(names))))
	for _, n := range names {
		p = cat(p, be32(uint32(len(n))), []byte(n))
	}
	return metaRec(recDesc, p)
}

// descRecNoCount is a nameless DESC as __pmLogPutDesc writes it: no
// numnames word at all (a 20-byte payload).
func descRecNoCount(pmid PMID, typ Type, indom InDom, sem Sem, units Units) []byte {
	return metaRec(recDesc, be32(uint32(pmid)), i32(int32(typ)), be32(uint32(indom)), i32(int32(sem)), be32(uint32(units)))
}

// tinst is one indom entry; del marks a delete in an INDOM_DELTA.
type tinst struct {
	id   int32
	name string
	del  bool
}

// indomRec builds record type typ (2, 5 or 6); the stamp width follows the type.
func indomRec(typ uint32, t int64, indom InDom, insts ...tinst) []byte {
	width := 12
	if typ == recInDomV2 {
		width = 8
	}
	var ids, idx, tab []byte
	for _, in := range insts {
		ids = append(ids, i32(in.id)...)
		if in.del {
			idx = append(idx, i32(-1)...)
			continue
		}
		idx = append(idx, i32(int32(len(tab)))...)
		tab = append(tab, strb(in.name)...)
	}
	return metaRec(typ, stampOf(width, t), be32(uint32(indom)), i32(int32(len(insts))), ids, idx, tab)
}

// tlabel is one label of a flat JSON label set.
type tlabel struct {
	name, value string
	flags       uint8
}

// tlabelset is one label set; nlabels, when set, overrides the label count
// (a negative count is a PMDA error code and no entries follow).
type tlabelset struct {
	inst    int32
	labels  []tlabel
	nlabels *int32
}

func labelSetBytes(s tlabelset) []byte {
	json := "{"
	var ents []byte
	for i, l := range s.labels {
		if i > 0 {
			json += ","
		}
		no := len(json) + 1
		json += strconv.Quote(l.name) + ":"
		vo := len(json)
		json += l.value
		ents = cat(ents, binary.BigEndian.AppendUint16(nil, uint16(no)), []byte{byte(len(l.name)), l.flags},
			binary.BigEndian.AppendUint16(nil, uint16(vo)), binary.BigEndian.AppendUint16(nil, uint16(len(l.value))))
	}
	json += "}"
	n := int32(len(s.labels))
	if s.nlabels != nil {
		n = *s.nlabels
		if n < 0 {
			ents = nil
		}
	}
	return cat(i32(s.inst), i32(int32(len(json))), []byte(json), i32(n), ents)
}

// labelRec builds record type typ (3 or 7).
func labelRec(typ uint32, t int64, ltype, ident uint32, sets ...tlabelset) []byte {
	width := 12
	if typ == recLabelV2 {
		width = 8
	}
	p := cat(stampOf(width, t), be32(ltype), be32(ident), i32(int32(len(sets))))
	for _, s := range sets {
		p = append(p, labelSetBytes(s)...)
	}
	return metaRec(typ, p)
}

func textRec(typ, ident uint32, text string) []byte {
	return metaRec(recText, be32(typ), be32(ident), strb(text))
}

// tval is one value: an in-situ word, or (data != nil) a value block.
type tval struct {
	inst int32
	word uint32
	data []byte
}

// tset is one value set. With no vals, numval is written as is (0, or a
// negative PCP error code) and nothing follows it.
type tset struct {
	pmid   PMID
	numval int32
	valfmt int32
	vtype  uint8
	vals   []tval
}

func insitu(pmid PMID, vals ...tval) tset { return tset{pmid: pmid, valfmt: valInsitu, vals: vals} }

func dptr(pmid PMID, vtype Type, vals ...tval) tset {
	return tset{pmid: pmid, valfmt: valDptr, vtype: uint8(vtype), vals: vals}
}

// record builds a data record. Value blocks follow all the value sets and
// are padded to 4 bytes with '~', as libpcp pads them.
func (b *builder) record(t int64, sets ...tset) []byte {
	hdr := 4 + b.stampLen() + 4
	setLen := 0
	for _, s := range sets {
		setLen += 8
		if len(s.vals) > 0 {
			setLen += 4 + 8*len(s.vals)
		}
	}
	var sb, blocks []byte
	for _, s := range sets {
		n := s.numval
		if len(s.vals) > 0 {
			n = int32(len(s.vals))
		}
		sb = cat(sb, be32(uint32(s.pmid)), i32(n))
		if len(s.vals) == 0 {
			continue
		}
		sb = append(sb, i32(s.valfmt)...)
		for _, v := range s.vals {
			w := v.word
			if v.data != nil {
				off := hdr + setLen + len(blocks)
				w = uint32(off+8) / 4 // DPTR: words from 8 bytes before the length word
				blocks = cat(blocks, be32(uint32(s.vtype)<<24|uint32(4+len(v.data))), v.data)
				for len(blocks)%4 != 0 {
					blocks = append(blocks, '~')
				}
			}
			sb = cat(sb, i32(v.inst), be32(w))
		}
	}
	n := uint32(hdr + setLen + len(blocks) + 4)
	return cat(be32(n), b.stamp(t), i32(int32(len(sets))), sb, blocks, be32(n))
}

// mark is a <mark> record: numpmid 0 (docs/pcp-archive-format.md §7).
func (b *builder) mark(t int64) []byte { return b.record(t) }

func (b *builder) index(entries ...IndexEntry) []byte {
	out := b.label(volIndex)
	for _, e := range entries {
		if b.v == 2 {
			out = cat(out, stampOf(8, e.Time), i32(e.Vol), i32(int32(e.MetaOff)), i32(int32(e.DataOff)))
		} else {
			out = cat(out, stampOf(12, e.Time), i32(e.Vol), be64(uint64(e.MetaOff)), be64(uint64(e.DataOff)))
		}
	}
	return out
}

// recTime is the stamp of a data record built by b.
func (b *builder) recTime(rec []byte) int64 {
	if b.v == 3 {
		return v3Time(rec[4:])
	}
	return v2Time(rec[4:])
}

// volume is the bytes of data volume num holding recs.
func (b *builder) volume(num int32, recs [][]byte) []byte {
	return cat(b.label(num), cat(recs...))
}

// autoIndex makes one index entry per record of every volume, pointing at
// the record's start, as pmlogger's would after every indom change.
func (b *builder) autoIndex(vols [][][]byte) []IndexEntry {
	var out []IndexEntry
	for v, recs := range vols {
		off := int64(labelLen(b.v))
		for _, r := range recs {
			out = append(out, IndexEntry{Time: b.recTime(r), Vol: int32(v), MetaOff: int64(labelLen(b.v)), DataOff: off})
			off += int64(len(r))
		}
	}
	return out
}

// write writes base.meta, base.0 .. base.N and, when idx is not nil,
// base.index under dir, and returns the base path.
func (b *builder) write(t testing.TB, dir, name string, meta [][]byte, vols [][][]byte, idx []IndexEntry) string {
	t.Helper()
	base := filepath.Join(dir, name)
	writeFile(t, base+".meta", cat(b.label(volMeta), cat(meta...)))
	for i, recs := range vols {
		writeFile(t, base+"."+strconv.Itoa(i), b.volume(int32(i), recs))
	}
	if idx != nil {
		writeFile(t, base+".index", b.index(idx...))
	}
	return base
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Metrics of the synthetic archives.
var (
	pmidU32    = PMID(60<<22 | 0<<10 | 1)
	pmidDouble = PMID(60<<22 | 1<<10 | 2)
	pmidString = PMID(60<<22 | 2<<10 | 3)
	pmidU64    = PMID(60<<22 | 3<<10 | 4)
	indomCPU   = InDom(60<<22 | 1)
)

// synthMeta describes the synthetic archive's four metrics and one indom.
func synthMeta(b *builder) [][]byte {
	typ := uint32(recInDom)
	if b.v == 2 {
		typ = recInDomV2
	}
	return [][]byte{
		descRec(pmidU32, TypeU32, InDomNull, SemCounter, 0x00100000, "test.count"),
		descRec(pmidDouble, TypeDouble, indomCPU, SemInstant, 0, "test.load"),
		descRec(pmidString, TypeString, InDomNull, SemDiscrete, 0, "test.name"),
		descRec(pmidU64, TypeU64, indomCPU, SemCounter, 0x10010000, "test.bytes"),
		indomRec(typ, t0, indomCPU, tinst{0, "cpu0", false}, tinst{1, "cpu1", false}),
	}
}

// synthRecord is record i of the synthetic archive: two CPUs of a double
// and a u64, a counter and a string, with a mark every 7th record and an
// error code every 5th.
func synthRecord(b *builder, i int) []byte {
	t := t0 + int64(i)*sec
	if i%7 == 6 {
		return b.mark(t)
	}
	str := dptr(pmidString, TypeString, tval{inst: InstNull, data: strb("name-" + strconv.Itoa(i))})
	if i%5 == 4 {
		str = tset{pmid: pmidString, numval: -12389} // PM_ERR_AGAIN
	}
	return b.record(t,
		insitu(pmidU32, tval{inst: InstNull, word: uint32(i)}),
		dptr(pmidDouble, TypeDouble, tval{inst: 0, data: f64b(float64(i) + 0.5)}, tval{inst: 1, data: f64b(-float64(i))}),
		str,
		dptr(pmidU64, TypeU64, tval{inst: 0, data: be64(1<<40 + uint64(i))}, tval{inst: 1, data: be64(uint64(i))}),
	)
}

// synthVolumes is nvol volumes of per records each.
func synthVolumes(b *builder, nvol, per int) [][][]byte {
	vols := make([][][]byte, nvol)
	for v := range vols {
		for j := 0; j < per; j++ {
			vols[v] = append(vols[v], synthRecord(b, v*per+j))
		}
	}
	return vols
}

// ---------------------------------------------------------------------------
// Reading helpers.

// sample is one thing a reader returns, flattened for comparison.
type sample struct {
	T      int64
	Vol    int
	Off    int64
	Mark   bool
	PMID   PMID
	NumVal int32
	Inst   int32
	V      string
}

func (s sample) String() string {
	if s.Mark {
		return fmt.Sprintf("%d vol %d @%d mark", s.T, s.Vol, s.Off)
	}
	return fmt.Sprintf("%d vol %d @%d %s[%d]=%s (numval %d)", s.T, s.Vol, s.Off, s.PMID, s.Inst, s.V, s.NumVal)
}

// valueString renders a value by its descriptor type, exercising every accessor.
func valueString(d *Desc, v Value) string {
	if d == nil {
		return fmt.Sprintf("raw %08x %x", v.word, v.Bytes())
	}
	switch {
	case d.Type.Numeric():
		f, ok := v.Float64(d.Type)
		if !ok {
			return "bad " + d.Type.String()
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case d.Type == TypeString:
		return strconv.Quote(v.String())
	}
	return fmt.Sprintf("%x", v.Bytes())
}

// collect reads everything a reader returns.
func collect(a *Archive, opt ReaderOptions) (out []sample, tail bool, err error) {
	r := a.NewReader(opt)
	defer r.Close()
	for r.Next() {
		rec := r.Record()
		if rec.Mark {
			out = append(out, sample{T: rec.Time, Vol: rec.Vol, Off: rec.Offset, Mark: true})
			continue
		}
		sets := rec.Sets()
		for k := range sets {
			s := &sets[k]
			if s.NumVal <= 0 {
				out = append(out, sample{T: rec.Time, Vol: rec.Vol, Off: rec.Offset, PMID: s.PMID, NumVal: s.NumVal})
				continue
			}
			d, _ := a.Meta.Desc(s.PMID)
			for j := 0; j < int(s.NumVal); j++ {
				v := rec.Value(s, j)
				out = append(out, sample{T: rec.Time, Vol: rec.Vol, Off: rec.Offset, PMID: s.PMID, NumVal: s.NumVal, Inst: v.Inst, V: valueString(d, v)})
			}
		}
	}
	return out, r.AtTail(), r.Err()
}

func mustOpen(t testing.TB, name string) *Archive {
	t.Helper()
	a, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustCollect(t testing.TB, a *Archive, opt ReaderOptions) []sample {
	t.Helper()
	out, _, err := collect(a, opt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSamples(t *testing.T, what string, got, want []sample) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i].String()
		}
		if i < len(want) {
			w = want[i].String()
		}
		if g != w {
			t.Fatalf("%s: %d samples, want %d; first difference at %d:\n got  %s\n want %s", what, len(got), len(want), i, g, w)
		}
	}
}

// decodeOne decodes a record built by b without going through a file.
func decodeOne(t *testing.T, b *builder, buf []byte) *Record {
	t.Helper()
	r := &Record{buf: buf, Time: b.recTime(buf)}
	if msg := r.decode(4+b.stampLen(), nil); msg != "" {
		t.Fatalf("decode: %s", msg)
	}
	return r
}

// ---------------------------------------------------------------------------
// Labels and timestamps.

func TestLabel(t *testing.T) {
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		b.start = t0 + 123456000
		b.features = 0
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			l, err := parseLabel(b.label(7), "x.7", 7)
			if err != nil {
				t.Fatal(err)
			}
			want := Label{Version: v, PID: 4242, Start: t0 + 123456000, Vol: 7, Hostname: "testhost", TZ: "UTC"}
			if v == 3 {
				want.Zoneinfo = ":UTC"
			}
			if l != want {
				t.Fatalf("got %+v, want %+v", l, want)
			}
			// A longer buffer (the rest of the file) is fine.
			if _, err := parseLabel(append(b.label(volMeta), 1, 2, 3, 4), "x.meta", volMeta); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Hostname fields without a NUL: libpcp keeps N-1 bytes.
	b := newBuilder(2)
	b.host = strings.Repeat("h", 64)
	l, err := parseLabel(b.label(0), "x.0", 0)
	if err != nil || l.Hostname != strings.Repeat("h", 63) {
		t.Fatalf("64-byte v2 hostname: %q, %v", l.Hostname, err)
	}

	// The QA feature bit is known; others are rejected.
	b3 := newBuilder(3)
	b3.features = featureQA
	if l, err := parseLabel(b3.label(0), "x.0", 0); err != nil || l.Features != featureQA {
		t.Fatalf("QA feature: %+v, %v", l, err)
	}

	mut := func(v int, f func(p []byte)) []byte {
		p := newBuilder(v).label(0)
		f(p)
		return p
	}
	bad := []struct {
		name string
		b    []byte
		vol  int32
		want string
	}{
		{"empty", nil, 0, "too short"},
		{"7 bytes", newBuilder(2).label(0)[:7], 0, "too short"},
		{"bad magic", mut(2, func(p []byte) { p[4] = 0x51 }), 0, "bad magic"},
		{"version 1", mut(2, func(p []byte) { p[7] = 1 }), 0, "version 1"},
		{"version 4", mut(3, func(p []byte) { p[7] = 4 }), 0, "version 4"},
		{"v2 with v3 length", mut(2, func(p []byte) { binary.BigEndian.PutUint32(p, 808) }), 0, "length 808"},
		{"v3 magic, v2 body", mut(2, func(p []byte) { p[7] = 3 }), 0, "length 132, want 808"},
		{"v3 cut short", newBuilder(3).label(0)[:500], 0, "too short"},
		{"trailer", mut(2, func(p []byte) { p[131] = 0 }), 0, "trailer"},
		{"v3 trailer", mut(3, func(p []byte) { p[807] ^= 1 }), 0, "trailer"},
		{"wrong volume", newBuilder(2).label(1), 0, "volume 1, want 0"},
		{"meta label in a volume", newBuilder(3).label(volMeta), 0, "volume -1"},
		{"unknown feature", mut(3, func(p []byte) { p[31] = 2 }), 0, "feature"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseLabel(c.b, "dir/x.0", c.vol)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FormatError", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.Contains(msg, "dir/x.0") || !strings.Contains(msg, "offset") {
				t.Fatalf("error %q does not say %q, the file and the offset", msg, c.want)
			}
		})
	}
}

// TestV3SecondsLowWordFirst pins docs/pcp-archive-format.md §3: the 64-bit
// seconds of a v3 timestamp are stored low 32-bit word first. Decoding them as
// a big-endian int64 gives a time about 2^32 times too large.
func TestV3SecondsLowWordFirst(t *testing.T) {
	// The label stamp of qa/archives/disk-a.meta.
	b := []byte{0x66, 0x31, 0xa1, 0x10, 0, 0, 0, 0, 0x09, 0x26, 0xc7, 0x2d}
	got := v3Time(b)
	want := int64(0x6631a110)*sec + 0x0926c72d
	if got != want {
		t.Fatalf("v3Time = %d, want %d", got, want)
	}
	wrong := int64(binary.BigEndian.Uint64(b))
	if wrong == got/sec || wrong != 0x6631a110<<32 {
		t.Fatalf("a big-endian int64 read gives %d seconds; the test no longer tells the two apart", wrong)
	}
	if y := 1970 + got/sec/(365*86400); y != 2024 {
		t.Fatalf("disk-a starts in %d, want 2024", y)
	}
	// Seconds past 2106 put the high word second.
	if got := v3Time([]byte{0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 7}); got != (1<<32+5)*sec+7 {
		t.Fatalf("high word: %d", got)
	}
	// The builder and the reader agree, including past 2106.
	for _, ts := range []int64{t0, (1<<32 + 17) * sec} {
		if got := v3Time(stampOf(12, ts)); got != ts {
			t.Fatalf("round trip %d -> %d", ts, got)
		}
	}
	// A real v3 archive starts in a sane year.
	a := mustOpen(t, "testdata/ok-foo_v3/ok-foo_v3")
	if y := 1970 + a.Label.Start/sec/(365*86400); y < 2000 || y > 2100 {
		t.Fatalf("ok-foo_v3 starts in year %d", y)
	}
}

func TestV2Time(t *testing.T) {
	b := cat(i32(1_700_000_000), i32(250_000))
	if got := v2Time(b); got != t0 {
		t.Fatalf("v2Time = %d, want %d", got, t0)
	}
	if got := v2Time(cat(i32(-1), i32(0))); got != -sec {
		t.Fatalf("negative seconds: %d", got)
	}
}

// ---------------------------------------------------------------------------
// .meta records.

func decodeMeta(t *testing.T, version int, recs ...[]byte) (*Meta, error) {
	t.Helper()
	m := newMeta("t.meta")
	buf := cat(recs...)
	n, err := m.decode(buf, int64(labelLen(version)), version)
	if err == nil && n != len(buf) {
		t.Fatalf("decoded %d of %d bytes", n, len(buf))
	}
	m.finish()
	return m, err
}

func TestDesc(t *testing.T) {
	p1, p2, p3 := PMID(1<<22|1), PMID(1<<22|2), PMID(1<<22|3)
	m, err := decodeMeta(t, 2,
		descRecNoCount(p1, TypeU32, InDomNull, SemCounter, 0x00100000),
		descRec(p2, TypeDouble, InDom(1<<22|5), SemInstant, 0x01002000, "a.one"),
		descRec(p3, Type64, InDomNull, SemDiscrete, 0, "b.x", "b.y", "b.z"),
		descRec(PMID(1<<22|4), TypeString, InDomNull, SemDiscrete, 0), // numnames word 0
		// A second DESC for p2 that agrees adds an alias.
		descRec(p2, TypeDouble, InDom(1<<22|5), SemInstant, 0x01002000, "a.one", "a.alias"),
		// The same name for another PMID: the first wins.
		descRec(PMID(1<<22|9), Type32, InDomNull, SemInstant, 0, "a.one"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Descs) != 5 {
		t.Fatalf("%d descs, want 5", len(m.Descs))
	}
	d, ok := m.Desc(p1)
	if !ok || d.Names != nil || d.Type != TypeU32 || d.Sem != SemCounter || d.Units.String() != "count" || d.InDom != InDomNull {
		t.Fatalf("nameless desc: %+v", d)
	}
	d, _ = m.Desc(p2)
	if !reflect.DeepEqual(d.Names, []string{"a.one", "a.alias"}) || d.Units.String() != "millisec" {
		t.Fatalf("aliases: %+v", d)
	}
	d, _ = m.Desc(p3)
	if !reflect.DeepEqual(d.Names, []string{"b.x", "b.y", "b.z"}) {
		t.Fatalf("names: %q", d.Names)
	}
	for name, want := range map[string]PMID{"a.one": p2, "a.alias": p2, "b.x": p3, "b.z": p3} {
		if got, ok := m.Lookup(name); !ok || got != want {
			t.Errorf("Lookup(%s) = %s, %v", name, got, ok)
		}
	}
	if _, ok := m.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
	if want := []DuplicateName{{"a.one", p2, PMID(1<<22 | 9)}}; !reflect.DeepEqual(m.Duplicates, want) {
		t.Errorf("duplicates %+v, want %+v", m.Duplicates, want)
	}

	bad := []struct {
		name string
		rec  []byte
		want string
	}{
		{"type change", descRec(p2, TypeFloat, InDom(1<<22|5), SemInstant, 0x01002000), "type changed"},
		{"sem change", descRec(p2, TypeDouble, InDom(1<<22|5), SemCounter, 0x01002000), "semantics changed"},
		{"indom change", descRec(p2, TypeDouble, InDomNull, SemInstant, 0x01002000), "instance domain changed"},
		{"units change", descRec(p2, TypeDouble, InDom(1<<22|5), SemInstant, 0x01003000), "units changed"},
		{"short", metaRec(recDesc, make([]byte, 16)), "at least 20"},
		{"count cut", metaRec(recDesc, make([]byte, 22)), "truncated name count"},
		{"negative count", metaRec(recDesc, make([]byte, 20), i32(-1)), "impossible name count -1"},
		{"huge count", metaRec(recDesc, make([]byte, 20), i32(1<<30)), "impossible name count"},
		{"name past end", metaRec(recDesc, make([]byte, 20), i32(1), be32(100), []byte("abc")), "beyond the record"},
		{"name length 2^31", metaRec(recDesc, make([]byte, 20), i32(1), be32(1<<31), []byte("abcd")), "beyond the record"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMeta(t, 2, descRec(p2, TypeDouble, InDom(1<<22|5), SemInstant, 0x01002000, "a.one"), c.rec)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "t.meta: offset ") {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			// The offset is the bad record's: after the label and the first DESC.
			var fe *FormatError
			if errors.As(err, &fe) && fe.Offset != 132+int64(len(descRec(p2, 0, 0, 0, 0, "a.one"))) {
				t.Fatalf("offset %d", fe.Offset)
			}
		})
	}
}

func TestInDom(t *testing.T) {
	id := InDom(29<<22 | 3)
	for _, typ := range []uint32{recInDomV2, recInDom} {
		t.Run(metaRecNames[typ], func(t *testing.T) {
			m, err := decodeMeta(t, 3,
				indomRec(typ, t0, id, tinst{id: 0, name: "zero"}, tinst{id: 7, name: "seven eleven"}),
				indomRec(typ, t0+10*sec, id, tinst{id: 7, name: "seven"}),
				indomRec(typ, t0+20*sec, id), // an empty indom
			)
			if err != nil {
				t.Fatal(err)
			}
			h := m.InDoms[id]
			if h == nil || h.Len() != 3 || !reflect.DeepEqual(h.Times(), []int64{t0, t0 + 10*sec, t0 + 20*sec}) {
				t.Fatalf("history %+v", h)
			}
			r := h.Resolver()
			steps := []struct {
				t    int64
				want []Instance
			}{
				{t0 - 1, []Instance{}},
				{t0, []Instance{{0, "zero"}, {7, "seven eleven"}}},
				{t0 + 15*sec, []Instance{{7, "seven"}}},
				{t0 + 25*sec, []Instance{}},
				{t0 + 5*sec, []Instance{{0, "zero"}, {7, "seven eleven"}}},
			}
			for _, s := range steps {
				r.At(s.t)
				if got := r.Instances(); !reflect.DeepEqual(got, s.want) {
					t.Fatalf("At(t0%+ds) = %v, want %v", (s.t-t0)/sec, got, s.want)
				}
			}
			if n, ok := h.NameAnyTime(0); !ok || n != "zero" {
				t.Fatalf("NameAnyTime(0) = %q, %v", n, ok)
			}
			if n, ok := h.NameAnyTime(7); !ok || n != "seven" {
				t.Fatalf("NameAnyTime(7) = %q, %v", n, ok)
			}
			if want := []Instance{{0, "zero"}, {7, "seven"}}; !reflect.DeepEqual(h.All(), want) {
				t.Fatalf("All = %v", h.All())
			}
		})
	}
}

// TestInDomDelta walks an indom through full and delta records forwards,
// backwards and at random, and checks every state against one rebuilt from
// scratch (the eager method of docs/pcp-archive-format.md §5.5).
func TestInDomDelta(t *testing.T) {
	id := InDom(3<<22 | 9)
	recs := [][]byte{
		indomRec(recInDom, t0, id, tinst{id: 1, name: "a"}, tinst{id: 2, name: "b"}, tinst{id: 3, name: "c"}),
		indomRec(recInDomDelta, t0+10*sec, id, tinst{id: 2, del: true}, tinst{id: 4, name: "d"}),
		indomRec(recInDomDelta, t0+20*sec, id, tinst{id: 1, del: true}, tinst{id: 5, name: "e"}),
		indomRec(recInDom, t0+30*sec, id, tinst{id: 2, name: "b again"}, tinst{id: 9, name: "i"}),
		indomRec(recInDomDelta, t0+40*sec, id, tinst{id: 9, del: true}),
		indomRec(recInDomDelta, t0+40*sec, id, tinst{id: 10, name: "j"}), // same stamp: applies after
	}
	m, err := decodeMeta(t, 3, recs...)
	if err != nil {
		t.Fatal(err)
	}
	h := m.InDoms[id]
	states := map[int64][]Instance{
		t0 - sec:      {},
		t0:            {{1, "a"}, {2, "b"}, {3, "c"}},
		t0 + 10*sec:   {{1, "a"}, {3, "c"}, {4, "d"}},
		t0 + 15*sec:   {{1, "a"}, {3, "c"}, {4, "d"}},
		t0 + 20*sec:   {{3, "c"}, {4, "d"}, {5, "e"}},
		t0 + 30*sec:   {{2, "b again"}, {9, "i"}},
		t0 + 40*sec:   {{2, "b again"}, {10, "j"}},
		t0 + 1000*sec: {{2, "b again"}, {10, "j"}},
	}
	times := make([]int64, 0, len(states))
	for ts := range states {
		times = append(times, ts)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	orders := map[string][]int64{"forwards": times}
	rev := append([]int64(nil), times...)
	sort.Slice(rev, func(i, j int) bool { return rev[i] > rev[j] })
	orders["backwards"] = rev
	orders["zigzag"] = []int64{times[3], times[1], times[6], times[2], times[7], times[0], times[5], times[4], times[4]}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			r := h.Resolver()
			prev := int64(math.MinInt64)
			for i, ts := range order {
				changed := r.At(ts)
				if got := r.Instances(); !reflect.DeepEqual(got, states[ts]) {
					t.Fatalf("step %d At(t0%+ds) = %v, want %v", i, (ts-t0)/sec, got, states[ts])
				}
				if ts == prev && changed {
					t.Fatalf("step %d: At(same time) reported a change", i)
				}
				for _, in := range states[ts] {
					if n, ok := r.Name(in.ID); !ok || n != in.Name {
						t.Fatalf("Name(%d) = %q, %v", in.ID, n, ok)
					}
				}
				prev = ts
			}
		})
	}
	// NameAnyTime finds instances whatever the time, deleted ones included.
	for inst, want := range map[int32]string{1: "a", 2: "b again", 3: "c", 4: "d", 5: "e", 9: "i", 10: "j"} {
		if n, ok := h.NameAnyTime(inst); !ok || n != want {
			t.Errorf("NameAnyTime(%d) = %q, %v; want %q", inst, n, ok, want)
		}
	}
	if _, ok := h.NameAnyTime(6); ok {
		t.Error("NameAnyTime(6) found a name")
	}
}

func TestInDomErrors(t *testing.T) {
	id := InDom(3<<22 | 9)
	full := indomRec(recInDom, t0, id, tinst{id: 1, name: "a"})
	withTab := func(num int32, ids, idx []int32, tab string) []byte {
		p := cat(stampOf(12, t0), be32(uint32(id)), i32(num))
		for _, x := range ids {
			p = append(p, i32(x)...)
		}
		for _, x := range idx {
			p = append(p, i32(x)...)
		}
		return metaRec(recInDom, p, []byte(tab))
	}
	cases := []struct {
		name string
		recs [][]byte
		want string
	}{
		{"delta first", [][]byte{indomRec(recInDomDelta, t0, id, tinst{id: 1, name: "a"})}, "before any full record"},
		{"negative inst", [][]byte{indomRec(recInDom, t0, id, tinst{id: -1, name: "a"})}, "negative instance id -1"},
		{"negative count", [][]byte{withTab(-1, nil, nil, "")}, "impossible instance count -1"},
		{"count too big", [][]byte{withTab(3, []int32{1}, []int32{0}, "a\x00")}, "impossible instance count 3"},
		{"count 2^31-1", [][]byte{withTab(math.MaxInt32, []int32{1}, []int32{0}, "a\x00")}, "impossible instance count"},
		{"stridx outside", [][]byte{withTab(1, []int32{1}, []int32{2}, "a\x00")}, "outside the string table"},
		{"stridx -1 in full", [][]byte{withTab(1, []int32{1}, []int32{-1}, "a\x00")}, "outside the string table"},
		{"no NUL", [][]byte{withTab(1, []int32{1}, []int32{0}, "abc")}, "without NUL"},
		{"short", [][]byte{metaRec(recInDom, make([]byte, 12))}, "too short"},
		{"delta without NUL", [][]byte{full, metaRec(recInDomDelta, stampOf(12, t0+1), be32(uint32(id)), i32(1), i32(2), i32(0), []byte("b"))}, "without NUL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMeta(t, 3, c.recs...)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "t.meta: offset") {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestLabelRecords(t *testing.T) {
	neg := int32(-12410) // PM_ERR_NOLABELS
	ctx := tlabelset{inst: InstNull, labels: []tlabel{{"hostname", `"vm03"`, 1}, {"groupid", "1000", 0x81}}}
	for _, typ := range []uint32{recLabelV2, recLabel} {
		t.Run(metaRecNames[typ], func(t *testing.T) {
			m, err := decodeMeta(t, 3,
				labelRec(typ, t0, LabelContext, 0xffffffff, ctx),
				labelRec(typ, t0+10*sec, LabelContext, 0xffffffff, tlabelset{inst: InstNull, labels: []tlabel{{"hostname", `"vm04"`, 1}}}),
				labelRec(typ, t0, LabelInstances, uint32(indomCPU),
					tlabelset{inst: 0, labels: []tlabel{{"cpu", "0", 0x20}, {"numa", `{"node":0}`, 0x60}}},
					tlabelset{inst: 1, nlabels: &neg},
					tlabelset{inst: 2}),
			)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Labels) != 3 {
				t.Fatalf("%d label records", len(m.Labels))
			}
			got := m.LabelSets(LabelContext, 0xffffffff, t0+5*sec)
			want := []LabelSet{{Inst: InstNull, JSON: `{"hostname":"vm03","groupid":1000}`,
				Labels: []MetaLabel{{"hostname", `"vm03"`, 1}, {"groupid", "1000", 0x81}}}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("context labels at t0+5s:\n got %+v\nwant %+v", got, want)
			}
			if got := m.LabelSets(LabelContext, 0xffffffff, t0+10*sec); len(got) != 1 || got[0].Labels[0].Value != `"vm04"` {
				t.Fatalf("context labels at t0+10s: %+v", got)
			}
			if got := m.LabelSets(LabelContext, 0xffffffff, t0-1); got != nil {
				t.Fatalf("labels before the first record: %+v", got)
			}
			inst := m.LabelSets(LabelInstances, uint32(indomCPU), t0)
			if len(inst) != 3 || inst[0].Labels[1].Name != "numa" || inst[0].Labels[1].Value != `{"node":0}` ||
				inst[1].Inst != 1 || inst[1].Labels != nil || inst[1].JSON != "{}" || inst[2].Labels != nil {
				t.Fatalf("instance labels: %+v", inst)
			}
			// Compound and optional bits are masked for lookups.
			m2, err := decodeMeta(t, 3, labelRec(typ, t0, LabelItem|0x40, 77, ctx))
			if err != nil || m2.LabelSets(LabelItem, 77, t0) == nil {
				t.Fatalf("masked labeltype: %v", err)
			}
		})
	}

	ls := func(extra ...[]byte) []byte {
		return metaRec(recLabel, stampOf(12, t0), be32(LabelContext), be32(0xffffffff), cat(extra...))
	}
	bad := []struct {
		name string
		rec  []byte
		want string
	}{
		{"short", metaRec(recLabel, make([]byte, 20)), "too short"},
		{"negative nsets", ls(i32(-1)), "impossible label set count -1"},
		{"huge nsets", ls(i32(1 << 30)), "impossible label set count"},
		{"json too long", ls(i32(1), i32(-1), i32(70000), make([]byte, 70004)), "JSON length 70000"},
		{"json past end", ls(i32(1), i32(-1), i32(10), []byte("{}"), i32(0)), "JSON length 10"},
		{"negative json", ls(i32(1), i32(-1), i32(-5), i32(0)), "JSON length -5"},
		{"too many labels", ls(i32(1), i32(-1), i32(2), []byte("{}"), i32(256), make([]byte, 256*8)), "impossible label count 256"},
		{"labels past end", ls(i32(1), i32(-1), i32(2), []byte("{}"), i32(2), make([]byte, 8)), "impossible label count 2"},
		{"name outside json", ls(i32(1), i32(-1), i32(2), []byte("{}"), i32(1), []byte{0, 1, 5, 0, 0, 0, 0, 0}), "outside the JSON"},
		{"value outside json", ls(i32(1), i32(-1), i32(2), []byte("{}"), i32(1), []byte{0, 0, 0, 0, 0xff, 0xff, 0, 1}), "outside the JSON"},
		{"second set truncated", ls(i32(2), i32(-1), i32(6), []byte(`{"a":1`), i32(0), i32(-1), i32(0)), "label set 1"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMeta(t, 3, c.rec)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "t.meta: offset 808: LABEL") {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	p := uint32(pmidU32)
	m, err := decodeMeta(t, 2,
		textRec(TextOneLine|TextPMID, p, "one line"),
		textRec(TextHelp|TextPMID, p, "first help"),
		textRec(TextHelp|TextPMID, p, "long\nhelp"), // replaces the first
		textRec(TextOneLine|TextInDom, uint32(indomCPU), "cpus"),
		textRec(TextHelp|TextInDom, uint32(indomCPU), ""),
		// Bad types are skipped, not fatal (docs/pcp-archive-format.md §5.7).
		textRec(0, p, "no type"),
		textRec(TextOneLine, p, "no PMID/INDOM bit"),
		textRec(TextPMID, p, "no ONELINE/HELP bit"),
		metaRec(recText, be32(TextOneLine|TextPMID)), // too short
		metaRec(recText, be32(TextOneLine|TextPMID), be32(99), []byte("no NUL")),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := map[TextKey]string{
		{TextOneLine | TextPMID, p}:                 "one line",
		{TextHelp | TextPMID, p}:                    "long\nhelp",
		{TextOneLine | TextInDom, uint32(indomCPU)}: "cpus",
		{TextHelp | TextInDom, uint32(indomCPU)}:    "",
		{TextOneLine | TextPMID, 99}:                "no NUL",
	}
	if !reflect.DeepEqual(m.Texts, want) {
		t.Fatalf("texts %v, want %v", m.Texts, want)
	}
	if s, ok := m.Text(TextHelp|TextPMID, p); !ok || s != "long\nhelp" {
		t.Fatalf("Text = %q, %v", s, ok)
	}
}

func TestMetaFraming(t *testing.T) {
	d := descRec(pmidU32, TypeU32, InDomNull, SemCounter, 0, "x")
	t.Run("unknown type", func(t *testing.T) {
		_, err := decodeMeta(t, 2, d, metaRec(8, i32(0)))
		if err == nil || !strings.Contains(err.Error(), "unknown record type 8") || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", 132+len(d))) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("length 0", func(t *testing.T) {
		_, err := decodeMeta(t, 2, d, be32(0), be32(1), be32(0))
		if err == nil || !strings.Contains(err.Error(), "length 0") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("trailer mismatch inside", func(t *testing.T) {
		bad := append([]byte(nil), d...)
		bad[len(bad)-1]++
		_, err := decodeMeta(t, 2, bad, d)
		if err == nil || !strings.Contains(err.Error(), "trailer") || !strings.Contains(err.Error(), "offset 132") {
			t.Fatalf("got %v", err)
		}
	})
	// A partial record at the end is not written yet: decode stops before it.
	all := cat(d, d, d)
	for cut := 0; cut <= len(all); cut++ {
		m := newMeta("t.meta")
		n, err := m.decode(all[:cut], 132, 2)
		if err != nil || n != cut/len(d)*len(d) {
			t.Fatalf("cut at %d: consumed %d, %v", cut, n, err)
		}
	}
	// A torn write: the whole length is there, the trailer is not yet.
	torn := cat(d, d[:len(d)-4], []byte{0, 0, 0, 0})
	if n, err := newMeta("t.meta").decode(torn, 132, 2); err != nil || n != len(d) {
		t.Fatalf("torn write: %d, %v", n, err)
	}
}

// ---------------------------------------------------------------------------
// Data records.

func TestDataRecord(t *testing.T) {
	for _, v := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			b := newBuilder(v)
			p32, pu32, pf, pfi, p64, pu64, pd, ps, pspt, pz, perr := PMID(1), PMID(2), PMID(3), PMID(4), PMID(5), PMID(6), PMID(7), PMID(8), PMID(9), PMID(10), PMID(11)
			rec := b.record(t0+sec,
				insitu(p32, tval{inst: InstNull, word: uint32(0xfffffff6)}), // -10
				insitu(pu32, tval{inst: 0, word: 0xfffffff6}, tval{inst: 1, word: 7}),
				dptr(pf, TypeFloat, tval{inst: InstNull, data: f32b(1.5)}),
				insitu(pfi, tval{inst: InstNull, word: math.Float32bits(-2.25)}), // legacy FLOAT in situ
				dptr(p64, Type64, tval{inst: 3, data: be64(uint64(math.MaxUint64 - 41))}),
				dptr(pu64, TypeU64, tval{inst: 4, data: be64(1 << 63)}),
				dptr(pd, TypeDouble, tval{inst: 0, data: f64b(math.Pi)}, tval{inst: 1, data: f64b(-1e300)}),
				dptr(ps, TypeString, tval{inst: InstNull, data: strb("héllo")}), // 6+1 bytes: 1 byte of padding
				tset{pmid: pspt, valfmt: valSptr, vtype: uint8(TypeString), vals: []tval{{inst: 5, data: strb("")}}},
				tset{pmid: pz},
				tset{pmid: perr, numval: -12389},
			)
			r := decodeOne(t, b, rec)
			if r.Mark || r.NumPMID != 11 || r.Time != t0+sec {
				t.Fatalf("record header: mark %v numpmid %d time %d", r.Mark, r.NumPMID, r.Time)
			}
			sets := r.Sets()
			val := func(k, j int) Value { return r.Value(&sets[k], j) }
			if n, ok := val(0, 0).Int64(Type32); !ok || n != -10 || val(0, 0).Inst != InstNull {
				t.Errorf("32: %d %v", n, ok)
			}
			if n, ok := val(1, 0).Uint64(TypeU32); !ok || n != 0xfffffff6 {
				t.Errorf("U32: %d %v", n, ok)
			}
			if f, ok := val(1, 1).Float64(TypeU32); !ok || f != 7 || val(1, 1).Inst != 1 {
				t.Errorf("U32 float: %v %v", f, ok)
			}
			if f, ok := val(2, 0).Float64(TypeFloat); !ok || f != 1.5 {
				t.Errorf("FLOAT dptr: %v %v", f, ok)
			}
			if f, ok := val(3, 0).Float64(TypeFloat); !ok || f != -2.25 {
				t.Errorf("FLOAT insitu: %v %v", f, ok)
			}
			if n, ok := val(4, 0).Int64(Type64); !ok || n != -42 {
				t.Errorf("64: %d %v", n, ok)
			}
			if n, ok := val(5, 0).Uint64(TypeU64); !ok || n != 1<<63 {
				t.Errorf("U64: %d %v", n, ok)
			}
			if f, ok := val(5, 0).Float64(TypeU64); !ok || f != 1<<63 {
				t.Errorf("U64 float: %v %v", f, ok)
			}
			if f, ok := val(6, 0).Float64(TypeDouble); !ok || f != math.Pi {
				t.Errorf("DOUBLE 0: %v %v", f, ok)
			}
			if f, ok := val(6, 1).Float64(TypeDouble); !ok || f != -1e300 {
				t.Errorf("DOUBLE 1: %v %v", f, ok)
			}
			if s := val(7, 0).String(); s != "héllo" || string(val(7, 0).Bytes()) != "héllo\x00" {
				t.Errorf("STRING: %q %q", s, val(7, 0).Bytes())
			}
			if s := val(8, 0).String(); s != "" || val(8, 0).Inst != 5 || sets[8].ValFmt != valSptr {
				t.Errorf("SPTR: %q", s)
			}
			if sets[9].NumVal != 0 || sets[10].NumVal != -12389 {
				t.Errorf("numval 0 and error: %+v %+v", sets[9], sets[10])
			}
			// The padding after the string block is libpcp's '~'.
			if !bytes.Contains(rec, []byte("h\xc3\xa9llo\x00~")) {
				t.Errorf("no garbage padding in the test record")
			}
			// Wrong-type reads say no rather than guess.
			if _, ok := val(0, 0).Int64(TypeDouble); ok {
				t.Error("Int64(DOUBLE) said ok")
			}
			if _, ok := val(0, 0).Float64(TypeDouble); ok {
				t.Error("Float64(DOUBLE) of an in-situ value said ok")
			}
			if _, ok := val(2, 0).Float64(TypeDouble); ok {
				t.Error("Float64(DOUBLE) of a 4-byte block said ok")
			}
			if _, ok := val(7, 0).Float64(TypeString); ok {
				t.Error("Float64(STRING) said ok")
			}
			if _, ok := val(0, 0).Uint64(Type32); ok {
				t.Error("Uint64(32) said ok")
			}
		})
	}
}

// TestValueAlignment puts 8-byte values at offsets of 4 mod 8, in the record
// and in the file: alignment is 4, never 8 (docs/pcp-archive-format.md §6.4).
func TestValueAlignment(t *testing.T) {
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		vals := []float64{1.25, -3.5, 1e-300, math.Inf(1), 42}
		var tv []tval
		for i, f := range vals {
			tv = append(tv, tval{inst: int32(i), data: f64b(f)})
		}
		// A string first shifts the doubles by a word.
		rec := b.record(t0, dptr(PMID(1), TypeString, tval{inst: InstNull, data: strb("ab")}), dptr(PMID(2), TypeDouble, tv...))
		r := decodeOne(t, b, rec)
		s := &r.Sets()[1]
		odd := 0
		for j, want := range vals {
			val := r.Value(s, j)
			if f, ok := val.Float64(TypeDouble); !ok || f != want {
				t.Fatalf("v%d value %d: %v %v, want %v", v, j, f, ok, want)
			}
			off := 4*int(val.word) - 8 + 4
			if off%8 == 4 {
				odd++
			}
		}
		if odd == 0 {
			t.Fatalf("v%d: no value at 4 mod 8", v)
		}
	}
}

func TestMark(t *testing.T) {
	for v, want := range map[int]int{2: 20, 3: 24} {
		b := newBuilder(v)
		m := b.mark(t0 + 5*sec)
		if len(m) != want {
			t.Fatalf("v%d mark is %d bytes, want %d", v, len(m), want)
		}
		r := decodeOne(t, b, m)
		if !r.Mark || r.NumPMID != 0 || len(r.Sets()) != 0 || r.Time != t0+5*sec {
			t.Fatalf("v%d mark: %+v", v, r)
		}
	}
}

func TestDataRecordErrors(t *testing.T) {
	b := newBuilder(2)
	good := b.record(t0, dptr(PMID(1), TypeDouble, tval{inst: 0, data: f64b(1)}))
	// Offsets in good: 0 len, 4 stamp, 12 numpmid, 16 pmid, 20 numval,
	// 24 valfmt, 28 inst, 32 value word, 36 block header, 40 double, 48 len.
	patch := func(at int, v uint32) []byte {
		p := append([]byte(nil), good...)
		binary.BigEndian.PutUint32(p[at:], v)
		return p
	}
	cases := []struct {
		name string
		rec  []byte
		want string
	}{
		{"too short", cat(be32(16), make([]byte, 8), be32(16)), "too short"},
		{"negative numpmid", patch(12, 0xffffffff), "impossible value set count -1"},
		{"huge numpmid", patch(12, 1<<30), "impossible value set count"},
		{"numpmid 2", patch(12, 2), "value set 1"},
		{"numval huge", patch(20, 1<<30), "impossible value count"},
		{"numval 2", patch(20, 2), "value set 0"},
		{"valfmt 3", patch(24, 3), "bad value format 3"},
		{"valfmt -1", patch(24, 0xffffffff), "bad value format -1"},
		{"dptr 0", patch(32, 0), "outside the record"},
		{"dptr into header", patch(32, 3), "outside the record"},
		{"dptr past end", patch(32, 13), "outside the record"},
		{"dptr 2^32-1", patch(32, 0xffffffff), "outside the record"},
		{"dptr into value sets", patch(32, 10), "overlaps the value sets"},
		{"vlen 0", patch(36, uint32(TypeDouble)<<24), "value block length 0"},
		{"vlen past end", patch(36, uint32(TypeDouble)<<24|13), "value block length 13"},
		{"vlen max", patch(36, 0xffffffff), "value block length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Record{buf: c.rec}
			if msg := r.decode(12, nil); !strings.Contains(msg, c.want) || msg == "" {
				t.Fatalf("got %q, want %q", msg, c.want)
			}
		})
	}
	if msg := (&Record{buf: good}).decode(12, nil); msg != "" {
		t.Fatalf("good record: %s", msg)
	}
}

// ---------------------------------------------------------------------------
// Identifiers.

func TestStrings(t *testing.T) {
	cases := []struct {
		got  fmt.Stringer
		want string
	}{
		{PMID(60<<22 | 0<<10 | 1), "60.0.1"},
		{PMID(511<<22 | 2048<<10 | 5), "511.2048.5"},
		{PMID(0), "0.0.0"},
		{PMIDNull, "PM_ID_NULL"},
		{InDom(60<<22 | 1), "60.1"},
		{InDom(511<<22 | 0x3fffff), "511.4194303"},
		{InDomNull, "PM_INDOM_NULL"},
		{Units(0x01002000), "millisec"},
		{Units(0x00100000), "count"},
		{Units(0x10010000), "Kbyte"},
		{Units(0x0f103000), "count / sec"},
		{Units(0x1f013000), "Kbyte / sec"},
		{Units(0xf0000000), "1 / byte"},
		{Units(0x00100300), "count x 10^3"},
		{Units(0), ""},
		{Type32, "32"}, {TypeU64, "U64"}, {TypeDouble, "DOUBLE"}, {TypeString, "STRING"},
		{TypeNoSupport, "NOSUPPORT"}, {TypeHighResEvent, "HIGHRES_EVENT"}, {Type(42), "type(42)"},
		{SemCounter, "counter"}, {SemInstant, "instant"}, {SemDiscrete, "discrete"}, {Sem(2), "sem(2)"},
	}
	for i, c := range cases {
		if s := c.got.String(); s != c.want {
			t.Errorf("case %d: %q, want %q", i, s, c.want)
		}
	}
	p := PMID(60<<22 | 5<<10 | 7)
	if p.Domain() != 60 || p.Cluster() != 5 || p.Item() != 7 {
		t.Errorf("PMID fields %d.%d.%d", p.Domain(), p.Cluster(), p.Item())
	}
	u := Units(0x1f010300)
	if u.DimSpace() != 1 || u.DimTime() != -1 || u.DimCount() != 0 || u.ScaleSpace() != 1 || u.ScaleTime() != 0 || u.ScaleCount() != 3 {
		t.Errorf("units fields of %#x", uint32(u))
	}
	if !Type32.Numeric() || !TypeDouble.Numeric() || TypeString.Numeric() || TypeNoSupport.Numeric() {
		t.Error("Numeric")
	}
}

// ---------------------------------------------------------------------------
// File names.

func TestBaseName(t *testing.T) {
	cases := map[string]string{
		"foo":                         "foo",
		"foo.meta":                    "foo",
		"foo.index":                   "foo",
		"foo.0":                       "foo",
		"foo.12":                      "foo",
		"foo.0.xz":                    "foo",
		"foo.meta.zst":                "foo",
		"foo.index.gz":                "foo",
		"dir/20190628.04.03.1.xz":     "dir/20190628.04.03",
		"dir/20190628.04.03.meta":     "dir/20190628.04.03",
		"/a.b/c":                      "/a.b/c",
		"foo.bar":                     "foo.bar",
		".meta":                       ".meta",
		"foo.xz":                      "foo.xz",
		"/var/log/pcp/h/20250101.zst": "/var/log/pcp/h/20250101.zst",
	}
	for in, want := range cases {
		if got := BaseName(in); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), nil)
	}
}

func TestFindFiles(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir,
		"foo.meta", "foo.0", "foo.1.xz", "foo.3", "foo.index", "foo.7.bz2",
		"foobar.meta", "foobar.0", "foo.bar.0", "foo.notes", "foo.2x",
		// pmlogger_daily is compressing these right now: plain is complete.
		"dup.meta", "dup.meta.xz", "dup.0.xz", "dup.0", "dup.1.zst", "dup.index.xz",
		// A base name that itself ends in .NN.
		"20190628.04.03.meta.xz", "20190628.04.03.0.xz", "20190628.04.03.1.xz", "20190628.04.03.index",
		"nometa.0", "novol.meta",
	)
	j := func(n string) string { return filepath.Join(dir, n) }
	foo := Files{Base: j("foo"), Meta: j("foo.meta"), Index: j("foo.index"), Volumes: []VolumeFile{{0, j("foo.0")}, {1, j("foo.1.xz")}, {3, j("foo.3")}, {7, j("foo.7.bz2")}}}
	dup := Files{Base: j("dup"), Meta: j("dup.meta"), Index: j("dup.index.xz"), Volumes: []VolumeFile{{0, j("dup.0")}, {1, j("dup.1.zst")}}}
	nn := Files{Base: j("20190628.04.03"), Meta: j("20190628.04.03.meta.xz"), Index: j("20190628.04.03.index"), Volumes: []VolumeFile{{0, j("20190628.04.03.0.xz")}, {1, j("20190628.04.03.1.xz")}}}
	cases := map[string]Files{
		"foo": foo, "foo.meta": foo, "foo.0": foo, "foo.1.xz": foo, "foo.index": foo,
		"dup": dup, "dup.0.xz": dup, "dup.meta.xz": dup,
		"20190628.04.03": nn, "20190628.04.03.0.xz": nn, "20190628.04.03.meta.xz": nn, "20190628.04.03.index": nn,
	}
	for name, want := range cases {
		got, err := FindFiles(j(name))
		if err != nil {
			t.Errorf("FindFiles(%s): %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FindFiles(%s) =\n %+v\nwant\n %+v", name, got, want)
		}
	}
	for _, name := range []string{"nometa", "novol", "missing"} {
		if _, err := FindFiles(j(name)); err == nil {
			t.Errorf("FindFiles(%s) found an archive", name)
		}
	}
	// A volume that is not there still names the archive.
	if got, err := FindFiles(j("foo.5")); err != nil || !reflect.DeepEqual(got, foo) {
		t.Errorf("FindFiles(foo.5) = %+v, %v", got, err)
	}
	// A relative name in the current directory.
	t.Chdir(dir)
	got, err := FindFiles("foo.meta")
	if err != nil || got.Meta != "foo.meta" || got.Base != "foo" || got.Volumes[0].Path != "foo.0" {
		t.Fatalf("relative: %+v %v", got, err)
	}
}

// ---------------------------------------------------------------------------
// Whole archives built by the builder.

// TestIndexReadOnSeek: Open checks the label of .index but leaves its
// entries until a Reader seeks, and an index gone by then is no index.
func TestIndexReadOnSeek(t *testing.T) {
	b := newBuilder(2)
	vols := synthVolumes(b, 3, 10)
	base := b.write(t, t.TempDir(), "lazy", synthMeta(b), vols, b.autoIndex(vols))
	a := mustOpen(t, base)
	if a.index == nil || a.index.done || a.index.entries != nil {
		t.Fatalf("index loaded at open: %+v", a.index)
	}
	all := mustCollect(t, a, ReaderOptions{})
	if !a.index.done || len(a.Index()) != 30 {
		t.Fatalf("after a read: %d entries", len(a.Index()))
	}
	// A second archive, whose index disappears after open: reads still
	// find every record, by scanning.
	a2 := mustOpen(t, base)
	if err := os.Remove(base + ".index"); err != nil {
		t.Fatal(err)
	}
	mid := all[len(all)/2].T
	got := mustCollect(t, a2, ReaderOptions{Start: mid})
	var want []sample
	for _, x := range all {
		if x.T >= mid {
			want = append(want, x)
		}
	}
	if a2.Index() != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("index %v; got %d samples, want %d", a2.Index(), len(got), len(want))
	}
}

func TestSyntheticArchive(t *testing.T) {
	for _, v := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			b := newBuilder(v)
			vols := synthVolumes(b, 3, 10)
			base := b.write(t, t.TempDir(), "synth", synthMeta(b), vols, b.autoIndex(vols))
			a := mustOpen(t, base+".meta")
			if len(a.Warnings) != 0 || len(a.Index()) != 30 || a.Label.Hostname != "testhost" || a.Label.Version != v {
				t.Fatalf("archive %+v", a)
			}
			got, tail, err := collect(a, ReaderOptions{})
			if err != nil || tail {
				t.Fatal(err, tail)
			}
			var want []sample
			off := int64(labelLen(v))
			for i := 0; i < 30; i++ {
				if i%10 == 0 {
					off = int64(labelLen(v))
				}
				ts, vol := t0+int64(i)*sec, i/10
				rec := synthRecord(b, i)
				s := func(p PMID, inst int32, n int32, val string) sample {
					return sample{T: ts, Vol: vol, Off: off, PMID: p, NumVal: n, Inst: inst, V: val}
				}
				switch {
				case i%7 == 6:
					want = append(want, sample{T: ts, Vol: vol, Off: off, Mark: true})
				default:
					want = append(want, s(pmidU32, InstNull, 1, strconv.Itoa(i)),
						s(pmidDouble, 0, 2, strconv.FormatFloat(float64(i)+0.5, 'g', -1, 64)),
						s(pmidDouble, 1, 2, strconv.FormatFloat(-float64(i), 'g', -1, 64)))
					if i%5 == 4 {
						want = append(want, sample{T: ts, Vol: vol, Off: off, PMID: pmidString, NumVal: -12389})
					} else {
						want = append(want, s(pmidString, InstNull, 1, strconv.Quote("name-"+strconv.Itoa(i))))
					}
					want = append(want, s(pmidU64, 0, 2, strconv.FormatFloat(float64(1<<40+uint64(i)), 'g', -1, 64)),
						s(pmidU64, 1, 2, strconv.Itoa(i)))
				}
				off += int64(len(rec))
			}
			diffSamples(t, "synthetic", got, want)
		})
	}
}

// TestIndex decodes both index versions, partial trailing entry included.
func TestIndex(t *testing.T) {
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		es := []IndexEntry{
			{Time: t0, Vol: 0, MetaOff: 132, DataOff: 132},
			{Time: t0 + 5*sec, Vol: 1, MetaOff: 4000, DataOff: 2000},
			{Time: t0 + 9*sec, Vol: 1, MetaOff: -1, DataOff: -2},
		}
		buf := b.index(es...)
		if got := decodeIndex(buf, v); !reflect.DeepEqual(got, es) {
			t.Errorf("v%d: %+v", v, got)
		}
		if got := decodeIndex(buf[:len(buf)-1], v); !reflect.DeepEqual(got, es[:2]) {
			t.Errorf("v%d partial: %+v", v, got)
		}
		if got := decodeIndex(buf[:labelLen(v)], v); len(got) != 0 {
			t.Errorf("v%d empty: %+v", v, got)
		}
		if v == 3 {
			// Plain signed BE64 offsets.
			big := b.index(IndexEntry{Time: t0, DataOff: 1 << 40, MetaOff: 808})
			if got := decodeIndex(big, 3); got[0].DataOff != 1<<40 {
				t.Errorf("v3 64-bit offset: %+v", got)
			}
		}
	}
}

// TestIndexSeek starts readers at every record time, with good, stale and
// out-of-range index entries: what they return must equal a full scan cut to
// the window.
func TestIndexSeek(t *testing.T) {
	for _, v := range []int{2, 3} {
		b := newBuilder(v)
		vols := synthVolumes(b, 3, 8)
		good := b.autoIndex(vols)
		ll := int64(labelLen(v))
		sz := func(vol int) int64 { return int64(len(b.volume(int32(vol), vols[vol]))) }
		mid := good[9]
		mid.DataOff += 8 // inside a record
		cases := map[string][]IndexEntry{
			"good":        good,
			"none":        nil,
			"first only":  good[:1],
			"every 5th":   {good[0], good[5], good[10], good[15], good[20]},
			"mid record":  append(append(append([]IndexEntry{}, good[:9]...), mid), good[10:]...),
			"past end":    {good[0], {Time: good[3].Time, Vol: 0, DataOff: sz(0) + 400}, {Time: good[12].Time, Vol: 1, DataOff: 1 << 20}},
			"at end":      {good[0], {Time: good[7].Time, Vol: 0, DataOff: sz(0)}, good[8]},
			"negative":    {{Time: good[4].Time, Vol: 0, DataOff: -4}, {Time: good[12].Time, Vol: 1, DataOff: -1 << 40}},
			"in label":    {{Time: good[4].Time, Vol: 0, DataOff: 4}, {Time: good[12].Time, Vol: 1, DataOff: ll - 4}},
			"past label":  {{Time: good[4].Time, Vol: 0, DataOff: ll + 4}, {Time: good[12].Time, Vol: 1, DataOff: ll + 1}},
			"no such vol": {{Time: good[4].Time, Vol: 9, DataOff: ll}, {Time: good[12].Time, Vol: -1, DataOff: ll}},
			"unaligned":   {{Time: good[4].Time, Vol: 0, DataOff: good[4].DataOff + 1}, {Time: good[12].Time, Vol: 1, DataOff: good[12].DataOff + 2}},
			"wrong vol":   {{Time: good[4].Time, Vol: 2, DataOff: good[4].DataOff}, {Time: good[12].Time, Vol: 0, DataOff: good[20].DataOff}},
			"stale times": {{Time: t0 - 100*sec, Vol: 2, DataOff: ll}, {Time: t0 - 50*sec, Vol: 1, DataOff: good[11].DataOff}},
		}
		for name, idx := range cases {
			t.Run(fmt.Sprintf("v%d/%s", v, name), func(t *testing.T) {
				dir := t.TempDir()
				base := b.write(t, dir, "a", synthMeta(b), vols, nil)
				if idx != nil {
					writeFile(t, base+".index", b.index(idx...))
				}
				a := mustOpen(t, base)
				noIdx := *a
				noIdx.index = nil
				all := mustCollect(t, &noIdx, ReaderOptions{})
				if len(all) < 24 {
					t.Fatalf("full scan: %d samples", len(all))
				}
				step := 1
				if testing.Short() {
					step = 3
				}
				for i := 0; i < 24; i += step {
					start := t0 + int64(i)*sec
					for _, s := range []int64{start - 1, start, start + 1} {
						got := mustCollect(t, a, ReaderOptions{Start: s})
						diffSamples(t, fmt.Sprintf("Start t0%+.9fs", float64(s-t0)/1e9), got, inWindow(all, s, 0))
					}
				}
				if name == "good" {
					r := a.NewReader(ReaderOptions{Start: t0 + 20*sec})
					if r.vi != 2 || !r.hinted {
						t.Fatalf("the index was not used: vol %d off %d", r.vi, r.off)
					}
					r.Close()
				}
			})
		}
	}
}

// inWindow cuts samples to [start, end] (end 0: no end).
func inWindow(all []sample, start, end int64) []sample {
	var out []sample
	for _, s := range all {
		if s.T >= start && (end == 0 || s.T <= end) {
			out = append(out, s)
		}
	}
	return out
}

func only(all []sample, ps ...PMID) []sample {
	var out []sample
	for _, s := range all {
		if s.Mark {
			continue
		}
		for _, p := range ps {
			if s.PMID == p {
				out = append(out, s)
			}
		}
	}
	return out
}

func dropMarks(ss []sample) []sample {
	var out []sample
	for _, s := range ss {
		if !s.Mark {
			out = append(out, s)
		}
	}
	return out
}

// realArchives are the archives every whole-archive test reads: the ones
// copied into testdata, and the PCP QA copies when they are present.
func realArchives(t *testing.T) []string {
	out := []string{
		"testdata/ok-mv-foo/ok-mv-foo",
		"testdata/ok-foo_v3/ok-foo_v3",
		"testdata/sample-labels/sample-labels",
		"testdata/value-test/value-test",
	}
	if !testing.Short() {
		for _, n := range []string{"20190628.04.03", "sample-proc_v3", "interpmark", "disk-a", "ok-mv-bar", "tzchange-10-a"} {
			p := filepath.Join("..", "testdata", "pcp-qa", n, n)
			if _, err := os.Stat(filepath.Dir(p)); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// TestWindowAndFilter checks that time windows and PMID filters return
// exactly what a full scan returns for the same window and metrics.
func TestWindowAndFilter(t *testing.T) {
	for _, name := range realArchives(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			a := mustOpen(t, name)
			all := mustCollect(t, a, ReaderOptions{})
			var times []int64
			for _, s := range all {
				if len(times) == 0 || s.T != times[len(times)-1] {
					if len(times) > 0 && s.T < times[len(times)-1] {
						t.Fatalf("time goes backwards at %v", s)
					}
					times = append(times, s.T)
				}
			}
			step := 1
			if testing.Short() && len(times) > 6 {
				step = len(times) / 6
			}
			for i := 0; i < len(times); i += step {
				for _, j := range []int{i, i + 1, i + 3, len(times) - 1} {
					if j >= len(times) {
						continue
					}
					for _, d := range []int64{-1, 0, 1} {
						start, end := times[i]+d, times[j]-d
						got := mustCollect(t, a, ReaderOptions{Start: start, End: end})
						diffSamples(t, fmt.Sprintf("window [%d, %d]", start, end), got, inWindow(all, start, end))
					}
				}
			}
			// Past the end and before the start.
			if got := mustCollect(t, a, ReaderOptions{Start: times[len(times)-1] + 1}); len(got) != 0 {
				t.Fatalf("after the end: %v", got)
			}
			if got := mustCollect(t, a, ReaderOptions{Start: times[0] - 10*sec, End: times[0] - 1}); len(got) != 0 {
				t.Fatalf("before the start: %v", got)
			}
			// PMID filters, alone and with a window. Marks still come through.
			for k, d := range a.Meta.Descs {
				if testing.Short() && k > 2 {
					break
				}
				got := mustCollect(t, a, ReaderOptions{PMIDs: []PMID{d.PMID}})
				diffSamples(t, "PMID "+d.PMID.String(), dropMarks(got), only(all, d.PMID))
				mid := times[len(times)/2]
				got = mustCollect(t, a, ReaderOptions{PMIDs: []PMID{d.PMID, PMIDNull}, Start: mid})
				diffSamples(t, "PMID "+d.PMID.String()+" from mid", dropMarks(got), only(inWindow(all, mid, 0), d.PMID))
			}
			if got := mustCollect(t, a, ReaderOptions{PMIDs: []PMID{}}); len(dropMarks(got)) != 0 {
				t.Fatalf("empty PMID filter returned values")
			}
		})
	}
}

// TestOpenFilesWithoutVolumes: OpenFiles is exported and may be handed Files
// with no volumes.
func TestOpenFilesWithoutVolumes(t *testing.T) {
	_, err := OpenFiles(Files{Base: "testdata/ok-foo_v3/ok-foo_v3", Meta: "testdata/ok-foo_v3/ok-foo_v3.meta"})
	if err == nil || !strings.Contains(err.Error(), "no data volumes") {
		t.Fatalf("got %v", err)
	}
}
