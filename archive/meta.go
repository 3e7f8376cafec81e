package archive

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
)

// .meta record types (libpcp.h TYPE_*).
const (
	recDesc       = 1
	recInDomV2    = 2
	recLabelV2    = 3
	recText       = 4
	recInDom      = 5
	recInDomDelta = 6
	recLabel      = 7
)

var metaRecNames = [...]string{"", "DESC", "INDOM_V2", "LABEL_V2", "TEXT", "INDOM", "INDOM_DELTA", "LABEL"}

// Label types (PM_LABEL_*), the level of the hierarchy a label set belongs to.
const (
	LabelContext   uint32 = 1 << 0
	LabelDomain    uint32 = 1 << 1
	LabelInDom     uint32 = 1 << 2
	LabelCluster   uint32 = 1 << 3
	LabelItem      uint32 = 1 << 4
	LabelInstances uint32 = 1 << 5

	labelCompound = 0x40 // PM_LABEL_COMPOUND
	LabelOptional = 0x80 // PM_LABEL_OPTIONAL: not identifying in PCP's model
)

// Help text types (PM_TEXT_*).
const (
	TextOneLine uint32 = 1
	TextHelp    uint32 = 2
	TextPMID    uint32 = 4
	TextInDom   uint32 = 8
)

// MetaLabel is one name/value pair of a label set. Value is the raw JSON
// token: string values keep their quotes.
type MetaLabel struct {
	Name  string
	Value string
	Flags uint8
}

// LabelSet is the labels of one instance (Inst) or, for the other levels, of
// the whole level (Inst == InstNull).
type LabelSet struct {
	Inst   int32
	JSON   string
	Labels []MetaLabel
}

// LabelRecord is a LABEL record: the label sets of one (Type, Ident) from
// Time onwards.
type LabelRecord struct {
	Time  int64
	Type  uint32 // one of the Label* level constants
	Ident uint32
	Sets  []LabelSet
}

// TextKey identifies a help text.
type TextKey struct {
	Type  uint32 // TextOneLine or TextHelp, with TextPMID or TextInDom
	Ident uint32
}

// DuplicateName records a name bound to two PMIDs; the first PMID wins.
type DuplicateName struct {
	Name        string
	Kept, Extra PMID
}

// Meta is the decoded metadata of an archive.
type Meta struct {
	Descs      []*Desc // in the order their DESC records appear
	descs      map[PMID]*Desc
	names      map[string]PMID
	Duplicates []DuplicateName
	InDoms     map[InDom]*InDomHistory
	Labels     []LabelRecord
	Texts      map[TextKey]string

	file string // for errors
	size int64  // bytes of .meta decoded so far (end of the last whole record)
}

func newMeta(file string) *Meta {
	return &Meta{
		descs:  map[PMID]*Desc{},
		names:  map[string]PMID{},
		InDoms: map[InDom]*InDomHistory{},
		Texts:  map[TextKey]string{},
		file:   file,
	}
}

// Size is how many bytes of .meta are decoded: it grows only when Refresh
// finds new records, so a caller can tell that nothing changed.
func (m *Meta) Size() int64 { return m.size }

// Desc returns the descriptor of a PMID.
func (m *Meta) Desc(p PMID) (*Desc, bool) {
	d, ok := m.descs[p]
	return d, ok
}

// Lookup returns the PMID bound to a metric name.
func (m *Meta) Lookup(name string) (PMID, bool) {
	p, ok := m.names[name]
	return p, ok
}

// Text returns a help text.
func (m *Meta) Text(typ, ident uint32) (string, bool) {
	t, ok := m.Texts[TextKey{typ, ident}]
	return t, ok
}

// LabelSets returns the label sets of level typ for ident in force at time t:
// the record with the largest timestamp <= t (libpcp __pmLogLookupLabel).
func (m *Meta) LabelSets(typ, ident uint32, t int64) []LabelSet {
	var best *LabelRecord
	for i := range m.Labels {
		r := &m.Labels[i]
		if r.Type&^(labelCompound|LabelOptional) != typ || r.Ident != ident || r.Time > t {
			continue
		}
		if best == nil || r.Time >= best.Time {
			best = r
		}
	}
	if best == nil {
		return nil
	}
	return best.Sets
}

