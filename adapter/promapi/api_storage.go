package promapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// storageErrors wraps the archives' Queryable so that the engine and the
// API tell storage failures apart from query errors. Prometheus' engine
// passes storage errors through unchanged, and the API would answer 422
// "execution" for a corrupt archive; here they become promql.ErrStorage
// (500 "internal"), and a deadline that expires while the archives are
// read becomes promql.ErrQueryTimeout (503 "timeout"), as when it expires
// between evaluation steps. The sample budget (translate.LimitError) stays
// an execution error (422), like the engine's own too-many-samples.
type storageErrors struct{ storage.Queryable }

func (s storageErrors) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := s.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, classifyStorage(err)
	}
	return querierErrors{q}, nil
}

func classifyStorage(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", promql.ErrQueryTimeout("reading archives"), err)
	}
	if _, ok := errors.AsType[*translate.LimitError](err); ok {
		return err
	}
	var se promql.ErrStorage
	if errors.As(err, &se) {
		return err
	}
	return promql.ErrStorage{Err: err}
}

type querierErrors struct{ storage.Querier }

func (q querierErrors) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return seriesSetErrors{q.Querier.Select(ctx, sortSeries, hints, ms...)}
}

func (q querierErrors) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	v, w, err := q.Querier.LabelValues(ctx, name, hints, ms...)
	return v, w, classifyStorage(err)
}

func (q querierErrors) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	v, w, err := q.Querier.LabelNames(ctx, hints, ms...)
	return v, w, classifyStorage(err)
}

type seriesSetErrors struct{ storage.SeriesSet }

func (s seriesSetErrors) Err() error { return classifyStorage(s.SeriesSet.Err()) }
