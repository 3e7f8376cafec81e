package adapter

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsNamespace prefixes every metric of pcp-remote-read.
const MetricsNamespace = "pcp_remote_read"

// StatusClientClosedRequest is nginx's code for a client that went away. No
// client reads it; it keeps such requests apart from real failures in
// Metrics.Requests.
const StatusClientClosedRequest = 499

// Values of the "kind" label of Metrics.Errors, common to every front end.
const (
	ErrKindBadRequest = "bad_request" // the client's mistake: 400, 405
	ErrKindLimit      = "limit"       // a budget was exceeded: 413, 429, 400 for samples/frames
	ErrKindInternal   = "internal"    // storage or I/O failure: 500
	ErrKindCanceled   = "canceled"    // the client went away or gave up
)

// Metrics holds the collectors of every HTTP handler (remoteread, promapi). Each
// vector is labelled by "handler", so new handlers (the PromQL API) share
// them instead of adding parallel families.
type Metrics struct {
	// Requests counts finished requests by handler and HTTP status code.
	Requests *prometheus.CounterVec
	// RequestDuration observes request latency by handler, including the
	// time spent waiting for a concurrency slot and streaming the body.
	RequestDuration *prometheus.HistogramVec
	// InFlight is the number of requests being served or waiting for a slot.
	InFlight *prometheus.GaugeVec
	// Errors counts failed requests by handler and kind. Remote-read clients
	// turn a failed read into a warning next to silently empty data
	// (docs/remote-read-protocol.md §10), so this counter is how an operator
	// notices.
	Errors *prometheus.CounterVec
	// SeriesServed and SamplesServed count what was written to clients, by
	// handler and response type.
	SeriesServed  *prometheus.CounterVec
	SamplesServed *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg. A nil reg
// leaves them unregistered, which is what tests and embedders without a
// registry want.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace,
			Name:      "http_requests_total",
			Help:      "HTTP requests served, by handler and status code.",
		}, []string{"handler", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: MetricsNamespace,
			Name:      "http_request_duration_seconds",
			Help:      "Time to serve an HTTP request, including queueing and streaming, by handler.",
			// Remote reads run up to the client's remote_timeout (1m by default).
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"handler"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: MetricsNamespace,
			Name:      "http_requests_in_flight",
			Help:      "HTTP requests being served or waiting for a concurrency slot, by handler.",
		}, []string{"handler"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace,
			Name:      "http_request_errors_total",
			Help:      "Failed HTTP requests by handler and kind (bad_request, limit, internal, canceled).",
		}, []string{"handler", "kind"}),
		SeriesServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace,
			Name:      "series_served_total",
			Help:      "Series written to clients, by handler and response type.",
		}, []string{"handler", "response_type"}),
		SamplesServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace,
			Name:      "samples_served_total",
			Help:      "Samples written to clients, by handler and response type.",
		}, []string{"handler", "response_type"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.Requests, m.RequestDuration, m.InFlight, m.Errors, m.SeriesServed, m.SamplesServed,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register adapter metrics: %w", err)
		}
	}
	return m, nil
}

// InitHandler creates the label combinations a handler can produce so that
// they are exported as 0 before the first event; rate() over a series that
// appears mid-way misses its first increment.
func (m *Metrics) InitHandler(handler string, responseTypes ...string) {
	m.RequestDuration.WithLabelValues(handler)
	m.InFlight.WithLabelValues(handler)
	for _, kind := range []string{ErrKindBadRequest, ErrKindLimit, ErrKindInternal, ErrKindCanceled} {
		m.Errors.WithLabelValues(handler, kind)
	}
	for _, rt := range responseTypes {
		m.SeriesServed.WithLabelValues(handler, rt)
		m.SamplesServed.WithLabelValues(handler, rt)
	}
}
