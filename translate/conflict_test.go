package translate_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// TestUnitsChangeBetweenArchives serves a host whose second archive
// (rewritten by pmlogrewrite) gives kernel.all.load other units. libpcp
// refuses the pair; we serve every metric, leave out the second archive's
// kernel.all.load and say so in the query's warnings.
func TestUnitsChangeBetweenArchives(t *testing.T) {
	dir := "../testdata/conflict/units-change"
	count := func(d string, name string) int {
		lines, err := pcptest.ReadDump(d)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range lines {
			if l.Name != nil && *l.Name == name {
				n++
			}
		}
		return n
	}
	wantLoad := count(dir+"/first.oracle.jsonl.gz", "kernel.all.load")
	wantPswitch := count(dir+"/first.oracle.jsonl.gz", "kernel.all.pswitch") + count(dir+"/second.oracle.jsonl.gz", "kernel.all.pswitch")
	if wantLoad == 0 || wantPswitch == 0 {
		t.Fatal("test data lost its metrics")
	}
	for _, opts := range []multiarchive.Options{{}, {TableDir: t.TempDir(), TableSync: true, TableAll: true}} {
		opts.Paths = []string{dir}
		set, err := multiarchive.Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := translate.New(set, translate.Options{}).Querier(math.MinInt64, math.MaxInt64)
		samples := func(name string) (int, []string) {
			ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
			n := 0
			for ss.Next() {
				it := ss.At().Iterator(nil)
				for it.Next() == chunkenc.ValFloat {
					if _, v := it.At(); !value.IsStaleNaN(v) {
						n++
					}
				}
			}
			if err := ss.Err(); err != nil {
				t.Fatal(err)
			}
			var warns []string
			for _, w := range ss.Warnings().AsErrors() {
				warns = append(warns, w.Error())
			}
			return n, warns
		}
		n, warns := samples("kernel_all_load")
		if n != wantLoad {
			t.Errorf("kernel_all_load: %d samples, want the first archive's %d", n, wantLoad)
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "units changed") || !strings.Contains(warns[0], "second") {
			t.Errorf("warnings %q", warns)
		}
		n, warns = samples("kernel_all_pswitch")
		if n != wantPswitch || len(warns) != 0 {
			t.Errorf("kernel_all_pswitch: %d samples, want %d from both archives; warnings %q", n, wantPswitch, warns)
		}
		set.Close()
	}
}
