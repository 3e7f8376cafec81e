package promapi

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// TestUnreadableArchiveIsSkipped is the errors policy (README, Grafana,
// Errors) for the query API: an archive that cannot be read is reported and
// skipped and the rest is served. Two archives of demo-db1 become
// unreadable after the set was opened (pcptest.UnreadableDemo): the .meta
// of 2026-11-18 (the archive cannot be opened) and the data volume of
// 2026-11-19 (found only while reading records).
// query_range answers 200 with what could be read and a warning naming each
// file, and /status shows both archives' problems (remote read has the
// same test in adapter/remoteread).
// demo-web1 is served exactly as from the intact set, and demo-db1 from
// its readable archives.
func TestUnreadableArchiveIsSkipped(t *testing.T) {
	u := pcptest.NewUnreadableDemo(t)
	st, meta, vol := u.Storage, u.Meta, u.Vol
	start, end, goodFrom := u.Start, u.End, u.GoodFrom
	intact := demoStorage(t)
	params := url.Values{"query": {"kernel_all_load"}, "start": {start}, "end": {end}, "step": {"300"}}

	t.Run("query_range", func(t *testing.T) {
		api, m := newAPI(t, st, st, nil)
		r := apiGet(t, api, "/api/v1/query_range", params)
		if r.code != 200 || r.env.Status != "success" {
			t.Fatalf("status %d, want 200: %s", r.code, r.body)
		}
		warnings := strings.Join(r.env.Warnings, "\n")
		t.Logf("warnings: %s", warnings)
		for _, f := range []string{meta, vol} {
			if !strings.Contains(warnings, f) {
				t.Errorf("no warning names %s: %q", f, r.env.Warnings)
			}
		}
		if got := pcptest.MetricValue(t, m.Errors.WithLabelValues(handlerQueryRange, errKindInternal)); got != 0 {
			t.Errorf("counted as %v internal errors", got)
		}
		var got, want matrixResult
		r.data(t, &got)
		ref, _ := newAPI(t, intact, intact, nil)
		apiGet(t, ref, "/api/v1/query_range", params).data(t, &want)
		wantBy := map[string][][2]any{}
		for _, s := range want.Result {
			wantBy[labels.FromMap(s.Metric).String()] = s.Values
		}
		hosts := map[string]int{}
		for _, s := range got.Result {
			key := labels.FromMap(s.Metric).String()
			host := s.Metric["hostname"]
			hosts[host]++
			w := wantBy[key]
			if host == "demo-db1" {
				// Only what the readable archives hold.
				var kept [][2]any
				for _, p := range w {
					if time.Unix(int64(p[0].(float64)), 0).After(goodFrom) {
						kept = append(kept, p)
					}
				}
				w = kept
			}
			if len(w) == 0 {
				t.Errorf("%s: nothing to compare", key)
			}
			if !slices.Equal(s.Values, w) {
				t.Errorf("%s: %d points, want %d (%v... against %v...)", key, len(s.Values), len(w), head(s.Values), head(w))
			}
		}
		if hosts["demo-db1"] != 3 || hosts["demo-web1"] != 3 {
			t.Errorf("series by host %v, want 3 of each", hosts)
		}
	})

	// Both archives carry their problem on /status (and /metrics).
	u.CheckProblems(t)
}

func head(p [][2]any) [][2]any { return p[:min(len(p), 2)] }
