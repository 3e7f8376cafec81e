package promapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Request parameters are parsed exactly as Prometheus parses them
// (web/api/v1/api.go), so that clients get the same answers and the same
// error texts.

var (
	// minTime and maxTime are Prometheus' defaults for a missing start and
	// end (v1.MinTime, v1.MaxTime): about ±292 million years, which the
	// storage clamps (docs/remote-read-protocol.md §2.4).
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()

	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// parseTime accepts unix seconds with a fraction (rounded to the ms) or
// RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		// Prometheus converts any float, and int64(1e30) is garbage; a
		// time outside its own bounds (or NaN) is refused instead.
		if !(t >= float64(minTime.Unix()) && t <= float64(maxTime.Unix())) {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp: outside %s to %s", s, minTimeFormatted, maxTimeFormatted)
		}
		s, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(s), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// time.Parse only knows 4-digit years; accept Prometheus' own bounds.
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseDuration accepts float seconds (what Grafana sends for step) or a
// Prometheus duration ("15s", "1h30m").
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if ts > float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// parseLimit returns 0 for no limit.
func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	limit, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if limit < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return limit, nil
}

// hintLimit asks the storage for one more than the limit, so that a cut
// can be told from an exact fit and warned about.
func hintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}

// parseMatchers parses match[] selectors; each must have a matcher that
// does not match the empty string, or it would select every series.
func (a *api) parseMatchers(in []string) ([][]*labels.Matcher, error) {
	sets, err := a.parser.ParseMetricSelectors(in)
	if err != nil {
		return nil, err
	}
outer:
	for _, ms := range sets {
		for _, m := range ms {
			if m != nil && !m.Matches("") {
				continue outer
			}
		}
		return nil, errors.New("match[] must contain at least one non-empty matcher")
	}
	return sets, nil
}

// errTruncated is the warning Prometheus gives when a limit cuts a result
// short; it is a warning, never returned as the request's error.
var errTruncated = errors.New("results truncated due to limit")
