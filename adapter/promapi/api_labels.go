package promapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// The label endpoints list the series that have a value in the window (the
// querier's Func == "series" path): column tables tell from their chunk
// headers, archives without one have the window's records read. Without
// start and end they cover all time, which the storage clamps to the
// archives.

// window is what the series and label endpoints share: limit, the start
// and end (ms; all time when absent) and the match[] sets.
type window struct {
	limit      int
	mint, maxt int64
	sets       [][]*labels.Matcher
}

// parseWindow reads a window's parameters; on error it names the
// parameter at fault.
func (a *api) parseWindow(r *http.Request) (window, string, error) {
	var w window
	var err error
	if w.limit, err = parseLimit(r.FormValue("limit")); err != nil {
		return w, "limit", err
	}
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return w, "start", err
	}
	end, err := parseTimeParam(r, "end", maxTime)
	if err != nil {
		return w, "end", err
	}
	if w.sets, err = a.parseMatchers(r.Form["match[]"]); err != nil {
		return w, "match[]", err
	}
	w.mint, w.maxt = timestamp.FromTime(start), timestamp.FromTime(end)
	return w, "", nil
}

// series is /api/v1/series.
func (a *api) series(r *http.Request) apiResult {
	if err := r.ParseForm(); err != nil {
		return apiResult{err: badData(fmt.Errorf("error parsing form values: %w", err))}
	}
	if len(r.Form["match[]"]) == 0 {
		return apiResult{err: badData(errors.New("no match[] parameter provided"))}
	}
	w, param, err := a.parseWindow(r)
	if err != nil {
		return invalidParam(err, param)
	}
	limit, sets, mint, maxt := w.limit, w.sets, w.mint, w.maxt
	q, err := a.queryable.Querier(mint, maxt)
	if err != nil {
		return apiResult{err: engineError(err)}
	}
	defer q.Close()

	ctx := r.Context()
	hints := &storage.SelectHints{Start: mint, End: maxt, Func: "series", Limit: hintLimit(limit)}
	var set storage.SeriesSet
	if len(sets) > 1 {
		var all []storage.SeriesSet
		for _, ms := range sets {
			all = append(all, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
	} else {
		set = q.Select(ctx, false, hints, sets[0]...)
	}
	out := labelSets{}
	var warns annotations.Annotations
	for set.Next() {
		out = append(out, set.At().Labels())
		if limit > 0 && len(out) > limit {
			out = out[:limit]
			warns.Merge(set.Warnings())
			warns.Add(errTruncated)
			return apiResult{data: out, warns: warns, series: len(out)}
		}
	}
	warns.Merge(set.Warnings())
	if err := set.Err(); err != nil {
		return apiResult{err: engineError(err), warns: warns}
	}
	return apiResult{data: out, warns: warns, series: len(out)}
}

// labelNames is /api/v1/labels.
func (a *api) labelNames(r *http.Request) apiResult {
	return a.labelList(r, func(q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(r.Context(), hints, ms...)
	})
}

// labelList answers the two label endpoints: the same parameters (limit,
// start, end, match[]) and one querier over the window, the union of the
// lookup over every match[] set, cut to the limit.
func (a *api) labelList(r *http.Request, lookup func(storage.Querier, *storage.LabelHints, []*labels.Matcher) ([]string, annotations.Annotations, error)) apiResult {
	w, param, err := a.parseWindow(r)
	if err != nil {
		if param == "match[]" {
			return apiResult{err: badData(err)} // these endpoints answer bad matchers with bad_data
		}
		return invalidParam(err, param)
	}
	limit, sets := w.limit, w.sets
	q, err := a.queryable.Querier(w.mint, w.maxt)
	if err != nil {
		return apiResult{err: engineError(err)}
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: hintLimit(limit)}
	list, warns, err := unionOver(sets, func(ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return lookup(q, hints, ms)
	})
	if err != nil {
		return apiResult{err: engineError(err), warns: warns}
	}
	return limitedList(list, limit, warns)
}

// labelValues is /api/v1/label/<name>/values.
func (a *api) labelValues(r *http.Request) apiResult {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		// UTF-8 names come escaped (Grafana's escapeForUtf8Support).
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return apiResult{err: badData(fmt.Errorf("invalid label name: %q", name))}
	}
	return a.labelList(r, func(q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(r.Context(), name, hints, ms...)
	})
}

// unionOver calls list once without matchers, or once per matcher set,
// and returns the sorted union.
func unionOver(sets [][]*labels.Matcher, list func([]*labels.Matcher) ([]string, annotations.Annotations, error)) ([]string, annotations.Annotations, error) {
	if len(sets) <= 1 {
		var ms []*labels.Matcher
		if len(sets) == 1 {
			ms = sets[0]
		}
		out, warns, err := list(ms)
		if err != nil {
			return nil, warns, err
		}
		slices.Sort(out)
		return out, warns, nil
	}
	var warns annotations.Annotations
	seen := map[string]struct{}{}
	for _, ms := range sets {
		vals, w, err := list(ms)
		warns.Merge(w)
		if err != nil {
			return nil, warns, err
		}
		for _, v := range vals {
			seen[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, warns, nil
}

func limitedList(list []string, limit int, warns annotations.Annotations) apiResult {
	if list == nil {
		list = []string{}
	}
	if limit > 0 && len(list) > limit {
		list = list[:limit]
		warns.Add(errTruncated)
	}
	return apiResult{data: stringList(list), warns: warns}
}
