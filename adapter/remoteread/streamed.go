package remoteread

import (
	"context"
	"errors"
	"net/http"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// framesPerFlush bounds how much the client waits for: it decodes frames as
// they arrive, but one flush per tiny frame would cost a syscall each.
const framesPerFlush = 8

// streamBuffer is how many bytes of frames are held back before the first
// byte is written. A response that fits is decided whole before its status
// goes out, so every error is an HTTP status the client reports
// (docs/remote-read-protocol.md §10); the sample limit is checked before that
// anyway, at Select. A larger one streams, holding a few batches of frames
// at a time (framer), so its memory stays flat however long the range; a
// failure after that (a series too large for one frame, an unreadable table)
// ends the stream cut short.
// 256 KiB holds the answer to a short query whole, and keeps a long range's
// peak memory within a few MiB of a short one's: what is held back counts
// twice, as the garbage collector lets the heap grow to twice what is live.
const streamBuffer = 256 << 10

// serveStreamed answers with STREAMED_XOR_CHUNKS frames
// (docs/remote-read-protocol.md §5): one whole series per frame, series
// sorted. Select is lazy in this project's storage (labels first, samples when
// a series is iterated), so the series of all queries are listed and checked
// first, then framed one by one.
func (h *readHandler) serveStreamed(w http.ResponseWriter, r *http.Request, queries []readQuery, open *openQueriers) int {
	ctx := r.Context()
	results := make([][]labelled[storage.ChunkSeries], len(queries))
	for i, q := range queries {
		res, err := h.selectChunks(ctx, i, q, open)
		if err != nil {
			return h.fail(w, r, err)
		}
		results[i] = res
	}
	st := &stream{h: h, w: w, r: r}
	if b, ok := h.frameBufs.Get().(*[]byte); ok {
		st.held = (*b)[:0]
	}
	defer st.release()
	defer st.count()
	fr := startFramer(ctx, h, results)
	defer fr.stop()
	for {
		b, ok := <-fr.out
		if !ok {
			return st.finish()
		}
		if b.err != nil {
			return st.failOrAbort(b.err, b.kind)
		}
		if !st.batch(b) {
			return http.StatusOK
		}
		fr.recycle(b.buf)
	}
}

// A framer makes the frames of a streamed answer on a goroutine of its
// own, in batches of whole frames, while the handler writes the batches
// before: reading the series' chunks and encoding the frames (half the
// time of streaming every series of a day) then runs beside writing them
// to the connection (the other half). It stays at most framerBatches
// batches ahead, so an answer's memory stays flat. An error ends the
// batches, after the frames made before it, as if the handler had met
// it framing them itself.
type framer struct {
	h    *readHandler // whose frame buffers the batches are made in
	out  chan frameBatch
	free chan []byte
	quit chan struct{}
	done chan struct{}
}

// frameBatch is whole frames, or the error that ends the answer.
type frameBatch struct {
	buf     []byte
	frames  int
	samples int64
	err     error
	kind    string
}

// framerBatch is the size a batch of frames is sent at; framerBatches
// are made ahead at most. A stream holds about framerBatches+2 batches
// (those ahead, the one being made and the one being written): small
// beside the 256 KiB held back before the first write, so that 32
// streams at once cost what they did with one frame in hand each, and a
// write every 64 KiB costs no more system calls than it saves.
const (
	framerBatch   = 64 << 10
	framerBatches = 2
)

func startFramer(ctx context.Context, h *readHandler, results [][]labelled[storage.ChunkSeries]) *framer {
	fr := &framer{h: h, out: make(chan frameBatch, framerBatches), free: make(chan []byte, framerBatches+2),
		quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(fr.done)
		defer close(fr.out)
		fr.run(ctx, results)
	}()
	return fr
}

func (fr *framer) run(ctx context.Context, results [][]labelled[storage.ChunkSeries]) {
	h := fr.h
	var (
		chunker xorChunker
		it      chunks.Iterator
		cur     frameBatch
	)
	budget := sampleBudget{limit: h.opts.MaxSamplesPerQuery}
	fail := func(err error, kind string) {
		if fr.send(cur) {
			fr.send(frameBatch{err: err, kind: kind})
		}
	}
	for qi, res := range results {
		for _, s := range res {
			if err := ctx.Err(); err != nil {
				fail(classify(ctx, err), errKindCanceled)
				return
			}
			chunker.reset()
			it = s.val.Iterator(it)
			if err := chunker.addAll(it, &budget); err != nil {
				fail(classify(ctx, annotate(err, "query %d: series %s", qi, s.lset)), errKindInternal)
				return
			}
			// An empty frame makes 3.x clients panic
			// (docs/remote-read-protocol.md §11); Prometheus skips such series
			// too (docs/remote-read-protocol.md §5.2).
			if len(chunker.out) == 0 {
				continue
			}
			cs := &prompb.ChunkedSeries{Labels: prompb.FromLabels(s.lset, nil), Chunks: chunker.out}
			if err := h.checkFrameSize(qi, s.lset, cs); err != nil {
				fail(err, errKindLimit)
				return
			}
			if cur.buf == nil {
				cur.buf = fr.buffer()
			}
			b, err := appendFrame(cur.buf, frameMessage(qi, cs))
			if err != nil {
				fail(internalError(err, "encode frame"), errKindInternal)
				return
			}
			cur.buf, cur.frames, cur.samples = b, cur.frames+1, cur.samples+chunker.samples
			if len(cur.buf) >= framerBatch {
				if !fr.send(cur) {
					return
				}
				cur = frameBatch{}
			}
		}
	}
	fr.send(cur)
}

// buffer returns an empty buffer for a batch: one the handler wrote
// already, or one of the handler's pool.
func (fr *framer) buffer() []byte {
	select {
	case b := <-fr.free:
		return b
	default:
	}
	if b, ok := fr.h.frameBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, framerBatch+framerBatch/4)
}

