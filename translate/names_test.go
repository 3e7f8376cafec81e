package translate

import "testing"

func TestMetricName(t *testing.T) {
	for _, c := range []struct{ pcp, want string }{
		{"kernel.all.load", "kernel_all_load"},
		{"kernel.percpu.cpu.user", "kernel_percpu_cpu_user"},
		{"a.b_c", "a_b_c"},
		{"sample.dupnames.two.bin", "sample_dupnames_two_bin"},
		{"mmv.test-1.x", "mmv_test_1_x"}, // not PCP's charset, but made valid
		{"9lives.x", "_9lives_x"},
	} {
		if got := MetricName(c.pcp); got != c.want {
			t.Errorf("MetricName(%q) = %q, want %q", c.pcp, got, c.want)
		}
	}
}

func TestLabelName(t *testing.T) {
	for _, c := range []struct{ pcp, want string }{
		{"hostname", "hostname"},
		{"device_type", "device_type"},
		{"a.b.c", "a_b_c"}, // compound names
		{"0day", "_0day"},
		{"has space", "has_space"},
		{"", "_"},
		{"ünïcode", "__n__code"},
	} {
		if got := LabelName(c.pcp); got != c.want {
			t.Errorf("LabelName(%q) = %q, want %q", c.pcp, got, c.want)
		}
	}
}

func TestLabelValue(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`"vm03"`, "vm03"},
		{`"quote \" and \\ back"`, `quote " and \ back`},
		{`"\u00e9t\u00e9"`, "été"},
		{`1000`, "1000"},
		{`true`, "true"},
		{`null`, ""},
		{`{"a":1}`, `{"a":1}`},
		{`[1,2]`, `[1,2]`},
		{`"unterminated`, "unterminate"},
	} {
		if got := LabelValue(c.raw); got != c.want {
			t.Errorf("LabelValue(%s) = %q, want %q", c.raw, got, c.want)
		}
	}
}

func TestFloorMs(t *testing.T) {
	for _, c := range []struct{ ns, want int64 }{
		{0, 0}, {999999, 0}, {1000000, 1}, {1795246566437443000, 1795246566437},
		{-1, -1}, {-1000000, -1}, {-1000001, -2},
	} {
		if got := floorMs(c.ns); got != c.want {
			t.Errorf("floorMs(%d) = %d, want %d", c.ns, got, c.want)
		}
	}
}
