package main

import (
	"encoding/json"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// The demo set's samples lie at :00-:02 seconds past the minute, and at
// :34 (demo-web1) or :14 (demo-db1) after the reboot on the 19th, with
// sub-second parts. Every query time and window edge below is at :30.000,
// so no sample sits on the edge of a lookback or range window: Prometheus
// 3 excludes such a sample (left-open windows), 2.42 includes it.
const (
	e2eAt          = "2026-11-19T15:00:30Z" // an afternoon after the reboot
	e2eRebootStart = "2026-11-19T11:30:30Z" // across the shutdown at 11:59:50 and the 12:30 archive
	e2eRebootEnd   = "2026-11-19T13:30:30Z"
	e2eBackupStart = "2026-11-18T01:30:30Z" // demo-db1's backup, 02:00-02:38
	e2eBackupEnd   = "2026-11-18T03:00:30Z"
	e2eMarkStart   = "2026-11-19T00:00:30Z" // the <mark> of pmlogger_daily's 00:10 re-exec
	e2eMarkEnd     = "2026-11-19T00:30:30Z"
	e2eSpanStart   = "2026-11-18T00:00:30Z" // the whole set
	e2eSpanEnd     = "2026-11-20T06:59:30Z"
)

type e2eQuery struct {
	name  string
	query string
	// time for an instant query; start, end and step for a range query.
	time, start, end, step string
	// close allows 1e-12 relative difference from Prometheus 2.42 (never
	// from 3.x). 2.42 computes avg_over_time (and avg) as an incremental
	// mean; the 3.x engine, ours too, sums with Kahan compensation and
	// divides (prometheus#14413, #16569, #16773), so the last bits of a
	// mean may differ. Everything else here is bit-identical to 2.42.
	close bool
}

func (q e2eQuery) params() url.Values {
	v := url.Values{"query": {q.query}}
	if q.time != "" {
		v.Set("time", q.time)
		return v
	}
	v.Set("start", q.start)
	v.Set("end", q.end)
	v.Set("step", q.step)
	return v
}

var e2eQueries = []e2eQuery{
	{name: "instant selector", query: `kernel_all_load`, time: e2eAt},
	{name: "range selector", query: `kernel_all_load`, start: e2eRebootStart, end: e2eRebootEnd, step: "60"},
	{name: "range across a mark", query: `kernel_all_load{instname="1 minute"}`, start: e2eMarkStart, end: e2eMarkEnd, step: "15"},
	{name: "raw samples", query: `mem_util_free{hostname="demo-db1"}[10m]`, time: e2eAt},
	{name: "rate across the reboot", query: `rate(kernel_all_cpu_user[5m])`, start: e2eRebootStart, end: e2eRebootEnd, step: "60"},
	{name: "rate of a counter reset", query: `rate(kernel_all_pswitch[5m])`, start: e2eRebootStart, end: e2eRebootEnd, step: "30"},
	{name: "irate", query: `irate(network_interface_in_bytes[5m])`, start: e2eBackupStart, end: e2eBackupEnd, step: "60"},
	{name: "increase", query: `increase(disk_dev_read_bytes{instname="sdb"}[10m])`, start: e2eBackupStart, end: e2eBackupEnd, step: "60"},
	{name: "sum by instname", query: `sum by (instname) (rate(disk_dev_write_bytes[5m]))`, start: e2eBackupStart, end: e2eBackupEnd, step: "60"},
	{name: "sum by hostname", query: `sum(rate(network_interface_out_bytes{instname="eth0"}[5m])) by (hostname)`, start: e2eBackupStart, end: e2eBackupEnd, step: "120"},
	{name: "topk instant", query: `topk(2, kernel_all_load)`, time: e2eAt},
	{name: "topk range", query: `topk(1, rate(disk_dev_read_bytes[5m]))`, start: e2eBackupStart, end: e2eBackupEnd, step: "60"},
	{name: "avg_over_time", query: `avg_over_time(mem_util_used[30m])`, start: e2eSpanStart, end: e2eSpanEnd, step: "900", close: true},
	{name: "max_over_time", query: `max_over_time(kernel_all_load[1h])`, time: e2eAt},
	{name: "regex matchers", query: `kernel_all_load{instname=~"1 minute|15 min.*", hostname!~"demo-db.*"}`, time: e2eAt},
	{name: "regex on the name", query: `{__name__=~"mem_util_(used|free)", hostname="demo-web1"}`, start: e2eRebootStart, end: e2eRebootEnd, step: "300"},
	{name: "offset", query: `kernel_all_load offset 1h`, time: e2eAt},
	{name: "negative offset", query: `mem_util_used offset -30m`, time: e2eAt},
	{name: "offset in a range query", query: `rate(kernel_all_cpu_sys[5m] offset 1d)`, start: "2026-11-19T14:00:30Z", end: e2eAt, step: "60"},
	{name: "@ in a range query", query: `kernel_all_load @ 1795100430`, start: e2eRebootStart, end: e2eRebootEnd, step: "600"},
	{name: "@ end()", query: `mem_util_cached @ end()`, start: e2eBackupStart, end: e2eBackupEnd, step: "600"},
	{name: "count by", query: `count by (hostname) (kernel_percpu_cpu_user)`, time: e2eAt},
	{name: "binary operator", query: `mem_util_used / mem_physmem`, time: e2eAt},
	{name: "percpu sum", query: `sum by (hostname) (rate(kernel_percpu_cpu_idle[5m])) / 1000`, start: e2eSpanStart, end: e2eSpanEnd, step: "600"},
	{name: "avg by", query: `avg by (hostname) (rate(kernel_percpu_cpu_user[5m]))`, start: e2eRebootStart, end: e2eRebootEnd, step: "60", close: true},
	{name: "scalar", query: `scalar(sum(hinv_ncpu))`, time: e2eAt},
	{name: "before the archives", query: `kernel_all_load`, time: "2026-11-17T00:00:30Z"},
}

// e2ePoint is one value of a result, its time in ms.
type e2ePoint struct {
	t int64
	v string
}

// e2eResult is a query result keyed by label set.
type e2eResult struct {
	resultType string
	series     map[string][]e2ePoint
}

func fetchResult(t *testing.T, base string, q e2eQuery) e2eResult {
	t.Helper()
	return fetchResultEach(t, base, q, nil)
}

// fetchResultEach is fetchResult with each series' labels handed to each
// (when not nil) before the series is keyed by them: it may check them and
// change them.
func fetchResultEach(t *testing.T, base string, q e2eQuery, each func(metric map[string]string)) e2eResult {
	t.Helper()
	path := "/api/v1/query"
	if q.time == "" {
		path = "/api/v1/query_range"
	}
	code, r := pcptest.API(t, base, path, q.params())
	if code != 200 || r.Status != "success" {
		t.Fatalf("%s: %d %s: %s", base, code, r.ErrorType, r.Error)
	}
	// thanos query reports PromQL's infos ("metric might not be a
	// counter") among its warnings; Prometheus and we keep them apart.
	if warnings := slices.DeleteFunc(slices.Clone(r.Warnings), func(w string) bool { return strings.HasPrefix(w, "PromQL info: ") }); len(warnings) > 0 {
		t.Fatalf("%s: warnings %v", base, warnings)
	}
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	out := e2eResult{resultType: d.ResultType, series: map[string][]e2ePoint{}}
	point := func(p [2]any) e2ePoint {
		return e2ePoint{t: int64(math.Round(p[0].(float64) * 1000)), v: p[1].(string)}
	}
	switch d.ResultType {
	case "scalar":
		var p [2]any
		if err := json.Unmarshal(d.Result, &p); err != nil {
			t.Fatal(err)
		}
		out.series[""] = []e2ePoint{point(p)}
	case "vector", "matrix":
		var rs []struct {
			Metric map[string]string `json:"metric"`
			Value  *[2]any           `json:"value"`
			Values [][2]any          `json:"values"`
		}
		if err := json.Unmarshal(d.Result, &rs); err != nil {
			t.Fatal(err)
		}
		for _, s := range rs {
			if each != nil {
				if s.Metric == nil {
					s.Metric = map[string]string{}
				}
				each(s.Metric)
			}
			k := labelKey(s.Metric)
			if _, dup := out.series[k]; dup {
				t.Fatalf("%s: series %s twice", base, k)
			}
			var pts []e2ePoint
			if s.Value != nil {
				pts = append(pts, point(*s.Value))
			}
			for _, p := range s.Values {
				pts = append(pts, point(p))
			}
			out.series[k] = pts
		}
	default:
		t.Fatalf("%s: result type %q", base, d.ResultType)
	}
	return out
}

// sameValue compares two values as sent: exactly, or within 1e-12
// relative when close.
func sameValue(a, b string, close bool) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	if math.IsNaN(x) && math.IsNaN(y) {
		return true
	}
	return close && math.Abs(x-y) <= 1e-12*math.Max(math.Abs(x), math.Abs(y))
}

