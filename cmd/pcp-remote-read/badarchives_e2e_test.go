package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// The whole archive open+iterate path is fuzzed by archive.FuzzArchive
// (archive/fuzz_test.go: .meta, volume and index bytes of one archive,
// opened and read in every way); `make fuzz` runs it.

// reported finds what the status says about a damaged archive: the reason
// it was skipped, or the problem of its archive.
func reported(st multiarchive.Status, path string) (skipped, problem string) {
	for _, s := range st.Skipped {
		if s.Path == path || s.Path == filepath.Dir(path) && filepath.Base(s.Path) == filepath.Base(path) {
			skipped = s.Reason
		}
	}
	for _, h := range st.Hosts {
		for _, a := range h.Archives {
			if a.Path == path && a.Problem != "" {
				problem = a.Problem
			}
		}
	}
	return skipped, problem
}

// outcome is what the status says became of a damaged archive: Skipped,
// Failed (it has a problem) or Served, and the reason.
func outcome(st multiarchive.Status, path string) (got pcptest.Outcome, skipped, problem string) {
	skipped, problem = reported(st, path)
	switch {
	case skipped != "":
		return pcptest.Skipped, skipped, problem
	case problem != "":
		return pcptest.Failed, skipped, problem
	}
	return pcptest.Served, skipped, problem
}

// TestDamagedArchives serves damaged archives (internal/pcptest/damage.go)
// next to the good demo archives of two other hosts: the server starts,
// reports every damaged archive (status, /metrics, log), serves what can be
// served, and serves every good archive exactly as libpcp reads it.
func TestDamagedArchives(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	root := t.TempDir()
	bad := pcptest.MakeDamaged(t, filepath.Join(root, "bad"))
	strange := pcptest.MakeStrange(t, filepath.Join(root, "strange"))
	demo := pcptest.CopyDemo(t, root)

	srv := startLogged(t, "--archive.rescan-interval=0", root)
	mustHealthy(t, srv.base)

	// Read each damaged host once (reading is what finds damage past the
	// label), in both response types.
	served := map[string]map[string][]pcptest.Point{}
	for _, d := range bad {
		served[d.Name] = readHost(t, srv.base, d.Host, false)
		streamed := readHost(t, srv.base, d.Host, true)
		if diffs := pcptest.CompareSeries(streamed, withoutEmpty(served[d.Name]), 5); len(diffs) > 0 {
			t.Errorf("%s: streamed and samples answers differ: %v", d.Name, diffs)
		}
	}
	mustHealthy(t, srv.base)

	st := getStatus(t, srv.base)
	logs := srv.logs.lines()
	var nSkipped, nFailed int
	for _, d := range bad {
		got, skipped, problem := outcome(st, d.Base)
		switch got {
		case pcptest.Skipped:
			nSkipped++
		case pcptest.Failed:
			nFailed++
		}
		want, _ := pcptest.WantSeries(d.Dump(), d.Host)
		exact := len(pcptest.CompareSeries(served[d.Name], want, 1)) == 0
		if got == pcptest.Served && exact {
			got = pcptest.Exact
		}
		if d.Prefix {
			if err := isPrefix(served[d.Name], want); err != nil {
				t.Errorf("%s (%s): %v", d.Name, d.What, err)
			}
		}
		if testing.Verbose() || got != d.Expect && d.Expect != pcptest.Any {
			t.Logf("%-22s %-8s (want %-7s) %d series; skipped %q; problem %q", d.Name, got, d.Expect, len(served[d.Name]), skipped, problem)
		}
		switch {
		case d.Expect == pcptest.Any:
		case d.Expect == pcptest.Served && got == pcptest.Exact:
		case got != d.Expect:
			t.Errorf("%s (%s): %s, want %s", d.Name, d.What, got, d.Expect)
		}
		if got == pcptest.Skipped || got == pcptest.Failed {
			if !logged(logs, d.Base) {
				t.Errorf("%s: no warning in the log names %s", d.Name, d.Base)
			}
		}
	}
	for _, s := range strange {
		skipped, _ := reported(st, s.Path)
		if skipped == "" {
			t.Errorf("%s (%s): not reported as skipped", s.Name, s.What)
		}
	}
	if got := metricValue(t, srv.base, "pcp_remote_read_archives_skipped"); int(got) != len(st.Skipped) || int(got) < nSkipped {
		t.Errorf("archives_skipped %v; status lists %d, %d damaged archives skipped", got, len(st.Skipped), nSkipped)
	}
	if got := metricValue(t, srv.base, "pcp_remote_read_archives_failed"); int(got) != nFailed {
		t.Errorf("archives_failed %v, want %d", got, nFailed)
	}

	// The good archives: every value, exactly.
	for _, host := range pcptest.DemoHosts {
		want, err := pcptest.WantSeries(filepath.Join(demo, host+".oracle.jsonl.gz"), host)
		if err != nil {
			t.Fatal(err)
		}
		for _, streamed := range []bool{false, true} {
			if diffs := pcptest.CompareSeries(readHost(t, srv.base, host, streamed), want, 10); len(diffs) > 0 {
				t.Errorf("%s (streamed %v) differs from libpcp:\n%s", host, streamed, strings.Join(diffs, "\n"))
			}
		}
	}
	want, err := pcptest.WantSeries(filepath.Join(pcptest.RepoRoot(t), "testdata", "archives", "v3-basic", "oracle.jsonl.gz"), "strange-ok")
	if err != nil {
		t.Fatal(err)
	}
	if diffs := pcptest.CompareSeries(readHost(t, srv.base, "strange-ok", false), want, 10); len(diffs) > 0 {
		t.Errorf("the good archive among the file-system oddities differs from libpcp:\n%s", strings.Join(diffs, "\n"))
	}
	srv.logs.noErrors(t)
	mustHealthy(t, srv.base)
}

