package remoteread

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// blockingStorage holds every Select until release is closed.
func blockingStorage() *fakeStorage {
	return &fakeStorage{
		series:  []fakeSeries{series(labels.FromStrings("__name__", "m"), floats(0, 1, 3))},
		entered: make(chan struct{}, 4),
		block:   make(chan struct{}),
	}
}

// oneSlot is a read handler with one request slot, and a queue wait of
// maxWait, over a blockingStorage; body is a request it serves.
type oneSlot struct {
	st   *fakeStorage
	h    http.Handler
	m    *adapter.Metrics
	body []byte
}

func newOneSlot(t *testing.T, maxWait time.Duration) *oneSlot {
	t.Helper()
	st := blockingStorage()
	opts := adapter.DefaultReadOptions()
	opts.MaxConcurrent, opts.MaxQueueWait = 1, maxWait
	h, m := newTestHandler(t, st, opts)
	return &oneSlot{st: st, h: h, m: m, body: encode(t, readRequest(nil, query(0, 10, eq("__name__", "m"))))}
}

// send posts body in the background; its status arrives on codes.
func (s *oneSlot) send(codes chan<- int) {
	go func() { codes <- post(s.h, s.body).Code }()
}

// hold sends a request that takes the only slot and waits until it is
// held in storage (until st.block is closed); its status arrives on the
// returned channel.
func (s *oneSlot) hold() <-chan int {
	first := make(chan int, 1)
	s.send(first)
	<-s.st.entered
	return first
}

func (s *oneSlot) inFlight(t *testing.T) float64 {
	return pcptest.MetricValue(t, s.m.InFlight.WithLabelValues(handlerRead))
}

func TestConcurrencyLimit(t *testing.T) {
	tests := []struct {
		name    string
		maxWait time.Duration
	}{
		{"rejects at once without a queue", 0},
		{"rejects after the bounded wait", 30 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newOneSlot(t, tc.maxWait)
			first := s.hold()

			start := time.Now()
			rec := post(s.h, s.body)
			checkErrorResponse(t, rec, http.StatusTooManyRequests, "too many concurrent remote-read requests (limit 1")
			if waited := time.Since(start); waited < tc.maxWait {
				t.Errorf("answered after %v, before the %v wait was over", waited, tc.maxWait)
			}
			if got := pcptest.MetricValue(t, s.m.Errors.WithLabelValues(handlerRead, errKindLimit)); got != 1 {
				t.Errorf("errors{kind=limit} = %v, want 1", got)
			}
			close(s.st.block)
			if code := <-first; code != http.StatusOK {
				t.Fatalf("first request: status %d", code)
			}
		})
	}
}

func TestConcurrencyQueueGetsSlot(t *testing.T) {
	s := newOneSlot(t, 10*time.Second)
	first := s.hold()
	second := make(chan int, 1)
	s.send(second)
	waitFor(t, func() bool { return s.inFlight(t) == 2 })
	close(s.st.block)
	for _, codes := range []<-chan int{first, second} {
		if code := <-codes; code != http.StatusOK {
			t.Fatalf("status %d, want 200 for both", code)
		}
	}
	if got := s.inFlight(t); got != 0 {
		t.Errorf("in-flight %v after both finished", got)
	}
}

// A client that gives up while queued is not a server failure.
func TestConcurrencyQueueCanceled(t *testing.T) {
	s := newOneSlot(t, 10*time.Second)
	first := s.hold()

	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, ReadPath, bytes.NewReader(s.body))
	rec := httptest.NewRecorder()
	go func() {
		waitFor(t, func() bool { return s.inFlight(t) == 2 })
		cancel()
	}()
	s.h.ServeHTTP(rec, r)
	checkErrorResponse(t, rec, statusClientClosedRequest, "request canceled")
	if got := pcptest.MetricValue(t, s.m.Errors.WithLabelValues(handlerRead, errKindCanceled)); got != 1 {
		t.Errorf("errors{kind=canceled} = %v, want 1", got)
	}
	close(s.st.block)
	<-first
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Error("condition not reached within 5s")
			return
		}
		time.Sleep(time.Millisecond)
	}
}
