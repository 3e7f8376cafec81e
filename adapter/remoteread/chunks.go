package remoteread

import (
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// maxSamplesPerChunk is the TSDB convention clients are built around
// (docs/remote-read-protocol.md §6).
const maxSamplesPerChunk = 120

// xorChunker turns the chunks of one series, whatever the storage made of
// them, into what every client can decode (docs/remote-read-protocol.md §6):
// XOR encoding only, at most maxSamplesPerChunk samples each, strictly
// increasing timestamps, and MinTimeMs/MaxTimeMs taken from the decoded
// samples rather than trusted from chunks.Meta, because clients skip chunks by
// MaxTimeMs when seeking.
//
// Well-formed XOR chunks pass through byte for byte (copied); anything else
// (XOR2 with start timestamps, histogram encodings, oversized chunks) is
// re-encoded, keeping float samples only.
type xorChunker struct {
	out     []prompb.Chunk
	samples int64 // float samples in out and cur

	lastT    int64
	haveLast bool

	// The chunk being re-encoded.
	cur               *chunkenc.XORChunk
	app               chunkenc.Appender
	curFirst, curLast int64

	it chunkenc.Iterator // reused across chunks
}

// reset prepares the chunker for the next series, keeping the iterator
// and the room of out (the last series' frame is written by now).
func (c *xorChunker) reset() {
	clear(c.out) // drop references to the last series' chunk bytes
	*c = xorChunker{it: c.it, out: c.out[:0]}
}

// addAll drains a series' chunk iterator.
func (c *xorChunker) addAll(it chunks.Iterator, budget *sampleBudget) error {
	if x, ok := it.(exactChunks); ok && x.ExactChunks() {
		return c.addAllExact(it, budget)
	}
	for i := 0; it.Next(); i++ {
		if err := c.add(it.At(), budget); err != nil {
			return annotate(err, "chunk %d", i)
		}
	}
	if err := it.Err(); err != nil {
		return internalError(err, "iterate chunks")
	}
	c.cut()
	return nil
}

// exactChunks is implemented by chunk iterators whose chunks need no
// checking: XOR, 1 to maxSamplesPerChunk samples, MinTime and MaxTime the
// first and last sample's, timestamps increasing through the series, and
// bytes that stay valid until the iterator is reused for the next series
// (frames are made before that). This project's storage guarantees that
// (and checksums the chunks it keeps on disk), so its chunks go into
// frames as they are, neither decoded nor copied; any other storage's are
// decoded, checked and copied.
type exactChunks interface{ ExactChunks() bool }

// addAllExact drains an iterator of exact chunks.
func (c *xorChunker) addAllExact(it chunks.Iterator, budget *sampleBudget) error {
	for i := 0; it.Next(); i++ {
		meta := it.At()
		chk := meta.Chunk
		n := chk.NumSamples()
		if chk.Encoding() != chunkenc.EncXOR || n <= 0 || n > maxSamplesPerChunk || meta.MaxTime < meta.MinTime {
			return internalError(nil, "chunk %d: not an exact chunk (%v, %d samples)", i, chk.Encoding(), n)
		}
		if err := c.advance(meta.MinTime); err != nil {
			return annotate(err, "chunk %d", i)
		}
		c.lastT = meta.MaxTime
		if err := budget.take(int64(n)); err != nil {
			return err
		}
		c.samples += int64(n)
		c.out = append(c.out, prompb.Chunk{
			MinTimeMs: meta.MinTime,
			MaxTimeMs: meta.MaxTime,
			Type:      prompb.Chunk_XOR,
			Data:      chk.Bytes(),
		})
	}
	if err := it.Err(); err != nil {
		return internalError(err, "iterate chunks")
	}
	return nil
}

func (c *xorChunker) add(meta chunks.Meta, budget *sampleBudget) error {
	if meta.Chunk == nil {
		return internalError(nil, "chunk [%d, %d] has no data", meta.MinTime, meta.MaxTime)
	}
	chk := meta.Chunk
	if n := chk.NumSamples(); chk.Encoding() == chunkenc.EncXOR && n > 0 && n <= maxSamplesPerChunk {
		return c.passThrough(chk, budget)
	}
	return c.reencode(chk, budget)
}

// passThrough validates an XOR chunk by decoding it and emits a copy: the
// storage may reuse or unmap the original's memory.
func (c *xorChunker) passThrough(chk chunkenc.Chunk, budget *sampleBudget) error {
	c.cut() // chunks must stay in time order
	c.it = chk.Iterator(c.it)
	var (
		n           int
		first, last int64
	)
	for vt := c.it.Next(); vt != chunkenc.ValNone; vt = c.it.Next() {
		if vt != chunkenc.ValFloat {
			return internalError(nil, "XOR chunk yields a %v sample", vt)
		}
		t := c.it.AtT()
		if err := c.advance(t); err != nil {
			return err
		}
		if n == 0 {
			first = t
		}
		last = t
		n++
	}
	if err := c.it.Err(); err != nil {
		return internalError(err, "decode XOR chunk")
	}
	if n != chk.NumSamples() {
		return internalError(nil, "XOR chunk header says %d samples, decoded %d", chk.NumSamples(), n)
	}
	if err := budget.take(int64(n)); err != nil {
		return err
	}
	c.samples += int64(n)
	c.out = append(c.out, prompb.Chunk{
		MinTimeMs: first,
		MaxTimeMs: last,
		Type:      prompb.Chunk_XOR,
		Data:      append([]byte(nil), chk.Bytes()...),
	})
	return nil
}

// reencode appends the float samples of chk to fresh XOR chunks. The start
// timestamp is dropped (Append(0, …)): a non-zero one is what turns chunks
// into XOR2, which clients before 3.14 cannot decode
// (docs/remote-read-protocol.md §12).
func (c *xorChunker) reencode(chk chunkenc.Chunk, budget *sampleBudget) error {
	c.it = chk.Iterator(c.it)
	for vt := c.it.Next(); vt != chunkenc.ValNone; vt = c.it.Next() {
		if vt != chunkenc.ValFloat {
			continue // PCP has no histograms; see samplesWire.series
		}
		t, v := c.it.At()
		if err := c.advance(t); err != nil {
			return err
		}
		if err := budget.take(1); err != nil {
			return err
		}
		if c.cur != nil && c.cur.NumSamples() >= maxSamplesPerChunk {
			c.cut()
		}
		if c.cur == nil {
			c.cur = chunkenc.NewXORChunk()
			app, err := c.cur.Appender()
			if err != nil {
				return internalError(err, "new XOR appender")
			}
			c.app, c.curFirst = app, t
		}
		c.app.Append(0, t, v)
		c.curLast = t
		c.samples++
	}
	if err := c.it.Err(); err != nil {
		return internalError(err, "decode %v chunk", chk.Encoding())
	}
	return nil
}

// advance enforces strictly increasing timestamps across the whole series:
// the XOR appender does not check, and overlapping chunks are neither merged
// nor rejected by clients (docs/remote-read-protocol.md §6, rule 4), so bad
// input would silently corrupt results.
func (c *xorChunker) advance(t int64) error {
	if c.haveLast && t <= c.lastT {
		return internalError(nil, "sample timestamp %d not after %d", t, c.lastT)
	}
	c.lastT, c.haveLast = t, true
	return nil
}

// cut closes the chunk being re-encoded, if any.
func (c *xorChunker) cut() {
	if c.cur == nil {
		return
	}
	c.cur.Compact()
	c.out = append(c.out, prompb.Chunk{
		MinTimeMs: c.curFirst,
		MaxTimeMs: c.curLast,
		Type:      prompb.Chunk_XOR,
		Data:      c.cur.Bytes(),
	})
	c.cur, c.app = nil, nil
}
