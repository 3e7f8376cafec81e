package coltable

import (
	"encoding/binary"
	"hash/crc32"
	"sort"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// Join makes the whole table of archive m, at path, from the tables of
// the archives its records were copied from, without reading m's records
// (docs/column-tables.md §10a). pmlogextract, merging a day's pieces
// (YYYYMMDD.HH.MM) into the day (YYYYMMDD) as pmlogger_daily does, copies
// every record of each piece byte for byte, in order, and puts a <mark>
// stamped 1 ms after each piece's last record between one piece and the
// next (none when the pieces' prologue and epilogue records show that
// nothing was missed); its label, .meta and .index are its own.
//
// cands are tables the caller has of the same host (any order; m's own
// excluded). Join picks the one whose first record is m's first, then
// each next in time, until their records fill m's volumes, and takes m
// to be their merge only when everything that can be known of m without
// decompressing it agrees (planJoin): the sizes of its volumes, every
// entry of its index, the records in the first 4 KiB of each volume, and
// its descriptors and instance names; in plain volumes also the records
// the index points at and the marks. The table is then the pieces'
// series joined as one builder reading m's records would have made them
// (appendPart): a <mark> between pieces ends every open series; chunks
// are copied, not decoded, so a series' last chunk in a piece may hold
// fewer than 120 samples.
//
// A nil table and error say that m is not shown to be such a merge (why
// says what differs): the caller builds m's table from its records.
// pieces is how many tables were joined.
func Join(m *archive.Archive, cands []*Table, path string) (t *Table, pieces int, why string, err error) {
	p, why, err := planJoin(m, cands)
	if p == nil || err != nil {
		return nil, 0, why, err
	}
	var b *tableBuilder
	for i, pt := range p.pieces {
		pb, err := loadTable(m, pt)
		if err != nil {
			return nil, 0, "", err
		}
		if i == 0 {
			b = pb
			continue
		}
		if p.marks {
			pb.firstMark = floorMs(p.markAt[i])
		}
		b.appendPart(pb)
	}
	b.hist = p.hist
	t, err = b.write(path, false)
	return t, len(p.pieces), "", err
}

// joinPlan is the pieces of a merge and the records of the merged
// archive they make.
type joinPlan struct {
	pieces []*Table
	marks  bool
	markAt []int64 // ns of the <mark> before piece i (i > 0), with marks
	hist   *history
}

// markLen is the length of a <mark> record: length, timestamp, numpmid 0,
// length (v2 12 bytes of header before numpmid, v3 16).
func markLen(version int) int {
	if version == 3 {
		return 24
	}
	return 20
}

// markRecord is the <mark> pmlogextract writes at t: its bytes.
func markRecord(version int, t int64) []byte {
	n := markLen(version)
	b := make([]byte, 0, n)
	be := binary.BigEndian
	b = be.AppendUint32(b, uint32(n))
	sec, nsec := t/1e9, t%1e9
	if version == 3 {
		b = be.AppendUint32(b, uint32(uint64(sec)))
		b = be.AppendUint32(b, uint32(uint64(sec)>>32))
		b = be.AppendUint32(b, uint32(nsec))
	} else {
		b = be.AppendUint32(b, uint32(sec))
		b = be.AppendUint32(b, uint32(nsec/1e3))
	}
	b = be.AppendUint32(b, 0)
	return be.AppendUint32(b, uint32(n))
}

// joinHead is how much of each of m's volumes planJoin reads: what
// archive.ContentID reads, the first block's start for a compressed one.
const joinHead = 4096

// planJoin finds the pieces m is a merge of, or returns nil.
func planJoin(m *archive.Archive, cands []*Table) (*joinPlan, string, error) {
	ver := m.Label.Version
	ll := int64(archive.LabelLen(ver))
	vols := m.Files.Volumes
	if len(vols) == 0 || len(cands) == 0 {
		return nil, "no volumes or no candidate tables", nil
	}
	sizes := make([]int64, len(vols))
	var data int64
	for i, v := range vols {
		n, ok, err := archive.DecompressedSize(v.Path)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "a volume's size is not known without decompressing it", nil
		}
		if n < ll {
			return nil, "a volume shorter than its label", nil
		}
		sizes[i], data = n, data+n-ll
	}
	heads := make([][]byte, len(vols))
	for i, v := range vols {
		heads[i] = make([]byte, min(sizes[i], joinHead))
		if err := archive.ReadDecompressedAt(v.Path, nil, heads[i], 0); err != nil {
			return nil, "", err
		}
	}
	if int64(len(heads[0])) < ll+16 {
		return nil, "no record in the first volume", nil
	}
	t0 := archive.RecordTime(ver, heads[0][ll:])

	// The chain of pieces: the first starts with m's first record, each
	// next is the first to start after the last record of the one
	// before, until their records (and the marks between them) are as
	// many bytes as m's volumes hold.
	sorted := append([]*Table(nil), cands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].First < sorted[j].First })
	p := &joinPlan{}
	var hists []*history
	var total int64
	after := int64(-1 << 63)
	for {
		var cur *Table
		for _, c := range sorted {
			if c.Tail == nil && (len(p.pieces) == 0 && c.First == t0 || len(p.pieces) > 0 && c.First > after) {
				cur = c
				break
			}
		}
		if cur == nil && len(p.pieces) == 0 {
			return nil, "no table starts with its first record", nil
		}
		if cur == nil {
			return nil, "no table holds its records after " + time.Unix(0, after).UTC().Format(time.RFC3339Nano), nil
		}
		h, err := cur.readHistory()
		if err != nil {
			return nil, "", err
		}
		if h.version != ver || h.host != m.Label.Hostname || len(h.recs) == 0 {
			return nil, "a piece of another host or format version, or without records", nil
		}
		p.pieces, hists = append(p.pieces, cur), append(hists, h)
		total += h.bytes()
		k := int64(len(p.pieces))
		if total == data {
			break
		}
		if k > 1 && total+(k-1)*int64(markLen(ver)) == data {
			p.marks = true
			break
		}
		if total > data {
			return nil, "the pieces hold more bytes of records than its volumes", nil
		}
		after = h.recs[len(h.recs)-1].t
	}

	// m's records, as the pieces and the marks make them. Samples of one
	// millisecond on both sides of a seam are left to a build.
	mh := &history{version: ver, host: m.Label.Hostname}
	var marks []int // record numbers of the marks
	p.markAt = make([]int64, len(hists))
	for i, h := range hists {
		if i > 0 {
			last := hists[i-1].recs[len(hists[i-1].recs)-1].t
			edge := last
			if p.marks {
				p.markAt[i] = last + 1e6
				edge = p.markAt[i]
				raw := markRecord(ver, p.markAt[i])
				marks = append(marks, len(mh.recs))
				mh.recs = append(mh.recs, recInfo{t: p.markAt[i], n: uint32(len(raw)), sum: crc32.Checksum(raw, castagnoli)})
			}
			if floorMs(h.recs[0].t) <= floorMs(edge) {
				return nil, "samples of one millisecond on both sides of a seam", nil
			}
		}
		mh.recs = append(mh.recs, h.recs...)
	}

	// Where each record lies: a record never spans volumes, and each
	// volume ends where a record does.
	type place struct {
		vol int
		off int64
	}
	at := make([]place, len(mh.recs))
	vi, off := 0, ll
	for i, r := range mh.recs {
		for off == sizes[vi] && vi+1 < len(vols) {
			vi, off = vi+1, ll
		}
		if off+int64(r.n) > sizes[vi] {
			return nil, "a record would span volumes", nil
		}
		at[i] = place{vi, off}
		off += int64(r.n)
	}
	if vi != len(vols)-1 || off != sizes[vi] {
		return nil, "its volumes do not end where the records do", nil
	}
	find := func(vol int, off int64) int {
		i := sort.Search(len(at), func(i int) bool { return at[i].vol > vol || at[i].vol == vol && at[i].off >= off })
		if i < len(at) && at[i] == (place{vol, off}) {
			return i
		}
		return -1
	}
	lastIn := func(vol int) int {
		return sort.Search(len(at), func(i int) bool { return at[i].vol > vol }) - 1
	}

	// Every index entry points at a record of its time, or at the end of
	// a volume with the time of the volume's last record.
	volOf := map[int32]int{}
	for i, v := range vols {
		volOf[int32(v.Num)] = i
	}
	check := map[int]bool{} // records to read, in plain volumes
	for _, e := range m.Index() {
		vi, ok := volOf[e.Vol]
		if !ok {
			return nil, "an index entry names a volume it has not", nil
		}
		i := find(vi, e.DataOff)
		if i < 0 && e.DataOff == sizes[vi] {
			i = lastIn(vi)
		} else if i >= 0 {
			check[i] = true
		}
		if i < 0 || mh.recs[i].t != e.Time {
			return nil, "an index entry is not at a record of its time", nil
		}
	}
	for _, i := range marks {
		check[i] = true
	}
	check[len(mh.recs)-1] = true

	// The records each volume's head holds whole are the same bytes; in a
	// plain volume, so are the records checked above.
	for i, r := range mh.recs {
		pl := at[i]
		head := heads[pl.vol]
		if pl.off+int64(r.n) <= int64(len(head)) {
			if crc32.Checksum(head[pl.off:pl.off+int64(r.n)], castagnoli) != r.sum {
				return nil, "a record in a volume's head differs", nil
			}
			continue
		}
		if !check[i] || archive.IsCompressed(vols[pl.vol].Path) {
			continue
		}
		b := make([]byte, r.n)
		if err := archive.ReadDecompressedAt(vols[pl.vol].Path, nil, b, pl.off); err != nil {
			return nil, "", err
		}
		if crc32.Checksum(b, castagnoli) != r.sum {
			return nil, "a record the index points at differs", nil
		}
	}

	// m's metadata describes the pieces' metrics as theirs did, and names
	// their instances as theirs did at their samples' times.
	res := map[archive.InDom]*archive.Resolver{}
	nameAt := func(id archive.InDom, inst int32, ms int64) (string, bool) {
		h := m.Meta.InDoms[id]
		if h == nil {
			return "", false
		}
		r := res[id]
		if r == nil {
			r = h.Resolver()
			res[id] = r
		}
		r.At(ms*1e6 + 999999)
		if n, ok := r.Name(inst); ok {
			return n, true
		}
		return h.NameAnyTime(inst)
	}
	for k, pt := range p.pieces {
		for i := range hists[k].descs {
			d := &hists[k].descs[i]
			md, ok := m.Meta.Desc(d.PMID)
			if !ok || archive.DescChange(md, d) != "" {
				return nil, "a descriptor differs from a piece's", nil
			}
		}
		for i := range pt.Series {
			s := &pt.Series[i]
			md, ok := m.Meta.Desc(s.PMID)
			if !ok {
				return nil, "a series' metric has no descriptor", nil
			}
			if md.InDom == archive.InDomNull {
				if s.Named {
					return nil, "a singular metric's series is named", nil
				}
				continue
			}
			for _, ms := range [2]int64{s.MinT, s.MaxT} {
				if n, named := nameAt(md.InDom, s.Inst, ms); named != s.Named || n != s.IName {
					return nil, "an instance is named otherwise", nil
				}
			}
		}
	}
	p.hist = mh
	return p, "", nil
}
