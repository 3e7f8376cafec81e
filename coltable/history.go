package coltable

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// history is what a table keeps of the records it was built from (the
// records section, docs/column-tables.md §6a): each record's time, length
// and checksum, and the descriptors of the metrics it holds series of.
// It is what lets the table of an archive made of the same records, the
// day pmlogextract merges from a day's pieces, be joined from the pieces'
// tables without reading that archive's records (Join).
type history struct {
	version int    // the archive's format, 2 or 3
	host    string // its label's host name
	recs    []recInfo
	descs   []archive.Desc // of the PMIDs with series, by PMID; no names
}

// recInfo is one record as it lies in its volume.
type recInfo struct {
	t   int64  // ns
	n   uint32 // bytes, length word to length word
	sum uint32 // CRC-32C of those bytes
}

// histFooterLen is the records section's footer, just before the
// directory: the section's offset (i64) and its CRC-32C (u32).
const histFooterLen = 8 + 4

// noteRecord adds a record the builder read.
func (h *history) noteRecord(rec *archive.Record) {
	raw := rec.Raw()
	h.recs = append(h.recs, recInfo{t: rec.Time, n: uint32(len(raw)), sum: crc32.Checksum(raw, castagnoli)})
}

func newHistory(a *archive.Archive) *history {
	return &history{version: a.Label.Version, host: a.Label.Hostname}
}

// setDescs takes, from the archive's metadata, the descriptors of the
// metrics of the series (sorted by PMID, as a table's are).
func (h *history) setDescs(m *archive.Meta, order []*seriesBuild) {
	h.descs = h.descs[:0]
	for _, s := range order {
		p := s.key.pmid
		if n := len(h.descs); n > 0 && h.descs[n-1].PMID == p {
			continue
		}
		if d, ok := m.Desc(p); ok {
			h.descs = append(h.descs, archive.Desc{PMID: p, Type: d.Type, InDom: d.InDom, Sem: d.Sem, Units: d.Units})
		}
	}
}

// bytes is the total length of the records.
func (h *history) bytes() int64 {
	var n int64
	for _, r := range h.recs {
		n += int64(r.n)
	}
	return n
}

// encode appends the records section and its footer; off is where the
// section starts in the file.
func (h *history) encode(b []byte, off int64) []byte {
	be := binary.BigEndian
	start := len(b)
	b = append(b, byte(h.version))
	b = be.AppendUint16(b, uint16(len(h.host)))
	b = append(b, h.host...)
	b = be.AppendUint32(b, uint32(len(h.recs)))
	for _, r := range h.recs {
		b = be.AppendUint64(b, uint64(r.t))
		b = be.AppendUint32(b, r.n)
		b = be.AppendUint32(b, r.sum)
	}
	b = be.AppendUint32(b, uint32(len(h.descs)))
	for _, d := range h.descs {
		b = be.AppendUint32(b, uint32(d.PMID))
		b = be.AppendUint32(b, uint32(d.Type))
		b = be.AppendUint32(b, uint32(d.InDom))
		b = be.AppendUint32(b, uint32(d.Sem))
		b = be.AppendUint32(b, uint32(d.Units))
	}
	sum := crc32.Checksum(b[start:], castagnoli)
	b = be.AppendUint64(b, uint64(off))
	return be.AppendUint32(b, sum)
}

// decodeHistory parses a records section (without its footer).
func decodeHistory(b []byte) (*history, error) {
	be := binary.BigEndian
	bad := func(what string) error { return fmt.Errorf("records section: %s", what) }
	if len(b) < 3 {
		return nil, bad("truncated")
	}
	h := &history{version: int(b[0])}
	hl := int(be.Uint16(b[1:]))
	b = b[3:]
	if len(b) < hl+4 {
		return nil, bad("truncated")
	}
	h.host = string(b[:hl])
	b = b[hl:]
	n := int(be.Uint32(b))
	b = b[4:]
	if n > len(b)/16 {
		return nil, bad("record count")
	}
	h.recs = make([]recInfo, n)
	for i := range h.recs {
		h.recs[i] = recInfo{t: int64(be.Uint64(b)), n: be.Uint32(b[8:]), sum: be.Uint32(b[12:])}
		b = b[16:]
	}
	if len(b) < 4 {
		return nil, bad("truncated")
	}
	nd := int(be.Uint32(b))
	b = b[4:]
	if nd*20 != len(b) {
		return nil, bad("descriptor count")
	}
	h.descs = make([]archive.Desc, nd)
	for i := range h.descs {
		h.descs[i] = archive.Desc{PMID: archive.PMID(be.Uint32(b)), Type: archive.Type(be.Uint32(b[4:])),
			InDom: archive.InDom(be.Uint32(b[8:])), Sem: archive.Sem(be.Uint32(b[12:])), Units: archive.Units(be.Uint32(b[16:]))}
		b = b[20:]
	}
	return h, nil
}

// readHistory reads and checks the table's records section.
func (t *Table) readHistory() (*history, error) {
	if t.inMemory || t.histEnd <= t.histOff {
		return nil, fmt.Errorf("%s: no records section", t.Path)
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, t.histEnd-t.histOff)
	if _, err := f.ReadAt(b, t.histOff); err != nil {
		return nil, fmt.Errorf("%s: records section: %w", t.Path, err)
	}
	if crc32.Checksum(b, castagnoli) != t.histSum {
		return nil, fmt.Errorf("%s: damaged table: records section checksum", t.Path)
	}
	h, err := decodeHistory(b)
	if err != nil {
		return nil, fmt.Errorf("%s: damaged table: %w", t.Path, err)
	}
	return h, nil
}

// Summary is what the table store needs to know of a table it has not
// opened to tell whether it may be a piece of a merged archive: the host
// and time span of its archive.
type Summary struct {
	Host        string
	Version     int
	First, Last int64 // ns, as Table.First and Last
}

// Summarize reads a table file's summary: its trailer and the start of
// its records section, a few hundred bytes, without its directory.
func Summarize(path string) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Summary{}, err
	}
	tr, err := readTrailer(f, fi.Size(), path)
	if err != nil {
		return Summary{}, err
	}
	var head [3 + 1<<16]byte
	n, err := f.ReadAt(head[:], tr.histOff)
	if n < 3 || err != nil && err != io.EOF {
		return Summary{}, fmt.Errorf("%s: records section: %v", path, err)
	}
	hl := int(binary.BigEndian.Uint16(head[1:]))
	if 3+hl > n || tr.histOff+int64(3+hl) > tr.histEnd {
		return Summary{}, fmt.Errorf("%s: damaged table: records section truncated", path)
	}
	return Summary{Host: string(head[3 : 3+hl]), Version: int(head[0]), First: tr.first, Last: tr.last}, nil
}
