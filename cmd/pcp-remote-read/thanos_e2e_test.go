package main

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// TestThanosStore runs the Thanos pattern of README.md ("Beyond one
// machine") and deployments/kubernetes/overlays/thanos for real: two
// instances serving different hosts of the demo set, each with its own
// external label (--labels.external=shard=...), a stock thanos sidecar in
// front of each, and one thanos query over both sidecars.
//
//   - the sidecars start (they refuse a server without external labels)
//     and thanos query lists both stores with their label sets and, as
//     their lowest time, the start of the instance's earliest archive;
//   - PromQL through thanos query (sums and rates across hosts, series per
//     host, instant and range) gives what the two instances give alone,
//     side by side or summed, exactly where no sum is involved; every
//     series keeping its labels carries the shard label of its host;
//   - a selector on the shard label reaches only that shard's data;
//   - label names and values, and series, span both instances.
func TestThanosStore(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs two thanos sidecars and thanos query")
	}
	bin := pcptest.Thanos(t)
	demo := pcptest.RepoRoot(t) + "/testdata/demo/"
	shards := []shard{{name: "a", host: "demo-web1"}, {name: "b", host: "demo-db1"}}
	shardOf := map[string]string{}
	var endpoints []string
	for i := range shards {
		s := &shards[i]
		s.base = startLogged(t, "--log.level=warn", "--labels.external=shard="+s.name, demo+s.host).base
		shardOf[s.host] = s.name
		sc := pcptest.StartThanos(t, bin, "sidecar", "--prometheus.url="+s.base, "--tsdb.path="+t.TempDir())
		endpoints = append(endpoints, "--endpoint="+sc.GRPC)
	}
	query := pcptest.StartThanos(t, bin, "query", endpoints...)
	stores := pcptest.WaitThanosStores(t, query.HTTP, "sidecar", len(shards), time.Minute)

	// Each store: the instance's external label, and its earliest data.
	seen := map[string]bool{}
	for _, st := range stores {
		if len(st.LabelSets) != 1 || len(st.LabelSets[0]) != 1 || st.LabelSets[0]["shard"] == "" {
			t.Errorf("store %s: label sets %v, want one {shard=...}", st.Name, st.LabelSets)
			continue
		}
		name := st.LabelSets[0]["shard"]
		seen[name] = true
		for _, s := range shards {
			if s.name != name {
				continue
			}
			status := getStatus(t, s.base)
			if len(status.Hosts) != 1 {
				t.Fatalf("shard %s: %d hosts", s.name, len(status.Hosts))
			}
			// The lowest time goes through a float of seconds; the
			// sidecar truncates it back to milliseconds.
			want := status.Hosts[0].Start.UnixMilli()
			if st.MinTime != want && st.MinTime != want-1 {
				t.Errorf("store %s (shard %s): min time %d, want %d (the earliest archive's start)", st.Name, name, st.MinTime, want)
			}
		}
	}
	if len(seen) != len(shards) {
		t.Fatalf("stores' shards %v, want a and b", seen)
	}

	// PromQL through thanos query: what the two instances give alone,
	// also across the demo set's archive boundary at midnight.
	queries := append(slices.Clone(shardQueries), shardQuery{e2eQuery{name: "load across midnight",
		query: `kernel_all_load`, start: "2026-11-18T23:30:30Z", end: "2026-11-19T00:30:30Z", step: "30"}, "union"})
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			var own []e2eResult
			for _, s := range shards {
				own = append(own, fetchResult(t, s.base, q.e2eQuery))
			}
			want := combineShards(t, q, own)
			theirs := fetchResultEach(t, query.HTTP, q.e2eQuery, func(m map[string]string) {
				if sh, ok := m["shard"]; ok {
					if want := shardOf[m["hostname"]]; sh != want {
						t.Errorf("series %v: shard %q, want %q (the shard serving host %q)", m, sh, want, m["hostname"])
					}
					delete(m, "shard")
				}
			})
			n, inexact := compareResults(t, want, theirs, q.combine == "sum")
			if n == 0 {
				t.Errorf("no values compared")
			}
			t.Logf("%d series, %d values from both instances (%d within 1e-12 relative, not exact)", len(theirs.series), n, inexact)
		})
	}

	// The sidecars read with streamed chunks, as Prometheus 3.x does.
	for _, s := range shards {
		if n := servedSamples(t, s.base, "streamed_xor_chunks"); n == 0 {
			t.Errorf("shard %s served no samples as streamed chunks", s.name)
		}
	}

	t.Run("shard label", func(t *testing.T) {
		// Every series of a plain selector has the shard of its host.
		all := e2eQuery{query: `kernel_all_load`, time: shardAt}
		n := 0
		fetchResultEach(t, query.HTTP, all, func(m map[string]string) {
			n++
			if want := shardOf[m["hostname"]]; m["shard"] != want {
				t.Errorf("series %v: shard %q, want %q", m, m["shard"], want)
			}
		})
		if n == 0 {
			t.Fatalf("%s: no series", all.query)
		}
		// A selector on the shard label: that shard's answer alone.
		for _, s := range shards {
			q := e2eQuery{query: fmt.Sprintf(`kernel_all_load{shard=%q}`, s.name), start: shardStart, end: shardEnd, step: "60"}
			theirs := fetchResultEach(t, query.HTTP, q, func(m map[string]string) { delete(m, "shard") })
			compareResults(t, fetchResult(t, s.base, e2eQuery{query: `kernel_all_load`, start: shardStart, end: shardEnd, step: "60"}), theirs, false)
			if len(theirs.series) == 0 {
				t.Errorf("%s: no series", q.query)
			}
		}
		none := fetchResult(t, query.HTTP, e2eQuery{query: `kernel_all_load{shard="c"}`, time: shardAt})
		if len(none.series) != 0 {
			t.Errorf(`shard="c": %d series, want none`, len(none.series))
		}
	})

	t.Run("labels and series", func(t *testing.T) {
		window := url.Values{"start": {shardStart}, "end": {shardEnd}}
		var hosts, shardNames []string
		apiData(t, query.HTTP, "/api/v1/label/hostname/values", window, &hosts)
		apiData(t, query.HTTP, "/api/v1/label/shard/values", window, &shardNames)
		if !slices.Equal(hosts, []string{"demo-db1", "demo-web1"}) || !slices.Equal(shardNames, []string{"a", "b"}) {
			t.Errorf("hostname values %v, shard values %v; want both hosts and both shards", hosts, shardNames)
		}
		var names []string
		apiData(t, query.HTTP, "/api/v1/labels", window, &names)
		for _, want := range []string{"__name__", "hostname", "instname", "shard"} {
			if !slices.Contains(names, want) {
				t.Errorf("label names %v lack %s", names, want)
			}
		}
		params := url.Values{"match[]": {`kernel_all_load`}, "start": {shardStart}, "end": {shardEnd}}
		var theirs []map[string]string
		apiData(t, query.HTTP, "/api/v1/series", params, &theirs)
		total := 0
		for _, s := range shards {
			var ours []map[string]string
			apiData(t, s.base, "/api/v1/series", params, &ours)
			total += len(ours)
			for _, o := range ours {
				o["shard"] = s.name
				if !slices.ContainsFunc(theirs, func(m map[string]string) bool { return labelKey(m) == labelKey(o) }) {
					t.Errorf("series %v of shard %s not listed by thanos query", o, s.name)
				}
			}
		}
		if len(theirs) != total || total == 0 {
			t.Errorf("thanos query lists %d series, the instances %d", len(theirs), total)
		}
	})
}
