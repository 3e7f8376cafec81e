package xz

import (
	"errors"
	"io"
	"math"
)

// Size returns the decompressed size of the .xz file of size bytes in r,
// from the index every stream ends with (xz file format spec §2.1.2, §4):
// it reads each stream's footer, index and header, from the end of the
// file back over stream padding, and no block at all. Unlike NewReaderAt
// it serves files of a single block and files whose blocks are too big to
// cache or have filters other than LZMA2 (none of that changes the
// size), so a caller can tell a compressed file's size without
// decompressing it. It checks what it reads (magic bytes, CRC32s, that the
// blocks the index lists fill the stream exactly), but not the blocks:
// a block damaged inside is found only when it is decoded.
//
// A check type the package does not know (the IDs the spec reserves,
// which xz never writes) is an error wrapping ErrUnsupported; a damaged
// or truncated file is another error. Errors say where in the file, not
// which file: the caller names it.
func Size(r io.ReaderAt, size int64) (int64, error) {
	if size%4 != 0 {
		return 0, offsetErr(size, "file size is not a multiple of 4")
	}
	var total int64
	streams := 0
	pos := size
	for {
		var err error
		if pos, err = skipPadding(r, pos); err != nil {
			return 0, shortRead(err)
		}
		if pos == 0 {
			break
		}
		var blocks []block
		if blocks, pos, err = readStream(r, pos); err != nil {
			return 0, shortRead(err)
		}
		streams++
		for _, b := range blocks {
			// Each size is at most 2^62 (parseIndex), but many of
			// them could still overflow the sum.
			if b.ulen > math.MaxInt64-total {
				return 0, offsetErr(pos, "decompressed size overflows 63 bits")
			}
			total += b.ulen
		}
	}
	if streams == 0 {
		return 0, offsetErr(0, "no xz stream")
	}
	return total, nil
}

// shortRead turns a bare io.EOF from a file shorter than its stated size
// into io.ErrUnexpectedEOF, so that no caller takes it for a clean end.
func shortRead(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
