package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// window is the minimum read size: records are served out of one buffer so
// that small records do not cost a system call each.
const window = 256 << 10

// errShort means the file ends before the bytes asked for: at the tail of a
// live file, a record pmlogger has not finished writing.
var errShort = errors.New("short read")

// volumeReader reads records out of one data volume in file order.
type volumeReader struct {
	src    source
	file   string
	buf    []byte
	bufOff int64 // file offset of buf[0]
	n      int   // valid bytes in buf
}

func newVolumeReader(src source, file string) *volumeReader {
	return &volumeReader{src: src, file: file}
}

// get returns bytes [off, off+n) of the file. The slice is valid until the
// next call. It never allocates more than about twice what the file holds,
// whatever n is: lengths come from the file and are not trusted.
func (v *volumeReader) get(off int64, n int) ([]byte, error) {
	if off >= v.bufOff && off+int64(n) <= v.bufOff+int64(v.n) {
		s := int(off - v.bufOff)
		return v.buf[s : s+n], nil
	}
	have := 0
	if off >= v.bufOff && off < v.bufOff+int64(v.n) {
		// Keep the overlap: compressed sources only move forward.
		have = copy(v.buf, v.buf[off-v.bufOff:v.n])
	}
	v.bufOff, v.n = off, have
	for have < n {
		if have == len(v.buf) {
			// Only a buffer to be made needs the file's size (an fstat):
			// a read past the end is errShort below as well.
			sz, known := v.src.size()
			if known && off+int64(n) > sz {
				return nil, errShort
			}
			size := max(window, min(2*len(v.buf), n))
			if known {
				// A small file gets a small buffer: opening thousands of
				// small archives must not cost a window each.
				size = int(max(int64(n), min(int64(size), sz-off)))
			}
			nb := make([]byte, size)
			copy(nb, v.buf[:have])
			v.buf = nb
		}
		m, err := v.src.ReadAt(v.buf[have:], off+int64(have))
		have += m
		v.n = have
		if err == io.EOF {
			if have < n {
				return nil, errShort
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return v.buf[:n], nil
}

// readRecord returns the record at off, or errShort when the file ends
// inside it. Framing errors are returned as FormatError.
func (v *volumeReader) readRecord(off int64, minLen int) ([]byte, error) {
	h, err := v.get(off, 4)
	if err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(h))
	if n < minLen || n%4 != 0 {
		if z, _ := v.restIsZero(off); z {
			return nil, errShort // zero-filled tail of a file being written
		}
		return nil, formatErr(v.file, off, "data record", "bad record length %d", n)
	}
	rec, err := v.get(off, n)
	if err != nil {
		return nil, err
	}
	if t := int(binary.BigEndian.Uint32(rec[n-4:])); t != n {
		if sz, ok := v.src.size(); ok && off+int64(n) == sz {
			return nil, errShort // torn write at the end of a live file
		}
		return nil, formatErr(v.file, off, "data record", "trailer length %d != header %d", t, n)
	}
	return rec, nil
}

// atEnd reports whether off is the end of the file. It is only true once the
// size is known: always for plain files, after EOF for compressed ones.
func (v *volumeReader) atEnd(off int64) bool {
	sz, ok := v.src.size()
	return ok && off >= sz
}

// restIsZero reports whether everything from off to the end of the file is
// zero bytes (only checked for plain files, whose size is known).
func (v *volumeReader) restIsZero(off int64) (bool, error) {
	sz, ok := v.src.size()
	if !ok || sz-off > 1<<20 {
		return false, nil
	}
	b, err := v.get(off, int(sz-off))
	if err != nil {
		return false, err
	}
	for _, c := range b {
		if c != 0 {
			return false, nil
		}
	}
	return true, nil
}

// labelPending reports whether the file is shorter than a label of this
// version and what it holds is the start of one: a label being written.
func (v *volumeReader) labelPending(version int) bool {
	n := labelLen(version)
	sz, ok := v.src.size()
	if !ok || sz >= int64(n) {
		return false
	}
	b, err := v.get(0, int(sz))
	if err != nil {
		return false
	}
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	binary.BigEndian.PutUint32(hdr[4:], logMagic|uint32(version))
	return bytes.HasPrefix(hdr[:], b[:min(len(b), len(hdr))])
}
