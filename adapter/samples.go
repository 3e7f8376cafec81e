package adapter

import (
	"context"
	"net/http"
	"strconv"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// serveSamples answers with one snappy-compressed ReadResponse (§4). The
// whole response is built, limited and marshalled before the first byte, so
// nothing can fail once the status is out.
func (h *readHandler) serveSamples(w http.ResponseWriter, r *http.Request, queries []readQuery, open *openQueriers) int {
	ctx := r.Context()
	budget := sampleBudget{limit: h.opts.MaxSamplesPerQuery}
	resp := prompb.ReadResponse{Results: make([]*prompb.QueryResult, 0, len(queries))}
	var series int
	for i, q := range queries {
		res, err := h.selectSamples(ctx, i, q, &budget, open)
		if err != nil {
			return h.fail(w, r, err)
		}
		resp.Results = append(resp.Results, res)
		series += len(res.Timeseries)
	}

	data, err := resp.Marshal()
	if err != nil {
		return h.fail(w, r, internalError(err, "marshal ReadResponse"))
	}
	// snappy.Encode panics beyond its block size limit (~4 GiB).
	if snappy.MaxEncodedLen(len(data)) < 0 {
		return h.fail(w, r, limitExceeded(http.StatusBadRequest,
			"response of %d bytes is too large for one snappy block; narrow the range or add matchers", len(data)))
	}
	body := snappy.Encode(nil, data)

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

// selectSamples runs one query and returns its sorted, unique, non-empty
// series.
func (h *readHandler) selectSamples(ctx context.Context, idx int, q readQuery, budget *sampleBudget, open *openQueriers) (*prompb.QueryResult, error) {
	querier, err := h.queryable.Querier(q.start, q.end)
	if err != nil {
		return nil, internalError(err, "query %d: open querier", idx)
	}
	open.add(querier)

	set := querier.Select(ctx, true, q.hints, q.matchers...)
	var (
		series []labelled[prompb.TimeSeries]
		it     chunkenc.Iterator
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
		it = s.Iterator(it)
		samples, err := floatSamples(it, budget)
		if err != nil {
			return nil, annotate(err, "query %d: series %s", idx, lset)
		}
		// A series without data tells the client nothing (§2.6).
		if len(samples) == 0 {
			continue
		}
		series = append(series, labelled[prompb.TimeSeries]{
			lset: lset,
			val:  prompb.TimeSeries{Labels: prompb.FromLabels(lset, nil), Samples: samples},
		})
	}
	if err := set.Err(); err != nil {
		return nil, internalError(err, "query %d: select", idx)
	}
	if err := finishQuery(h.log, idx, series, set.Warnings()); err != nil {
		return nil, err
	}
	res := &prompb.QueryResult{Timeseries: make([]*prompb.TimeSeries, len(series))}
	for i := range series {
		res.Timeseries[i] = &series[i].val
	}
	return res, nil
}

// floatSamples drains it. Histogram samples are skipped: PCP has none, and a
// SAMPLES client would need them in the separate histograms field.
func floatSamples(it chunkenc.Iterator, budget *sampleBudget) ([]prompb.Sample, error) {
	var out []prompb.Sample
	if h, ok := it.(interface{ SamplesHint() int }); ok {
		out = make([]prompb.Sample, 0, h.SamplesHint())
	}
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		if vt != chunkenc.ValFloat {
			continue
		}
		t, v := it.At()
		// The client binary-searches samples (§4); out-of-order input is a
		// storage bug that must not reach it.
		if n := len(out); n > 0 && t <= out[n-1].Timestamp {
			return nil, internalError(nil, "sample timestamp %d not after %d", t, out[n-1].Timestamp)
		}
		if err := budget.take(1); err != nil {
			return nil, err
		}
		out = append(out, prompb.Sample{Timestamp: t, Value: v})
	}
	if err := it.Err(); err != nil {
		return nil, internalError(err, "iterate samples")
	}
	return out, nil
}
