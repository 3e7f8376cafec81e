package archive

import "encoding/binary"

// IndexEntry is one temporal-index tuple. The index is only a seek hint:
// offsets may be stale, point past a truncated volume, or (in old archives)
// at the end of a record rather than its start.
type IndexEntry struct {
	Time    int64 // ns
	Vol     int32
	MetaOff int64
	DataOff int64
}

// decodeIndex parses the entries after the label. A partial trailing entry is
// ignored, as libpcp does.
func decodeIndex(b []byte, version int) []IndexEntry {
	hdr := labelLen(version)
	if len(b) <= hdr {
		return nil
	}
	b = b[hdr:]
	size := 20
	if version == 3 {
		size = 32
	}
	out := make([]IndexEntry, 0, len(b)/size)
	for ; len(b) >= size; b = b[size:] {
		var e IndexEntry
		if version == 3 {
			e.Time = v3Time(b)
			e.Vol = int32(binary.BigEndian.Uint32(b[12:]))
			e.MetaOff = int64(binary.BigEndian.Uint64(b[16:]))
			e.DataOff = int64(binary.BigEndian.Uint64(b[24:]))
		} else {
			e.Time = v2Time(b)
			e.Vol = int32(binary.BigEndian.Uint32(b[8:]))
			e.MetaOff = int64(int32(binary.BigEndian.Uint32(b[12:])))
			e.DataOff = int64(int32(binary.BigEndian.Uint32(b[16:])))
		}
		out = append(out, e)
	}
	return out
}
