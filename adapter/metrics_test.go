package adapter

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricValue is the value of a counter or a gauge.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	if m.Gauge == nil {
		t.Fatalf("%s is neither a counter nor a gauge", c.Desc())
	}
	return m.Gauge.GetValue()
}

func TestNewMetricsRegisters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewReadHandler(&fakeStorage{}, DefaultReadOptions(), nil, m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{
		"pcp_remote_read_http_requests_in_flight",
		"pcp_remote_read_http_request_duration_seconds",
		"pcp_remote_read_http_request_errors_total",
		"pcp_remote_read_series_served_total",
		"pcp_remote_read_samples_served_total",
	} {
		if !got[name] {
			t.Errorf("%s not exported before the first request", name)
		}
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice did not fail")
	}
}
