package translate_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

func TestMetadata(t *testing.T) {
	set := pcptest.OpenSet(t, multiarchive.Options{}, "../testdata/archives/v3-basic", "../testdata/demo")
	st := translate.New(set, translate.Options{})
	all, warns, err := st.Metadata(context.Background(), "")
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	if !slices.IsSortedFunc(all, func(a, b translate.MetricMetadata) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	}) {
		t.Error("not sorted by name")
	}
	byName := map[string][]translate.MetricMetadata{}
	for _, md := range all {
		byName[md.Name] = append(byName[md.Name], md)
	}
	for _, c := range []struct {
		name string
		want []translate.MetricMetadata
	}{
		// The demo hosts (pmi, no help) and host vm (pmlogger, one-line
		// help) disagree on help: two entries.
		{"kernel_all_pswitch", []translate.MetricMetadata{
			{Name: "kernel_all_pswitch", Type: "counter", Unit: "count"},
			{Name: "kernel_all_pswitch", Type: "counter", Help: "context switches metric from /proc/stat", Unit: "count"},
		}},
		{"mem_util_cached", []translate.MetricMetadata{{Name: "mem_util_cached", Type: "gauge", Unit: "Kbyte"}}},
		{"hinv_ncpu", []translate.MetricMetadata{ // discrete semantics
			{Name: "hinv_ncpu", Type: "gauge"},
			{Name: "hinv_ncpu", Type: "gauge", Help: "number of CPUs in the system"},
		}},
		{"kernel_all_uname_release", nil}, // a STRING: not a Prometheus metric
		{"kernel_uname_release", nil},
	} {
		if got := byName[c.name]; !slices.Equal(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		got, _, err := st.Metadata(context.Background(), c.name)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s alone: %+v %v", c.name, got, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := st.Metadata(ctx, ""); err == nil {
		t.Error("canceled context: no error")
	}
}