func logged(logs []logLine, path string) bool {
	for _, l := range logs {
		if l.level() == "WARN" && strings.Contains(l.String(), path) {
			return true
		}
	}
	return false
}

// withoutEmpty drops series without samples (a streamed answer has none).
func withoutEmpty(m map[string][]pcptest.Point) map[string][]pcptest.Point {
	out := map[string][]pcptest.Point{}
	for k, v := range m {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// TestUnreadableArchives serves archives with files or directories the
// server may not read. Root reads everything (CAP_DAC_OVERRIDE), so as root
// the server binary runs as the user nobody.
func TestUnreadableArchives(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	root := publicTempDir(t)
	cases := pcptest.MakeUnreadable(t, root)
	srv := startUnprivileged(t, "--archive.rescan-interval=0", root)
	for _, d := range cases {
		readHost(t, srv.base, d.Host, false)
	}
	mustHealthy(t, srv.base)
	st := getStatus(t, srv.base)
	logs := srv.logs.lines()
	for _, d := range cases {
		got, skipped, problem := outcome(st, d.Base)
		if got == pcptest.Served {
			want, err := pcptest.WantSeries(d.Dump(), d.Host)
			if err != nil {
				t.Fatal(err)
			}
			if diffs := pcptest.CompareSeries(readHost(t, srv.base, d.Host, false), want, 5); len(diffs) == 0 {
				got = pcptest.Exact
			}
		}
		t.Logf("%-16s %-8s (want %-7s) skipped %q; problem %q", d.Name, got, d.Expect, skipped, problem)
		if got != d.Expect {
			t.Errorf("%s (%s): %s, want %s", d.Name, d.What, got, d.Expect)
		}
		if (got == pcptest.Skipped || got == pcptest.Failed) && !strings.Contains(skipped+problem, "permission denied") {
			t.Errorf("%s: the reason does not say permission denied", d.Name)
		}
		if (got == pcptest.Skipped || got == pcptest.Failed) && !logged(logs, d.Dir) {
			t.Errorf("%s: no warning in the log names %s", d.Name, d.Dir)
		}
	}
	checkUnreadableQuery(t, srv.base, cases)
	srv.logs.noErrors(t)
}

// checkUnreadableQuery: a PromQL range query over the readable control
// archive and the archives whose data volume cannot be read answers 200
// (README, Errors: an archive that fails to read is reported and skipped),
// with the control's series and a warning naming each unreadable volume.
// Remote read gives 200 too (readHost fails the test otherwise).
func checkUnreadableQuery(t *testing.T, base string, cases []pcptest.Damaged) {
	t.Helper()
	hosts := []string{"bad-ok"}
	var vols []string
	for _, d := range cases {
		if d.Expect == pcptest.Failed {
			hosts = append(hosts, d.Host)
			vols = append(vols, d.Base+".0")
		}
	}
	if len(vols) == 0 {
		t.Fatal("no case with an unreadable data volume")
	}
	// v3-basic: 2026-11-21 07:38:19 to 07:38:39.
	code, r := pcptest.API(t, base, "/api/v1/query_range", url.Values{
		"query": {fmt.Sprintf(`kernel_all_load{hostname=~%q}`, strings.Join(hosts, "|"))},
		"start": {"2026-11-21T07:38:20Z"}, "end": {"2026-11-21T07:38:40Z"}, "step": {"1"}})
	if code != 200 || r.Status != "success" {
		t.Fatalf("query_range over unreadable volumes: %d %s %s, want 200", code, r.ErrorType, r.Error)
	}
	warnings := strings.Join(r.Warnings, "\n")
	for _, v := range vols {
		if !strings.Contains(warnings, v) || !strings.Contains(warnings, "permission denied") {
			t.Errorf("no warning names %s (permission denied): %q", v, r.Warnings)
		}
	}
	var q pcptest.QueryResult
	if err := json.Unmarshal(r.Data, &q); err != nil {
		t.Fatal(err)
	}
	served := map[string]int{}
	for _, s := range q.Result {
		served[s.Metric["hostname"]] += len(s.Values)
	}
	if served["bad-ok"] == 0 || len(served) != 1 {
		t.Errorf("points served by host %v, want bad-ok's only", served)
	}
	for _, h := range hosts {
		readHost(t, base, h, false)
		readHost(t, base, h, true)
	}
}

// isPrefix checks that each served series is the start of libpcp's.
func isPrefix(got, want map[string][]pcptest.Point) error {
	for k, g := range got {
		w, ok := want[k]
		if !ok && len(g) > 0 {
			return fmt.Errorf("%s: served, libpcp has no such series", k)
		}
		if len(g) > len(w) {
			return fmt.Errorf("%s: %d samples, libpcp has only %d", k, len(g), len(w))
		}
		for i := range g {
			if g[i].T != w[i].T || !pcptest.SameValue(g[i].V, w[i].V) {
				return fmt.Errorf("%s: sample %d is %d %v, libpcp has %d %v", k, i, g[i].T, g[i].V, w[i].T, w[i].V)
			}
		}
	}
	return nil
}
