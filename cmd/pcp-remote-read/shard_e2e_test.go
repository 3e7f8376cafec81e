package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// The sharding pattern of "Beyond one machine" (README.md) and
// deployments/prometheus/prometheus-shards.yml, for real: two
// pcp-remote-read instances each serving one host of the demo set, one
// Prometheus with a remote_read entry per instance, and PromQL spanning
// both. Times at :30 as in api_e2e_test.go (no sample on a window edge).
const (
	shardAt    = "2026-11-18T12:00:30Z"
	shardStart = "2026-11-18T11:00:30Z"
	shardEnd   = "2026-11-18T13:00:30Z"
)

// shardQuery is a query through the Prometheus in front of both shards,
// and how its answer follows from the shards' own answers: "union" (every
// series comes from exactly one shard) or "sum" (one series, the sum of
// the shards' one series each).
type shardQuery struct {
	e2eQuery
	combine string
}

var shardQueries = []shardQuery{
	{e2eQuery{name: "count by hostname", query: `count by (hostname) (kernel_all_load)`, time: shardAt}, "union"},
	{e2eQuery{name: "sum of rates", query: `sum(rate(kernel_all_cpu_user[5m]))`, time: shardAt}, "sum"},
	{e2eQuery{name: "rate per host", query: `rate(kernel_all_cpu_user[5m])`, start: shardStart, end: shardEnd, step: "60"}, "union"},
	{e2eQuery{name: "sum by hostname", query: `sum by (hostname) (rate(network_interface_in_bytes[5m]))`, start: shardStart, end: shardEnd, step: "120"}, "union"},
	{e2eQuery{name: "sum of rates, range", query: `sum(rate(kernel_all_cpu_sys[5m]))`, start: shardStart, end: shardEnd, step: "300"}, "sum"},
}

type shard struct {
	name, host, base string
}

// readRequests counts the remote-read requests a shard has answered.
func readRequests(t *testing.T, base string) float64 {
	t.Helper()
	return metricSum(t, base, "pcp_remote_read_http_requests_total", `handler="read"`)
}

// remoteReadEntries is the YAML for pcptest.StartPrometheus' extra
// parameter: the rest of the first remote_read entry (shards[0], whose URL
// StartPrometheus writes), then one whole entry per further shard. With
// scoped, each entry carries required_matchers {hostname: <its host>}.
func remoteReadEntries(shards []shard, scoped bool) string {
	var b strings.Builder
	for i, s := range shards {
		if i > 0 {
			fmt.Fprintf(&b, "  - url: %s/api/v1/read\n    read_recent: true\n    filter_external_labels: false\n    remote_timeout: 1m\n", s.base)
		}
		fmt.Fprintf(&b, "    name: %s\n", s.name)
		if scoped {
			fmt.Fprintf(&b, "    required_matchers:\n      hostname: %s\n", s.host)
		}
	}
	return b.String()
}

