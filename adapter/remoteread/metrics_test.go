package remoteread

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

func TestNewMetricsRegisters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := adapter.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewReadHandler(&fakeStorage{}, adapter.DefaultReadOptions(), nil, m); err != nil {
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
	if _, err := adapter.NewMetrics(reg); err == nil {
		t.Error("registering twice did not fail")
	}
}