// send hands a batch to the handler (an empty one is not sent); false
// means the handler stopped listening.
func (fr *framer) send(b frameBatch) bool {
	if b.frames == 0 && b.err == nil {
		return true
	}
	select {
	case fr.out <- b:
		return true
	case <-fr.quit:
		return false
	}
}

// recycle gives a written batch's buffer back for the batches to come.
func (fr *framer) recycle(b []byte) {
	if cap(b) > maxPooledFrameBuf {
		return
	}
	select {
	case fr.free <- b[:0]:
	default:
	}
}

// stop ends the framer, whatever it is doing, and waits for it: the
// series are not touched after the handler returns. Its buffers go back
// to the handler's pool.
func (fr *framer) stop() {
	close(fr.quit)
	<-fr.done
	for b := range fr.out {
		fr.recycle(b.buf)
	}
	for {
		select {
		case b := <-fr.free:
			if cap(b) > 0 {
				fr.h.frameBufs.Put(&b)
			}
		default:
			return
		}
	}
}

// stream holds frames back until streamBuffer is exceeded, then writes.
type stream struct {
	h         *readHandler
	w         http.ResponseWriter
	r         *http.Request
	fl        *flusher
	started   bool
	frames    int   // frames written
	samples   int64 // samples in them
	unflushed int   // frames written since the last flush
	// Before the stream starts: the frames held back, one after the
	// other (they go out in one write), how many and their samples.
	held        []byte
	heldFrames  int
	heldSamples int64
	scratch     []byte // the frame being written, once started
}

func (st *stream) count() {
	st.h.metrics.SeriesServed.WithLabelValues(handlerRead, responseTypeStreamed).Add(float64(st.frames))
	st.h.metrics.SamplesServed.WithLabelValues(handlerRead, responseTypeStreamed).Add(float64(st.samples))
}

// batch holds back or writes a batch of frames; false means the stream
// was aborted. Once the stream has started, batches are written as they
// come.
func (st *stream) batch(b frameBatch) bool {
	if !st.started {
		st.held, st.heldFrames, st.heldSamples = append(st.held, b.buf...), st.heldFrames+b.frames, st.heldSamples+b.samples
		if len(st.held) <= streamBuffer {
			return true
		}
		return st.flushPending()
	}
	return st.write(b.buf, b.frames, b.samples)
}

// flushPending starts the stream with the frames held back.
func (st *stream) flushPending() bool {
	st.start()
	ok := st.heldFrames == 0 || st.write(st.held, st.heldFrames, st.heldSamples)
	st.scratch, st.held = st.held[:0], nil
	return ok
}

// maxPooledFrameBuf: a buffer grown by a larger frame is left to the
// garbage collector rather than kept.
const maxPooledFrameBuf = 4 << 20

// release returns the frame buffer to the handler's pool once everything
// written from it is written.
func (st *stream) release() {
	b := st.held
	if st.started {
		b = st.scratch
	}
	if cap(b) == 0 || cap(b) > maxPooledFrameBuf {
		return
	}
	b = b[:0]
	st.h.frameBufs.Put(&b)
}

