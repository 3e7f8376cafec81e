package adapter

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
)

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// blockingStorage holds every Select until release is closed.
func blockingStorage() *fakeStorage {
	return &fakeStorage{
		series:  []fakeSeries{series(labels.FromStrings("__name__", "m"), floats(0, 1, 3))},
		entered: make(chan struct{}, 4),
		block:   make(chan struct{}),
	}
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
			st := blockingStorage()
			opts := DefaultReadOptions()
			opts.MaxConcurrent, opts.MaxQueueWait = 1, tc.maxWait
			h, m := newTestHandler(t, st, opts)
			body := encode(t, readRequest(nil, query(0, 10, eq("__name__", "m"))))

			first := make(chan int)
			go func() { first <- post(h, body).Code }()
			<-st.entered // the first request holds the only slot

			start := time.Now()
			rec := post(h, body)
			checkErrorResponse(t, rec, http.StatusTooManyRequests, "too many concurrent remote-read requests (limit 1")
			if waited := time.Since(start); waited < tc.maxWait {
				t.Errorf("answered after %v, before the %v wait was over", waited, tc.maxWait)
			}
			if got := counterValue(t, m.Errors.WithLabelValues(handlerRead, errKindLimit)); got != 1 {
				t.Errorf("errors{kind=limit} = %v, want 1", got)
			}
			close(st.block)
			if code := <-first; code != http.StatusOK {
				t.Fatalf("first request: status %d", code)
			}
		})
	}
}

func TestConcurrencyQueueGetsSlot(t *testing.T) {
	st := blockingStorage()
	opts := DefaultReadOptions()
	opts.MaxConcurrent, opts.MaxQueueWait = 1, 10*time.Second
	h, m := newTestHandler(t, st, opts)
	body := encode(t, readRequest(nil, query(0, 10, eq("__name__", "m"))))

	codes := make(chan int, 2)
	go func() { codes <- post(h, body).Code }()
	<-st.entered
	go func() { codes <- post(h, body).Code }()
	waitFor(t, func() bool { return gaugeValue(t, m.InFlight.WithLabelValues(handlerRead)) == 2 })
	close(st.block)
	for range 2 {
		if code := <-codes; code != http.StatusOK {
			t.Fatalf("status %d, want 200 for both", code)
		}
	}
	if got := gaugeValue(t, m.InFlight.WithLabelValues(handlerRead)); got != 0 {
		t.Errorf("in-flight %v after both finished", got)
	}
}

// A client that gives up while queued is not a server failure.
func TestConcurrencyQueueCanceled(t *testing.T) {
	st := blockingStorage()
	opts := DefaultReadOptions()
	opts.MaxConcurrent, opts.MaxQueueWait = 1, 10*time.Second
	h, m := newTestHandler(t, st, opts)
	body := encode(t, readRequest(nil, query(0, 10, eq("__name__", "m"))))

	first := make(chan int)
	go func() { first <- post(h, body).Code }()
	<-st.entered

	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, ReadPath, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	go func() {
		waitFor(t, func() bool { return gaugeValue(t, m.InFlight.WithLabelValues(handlerRead)) == 2 })
		cancel()
	}()
	h.ServeHTTP(rec, r)
	checkErrorResponse(t, rec, statusClientClosedRequest, "request canceled")
	if got := counterValue(t, m.Errors.WithLabelValues(handlerRead, errKindCanceled)); got != 1 {
		t.Errorf("errors{kind=canceled} = %v, want 1", got)
	}
	close(st.block)
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
