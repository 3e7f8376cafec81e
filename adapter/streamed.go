package adapter

import (
	"context"
	"errors"
	"net/http"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// framesPerFlush bounds how much the client waits for: it decodes frames as
// they arrive, but one flush per tiny frame would cost a syscall each.
const framesPerFlush = 8

// streamedSeries is one series ready to be framed.
type streamedSeries struct {
	series  *prompb.ChunkedSeries
	samples int64
}

// serveStreamed answers with STREAMED_XOR_CHUNKS frames (§5).
//
// Every series is collected (and re-chunked) before the first byte. This
// costs memory — bounded by the sample limit — but it is the only way to
// answer budget, frame-size, sorting and storage errors with a status code:
// an error after the first frame fails the client's whole query, while an
// error status only drops the remote part with a warning (§8). The storage
// materialises series anyway.
func (h *readHandler) serveStreamed(w http.ResponseWriter, r *http.Request, queries []readQuery, open *openQueriers) int {
	ctx := r.Context()
	budget := sampleBudget{limit: h.opts.MaxSamplesPerQuery}
	results := make([][]labelled[streamedSeries], len(queries))
	for i, q := range queries {
		res, err := h.selectChunks(ctx, i, q, &budget, open)
		if err != nil {
			return h.fail(w, r, err)
		}
		results[i] = res
	}
	h.writeFrames(w, r, results)
	return http.StatusOK
}

// selectChunks runs one query and returns its sorted, unique series with at
// least one chunk, each small enough for one frame.
func (h *readHandler) selectChunks(ctx context.Context, idx int, q readQuery, budget *sampleBudget, open *openQueriers) ([]labelled[streamedSeries], error) {
	querier, err := h.queryable.ChunkQuerier(q.start, q.end)
	if err != nil {
		return nil, internalError(err, "query %d: open chunk querier", idx)
	}
	open.add(querier)

	set := querier.Select(ctx, true, q.hints, q.matchers...)
	var (
		out     []labelled[streamedSeries]
		chunker xorChunker
		it      chunks.Iterator
	)
	for set.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := set.At()
		lset := s.Labels()
		if err := checkLabels(lset); err != nil {
			return nil, internalError(err, "query %d: storage returned an invalid series", idx)
		}
		chunker.reset()
		it = s.Iterator(it)
		if err := chunker.addAll(it, budget); err != nil {
			return nil, annotate(err, "query %d: series %s", idx, lset)
		}
		// An empty frame makes 3.x clients panic (§7); Prometheus skips
		// such series too (§12).
		if len(chunker.out) == 0 {
			continue
		}
		cs := &prompb.ChunkedSeries{Labels: prompb.FromLabels(lset, nil), Chunks: chunker.out}
		if err := h.checkFrameSize(idx, lset, cs); err != nil {
			return nil, err
		}
		out = append(out, labelled[streamedSeries]{lset: lset, val: streamedSeries{series: cs, samples: chunker.samples}})
	}
	if err := set.Err(); err != nil {
		return nil, internalError(err, "query %d: select", idx)
	}
	if err := finishQuery(h.log, idx, out, set.Warnings()); err != nil {
		return nil, err
	}
	return out, nil
}

// checkFrameSize applies the frame-size rule: a series is never split across
// frames, because 3.x clients turn each frame into its own series and then
// fail with duplicate label sets or sum wrong values (§7). A series that does
// not fit into MaxBytesPerFrame therefore fails the request, before the
// first byte, with a reason the user can act on.
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

// writeFrames streams the collected series, one whole series per frame (3.x
// clients decode only ChunkedSeries[0] of a frame, §7). Nothing here can
// change the status any more; an early stop ends the body with a truncated
// frame so the client does not take a partial answer for a complete one.
func (h *readHandler) writeFrames(w http.ResponseWriter, r *http.Request, results [][]labelled[streamedSeries]) {
	ctx := r.Context()
	w.Header().Set("Content-Type", ContentTypeStreamed)
	w.WriteHeader(http.StatusOK)

	fl := flusher{rc: http.NewResponseController(w), h: h}
	var (
		buf     []byte
		frames  int // one series each
		samples int64
	)
	defer func() {
		h.metrics.SeriesServed.WithLabelValues(handlerRead, responseTypeStreamed).Add(float64(frames))
		h.metrics.SamplesServed.WithLabelValues(handlerRead, responseTypeStreamed).Add(float64(samples))
	}()
	for qi, res := range results {
		for _, s := range res {
			if err := ctx.Err(); err != nil {
				h.abortStream(w, r, errKindCanceled, err, frames)
				return
			}
			var err error
			buf, err = appendFrame(buf[:0], frameMessage(qi, s.val.series))
			if err != nil {
				h.abortStream(w, r, errKindInternal, err, frames)
				return
			}
			if _, err := w.Write(buf); err != nil {
				h.abortStream(w, r, errKindCanceled, err, frames)
				return
			}
			frames++
			samples += s.val.samples
			if frames%framesPerFlush == 0 {
				if err := fl.flush(); err != nil {
					h.abortStream(w, r, errKindCanceled, err, frames)
					return
				}
			}
		}
	}
	if err := fl.flush(); err != nil {
		h.abortStream(w, r, errKindCanceled, err, frames)
	}
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
