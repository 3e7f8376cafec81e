package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
)

// maxPointsPerSeries is Prometheus' bound on (end-start)/step: a minute's
// resolution for a week.
const maxPointsPerSeries = 11000

// query is /api/v1/query: an instant query at time (default now).
func (a *api) query(r *http.Request) apiResult {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return invalidParam(err, "limit")
	}
	ts, err := parseTimeParam(r, "time", a.opts.Now())
	if err != nil {
		return invalidParam(err, "time")
	}
	return a.run(r, limit, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return a.engine.NewInstantQuery(ctx, a.queryable, opts, r.FormValue("query"), ts)
	})
}

// queryRange is /api/v1/query_range.
func (a *api) queryRange(r *http.Request) apiResult {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return invalidParam(err, "limit")
	}
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return invalidParam(err, "start")
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return invalidParam(err, "end")
	}
	if end.Before(start) {
		return invalidParam(errors.New("end timestamp must not be before start time"), "end")
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return invalidParam(err, "step")
	}
	if step <= 0 {
		return invalidParam(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step")
	}
	if end.Sub(start)/step > maxPointsPerSeries {
		return apiResult{err: badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))}
	}
	return a.run(r, limit, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return a.engine.NewRangeQuery(ctx, a.queryable, opts, r.FormValue("query"), start, end, step)
	})
}

// run is what the instant and range handlers share once their own
// parameters are read: the request's timeout, the engine's options, making
// the query (see newQuery) and running it.
func (a *api) run(r *http.Request, limit int, build func(context.Context, promql.QueryOpts) (promql.Query, error)) apiResult {
	ctx := r.Context()
	if to := r.FormValue("timeout"); to != "" {
		timeout, err := parseDuration(to)
		if err != nil {
			return invalidParam(err, "timeout")
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	opts, err := queryOpts(r)
	if err != nil {
		return apiResult{err: badData(err)}
	}
	qry, qerr := a.newQuery(ctx, func(ctx context.Context) (promql.Query, error) { return build(ctx, opts) })
	if qerr != nil {
		return apiResult{err: qerr}
	}
	return a.exec(ctx, r, qry, limit)
}

// newQuery parses a query. The engine parses in a slot of the query gate
// too, with the request's context only: Prometheus then waits without
// bound when the gate is full and no timeout parameter is given, and
// reports the wait's end as a bad query. Here the wait is bounded by the
// query timeout and ends as a timeout (503) or cancellation (499).
func (a *api) newQuery(ctx context.Context, parse func(context.Context) (promql.Query, error)) (promql.Query, *apiError) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	qry, err := parse(ctx)
	if err == nil {
		return qry, nil
	}
	var timeout promql.ErrQueryTimeout
	var canceled promql.ErrQueryCanceled
	if errors.As(err, &timeout) || errors.As(err, &canceled) {
		return nil, engineError(err)
	}
	return nil, badData(fmt.Errorf("invalid parameter %q: %w", "query", err))
}

// queryOpts reads the per-query lookback_delta and whether per-step
// statistics are wanted (stats=all).
func queryOpts(r *http.Request) (promql.QueryOpts, error) {
	var lookback time.Duration
	if s := r.FormValue("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("error parsing lookback delta duration: %w", err)
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(r.FormValue("stats") == "all", lookback), nil
}

// exec runs a query and shapes its result. The result is encoded before
// the query is closed: Close returns the result's memory to the engine.
func (a *api) exec(ctx context.Context, r *http.Request, qry promql.Query, limit int) apiResult {
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return apiResult{err: engineError(res.Err), warns: res.Warnings}
	}
	warns := a.dropCounterInfos(ctx, res.Warnings)
	value := res.Value
	switch v := value.(type) {
	case promql.Matrix:
		if limit > 0 && len(v) > limit {
			value = v[:limit]
			warns.Add(errTruncated)
		}
	case promql.Vector:
		if limit > 0 && len(v) > limit {
			value = v[:limit]
			warns.Add(errTruncated)
		}
	}
	switch s := r.FormValue("stats"); s {
	case "", "true", "all":
	default:
		warns.Add(fmt.Errorf("value %q for parameter \"stats\" is deprecated and will be rejected in the next major release, use %q or %q", s, "true", "all"))
	}
	data := queryData{value: value}
	if r.FormValue("stats") != "" {
		data.stats = stats.NewQueryStats(qry.Stats())
	}
	series, samples := resultSize(value)
	// Encode now: the data must not outlive qry.Close. A point takes
	// about 30 bytes ([1762732800.123,"0.25"]); sizing the buffer for it
	// saves growing and copying a large answer several times.
	buf := make([]byte, 0, 1024+256*series+32*samples)
	return apiResult{data: rawJSON(data.appendJSON(buf)), warns: warns, series: series, samples: samples}
}

// dropCounterInfos removes Prometheus 3's "metric might not be a counter"
// infos for metrics that PCP declares counters. The engine guesses from
// the name's suffix (_total, _sum, ...), which PCP names never have, so
// every rate() panel over PCP counters would carry the note. PCP's
// semantics settle it; for gauges (instant, discrete) and unknown names the
// info stays.
func (a *api) dropCounterInfos(ctx context.Context, warns annotations.Annotations) annotations.Annotations {
	prefix := annotations.PossibleNonCounterInfo.Error() + " "
	for k, err := range warns {
		if !errors.Is(err, annotations.PossibleNonCounterInfo) {
			continue
		}
		name, err := strconv.Unquote(strings.TrimPrefix(k, prefix))
		if err != nil {
			continue
		}
		mds, _, err := a.metadata.Metadata(ctx, name)
		if err != nil || len(mds) == 0 {
			continue
		}
		counter := true
		for _, md := range mds {
			counter = counter && md.Type == "counter"
		}
		if counter {
			delete(warns, k)
		}
	}
	return warns
}

func resultSize(v any) (series, samples int) {
	switch v := v.(type) {
	case promql.Matrix:
		for _, s := range v {
			samples += len(s.Floats) + len(s.Histograms)
		}
		return len(v), samples
	case promql.Vector:
		return len(v), len(v)
	}
	return 0, 0
}

// rawJSON is data already encoded.
type rawJSON []byte

func (j rawJSON) appendJSON(b []byte) []byte { return append(b, j...) }

// queryExemplars is /api/v1/query_exemplars. PCP archives hold no
// exemplars, so the answer is always empty, after the parameters are
// checked as Prometheus checks them. (Prometheus answers 204 No Content
// for a query without selectors; an empty list is what every client
// handles.)
func (a *api) queryExemplars(r *http.Request) apiResult {
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return invalidParam(err, "start")
	}
	end, err := parseTimeParam(r, "end", maxTime)
	if err != nil {
		return invalidParam(err, "end")
	}
	if end.Before(start) {
		return apiResult{err: badData(errors.New("end timestamp must not be before start timestamp"))}
	}
	if _, err := a.parser.ParseExpr(r.FormValue("query")); err != nil {
		return apiResult{err: badData(err)}
	}
	return apiResult{data: stringList{}}
}

// formatQuery is /api/v1/format_query: the query pretty-printed.
func (a *api) formatQuery(r *http.Request) apiResult {
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return invalidParam(err, "query")
	}
	return apiResult{data: jsonString(expr.Pretty(0))}
}

type jsonString string

func (s jsonString) appendJSON(b []byte) []byte { return appendString(b, string(s)) }
