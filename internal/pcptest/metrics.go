package pcptest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MetricValue is the value of a counter or a gauge.
func MetricValue(t testing.TB, c prometheus.Metric) float64 {
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
