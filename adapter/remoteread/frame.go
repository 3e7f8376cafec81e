package remoteread

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/prometheus/prometheus/prompb"
)

// castagnoli is the CRC-32C table of the frame checksum
// (docs/remote-read-protocol.md §5.2). Read-only.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends one stream frame, uvarint(len) ‖ big-endian
// CRC-32C(msg) ‖ msg, marshalling msg in place so a frame costs one
// buffer and one Write.
func appendFrame(dst []byte, msg *prompb.ChunkedReadResponse) ([]byte, error) {
	size := msg.Size()
	dst = binary.AppendUvarint(dst, uint64(size))
	crcAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	n, err := msg.MarshalToSizedBuffer(dst[start:])
	if err != nil {
		return nil, fmt.Errorf("marshal ChunkedReadResponse: %w", err)
	}
	if n != size {
		return nil, fmt.Errorf("marshal ChunkedReadResponse: wrote %d bytes, Size() said %d", n, size)
	}
	binary.BigEndian.PutUint32(dst[crcAt:], crc32.Checksum(dst[start:], castagnoli))
	return dst, nil
}

// truncatedFrame is written when a stream must end early after its status
// went out. A stream that simply stops at a frame boundary looks complete to
// the client (it treats io.EOF there as the end), so a partial answer would
// be taken for the whole one. A frame header cut inside its checksum makes
// the client fail with "unexpected EOF" instead, which fails the query
// (docs/remote-read-protocol.md §10).
func truncatedFrame() []byte {
	b := binary.AppendUvarint(nil, 1)
	return append(b, 0xde, 0xad) // two of the four CRC bytes
}

// ChunkedFrameReader decodes a STREAMED_XOR_CHUNKS body the way Prometheus
// 3.x does (storage/remote/chunked.go): it enforces a frame size limit and
// verifies every CRC-32C. It is meant for tests and end-to-end checks.
type ChunkedFrameReader struct {
	r     *bufio.Reader
	limit uint64
	buf   []byte
}

// NewChunkedFrameReader reads frames from r, refusing any frame larger than
// limit bytes (clients default to 5e7, their chunked_read_limit).
func NewChunkedFrameReader(r io.Reader, limit uint64) *ChunkedFrameReader {
	return &ChunkedFrameReader{r: bufio.NewReader(r), limit: limit}
}

// Next decodes the next frame. It returns io.EOF exactly at a clean end of
// stream, and io.ErrUnexpectedEOF for a stream cut inside a frame.
func (cr *ChunkedFrameReader) Next() (*prompb.ChunkedReadResponse, error) {
	size, err := binary.ReadUvarint(cr.r)
	if err != nil {
		return nil, err // io.EOF only when no byte of the length was read
	}
	if size > cr.limit {
		return nil, fmt.Errorf("frame of %d bytes exceeds the limit of %d bytes", size, cr.limit)
	}
	var crc [4]byte
	if _, err := io.ReadFull(cr.r, crc[:]); err != nil {
		return nil, fmt.Errorf("read frame checksum: %w", noEOF(err))
	}
	if uint64(cap(cr.buf)) < size {
		cr.buf = make([]byte, size)
	}
	cr.buf = cr.buf[:size]
	if _, err := io.ReadFull(cr.r, cr.buf); err != nil {
		return nil, fmt.Errorf("read frame of %d bytes: %w", size, noEOF(err))
	}
	if got, want := crc32.Checksum(cr.buf, castagnoli), binary.BigEndian.Uint32(crc[:]); got != want {
		return nil, fmt.Errorf("frame of %d bytes: checksum %08x, header says %08x", size, got, want)
	}
	var msg prompb.ChunkedReadResponse
	if err := msg.Unmarshal(cr.buf); err != nil {
		return nil, fmt.Errorf("unmarshal ChunkedReadResponse of %d bytes: %w", size, err)
	}
	return &msg, nil
}

// noEOF reports a stream that ends after a frame header as truncated.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadChunkedFrames decodes a whole STREAMED_XOR_CHUNKS body.
func ReadChunkedFrames(r io.Reader, limit uint64) ([]*prompb.ChunkedReadResponse, error) {
	cr := NewChunkedFrameReader(r, limit)
	var frames []*prompb.ChunkedReadResponse
	for {
		f, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return frames, fmt.Errorf("frame %d: %w", len(frames), err)
		}
		frames = append(frames, f)
	}
}
