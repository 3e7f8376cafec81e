package archive

import (
	"bytes"
	"encoding/binary"
)

const (
	logMagic      = 0x50052600
	labelLenV2    = 132
	labelLenV3    = 808
	volMeta       = -1 // PM_LOG_VOL_META
	volIndex      = -2 // PM_LOG_VOL_TI
	featureQA     = 1 << 31
	knownFeatures = featureQA
)

// Label is the label record that starts every file of an archive.
type Label struct {
	Version  int    // 2 or 3
	PID      int32  // process id of the writer
	Start    int64  // start time, ns since the epoch
	Vol      int32  // volume number; -1 for .meta, -2 for .index
	Features uint32 // v3 feature bits
	Hostname string
	TZ       string // $TZ style, e.g. "AEST-10"
	Zoneinfo string // v3 only, e.g. ":Australia/Melbourne"
}

// labelLen returns the length of a label record for a version.
func labelLen(version int) int {
	if version == 3 {
		return labelLenV3
	}
	return labelLenV2
}

// cstr returns the C string in a NUL-padded field of n bytes. libpcp reads
// them with strndup(.., n-1), so at most n-1 bytes count.
func cstr(b []byte) string {
	if len(b) > 0 {
		b = b[:len(b)-1]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// v2Time decodes a pmTimeval {sec:i32, usec:i32}.
func v2Time(b []byte) int64 {
	sec := int64(int32(binary.BigEndian.Uint32(b)))
	usec := int64(int32(binary.BigEndian.Uint32(b[4:])))
	return sec*1e9 + usec*1e3
}

// v3Time decodes the on-disk __pmTimestamp: the 64-bit seconds are stored low
// word first (docs/pcp-archive-format.md §3), then a 32-bit nanoseconds field.
func v3Time(b []byte) int64 {
	sec := int64(uint64(binary.BigEndian.Uint32(b[4:]))<<32 | uint64(binary.BigEndian.Uint32(b)))
	nsec := int64(int32(binary.BigEndian.Uint32(b[8:])))
	return sec*1e9 + nsec
}

// parseLabel decodes a label record from the first bytes of a file. b may be
// longer than the record. file and wantVol are for the error and the check
// that the label's volume matches the file's role.
func parseLabel(b []byte, file string, wantVol int32) (Label, error) {
	var l Label
	if len(b) < 8 {
		return l, formatErr(file, 0, "label", "file too short for a label record (%d bytes)", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	magic := binary.BigEndian.Uint32(b[4:])
	if magic&0xffffff00 != logMagic {
		return l, formatErr(file, 4, "label", "bad magic %#08x, not a PCP archive", magic)
	}
	l.Version = int(magic & 0xff)
	if l.Version != 2 && l.Version != 3 {
		return l, formatErr(file, 4, "label", "unsupported archive version %d", l.Version)
	}
	want := labelLen(l.Version)
	if int(n) != want {
		return l, formatErr(file, 0, "label", "v%d label length %d, want %d", l.Version, n, want)
	}
	if len(b) < want {
		return l, formatErr(file, 0, "label", "file too short for a v%d label (%d of %d bytes)", l.Version, len(b), want)
	}
	if t := binary.BigEndian.Uint32(b[want-4:]); t != n {
		return l, formatErr(file, int64(want-4), "label", "trailer length %d != header %d", t, n)
	}
	l.PID = int32(binary.BigEndian.Uint32(b[8:]))
	if l.Version == 2 {
		l.Start = v2Time(b[12:])
		l.Vol = int32(binary.BigEndian.Uint32(b[20:]))
		l.Hostname = cstr(b[24:88])
		l.TZ = cstr(b[88:128])
	} else {
		l.Start = v3Time(b[12:])
		l.Vol = int32(binary.BigEndian.Uint32(b[24:]))
		l.Features = binary.BigEndian.Uint32(b[28:])
		l.Hostname = cstr(b[36:292])
		l.TZ = cstr(b[292:548])
		l.Zoneinfo = cstr(b[548:804])
		if l.Features&^knownFeatures != 0 {
			return l, formatErr(file, 28, "label", "unknown feature bits %#x", l.Features&^knownFeatures)
		}
	}
	if l.Vol != wantVol {
		return l, formatErr(file, 0, "label", "label volume %d, want %d for this file", l.Vol, wantVol)
	}
	return l, nil
}

// checkLabels applies libpcp's cross-file check: the .meta and .index labels
// agree with the data volume's on version, pid and hostname. The error
// points at the field of other's label that differs.
func checkLabels(ref Label, refFile string, other Label, otherFile string) error {
	hostOff := int64(24)
	if other.Version == 3 {
		hostOff = 36
	}
	switch {
	case other.Version != ref.Version:
		return formatErr(otherFile, 4, "label", "version %d differs from %s (version %d)", other.Version, refFile, ref.Version)
	case other.PID != ref.PID:
		return formatErr(otherFile, 8, "label", "pid %d differs from %s (pid %d)", other.PID, refFile, ref.PID)
	case other.Hostname != ref.Hostname:
		return formatErr(otherFile, hostOff, "label", "hostname %q differs from %s (%q)", other.Hostname, refFile, ref.Hostname)
	}
	return nil
}

// RecordTime is the time (ns) of the data record that starts rec (its
// length word first, at least 16 bytes) in an archive of the given format
// version.
func RecordTime(version int, rec []byte) int64 {
	if version == 3 {
		return v3Time(rec[4:])
	}
	return v2Time(rec[4:])
}
