package remoteread

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// sampleBudget enforces ReadOptions.MaxSamplesPerQuery while a response is
// being built, so an oversized answer is refused before it is materialised.
type sampleBudget struct {
	limit int64 // 0 means unlimited
	used  int64
}

func (b *sampleBudget) take(n int64) error {
	b.used += n
	if b.limit > 0 && b.used > b.limit {
		return limitExceeded(http.StatusBadRequest,
			"exceeded sample limit (%d); narrow the range or add matchers", b.limit)
	}
	return nil
}

// checkLabels verifies rule 1 of docs/remote-read-protocol.md §7: names sorted
// and unique, no empty name or value. Both clients reject duplicate names, and
// an empty value means "absent" to PromQL, so such a series would not match
// its own selector.
func checkLabels(lset labels.Labels) error {
	if lset.IsEmpty() {
		return errors.New("series without labels")
	}
	var (
		prev string
		err  error
	)
	first := true
	lset.Range(func(l labels.Label) {
		switch {
		case err != nil:
		case l.Name == "":
			err = fmt.Errorf("empty label name in %s", lset)
		case l.Value == "":
			err = fmt.Errorf("label %q has an empty value in %s", l.Name, lset)
		case !first && l.Name <= prev:
			err = fmt.Errorf("label names not sorted and unique (%q after %q) in %s", l.Name, prev, lset)
		}
		prev, first = l.Name, false
	})
	return err
}

// labelled pairs a value with the label set it is sorted by.
type labelled[T any] struct {
	lset labels.Labels
	val  T
}

func compareLabelled[T any](a, b labelled[T]) int { return labels.Compare(a.lset, b.lset) }

// ensureSortedUnique enforces rules 2 and 3 of
// docs/remote-read-protocol.md §7. Select was asked for sorted series, but
// Prometheus merges our output with its TSDB and that merge silently
// misbehaves on unsorted input, so this is checked rather than trusted.
// Unsorted output is repaired (and reported); a duplicate cannot be repaired
// without knowing how to merge it, so it is an error.
func ensureSortedUnique[T any](xs []labelled[T]) (resorted bool, err error) {
	if !slices.IsSortedFunc(xs, compareLabelled[T]) {
		slices.SortStableFunc(xs, compareLabelled[T])
		resorted = true
	}
	for i := 1; i < len(xs); i++ {
		if labels.Compare(xs[i-1].lset, xs[i].lset) == 0 {
			return resorted, fmt.Errorf("series %s returned more than once", xs[i].lset)
		}
	}
	return resorted, nil
}

// finishQuery applies the per-query checks that need the whole result.
// reorder says the order may have changed after Select (external labels
// were added) and re-sorting is no storage fault.
func finishQuery[T any](log *slog.Logger, idx int, xs []labelled[T], warnings annotations.Annotations, reorder bool) error {
	if len(warnings) > 0 {
		// Remote read cannot carry warnings to the client; keep them visible here.
		log.Info("storage warnings", "query", idx, "count", len(warnings), "warnings", warnings.AsErrors())
	}
	resorted, err := ensureSortedUnique(xs)
	if resorted && !reorder {
		log.Warn("storage returned unsorted series; sorted them", "query", idx, "series", len(xs))
	}
	if err != nil {
		return internalError(err, "query %d: storage returned invalid series", idx)
	}
	return nil
}

// seriesSet is what storage.SeriesSet and storage.ChunkSeriesSet share.
type seriesSet[S storage.Labels] interface {
	Next() bool
	At() S
	Err() error
	Warnings() annotations.Annotations
}

// selectSeries drains one query's series set: it checks each series'
// labels, keeps what take makes of it (keep false drops it), and returns
// them sorted and unique, with the set's error classified.
func selectSeries[S storage.Labels, T any](ctx context.Context, h *readHandler, idx int, set seriesSet[S], take func(labels.Labels, S) (T, bool, error)) ([]labelled[T], error) {
	var (
		out []labelled[T]
		b   labels.Builder
	)
	ext := h.opts.ExternalLabels
	for set.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := set.At()
		lset := s.Labels()
		if err := checkLabels(lset); err != nil {
			return nil, internalError(err, "query %d: storage returned an invalid series", idx)
		}
		lset = withExternal(&b, lset, ext)
		v, keep, err := take(lset, s)
		if err != nil {
			return nil, annotate(err, "query %d: series %s", idx, lset)
		}
		if keep {
			out = append(out, labelled[T]{lset: lset, val: v})
		}
	}
	if err := set.Err(); err != nil {
		return nil, classifySelect(ctx, idx, err)
	}
	// Labels added to every series can reorder them ({a} sorts after
	// {a, b} once both have c), so the order is then expected to change.
	if err := finishQuery(h.log, idx, out, set.Warnings(), !ext.IsEmpty()); err != nil {
		return nil, err
	}
	return out, nil
}

// classifySelect keeps limit and cancellation errors as they are and marks
// the rest as storage failures of this query.
func classifySelect(ctx context.Context, idx int, err error) error {
	he := classify(ctx, err)
	if he.kind != errKindInternal {
		return he
	}
	return internalError(err, "query %d: select", idx)
}
