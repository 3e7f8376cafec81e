package remoteread

import (
	"context"
	"encoding/binary"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// serveSamples answers with one snappy-compressed ReadResponse
// (docs/remote-read-protocol.md §4). The whole response is built, limited and
// encoded before the first byte, so nothing can fail once the status is out.
//
// The response is written in protobuf wire form as the series are read
// (samplesWire), byte for byte what prompb's Marshal makes: building
// prompb.Sample values first would cost 48 bytes per sample, behind a
// pointer the garbage collector must scan, and would be most of the time
// of a large answer.
func (h *readHandler) serveSamples(w http.ResponseWriter, r *http.Request, queries []readQuery, open *openQueriers) int {
	ctx := r.Context()
	budget := sampleBudget{limit: h.opts.MaxSamplesPerQuery}
	enc := h.samplesBufs()
	defer h.releaseSamplesBufs(enc)
	results := make([][]labelled[span], 0, len(queries))
	var series int
	for i, q := range queries {
		res, err := h.selectSamples(ctx, i, q, &budget, open, enc)
		if err != nil {
			return h.fail(w, r, err)
		}
		results = append(results, res)
		series += len(res)
	}
	data := enc.response(results)
	// snappy.Encode panics beyond its block size limit (~4 GiB).
	n := snappy.MaxEncodedLen(len(data))
	if n < 0 {
		return h.fail(w, r, limitExceeded(http.StatusBadRequest,
			"response of %d bytes is too large for one snappy block; narrow the range or add matchers", len(data)))
	}
	if cap(enc.snappy) < n {
		enc.snappy = make([]byte, n)
	}
	body := snappy.Encode(enc.snappy[:n], data)

	hdr := w.Header()
	hdr.Set("Content-Type", ContentTypeSamples)
	hdr.Set("Content-Encoding", "snappy")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		// The status is out; the client most likely went away.
		h.metrics.Errors.WithLabelValues(handlerRead, errKindCanceled).Inc()
		h.log.Debug("write samples response", "err", err, "remote", r.RemoteAddr)
		return http.StatusOK
	}
	h.metrics.SeriesServed.WithLabelValues(handlerRead, responseTypeSamples).Add(float64(series))
	h.metrics.SamplesServed.WithLabelValues(handlerRead, responseTypeSamples).Add(float64(budget.used))
	return http.StatusOK
}

// selectSamples runs one query and encodes its non-empty series into enc;
// it returns them sorted and unique.
func (h *readHandler) selectSamples(ctx context.Context, idx int, q readQuery, budget *sampleBudget, open *openQueriers, enc *samplesWire) ([]labelled[span], error) {
	if q.none {
		return nil, nil
	}
	querier, err := h.queryable.Querier(q.start, q.end)
	if err != nil {
		return nil, internalError(err, "query %d: open querier", idx)
	}
	open.add(querier)

	var it chunkenc.Iterator
	return selectSeries(ctx, h, idx, querier.Select(ctx, true, q.hints, q.matchers...),
		func(lset labels.Labels, s storage.Series) (span, bool, error) {
			it = s.Iterator(it)
			sp, n, err := enc.series(lset, it, budget)
			// A series without data tells the client nothing
			// (docs/remote-read-protocol.md §7, rule 4).
			return sp, n > 0, err
		})
}

// span is where an encoded series lies: bytes [from, to) of
// samplesWire.blocks[block].
type span struct{ block, from, to int }

// samplesWire encodes a ReadResponse of float samples in protobuf wire
// form, as prompb's generated code does (proto3: fields at their zero
// value are left out). The messages and field numbers are prompb's:
//
//	ReadResponse { repeated QueryResult results = 1; }
//	QueryResult  { repeated TimeSeries timeseries = 1; }
//	TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//	Label        { string name = 1; string value = 2; }
//	Sample       { double value = 1; int64 timestamp = 2; }
//
// The series' TimeSeries bodies go into blocks, each series whole in one:
// a new block is started when a series does not fit, so what is encoded
// is never copied to grow a buffer. One growing buffer would be copied
// (and cleared) about five times its final size, as append grows large
// slices by a quarter: most of the time of a week of samples.
type samplesWire struct {
	blocks [][]byte // the last one is being filled
	out    []byte   // the response
	snappy []byte   // the response compressed
}

// minSamplesBlock is the smallest block started; blocks after it are as
// big as all before them together (up to maxSamplesBlock), so that a
// large answer takes few blocks.
const (
	minSamplesBlock = 256 << 10
	maxSamplesBlock = 16 << 20
)

const (
	tagLen1  = 1<<3 | 2 // field 1, length-delimited
	tagLen2  = 2<<3 | 2 // field 2, length-delimited
	tagFixed = 1<<3 | 1 // field 1, 64-bit
	tagVar2  = 2 << 3   // field 2, varint (wire type 0)
)