// decode parses .meta records from buf, which starts at file offset base.
// It stops before a partial record at the end (pmlogger has not finished
// writing it) and returns how many bytes were consumed.
func (m *Meta) decode(buf []byte, base int64, version int) (int, error) {
	off := 0
	for {
		rest := buf[off:]
		if len(rest) < 8 {
			return off, nil // partial header at EOF: not written yet
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n < 12 {
			return off, formatErr(m.file, base+int64(off), "meta record", "length %d too short", n)
		}
		if n > len(rest) {
			return off, nil // partial body at EOF: not written yet
		}
		if t := int(binary.BigEndian.Uint32(rest[n-4:])); t != n {
			if n == len(rest) {
				return off, nil // a torn write at EOF
			}
			return off, formatErr(m.file, base+int64(off), "meta record", "trailer length %d != header %d", t, n)
		}
		typ := binary.BigEndian.Uint32(rest[4:])
		p := rest[8 : n-4]
		at := base + int64(off)
		var err error
		switch typ {
		case recDesc:
			err = m.decodeDesc(p, at)
		case recInDomV2:
			err = m.decodeInDom(p, at, 8, false)
		case recInDom:
			err = m.decodeInDom(p, at, 12, false)
		case recInDomDelta:
			err = m.decodeInDom(p, at, 12, true)
		case recLabelV2:
			err = m.decodeLabel(p, at, 8)
		case recLabel:
			err = m.decodeLabel(p, at, 12)
		case recText:
			m.decodeText(p)
		default:
			err = formatErr(m.file, at, "meta record", "unknown record type %d", typ)
		}
		if err != nil {
			return off, err
		}
		off += n
	}
}

func (m *Meta) decodeDesc(p []byte, at int64) error {
	if len(p) < 20 {
		return formatErr(m.file, at, "DESC", "payload %d bytes, want at least 20", len(p))
	}
	d := &Desc{
		PMID:  PMID(binary.BigEndian.Uint32(p)),
		Type:  Type(int32(binary.BigEndian.Uint32(p[4:]))),
		InDom: InDom(binary.BigEndian.Uint32(p[8:])),
		Sem:   Sem(int32(binary.BigEndian.Uint32(p[12:]))),
		Units: Units(binary.BigEndian.Uint32(p[16:])),
	}
	// The writer omits the numnames word when there are no names.
	if len(p) > 20 {
		if len(p) < 24 {
			return formatErr(m.file, at, "DESC", "truncated name count")
		}
		nn := int(int32(binary.BigEndian.Uint32(p[20:])))
		q := p[24:]
		if nn < 0 || nn > len(q)/4 {
			return formatErr(m.file, at, "DESC", "impossible name count %d for %d bytes", nn, len(q))
		}
		for i := 0; i < nn; i++ {
			if len(q) < 4 {
				return formatErr(m.file, at, "DESC", "name %d of %d: truncated length", i+1, nn)
			}
			l := int(binary.BigEndian.Uint32(q))
			if l < 0 || l > len(q)-4 {
				return formatErr(m.file, at, "DESC", "name %d of %d: length %d beyond the record", i+1, nn, l)
			}
			// libpcp reads the name as a C string: some writers (a 1997
			// IRIX pmlogger) count NUL padding in the length.
			if n := cString(q[4 : 4+l]); len(n) > 0 {
				d.Names = append(d.Names, string(n))
			}
			q = q[4+l:]
		}
	}
	if old, ok := m.descs[d.PMID]; ok {
		// libpcp's __pmLogAddDesc: a second DESC must agree; names add up.
		if err := DescChange(old, d); err != "" {
			return formatErr(m.file, at, "DESC", "metric %s: %s", d.PMID, err)
		}
		for _, n := range d.Names {
			if !contains(old.Names, n) {
				old.Names = append(old.Names, n)
				m.addName(n, d.PMID)
			}
		}
		return nil
	}
	m.descs[d.PMID] = d
	m.Descs = append(m.Descs, d)
	for _, n := range d.Names {
		m.addName(n, d.PMID)
	}
	return nil
}

// DescChange says how two descriptors of one PMID differ, "" if they
// agree: within an archive (a second DESC must agree) and across the
// archives of a namespace. Only dimension, scale and (since PCP 7.2)
// extra-unit bits matter: all of the pmUnits word.
func DescChange(a, b *Desc) string {
	switch {
	case a.Type != b.Type:
		return fmt.Sprintf("type changed from %s to %s", a.Type, b.Type)
	case a.Sem != b.Sem:
		return fmt.Sprintf("semantics changed from %s to %s", a.Sem, b.Sem)
	case a.InDom != b.InDom:
		return fmt.Sprintf("instance domain changed from %s to %s", a.InDom, b.InDom)
	case a.Units != b.Units:
		return fmt.Sprintf("units changed from %q to %q", a.Units, b.Units)
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (m *Meta) addName(n string, p PMID) {
	if old, ok := m.names[n]; ok {
		if old != p {
			m.Duplicates = append(m.Duplicates, DuplicateName{Name: n, Kept: old, Extra: p})
		}
		return
	}
	m.names[n] = p
}

func (m *Meta) decodeInDom(p []byte, at int64, tsLen int, delta bool) error {
	kind := "INDOM"
	if delta {
		kind = "INDOM_DELTA"
	}
	if len(p) < tsLen+8 {
		return formatErr(m.file, at, kind, "payload %d bytes too short", len(p))
	}
	var t int64
	if tsLen == 8 {
		t = v2Time(p)
	} else {
		t = v3Time(p)
	}
	indom := InDom(binary.BigEndian.Uint32(p[tsLen:]))
	num := int(int32(binary.BigEndian.Uint32(p[tsLen+4:])))
	q := p[tsLen+8:]
	if num < 0 || num > len(q)/8 {
		return formatErr(m.file, at, kind, "indom %s: impossible instance count %d for %d bytes", indom, num, len(q))
	}
	strtab := q[8*num:]
	// One string conversion for the table; names are slices of it.
	tab := string(strtab)
	obs := inDomRecord{time: t, delta: delta, insts: make([]int32, num), names: make([]string, num)}
	for i := 0; i < num; i++ {
		inst := int32(binary.BigEndian.Uint32(q[4*i:]))
		idx := int(int32(binary.BigEndian.Uint32(q[4*num+4*i:])))
		if inst < 0 {
			return formatErr(m.file, at, kind, "indom %s: negative instance id %d", indom, inst)
		}
		obs.insts[i] = inst
		if delta && idx == -1 {
			obs.names[i] = ""
			obs.deleted = append(obs.deleted, i)
			continue
		}
		if idx < 0 || idx >= len(tab) {
			return formatErr(m.file, at, kind, "indom %s: instance %d: name offset %d outside the string table (%d bytes)", indom, inst, idx, len(tab))
		}
		end := bytes.IndexByte(strtab[idx:], 0)
		if end < 0 {
			return formatErr(m.file, at, kind, "indom %s: instance %d: name without NUL", indom, inst)
		}
		obs.names[i] = tab[idx : idx+end]
	}
	h := m.InDoms[indom]
	if h == nil {
		h = &InDomHistory{InDom: indom}
		m.InDoms[indom] = h
	}
	if delta && len(h.recs) == 0 {
		return formatErr(m.file, at, kind, "indom %s: delta record before any full record", indom)
	}
	h.recs = append(h.recs, obs)
	return nil
}

func (m *Meta) decodeLabel(p []byte, at int64, tsLen int) error {
	if len(p) < tsLen+12 {
		return formatErr(m.file, at, "LABEL", "payload %d bytes too short", len(p))
	}
	r := LabelRecord{Type: binary.BigEndian.Uint32(p[tsLen:]), Ident: binary.BigEndian.Uint32(p[tsLen+4:])}
	if tsLen == 8 {
		r.Time = v2Time(p)
	} else {
		r.Time = v3Time(p)
	}
	nsets := int(int32(binary.BigEndian.Uint32(p[tsLen+8:])))
	q := p[tsLen+12:]
	if nsets < 0 || nsets > len(q)/12 {
		return formatErr(m.file, at, "LABEL", "impossible label set count %d for %d bytes", nsets, len(q))
	}
	r.Sets = make([]LabelSet, 0, nsets)
	for i := 0; i < nsets; i++ {
		if len(q) < 8 {
			return formatErr(m.file, at, "LABEL", "label set %d: truncated", i)
		}
		ls := LabelSet{Inst: int32(binary.BigEndian.Uint32(q))}
		jl := int(int32(binary.BigEndian.Uint32(q[4:])))
		if jl < 0 || jl > 65535 || jl > len(q)-12 {
			return formatErr(m.file, at, "LABEL", "label set %d: JSON length %d beyond the record", i, jl)
		}
		json := string(q[8 : 8+jl])
		ls.JSON = json
		nl := int(int32(binary.BigEndian.Uint32(q[8+jl:])))
		q = q[12+jl:]
		if nl < 0 {
			// A negative count is an error code from the PMDA; no entries follow.
			r.Sets = append(r.Sets, ls)
			continue
		}
		if nl > 255 || nl > len(q)/8 {
			return formatErr(m.file, at, "LABEL", "label set %d: impossible label count %d", i, nl)
		}
		for j := 0; j < nl; j++ {
			e := q[8*j:]
			no, nlen := int(binary.BigEndian.Uint16(e)), int(e[2])
			flags := e[3]
			vo, vlen := int(binary.BigEndian.Uint16(e[4:])), int(binary.BigEndian.Uint16(e[6:]))
			if no+nlen > jl || vo+vlen > jl {
				return formatErr(m.file, at, "LABEL", "label set %d, label %d: offsets outside the JSON (%d bytes)", i, j, jl)
			}
			ls.Labels = append(ls.Labels, MetaLabel{Name: json[no : no+nlen], Value: json[vo : vo+vlen], Flags: flags})
		}
		q = q[8*nl:]
		r.Sets = append(r.Sets, ls)
	}
	m.Labels = append(m.Labels, r)
	return nil
}

func (m *Meta) decodeText(p []byte) {
	if len(p) < 8 {
		return // libpcp skips bad text records
	}
	typ := binary.BigEndian.Uint32(p)
	ident := binary.BigEndian.Uint32(p[4:])
	if typ&(TextOneLine|TextHelp) == 0 || typ&(TextPMID|TextInDom) == 0 {
		return
	}
	m.Texts[TextKey{typ, ident}] = string(cString(p[8:]))
}

// cString is b up to its first NUL, as libpcp reads the strings of .meta.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// finish orders time-versioned metadata after a decode pass.
func (m *Meta) finish() {
	for _, h := range m.InDoms {
		// Stable: records with equal stamps keep file order, and a delta
		// applies to the state before it.
		sort.SliceStable(h.recs, func(i, j int) bool { return h.recs[i].time < h.recs[j].time })
	}
	sort.SliceStable(m.Labels, func(i, j int) bool { return m.Labels[i].Time < m.Labels[j].Time })
}
