package remoteread

import (
	"context"
	"net/http"
	"time"
)

// gate bounds the number of requests served at once. Unlike Prometheus' gate
// it never waits longer than maxWait: an overloaded server answers 429 soon,
// while the client (default remote_timeout 1m, no retries) can still use the
// rest of its queries' results.
type gate struct {
	slots   chan struct{}
	maxWait time.Duration
}

func newGate(capacity int, maxWait time.Duration) *gate {
	return &gate{slots: make(chan struct{}, capacity), maxWait: maxWait}
}

// acquire takes a slot, waiting at most maxWait and no longer than ctx lives.
// The returned release must be called exactly once on success.
func (g *gate) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, nil
	default:
	}
	if g.maxWait <= 0 {
		return nil, g.full()
	}
	timer := time.NewTimer(g.maxWait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, nil
	case <-timer.C:
		return nil, g.full()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gate) full() error {
	return limitExceeded(http.StatusTooManyRequests,
		"too many concurrent remote-read requests (limit %d, waited %v); retry later or raise the concurrency limit",
		cap(g.slots), g.maxWait)
}