// block returns the index of a block with room for need more bytes,
// starting a new one (or reusing a kept one) when the last has not.
func (e *samplesWire) block(need int) int {
	k := len(e.blocks) - 1
	if k >= 0 && cap(e.blocks[k])-len(e.blocks[k]) >= need {
		return k
	}
	// Blocks kept from an earlier answer are reused in order: they sit
	// past len(e.blocks), each emptied.
	if k+1 < cap(e.blocks) {
		if b := e.blocks[:k+2][k+1]; cap(b) >= need {
			e.blocks = e.blocks[:k+2]
			return k + 1
		}
	}
	size := minSamplesBlock
	for _, b := range e.blocks {
		size += len(b)
	}
	size = max(need, min(size, maxSamplesBlock))
	e.blocks = append(e.blocks, make([]byte, 0, size))
	return len(e.blocks) - 1
}

// series encodes the labels and float samples of one series (histogram
// samples are skipped: PCP has none, and a SAMPLES client would need them
// in a separate field) and returns where they are and how many samples.
// An empty series leaves the blocks as they were.
func (e *samplesWire) series(lset labels.Labels, it chunkenc.Iterator, budget *sampleBudget) (span, int, error) {
	need := 0
	lset.Range(func(l labels.Label) { need += lenField(stringField(l.Name) + stringField(l.Value)) })
	if h, ok := it.(interface{ SamplesHint() int }); ok {
		// A sample takes at most 22 bytes; most take about 16. A
		// series longer than its hint grows its block by appending.
		need += 16 * h.SamplesHint()
	}
	k := e.block(need)
	b := e.blocks[k]
	from := len(b)
	lset.Range(func(l labels.Label) {
		b = append(b, tagLen1)
		b = binary.AppendUvarint(b, uint64(stringField(l.Name)+stringField(l.Value)))
		b = appendStringField(b, tagLen1, l.Name)
		b = appendStringField(b, tagLen2, l.Value)
	})
	n := 0
	var last int64
	fail := func(err error) (span, int, error) {
		e.blocks[k] = b[:from]
		return span{}, 0, err
	}
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		if vt != chunkenc.ValFloat {
			continue
		}
		t, v := it.At()
		// The client binary-searches samples
		// (docs/remote-read-protocol.md §4); out-of-order input is a storage
		// bug that must not reach it.
		if n > 0 && t <= last {
			return fail(internalError(nil, "sample timestamp %d not after %d", t, last))
		}
		if err := budget.take(1); err != nil {
			return fail(err)
		}
		last = t
		n++
		// A Sample is at most 20 bytes: its length is one byte.
		b = append(b, tagLen2, 0)
		at := len(b)
		if v != 0 {
			b = append(b, tagFixed)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		if t != 0 {
			b = append(b, tagVar2)
			b = binary.AppendUvarint(b, uint64(t))
		}
		b[at-1] = byte(len(b) - at)
	}
	if err := it.Err(); err != nil {
		return fail(internalError(err, "iterate samples"))
	}
	if n == 0 {
		return fail(nil)
	}
	e.blocks[k] = b
	return span{k, from, len(b)}, n, nil
}

// response assembles the ReadResponse: one QueryResult per query, its
// series in the order given.
func (e *samplesWire) response(results [][]labelled[span]) []byte {
	size := 0
	qsizes := make([]int, len(results))
	for i, res := range results {
		for _, s := range res {
			qsizes[i] += lenField(s.val.to - s.val.from)
		}
		size += lenField(qsizes[i])
	}
	b := slices.Grow(e.out[:0], size)
	for i, res := range results {
		b = append(b, tagLen1)
		b = binary.AppendUvarint(b, uint64(qsizes[i]))
		for _, s := range res {
			b = append(b, tagLen1)
			b = binary.AppendUvarint(b, uint64(s.val.to-s.val.from))
			b = append(b, e.blocks[s.val.block][s.val.from:s.val.to]...)
		}
	}
	e.out = b
	return b
}

// stringField is the size of a string field, 0 for the empty string
// (proto3 leaves it out).
func stringField(s string) int {
	if s == "" {
		return 0
	}
	return lenField(len(s))
}

// lenField is the size of a length-delimited field of n bytes with a
// one-byte tag.
func lenField(n int) int { return 1 + uvarintLen(uint64(n)) + n }

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

func appendStringField(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// maxKeptSamplesBufs bounds the buffers kept for the next SAMPLES answer:
// a larger answer's are left to the garbage collector.
const maxKeptSamplesBufs = 48 << 20

// samplesBufs takes the buffers of a SAMPLES answer, those of the last one
// if they are free: a dashboard asks the same queries again and again, and
// growing and clearing tens of MiB anew for every answer would cost as
// much as the rest of it. One set is kept, not a sync.Pool's: the
// collections a large answer causes empty a pool before the next request.
func (h *readHandler) samplesBufs() *samplesWire {
	h.samplesMu.Lock()
	defer h.samplesMu.Unlock()
	if e := h.samplesKept; e != nil {
		h.samplesKept = nil
		return e
	}
	return &samplesWire{}
}

func (h *readHandler) releaseSamplesBufs(e *samplesWire) {
	all := e.blocks[:cap(e.blocks)] // kept blocks included
	size := cap(e.out) + cap(e.snappy)
	for _, b := range all {
		size += cap(b)
	}
	if size > maxKeptSamplesBufs {
		return
	}
	for i := range all {
		all[i] = all[i][:0]
	}
	e.blocks, e.out, e.snappy = e.blocks[:0], e.out[:0], e.snappy[:0]
	h.samplesMu.Lock()
	h.samplesKept = e
	h.samplesMu.Unlock()
}