// TestShardedRemoteRead runs two instances serving different hosts
// (demo-web1, demo-db1) behind one Prometheus (Debian's 2.42 and 3.x) with
// two remote_read entries. Each instance's own query API must answer with
// its host only; Prometheus' answer to queries spanning both must be what
// the two answers make together (their series side by side, or their
// sum). Then, with required_matchers scoping each entry to its host, a
// selector naming one host must reach only that shard, and one naming no
// host neither.
func TestShardedRemoteRead(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	demo := pcptest.RepoRoot(t) + "/testdata/demo/"
	shards := []shard{{name: "shard-a", host: "demo-web1"}, {name: "shard-b", host: "demo-db1"}}
	for i := range shards {
		shards[i].base = startServer(t, demo+shards[i].host)
	}

	// Each shard alone: its own host, and data for every query.
	own := map[string][]e2eResult{}
	for _, q := range shardQueries {
		for _, s := range shards {
			r := fetchResult(t, s.base, q.e2eQuery)
			if len(r.series) == 0 {
				t.Fatalf("%s: %s: no result", s.name, q.name)
			}
			for k := range r.series {
				if q.combine == "union" && !strings.Contains(k, fmt.Sprintf("hostname=%q", s.host)) {
					t.Fatalf("%s: %s: series %s is not of %s", s.name, q.name, k, s.host)
				}
			}
			own[q.name] = append(own[q.name], r)
		}
	}
	want := map[string]e2eResult{}
	for _, q := range shardQueries {
		want[q.name] = combineShards(t, q, own[q.name])
	}

	proms := []struct {
		name string
		bin  func(testing.TB) string
	}{
		{"prometheus2", pcptest.Prometheus2},
		{"prometheus3", pcptest.Prometheus3},
	}
	for _, p := range proms {
		t.Run(p.name, func(t *testing.T) {
			bin := p.bin(t)
			prom := pcptest.StartPrometheus(t, bin, shards[0].base+"/api/v1/read", remoteReadEntries(shards, false))
			for _, q := range shardQueries {
				t.Run(q.name, func(t *testing.T) {
					before := []float64{readRequests(t, shards[0].base), readRequests(t, shards[1].base)}
					theirs := fetchResult(t, prom, q.e2eQuery)
					// Sums of two shards' values may differ from the
					// engine's in the last bits; series side by side are
					// exact.
					n, inexact := compareResults(t, want[q.name], theirs, q.combine == "sum")
					for i, s := range shards {
						if readRequests(t, s.base) <= before[i] {
							t.Errorf("%s was not asked", s.name)
						}
					}
					t.Logf("%d series, %d values from both shards (%d within 1e-12 relative, not exact)", len(theirs.series), n, inexact)
				})
			}

			t.Run("required_matchers", func(t *testing.T) {
				prom := pcptest.StartPrometheus(t, bin, shards[0].base+"/api/v1/read", remoteReadEntries(shards, true))
				for _, s := range shards {
					q := e2eQuery{query: fmt.Sprintf(`kernel_all_load{hostname=%q}`, s.host), time: shardAt}
					before := []float64{readRequests(t, shards[0].base), readRequests(t, shards[1].base)}
					theirs := fetchResult(t, prom, q)
					compareResults(t, fetchResult(t, s.base, q), theirs, false)
					if len(theirs.series) == 0 {
						t.Errorf("%s: no result", q.query)
					}
					for i, o := range shards {
						asked := readRequests(t, o.base) > before[i]
						if asked != (o.name == s.name) {
							t.Errorf("%s: %s asked: %v", q.query, o.name, asked)
						}
					}
				}
				// No hostname matcher: no entry's required_matchers hold,
				// so Prometheus asks neither shard and finds nothing.
				before := []float64{readRequests(t, shards[0].base), readRequests(t, shards[1].base)}
				theirs := fetchResult(t, prom, shardQueries[0].e2eQuery)
				if len(theirs.series) != 0 {
					t.Errorf("%s: %d series, want none when every entry is scoped to a host", shardQueries[0].query, len(theirs.series))
				}
				for i, s := range shards {
					if readRequests(t, s.base) != before[i] {
						t.Errorf("%s: %s was asked", shardQueries[0].query, s.name)
					}
				}
			})
		})
	}
}

// combineShards makes the answer expected from Prometheus out of the
// shards' own answers.
func combineShards(t *testing.T, q shardQuery, rs []e2eResult) e2eResult {
	t.Helper()
	out := e2eResult{resultType: rs[0].resultType, series: map[string][]e2ePoint{}}
	switch q.combine {
	case "union":
		for _, r := range rs {
			for k, pts := range r.series {
				if _, dup := out.series[k]; dup {
					t.Fatalf("%s: series %s on two shards", q.name, k)
				}
				out.series[k] = pts
			}
		}
	case "sum":
		// One series {} per shard; the sum at every time either has.
		sums := map[int64]float64{}
		var times []int64
		for _, r := range rs {
			pts, ok := r.series["{}"]
			if !ok || len(r.series) != 1 {
				t.Fatalf("%s: want one series {}, have %d", q.name, len(r.series))
			}
			for _, p := range pts {
				v, err := strconv.ParseFloat(p.v, 64)
				if err != nil {
					t.Fatal(err)
				}
				if _, seen := sums[p.t]; !seen {
					times = append(times, p.t)
				}
				sums[p.t] += v
			}
		}
		var pts []e2ePoint
		for _, ts := range times {
			pts = append(pts, e2ePoint{t: ts, v: strconv.FormatFloat(sums[ts], 'f', -1, 64)})
		}
		slices.SortFunc(pts, func(a, b e2ePoint) int { return cmp.Compare(a.t, b.t) })
		out.series["{}"] = pts
	default:
		t.Fatalf("combine %q", q.combine)
	}
	return out
}