// compareResults reports every difference and returns the number of
// values compared and of those that differed within the tolerance.
func compareResults(t *testing.T, ours, theirs e2eResult, close bool) (values, inexact int) {
	t.Helper()
	if ours.resultType != theirs.resultType {
		t.Errorf("result type %s, Prometheus %s", ours.resultType, theirs.resultType)
	}
	for k, want := range theirs.series {
		got, ok := ours.series[k]
		if !ok {
			t.Errorf("series %s missing (Prometheus has %d points)", k, len(want))
			continue
		}
		if len(got) != len(want) {
			t.Errorf("series %s: %d points, Prometheus %d", k, len(got), len(want))
			continue
		}
		for i := range want {
			values++
			if got[i].t != want[i].t || !sameValue(got[i].v, want[i].v, close) {
				t.Errorf("series %s point %d: %d %s, Prometheus %d %s", k, i, got[i].t, got[i].v, want[i].t, want[i].v)
			} else if got[i].v != want[i].v {
				inexact++
			}
		}
	}
	for k := range ours.series {
		if _, ok := theirs.series[k]; !ok {
			t.Errorf("series %s not in Prometheus' answer", k)
		}
	}
	return values, inexact
}

// TestAPIMatchesPrometheus runs a table of PromQL queries against our
// query API and against real Prometheus servers (Debian's 2.42, and the
// 3.x built from our prometheus module) that read the same archives from
// us through remote read. Results must be the same series with the same
// points and values: exactly for 3.x (the same engine), exactly or within
// 1e-12 relative for 2.42 where its engine sums differently (see close).
func TestAPIMatchesPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	base := startServer(t, pcptest.RepoRoot(t)+"/testdata/demo")

	ours := map[string]e2eResult{}
	for _, q := range e2eQueries {
		r := fetchResult(t, base, q)
		if len(r.series) == 0 && q.name != "before the archives" {
			t.Fatalf("%s: no result from our API", q.name)
		}
		ours[q.name] = r
	}
	proms := []struct {
		name  string
		bin   func(testing.TB) string
		exact bool
	}{
		{"prometheus2", pcptest.Prometheus2, false},
		{"prometheus3", pcptest.Prometheus3, true},
	}
	for _, p := range proms {
		t.Run(p.name, func(t *testing.T) {
			prom := pcptest.StartPrometheus(t, p.bin(t), base+"/api/v1/read", "")
			start := time.Now()
			total := 0
			for _, q := range e2eQueries {
				t.Run(q.name, func(t *testing.T) {
					theirs := fetchResult(t, prom, q)
					n, inexact := compareResults(t, ours[q.name], theirs, q.close && !p.exact)
					total += n
					if inexact > 0 {
						t.Logf("%d of %d values within 1e-12 relative, not exact", inexact, n)
					}
				})
			}
			t.Logf("%d queries, %d values compared in %v", len(e2eQueries), total, time.Since(start))
		})
	}
}
