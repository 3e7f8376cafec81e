package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"

	"github.com/pcp-remote-read/pcp-remote-read/internal/xz"
)

// contentIDVersion starts what ContentID hashes: changing what is hashed
// changes the tag, so that a cache named by the old rule is not taken
// for one named by the new.
const contentIDVersion = "pcp-archive-content-1"

// volumeHead is how much of each volume's start ContentID hashes: the
// label (132 bytes in v2, 808 in v3) and the first records, for the price
// of decompressing the first block of a compressed volume.
const volumeHead = 4096

// ContentID returns an identity of the archive's content that does not
// depend on its file names, its directory or how its files are compressed,
// so that what was decoded from an archive (its column tables) can be
// found again after pmlogger_daily compresses it (20261118.0 ->
// 20261118.0.xz, .meta -> .meta.xz), or after it is renamed or moved. It
// is a lowercase hex string of 32 digits, the first half of the SHA-256 of,
// each field tagged and length-prefixed so that none can run into the
// next: a version tag; the whole decompressed .meta; the whole
// decompressed .index, or a mark that there is none; then for each volume
// in order its number, its decompressed size and its first
// min(4096, size) decompressed bytes.
//
// No record is decoded, and a volume is not read past its first 4 KiB:
// the sizes of plain files come from stat, those of .xz files from their
// stream indexes and those of .zst files from their frame headers (see
// decompressedSize). When a volume's size is not known that cheaply (a
// .gz or .bz2 volume, a .zst written from a pipe, which records no size)
// ok is false and err nil: the caller then names its cache by path, size
// and modification time instead. An unreadable or damaged file is an
// error naming it.
//
// What the identity proves: the same .meta and .index byte for byte, the
// same volume numbers, and volumes of the same sizes that start with the
// same 4 KiB. It does not prove the rest of each volume the same: a
// volume rewritten in place, past its first 4 KiB, to the same size,
// with .meta and .index unchanged, would keep the identity. That does not
// happen in a pmlogger archive's life: pmlogger only appends to its
// volumes (a volume that grew has a new size), every record it writes
// that needs new metadata adds to .meta, and it adds to .index as it goes;
// compressing (xz, zstd) keeps the decompressed bytes; pmlogrewrite
// writes new files, and each of its rules changes metadata (a name, a
// type, units, an instance domain, the label), so .meta differs; and
// pmlogextract and pmlogreduce write new archives, whose labels carry the
// writer's pid and the first record's time. Two distinct archives differ
// in .meta, whose label holds the host, the start time and the pid.
// Byte-identical copies of an archive share the identity, as they should:
// they decode to the same tables.
//
// The identity of an archive that pmlogger is still writing changes as it
// grows, and one taken while it grows may mix states (the sizes are taken
// first, then .meta and .index are read): it names closed archives, and
// a live one only for as long as nothing changes.
func ContentID(f Files) (id string, ok bool, err error) {
	// Sizes first: when one is unknown nothing else need be read.
	sizes := make([]int64, len(f.Volumes))
	for i, v := range f.Volumes {
		n, known, err := decompressedSize(v.Path)
		if err != nil || !known {
			return "", false, err
		}
		sizes[i] = n
	}
	h := sha256.New()
	putField(h, 'V', []byte(contentIDVersion))
	meta, err := readWhole(f.Meta, f.XZ)
	if err != nil {
		return "", false, err
	}
	putField(h, 'M', meta)
	if f.Index == "" {
		putField(h, 'N', nil)
	} else {
		index, err := readWhole(f.Index, f.XZ)
		if err != nil {
			return "", false, err
		}
		putField(h, 'I', index)
	}
	for i, v := range f.Volumes {
		head, err := readHead(v.Path, f.XZ, sizes[i])
		if err != nil {
			return "", false, err
		}
		var numSize [16]byte
		binary.BigEndian.PutUint64(numSize[:8], uint64(v.Num))
		binary.BigEndian.PutUint64(numSize[8:], uint64(sizes[i]))
		putField(h, 'v', numSize[:])
		putField(h, 'h', head)
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16]), true, nil
}