func (st *stream) start() {
	st.w.Header().Set("Content-Type", ContentTypeStreamed)
	st.w.WriteHeader(http.StatusOK)
	st.fl = &flusher{rc: http.NewResponseController(st.w), h: st.h}
	st.started = true
}

// write writes whole frames, flushing every framesPerFlush of them.
func (st *stream) write(b []byte, frames int, samples int64) bool {
	if err := st.r.Context().Err(); err != nil {
		st.h.abortStream(st.w, st.r, errKindCanceled, err, st.frames)
		return false
	}
	if _, err := st.w.Write(b); err != nil {
		st.h.abortStream(st.w, st.r, errKindCanceled, err, st.frames)
		return false
	}
	st.frames += frames
	st.samples += samples
	if st.unflushed += frames; st.unflushed >= framesPerFlush {
		st.unflushed = 0
		if err := st.fl.flush(); err != nil {
			st.h.abortStream(st.w, st.r, errKindCanceled, err, st.frames)
			return false
		}
	}
	return true
}

// failOrAbort answers with an error status while nothing is written, and
// ends the stream cut short after.
func (st *stream) failOrAbort(err error, kind string) int {
	if !st.started {
		return st.h.fail(st.w, st.r, err)
	}
	st.h.abortStream(st.w, st.r, kind, err, st.frames)
	return http.StatusOK
}

func (st *stream) finish() int {
	if !st.started && !st.flushPending() {
		return http.StatusOK
	}
	if err := st.fl.flush(); err != nil {
		st.h.abortStream(st.w, st.r, errKindCanceled, err, st.frames)
	}
	return http.StatusOK
}

// selectChunks runs one query and returns its sorted, unique series, not
// yet iterated.
func (h *readHandler) selectChunks(ctx context.Context, idx int, q readQuery, open *openQueriers) ([]labelled[storage.ChunkSeries], error) {
	if q.none {
		return nil, nil
	}
	querier, err := h.queryable.ChunkQuerier(q.start, q.end)
	if err != nil {
		return nil, internalError(err, "query %d: open chunk querier", idx)
	}
	open.add(querier)
	return selectSeries(ctx, h, idx, querier.Select(ctx, true, q.hints, q.matchers...),
		func(lset labels.Labels, s storage.ChunkSeries) (storage.ChunkSeries, bool, error) {
			return s, true, nil
		})
}

// checkFrameSize applies the frame-size rule: a series is never split across
// frames, because 3.x clients turn each frame into its own series and then
// fail with duplicate label sets or sum wrong values
// (docs/remote-read-protocol.md §11). A series that does not fit into
// MaxBytesPerFrame therefore fails the request, before the first byte, with a
// reason the user can act on.
func (h *readHandler) checkFrameSize(idx int, lset labels.Labels, cs *prompb.ChunkedSeries) error {
	size := frameMessage(idx, cs).Size()
	if size <= h.opts.MaxBytesPerFrame {
		return nil
	}
	return limitExceeded(http.StatusBadRequest,
		"series too large for one frame: %s needs %d bytes, the limit is %d; narrow the time range", lset, size, h.opts.MaxBytesPerFrame)
}

func frameMessage(idx int, cs *prompb.ChunkedSeries) *prompb.ChunkedReadResponse {
	return &prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{cs}, QueryIndex: int64(idx)}
}

// abortStream ends a stream whose status is already out.
func (h *readHandler) abortStream(w http.ResponseWriter, r *http.Request, kind string, err error, frames int) {
	h.metrics.Errors.WithLabelValues(handlerRead, kind).Inc()
	attrs := []any{"err", err, "frames_written", frames, "remote", r.RemoteAddr}
	if kind == errKindInternal {
		h.log.Error("remote read stream aborted", attrs...)
	} else {
		h.log.Debug("remote read stream stopped; client gone", attrs...)
	}
	// Best effort: after a write error the connection is broken anyway.
	if _, werr := w.Write(truncatedFrame()); werr == nil {
		_ = http.NewResponseController(w).Flush()
	}
}

// flusher pushes buffered frames to the client. A ResponseWriter that cannot
// flush (a middleware that hides http.Flusher) still gets a correct body, only
// later, so that is logged once rather than failing the request.
type flusher struct {
	rc          *http.ResponseController
	h           *readHandler
	unsupported bool
}

func (f *flusher) flush() error {
	if f.unsupported {
		return nil
	}
	err := f.rc.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		f.unsupported = true
		f.h.log.Warn("response writer cannot flush; streamed frames reach the client only at the end (a middleware hides http.Flusher)")
		return nil
	}
	return err
}
