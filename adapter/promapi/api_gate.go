package promapi

import (
	"context"
	"errors"

	"github.com/prometheus/prometheus/promql"
)

// queryGate bounds the PromQL queries evaluated at once. It is the
// engine's promql.QueryTracker, so queueing happens where Prometheus
// queues (after parsing, inside the query's timeout) and shows in the
// engine's queue-time metrics. Prometheus' own tracker needs a directory
// for its crash log; this one only counts.
//
// Unlike the remote-read gate, a query waits as long as its timeout
// allows, as in Prometheus: a dashboard refresh fires many queries at
// once and they should run in turn, not fail.
type queryGate struct {
	slots chan struct{}
}

func newQueryGate(n int) *queryGate { return &queryGate{slots: make(chan struct{}, n)} }

func (g *queryGate) GetMaxConcurrent() int { return cap(g.slots) }

// Insert waits for a slot. When the query's context ends first, the error
// says so in the engine's terms, so that the API answers 503 "timeout"
// (or 499 "canceled"), not 422.
func (g *queryGate) Insert(ctx context.Context, _ string) (int, error) {
	select {
	case g.slots <- struct{}{}:
		return 0, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, promql.ErrQueryTimeout("query queue")
		}
		return 0, promql.ErrQueryCanceled("query queue")
	}
}

func (g *queryGate) Delete(int) { <-g.slots }

func (g *queryGate) Close() error { return nil }