// putField hashes one field as a tag byte, its length in 8 bytes, and the
// bytes: no sequence of fields hashes like another.
func putField(h hash.Hash, tag byte, b []byte) {
	var pre [9]byte
	pre[0] = tag
	binary.BigEndian.PutUint64(pre[1:], uint64(len(b)))
	h.Write(pre[:])
	h.Write(b)
}

// readWhole reads a whole (decompressed) file, as opening an archive
// reads .meta and .index.
func readWhole(path string, dec *xz.Decoder) ([]byte, error) {
	src, err := openSource(path, dec)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return readAll(src)
}

// DecompressedSize is the size of the file at path once decompressed,
// when that is known without decompressing it (see decompressedSize).
func DecompressedSize(path string) (n int64, ok bool, err error) { return decompressedSize(path) }

// LabelLen is the length of a volume's label record in an archive of
// the given format version (132 bytes in v2, 808 in v3): a volume's
// records start there.
func LabelLen(version int) int { return labelLen(version) }

// readHead reads the first min(volumeHead, size) decompressed bytes of a
// volume of the given decompressed size.
func readHead(path string, dec *xz.Decoder, size int64) ([]byte, error) {
	buf := make([]byte, min(volumeHead, size))
	if err := ReadDecompressedAt(path, dec, buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// decompressedSize returns the size of the file at path once
// decompressed, if that is known without decompressing it: a plain file's
// size, an .xz file's from its stream indexes (xz.Size), a .zst file's
// from its frame headers (zstdSize). ok is false, with no error, for a
// .zst frame that does not record its size, an .xz check type the xz
// package does not know, and the other compressions: gzip records the
// size only modulo 2^32 (and per member), bzip2 not at all, and .lzma
// files pmlogger_daily does not make. A damaged .xz or .zst file is an
// error naming it and the offset.
func decompressedSize(path string) (int64, bool, error) {
	_, suffix := SplitCompress(path)
	if suffix != "" && suffix != ".xz" && suffix != ".zst" {
		return 0, false, nil
	}
	f, err := openFile(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	switch suffix {
	case "":
		return fi.Size(), true, nil
	case ".xz":
		n, err := xz.Size(f, fi.Size())
		if errors.Is(err, xz.ErrUnsupported) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", path, err)
		}
		return n, true, nil
	}
	n, ok, err := zstdSize(f, fi.Size())
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", path, err)
	}
	return n, ok, nil
}

// Zstandard framing (RFC 8878 §3.1).
const (
	zstdMagic         = 0xFD2FB528
	zstdSkippableMask = 0xFFFFFFF0
	zstdSkippable     = 0x184D2A50 // to 0x184D2A5F
	// zstdMaxBlock bounds what a block holds, compressed or not
	// (Block_Maximum_Size, §3.1.1.2.4; smaller when the window is).
	zstdMaxBlock = 128 << 10
)

// zstdSize returns the decompressed size of the zstd file of size bytes
// in r: the sum of its frames' Frame_Content_Size, found by walking the
// frame and block headers (a pread of 3 bytes per block of at most 128
// KiB) without decompressing anything. ok is false when a frame does not
// record its content size. Errors say at which offset, not which file.
func zstdSize(r io.ReaderAt, size int64) (total int64, ok bool, err error) {
	if size == 0 {
		return 0, false, zstdErr(0, "empty file: no zstd frame")
	}
	for off := int64(0); off < size; {
		magic, err := readLE(r, off, 4, size, "frame magic")
		if err != nil {
			return 0, false, err
		}
		switch {
		case magic == zstdMagic:
			n, end, known, err := zstdFrame(r, off, size)
			if err != nil || !known {
				return 0, false, err
			}
			if n > math.MaxInt64-total {
				return 0, false, zstdErr(off, "decompressed size overflows 63 bits")
			}
			total, off = total+n, end
		case magic&zstdSkippableMask == zstdSkippable:
			n, err := readLE(r, off+4, 4, size, "skippable frame size")
			if err != nil {
				return 0, false, err
			}
			if int64(n) > size-off-8 {
				return 0, false, zstdErr(off, "skippable frame of %d bytes runs past the end of the file", n)
			}
			off += 8 + int64(n)
		default:
			return 0, false, zstdErr(off, "no zstd frame magic (%#08x)", magic)
		}
	}
	return total, true, nil
}

// zstdFrame reads the headers of the zstd frame at off (RFC 8878 §3.1.1):
// its content size, if it has one (known), and where it ends.
func zstdFrame(r io.ReaderAt, off, size int64) (content, end int64, known bool, err error) {
	fhd, err := readLE(r, off+4, 1, size, "frame header")
	if err != nil {
		return 0, 0, false, err
	}
	if fhd&0x08 != 0 {
		return 0, 0, false, zstdErr(off+4, "reserved bit set in frame header descriptor %#02x", fhd)
	}
	single := fhd&0x20 != 0
	fcsLen := [4]int64{0, 2, 4, 8}[fhd>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	p := off + 5
	if !single {
		p++ // Window_Descriptor
	}
	p += [4]int64{0, 1, 2, 4}[fhd&3] // Dictionary_ID
	var fcs uint64
	if fcsLen > 0 {
		if fcs, err = readLE(r, p, int(fcsLen), size, "frame content size"); err != nil {
			return 0, 0, false, err
		}
		if fcsLen == 2 {
			fcs += 256
		}
		if fcs > math.MaxInt64 {
			return 0, 0, false, zstdErr(p, "frame content size %d overflows 63 bits", fcs)
		}
	}
	p += fcsLen
	end, fixed, compressed, err := zstdBlocks(r, p, size)
	if err != nil {
		return 0, 0, false, err
	}
	if fhd&0x04 != 0 {
		if end > size-4 {
			return 0, 0, false, zstdErr(end, "file ends inside the content checksum")
		}
		end += 4
	}
	if fcsLen == 0 {
		return 0, end, false, nil
	}
	// A header that does not fit its blocks is damaged: raw and RLE
	// blocks say what they hold, compressed ones hold at most
	// zstdMaxBlock each.
	if int64(fcs) < fixed || uint64(int64(fcs)-fixed) > uint64(compressed)*zstdMaxBlock {
		return 0, 0, false, zstdErr(off, "frame content size %d does not fit its blocks (%d bytes in raw and RLE blocks, %d compressed blocks)", fcs, fixed, compressed)
	}
	return int64(fcs), end, true, nil
}

// zstdBlocks walks the blocks that start at off (RFC 8878 §3.1.1.2) to the
// last one: where they end, the bytes the raw and RLE blocks decompress to
// (fixed) and the number of compressed blocks.
func zstdBlocks(r io.ReaderAt, off, size int64) (end, fixed, compressed int64, err error) {
	for {
		h, err := readLE(r, off, 3, size, "block header")
		if err != nil {
			return 0, 0, 0, err
		}
		last, kind, n := h&1 != 0, (h>>1)&3, int64(h>>3)
		if n > zstdMaxBlock {
			return 0, 0, 0, zstdErr(off, "block of %d bytes, more than %d", n, zstdMaxBlock)
		}
		stored := n
		switch kind {
		case 0: // Raw_Block
			fixed += n
		case 1: // RLE_Block: one byte, n times
			fixed, stored = fixed+n, 1
		case 2: // Compressed_Block
			compressed++
		default:
			return 0, 0, 0, zstdErr(off, "reserved block type")
		}
		if stored > size-off-3 {
			return 0, 0, 0, zstdErr(off, "block of %d bytes runs past the end of the file", stored)
		}
		off += 3 + stored
		if last {
			return off, fixed, compressed, nil
		}
	}
}

// readLE reads the n-byte (at most 8) little-endian number at off, which
// must lie inside the file's size bytes; what names it in errors.
func readLE(r io.ReaderAt, off int64, n int, size int64, what string) (uint64, error) {
	if off < 0 || int64(n) > size-off {
		return 0, zstdErr(off, "file ends inside the %s", what)
	}
	var b [8]byte
	if _, err := r.ReadAt(b[:n], off); err != nil {
		if err == io.EOF {
			return 0, zstdErr(off, "file ends inside the %s", what)
		}
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func zstdErr(off int64, format string, args ...any) error {
	return fmt.Errorf("zstd: offset %d: %s", off, fmt.Sprintf(format, args...))
}
