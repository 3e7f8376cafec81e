package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

// pmproxyMetrics are the PCP metrics TestPmproxyLabelsAndValues logs and
// scrapes: singular and instance metrics, counters, instant and discrete
// gauges, of integer, float and double types, with indom labels
// (indom_name, device_type, also an array value), instance labels
// (device_name, interface, cpu, numa_node, zone) and instance names with
// spaces and slashes ("1 minute", "/dev/vda"); proc.nprocs is of another
// PMDA (proc) than the rest (linux).
var pmproxyMetrics = []string{
	"disk.dev.read", "disk.dev.write", "disk.dev.read_bytes", "disk.dev.write_bytes",
	"disk.dev.avactive", "disk.all.read", "kernel.all.load", "hinv.ncpu",
	"hinv.physmem", "mem.physmem", "mem.util.free", "mem.util.used",
	"mem.util.cached", "kernel.all.cpu.user", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
	"kernel.percpu.cpu.user", "kernel.percpu.cpu.sys", "kernel.percpu.cpu.idle", "network.interface.in.bytes",
	"network.interface.out.bytes", "network.interface.in.packets", "network.interface.mtu", "network.interface.up",
	"mem.zoneinfo.free", "filesys.free", "filesys.capacity", "filesys.used",
	"kernel.all.pswitch", "kernel.all.nprocs", "kernel.all.uptime", "swap.used",
	"proc.nprocs", "kernel.all.intr", "mem.numa.util.free", "hinv.cpu.clock",
	"kernel.all.running",
}

// pmdaNames are the PMDAs of pmproxyMetrics by domain number, for the
// agent label (--labels.agent).
var pmdaNames = map[string]string{"60": "linux", "3": "proc"}

// steadyInstant are instant gauges that do not change on a running
// machine: their values are compared as discrete ones.
var steadyInstant = map[string]bool{"network.interface.mtu": true, "network.interface.up": true}

// pmproxyConfig is pmproxy's configuration: /metrics (pcp, http) only, no
// Redis, no key server, no discovery, no series or search services.
const pmproxyConfig = `[pmproxy]
pcp.enabled = true
http.enabled = true
redis.enabled = false
secure.enabled = false
[redis]
enabled = false
[keys]
enabled = false
[discover]
enabled = false
[pmsearch]
enabled = false
[pmseries]
enabled = false
`

// pmproxyScrape is one GET /metrics of pmproxy.
type pmproxyScrape struct {
	start, end time.Time // the request was sent, the answer read
	families   map[string]*dto.MetricFamily
	pcp        map[string]pcpDesc // by Prometheus name, from the "# PCP5" lines
}

// pcpDesc is what a "# PCP5 name pmid type indom sem units" line says.
type pcpDesc struct {
	name, pmid, typ, indom, sem string
}

func (d pcpDesc) domain() string { dom, _, _ := strings.Cut(d.pmid, "."); return dom }

// startPmproxy runs pmproxy with /metrics only on a free loopback port
// and returns its base URL; it is stopped when the test ends.
func startPmproxy(t *testing.T, work string) string {
	t.Helper()
	bin := filepath.Join(pcptest.PCPConf("PCP_BINADM_DIR", "/usr/lib/pcp/bin"), "pmproxy")
	_, err := os.Stat(bin)
	pcptest.Require(t, "pmproxy at "+bin+" (Debian package pcp)", err == nil)
	conf := filepath.Join(work, "pmproxy.conf")
	if err := os.WriteFile(conf, []byte(pmproxyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := pcptest.FreePort(t)
	_, port, _ := strings.Cut(addr, ":")
	logFile := filepath.Join(work, "pmproxy.log")
	cmd := exec.Command(bin, "-f", "-A", "-i", "127.0.0.1", "-p", port,
		"-s", filepath.Join(work, "pmproxy.socket"), "-c", conf, "-l", logFile)
	cmd.Dir = work
	if err := cmd.Start(); err != nil {
		pcptest.Require(t, "pmproxy: "+err.Error(), false)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	showLog := func() string { b, _ := os.ReadFile(logFile); return pcptest.Tail(string(b), 3000) }
	t.Cleanup(func() {
		pcptest.Terminate(cmd.Process, exited, syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("pmproxy log:\n%s", showLog())
		}
	})
	// Ready once it answers with a value from pmcd.
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("pmproxy exited before it was ready:\n%s", showLog())
		default:
		}
		if resp, err := http.Get(base + "/metrics?names=hinv.ncpu"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), "\nhinv_ncpu{") {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmproxy gave no hinv_ncpu within 30s:\n%s", showLog())
		}
	}
}

// scrapePmproxy scrapes /metrics?names=... and parses it.
func scrapePmproxy(t *testing.T, base string, names []string) pmproxyScrape {
	t.Helper()
	s := pmproxyScrape{start: time.Now(), pcp: map[string]pcpDesc{}}
	resp, err := http.Get(base + "/metrics?names=" + url.QueryEscape(strings.Join(names, ",")))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.end = time.Now()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pmproxy /metrics: %d %v\n%s", resp.StatusCode, err, pcptest.Tail(string(body), 2000))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	if s.families, err = p.TextToMetricFamilies(strings.NewReader(string(body))); err != nil {
		t.Fatalf("pmproxy /metrics is not valid exposition text: %v\n%s", err, pcptest.Tail(string(body), 2000))
	}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && f[0] == "#" && f[1] == "PCP5" {
			s.pcp[strings.ReplaceAll(f[2], ".", "_")] = pcpDesc{name: f[2], pmid: f[3], typ: f[4], indom: f[5], sem: f[6]}
		}
	}
	return s
}

// pmproxySeries is one series of a pmproxy scrape.
type pmproxySeries struct {
	labels map[string]string
	value  float64
}

func (s pmproxyScrape) series(t *testing.T, prom string) []pmproxySeries {
	t.Helper()
	mf, ok := s.families[prom]
	if !ok {
		return nil
	}
	var out []pmproxySeries
	for _, m := range mf.GetMetric() {
		ls := map[string]string{}
		for _, lp := range m.GetLabel() {
			if _, dup := ls[lp.GetName()]; dup {
				t.Errorf("pmproxy: %s has label %s twice", prom, lp.GetName())
			}
			ls[lp.GetName()] = lp.GetValue()
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		default:
			v = m.Untyped.GetValue()
		}
		out = append(out, pmproxySeries{ls, v})
	}
	return out
}

func without(ls map[string]string, names ...string) map[string]string {
	out := map[string]string{}
	for k, v := range ls {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// apiData calls our API and decodes its data, failing on any error or
// warning.
func apiData(t *testing.T, base, path string, params url.Values, data any) {
	t.Helper()
	code, r := pcptest.API(t, base, path, params)
	if code != 200 || r.Status != "success" {
		t.Fatalf("%s %v: %d %s %s", path, params, code, r.ErrorType, r.Error)
	}
	if len(r.Warnings) > 0 {
		t.Fatalf("%s %v: warnings %s", path, params, strings.Join(r.Warnings, "; "))
	}
	if err := json.Unmarshal(r.Data, data); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// ourPoint is one raw sample of ours.
type ourPoint struct {
	t int64 // ms
	v float64
}

// ourSeries is one series of ours: its labels (without __name__) and its
// raw samples.
type ourSeries struct {
	labels map[string]string
	points []ourPoint
}

// around returns the last sample stamped before from (ms) and the first
// stamped after to (ms).
func (s *ourSeries) around(from, to int64) (prev, next *ourPoint) {
	for i := range s.points {
		p := &s.points[i]
		if p.t < from {
			prev = p
		}
		if p.t > to && next == nil {
			next = p
		}
	}
	return prev, next
}

// secs is a time as the API takes it.
func secs(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

// TestPmproxyLabelsAndValues checks that a series read from an archive
// here is the series pmproxy's /metrics gives when it scrapes the same
// pmcd, so that dashboards built on pmproxy-scraped data work on archives
// unchanged.
//
// A pmlogger logs pmproxyMetrics every second into an archive, connected
// to pmcd as pmlogger_check connects it (local:, so that pmcd adds the
// credential labels groupid and userid to its context labels); pmproxy,
// on loopback with /metrics only, is scraped twice, 3 s apart, while it
// runs. Then our server reads the archive, and:
//
//   - labels: for every metric, the label sets pmproxy gives (either
//     scrape) and those /api/v1/series gives over the scrape window are
//     the same, every label and every value, paired by instid. An
//     instance only one side has is allowed only if it came or went while
//     the test ran: pmproxy has it in one scrape only, or our series of
//     it lacks a sample just before or just after each scrape;
//   - values: each pmproxy sample is compared with the two samples of the
//     same series here around its scrape, prev (the last stamped before
//     the request was sent) and next (the first stamped more than 100 ms
//     after the answer was read; pmcd stamps a result after its PMDAs
//     have read the values, and the 100 ms cover that read). pmcd serves
//     pmlogger's and pmproxy's fetches one after another, so the values
//     pmproxy read lie, in time, between prev's and next's: a counter
//     must have prev <= pmproxy <= next; a discrete metric (or an instant
//     one in steadyInstant) must equal prev or next; for other instant
//     gauges nothing can be required (a gauge may move anywhere within a
//     second) and how many lie between prev and next is only logged.
//     Integers compare exactly, float and double within the precision
//     pmproxy prints them with (%.8g, %.16g);
//   - metadata: /api/v1/metadata gives each metric pmproxy's TYPE and
//     HELP;
//   - dashboards: queries a dashboard written for pmproxy-scraped data
//     sends (rate by hostname, sum by instname, an instname selector,
//     label_values of hostname and of instname) give non-empty answers
//     naming pmproxy's host and instances;
//   - --labels.agent: a second server gives every series the same labels
//     plus agent="<PMDA>" (linux, proc).
func TestPmproxyLabelsAndValues(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs pmlogger and pmproxy for about 6 s")
	}
	began := time.Now()
	pcptest.PMCD(t)
	_, err := exec.LookPath("pminfo")
	pcptest.Require(t, "pminfo (Debian package pcp)", err == nil)

	dir := t.TempDir()  // the archive, and nothing else
	work := t.TempDir() // configurations, logs, sockets
	config := filepath.Join(work, "pmlogger.config")
	cfg := "log mandatory on every 1 second {\n    " + strings.Join(pmproxyMetrics, "\n    ") + "\n}\n"
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "pmproxy-e2e")
	logger := pcptest.StartPmloggerHost(t, "local:", config, base, filepath.Join(work, "pmlogger.log"))
	defer func() {
		if t.Failed() {
			t.Logf("pmlogger log:\n%s", logger.LogText())
		}
	}()
	proxy := startPmproxy(t, work)

	// Scrape once the archive has a record (a prev for the first scrape).
	pmlogStart := time.Now()
	logger.WaitRecord(t)
	time.Sleep(300 * time.Millisecond)
	scrapes := []pmproxyScrape{scrapePmproxy(t, proxy, pmproxyMetrics)}
	time.Sleep(3 * time.Second)
	scrapes = append(scrapes, scrapePmproxy(t, proxy, pmproxyMetrics))
	time.Sleep(2300 * time.Millisecond) // a next for the second scrape
	if err := logger.Stop(); err != nil {
		t.Fatalf("stopping pmlogger: %v", err)
	}
	t.Logf("pmlogger and pmproxy ran %v", time.Since(pmlogStart).Round(time.Millisecond))

	// pmlogger connected as pmlogger_check does (local:), and pmcd
	// usually gives such a connection the credential labels, which must
	// not be in our series: the comparison with pmproxy's label sets
	// below checks that. Some runs under make test got none from the
	// same pmcd (the cause is pmcd's, not found); their dropping is then
	// checked only on PCP QA's sample-labels (translate/labels_test.go).
	out, err := exec.Command("pminfo", "-a", base, "-l", "hinv.ncpu").CombinedOutput()
	if err != nil {
		t.Fatalf("pminfo -a %s -l hinv.ncpu: %v\n%s", base, err, out)
	}
	if !strings.Contains(string(out), `"groupid":`) || !strings.Contains(string(out), `"userid":`) {
		t.Logf("pminfo -a %s -l hinv.ncpu: no groupid/userid context labels in this archive:\n%s", base, out)
	}

	// What pmproxy gave, by Prometheus name.
	descs := map[string]pcpDesc{}
	for _, s := range scrapes {
		for prom, d := range s.pcp {
			if o, ok := descs[prom]; ok && o != d {
				t.Errorf("pmproxy: %s described as %+v, then %+v", prom, o, d)
			}
			descs[prom] = d
		}
	}
	var proms []string
	for _, m := range pmproxyMetrics {
		prom := strings.ReplaceAll(m, ".", "_")
		if _, ok := descs[prom]; !ok {
			t.Logf("%s: pmproxy gave no values (not on this machine?); checking we give none either", m)
		}
		proms = append(proms, prom)
	}
	if len(descs) < len(pmproxyMetrics)*3/4 {
		t.Fatalf("pmproxy gave only %d of %d metrics: %v", len(descs), len(pmproxyMetrics), descs)
	}

	srv := startLogged(t, dir)
	agentSrv := startLogged(t, "--labels.agent", dir)
	winStart, winEnd := scrapes[0].start.Add(-2*time.Second), scrapes[1].end.Add(2*time.Second)
	match := `{__name__=~"` + strings.Join(proms, "|") + `"}`
	seriesOf := func(s *testServer) map[string][]map[string]string {
		var list []map[string]string
		apiData(t, s.base, "/api/v1/series", url.Values{"match[]": {match}, "start": {secs(winStart)}, "end": {secs(winEnd)}}, &list)
		by := map[string][]map[string]string{}
		for _, ls := range list {
			by[ls["__name__"]] = append(by[ls["__name__"]], without(ls, "__name__"))
		}
		return by
	}
	ours := seriesOf(srv)

	// Every raw sample of ours, through a range selector.
	evalAt := time.Now().Add(time.Second)
	rng := int(math.Ceil(evalAt.Sub(pmlogStart).Seconds())) + 5
	q := pcptest.Query(t, srv.base, url.Values{"query": {fmt.Sprintf("%s[%ds]", match, rng)}, "time": {secs(evalAt)}})
	if q.ResultType != "matrix" {
		t.Fatalf("range selector: result type %s", q.ResultType)
	}
	samples := map[string]*ourSeries{} // by labelKey, __name__ included
	for _, r := range q.Result {
		s := &ourSeries{labels: without(r.Metric, "__name__")}
		for _, p := range r.Values {
			ts, _ := p[0].(float64)
			vs, _ := p[1].(string)
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				t.Fatalf("sample %v of %v: %v", p, r.Metric, err)
			}
			s.points = append(s.points, ourPoint{int64(math.Round(ts * 1000)), v})
		}
		samples[labelKey(r.Metric)] = s
	}

	var diffs []string
	diff := func(format string, args ...any) {
		diffs = append(diffs, fmt.Sprintf(format, args...))
		t.Errorf(format, args...)
	}
	var host string
	nLabelSets, nValues := 0, 0
	instantIn, instantTotal := 0, 0
	for _, prom := range proms {
		d := descs[prom]
		// pmproxy's label sets by instid, each with the scrapes it is in.
		type theirSet struct {
			labels  map[string]string
			scrapes []int
		}
		theirs := map[string]map[string]*theirSet{} // instid -> labelKey -> set
		for i, s := range scrapes {
			for _, ps := range s.series(t, prom) {
				if h := ps.labels["hostname"]; h != "" {
					if host != "" && h != host {
						t.Errorf("pmproxy: hostname %q and %q", host, h)
					}
					host = h
				}
				id := ps.labels["instid"]
				if theirs[id] == nil {
					theirs[id] = map[string]*theirSet{}
				}
				k := labelKey(ps.labels)
				ts := theirs[id][k]
				if ts == nil {
					ts = &theirSet{labels: ps.labels}
					theirs[id][k] = ts
				}
				if n := len(ts.scrapes); n == 0 || ts.scrapes[n-1] != i {
					ts.scrapes = append(ts.scrapes, i)
				}
			}
		}
		mine := map[string][]map[string]string{} // instid -> label sets
		for _, ls := range ours[prom] {
			mine[ls["instid"]] = append(mine[ls["instid"]], ls)
		}
		for _, id := range unionKeys(theirs, mine) {
			inst := "(singular)"
			if id != "" {
				inst = "instid " + id
			}
			th, my := theirs[id], mine[id]
			switch {
			case len(th) == 0:
				// Ours only: allowed if it was absent around each scrape.
				for _, ls := range my {
					s := samples[labelKey(withName(ls, prom))]
					churn := s != nil
					for _, sc := range scrapes {
						if s == nil {
							break
						}
						prev, next := s.around(sc.start.UnixMilli(), sc.end.UnixMilli()+100)
						churn = churn && (prev == nil || next == nil)
					}
					if churn {
						t.Logf("%s %s: only ours, %s; it came or went while the test ran", prom, inst, labelKey(ls))
					} else {
						diff("%s %s: we serve %s, pmproxy never gave this instance", prom, inst, labelKey(ls))
					}
				}
				continue
			case len(my) == 0:
				for _, ts := range th {
					if len(ts.scrapes) < len(scrapes) {
						t.Logf("%s %s: only pmproxy's scrape %v has it, %s; it came or went while the test ran", prom, inst, ts.scrapes, labelKey(ts.labels))
					} else {
						diff("%s %s: pmproxy gives %s in every scrape, we do not serve this instance", prom, inst, labelKey(ts.labels))
					}
				}
				continue
			}
			if len(th) > 1 || len(my) > 1 {
				var tk []string
				for k := range th {
					tk = append(tk, k)
				}
				var mk []string
				for _, ls := range my {
					mk = append(mk, labelKey(ls))
				}
				diff("%s %s: several label sets: pmproxy %v, ours %v", prom, inst, tk, mk)
				continue
			}
			var ts *theirSet
			for _, x := range th {
				ts = x
			}
			nLabelSets++
			compareLabels(prom, inst, ts.labels, my[0], diff)
		}
		if d.name == "" {
			continue // no values from pmproxy: the checks above found ours
		}

		// Values.
		for i, sc := range scrapes {
			for _, ps := range sc.series(t, prom) {
				s := samples[labelKey(withName(ps.labels, prom))]
				if s == nil {
					continue // a label difference, reported above
				}
				prev, next := s.around(sc.start.UnixMilli(), sc.end.UnixMilli()+100)
				if prev == nil || next == nil {
					t.Logf("%s %s scrape %d: no sample of ours before and after it (prev %v, next %v)", prom, labelKey(ps.labels), i, prev, next)
					continue
				}
				nValues++
				v := ps.value
				where := fmt.Sprintf("%s%s scrape %d (%s .. %s): pmproxy %v, ours %v at %s and %v at %s",
					prom, labelKey(ps.labels), i, sc.start.Format("15:04:05.000"), sc.end.Format("15:04:05.000"),
					v, prev.v, time.UnixMilli(prev.t).Format("15:04:05.000"), next.v, time.UnixMilli(next.t).Format("15:04:05.000"))
				eq := func(a, b float64) bool { return valuesEqual(d.typ, a, b) }
				switch {
				case d.sem == "counter":
					if !(prev.v <= v || eq(prev.v, v)) || !(v <= next.v || eq(v, next.v)) {
						diff("counter out of order: %s", where)
					}
				case d.sem == "discrete" || steadyInstant[d.name]:
					if !eq(v, prev.v) && !eq(v, next.v) {
						diff("value differs: %s", where)
					}
				default:
					instantTotal++
					lo, hi := math.Min(prev.v, next.v), math.Max(prev.v, next.v)
					if lo <= v && v <= hi || eq(v, lo) || eq(v, hi) {
						instantIn++
					}
				}
			}
		}

		// Metadata.
		var md map[string][]struct{ Type, Help, Unit string }
		apiData(t, srv.base, "/api/v1/metadata", url.Values{"metric": {prom}}, &md)
		mf := scrapes[len(scrapes)-1].families[prom]
		if mf == nil {
			mf = scrapes[0].families[prom]
		}
		wantType := strings.ToLower(mf.GetType().String())
		if len(md[prom]) != 1 {
			diff("%s: metadata %+v, want one entry", prom, md[prom])
		} else if m := md[prom][0]; m.Type != wantType || m.Help != mf.GetHelp() {
			diff("%s: metadata type %q help %q, pmproxy TYPE %q HELP %q", prom, m.Type, m.Help, wantType, mf.GetHelp())
		}
	}
	if host == "" {
		t.Fatal("pmproxy gave no hostname label")
	}
	t.Logf("%d metrics, %d label sets and %d pmproxy values compared; %d of %d instant-gauge values lie between ours before and after",
		len(descs), nLabelSets, nValues, instantIn, instantTotal)

	dashboards(t, srv.base, host, scrapes[len(scrapes)-1], winStart, winEnd)

	// --labels.agent: the same series, each with agent="<PMDA>".
	agentOurs := seriesOf(agentSrv)
	nAgent := 0
	for _, prom := range proms {
		want := map[string]bool{}
		for _, ls := range ours[prom] {
			want[labelKey(ls)] = true
		}
		d := descs[prom]
		agent := pmdaNames[d.domain()]
		if d.name != "" && agent == "" {
			t.Errorf("%s: PMID %s of no PMDA the test knows", prom, d.pmid)
		}
		if len(agentOurs[prom]) != len(ours[prom]) {
			diff("--labels.agent: %s has %d series, %d without the flag", prom, len(agentOurs[prom]), len(ours[prom]))
		}
		for _, ls := range agentOurs[prom] {
			nAgent++
			if d.name != "" && ls["agent"] != agent {
				diff("--labels.agent: %s%s: agent %q, want %q", prom, labelKey(ls), ls["agent"], agent)
			}
			if !want[labelKey(without(ls, "agent"))] {
				diff("--labels.agent: %s%s: without agent not a series of the server without the flag", prom, labelKey(ls))
			}
		}
	}
	t.Logf("--labels.agent: %d series checked", nAgent)

	if len(diffs) > 0 {
		t.Logf("%d differences between pmproxy and us:\n%s", len(diffs), strings.Join(diffs, "\n"))
	}
	t.Logf("took %v", time.Since(began).Round(time.Millisecond))
}

func withName(ls map[string]string, name string) map[string]string {
	out := without(ls)
	out["__name__"] = name
	return out
}

// unionKeys is every key of a or b, sorted.
func unionKeys[A, B any](a map[string]A, b map[string]B) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// compareLabels reports every label whose value differs between a pmproxy
// label set and ours.
func compareLabels(prom, inst string, theirs, ours map[string]string, diff func(string, ...any)) {
	show := func(ls map[string]string, n string) string {
		if v, ok := ls[n]; ok {
			return strconv.Quote(v)
		}
		return "<absent>"
	}
	for _, n := range unionKeys(theirs, ours) {
		tv, tok := theirs[n]
		ov, ook := ours[n]
		if tok != ook || tv != ov {
			diff("label differs: metric %s %s label %s: pmproxy %s, ours %s", prom, inst, n, show(theirs, n), show(ours, n))
		}
	}
}

// valuesEqual compares a value pmproxy printed with ours, to the
// precision pmproxy prints a PCP type with.
func valuesEqual(typ string, a, b float64) bool {
	if a == b {
		return true
	}
	rel := 0.0
	switch typ {
	case "float":
		rel = 1e-7
	case "double":
		rel = 2e-15
	}
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

// dashboards runs over our API what a dashboard written for
// pmproxy-scraped data asks, with the host and instance names pmproxy
// gave (last is a pmproxy scrape).
func dashboards(t *testing.T, base, host string, last pmproxyScrape, start, end time.Time) {
	t.Helper()
	instnames := func(prom string) []string {
		var out []string
		for _, s := range last.series(t, prom) {
			out = append(out, s.labels["instname"])
		}
		sort.Strings(out)
		return out
	}
	at := end.Add(-2 * time.Second) // within the archive
	instant := func(query string) pcptest.QueryResult {
		t.Helper()
		r := pcptest.Query(t, base, url.Values{"query": {query}, "time": {secs(at)}})
		if r.ResultType != "vector" || len(r.Result) == 0 {
			t.Errorf("%s: %s result with %d series, want a non-empty vector", query, r.ResultType, len(r.Result))
		}
		for _, s := range r.Result {
			if len(s.Value) != 2 {
				t.Errorf("%s: malformed sample %v", query, s.Value)
				continue
			}
			vs, _ := s.Value[1].(string)
			if v, err := strconv.ParseFloat(vs, 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("%s: %v: value %q", query, s.Metric, vs)
			}
		}
		return r
	}
	names := func(r pcptest.QueryResult, label string) []string {
		var out []string
		for _, s := range r.Result {
			out = append(out, s.Metric[label])
		}
		sort.Strings(out)
		return out
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(want) == 0 {
			t.Errorf("%s: %q, want pmproxy's %q", what, got, want)
		}
	}

	q := fmt.Sprintf(`rate(disk_dev_read{hostname=%q}[10s])`, host)
	r := instant(q)
	same(q+": instname", names(r, "instname"), instnames("disk_dev_read"))
	for _, s := range r.Result {
		if s.Metric["hostname"] != host || s.Metric["__name__"] != "" {
			t.Errorf("%s: series %v", q, s.Metric)
		}
	}

	q = `sum by (instname) (rate(kernel_percpu_cpu_user[10s]))`
	r = instant(q)
	same(q+": instname", names(r, "instname"), instnames("kernel_percpu_cpu_user"))
	for _, s := range r.Result {
		if len(s.Metric) != 1 {
			t.Errorf("%s: series %v, want instname only", q, s.Metric)
		}
	}

	q = `kernel_all_load{instname="1 minute"}`
	r = instant(q)
	var want map[string]string
	for _, s := range last.series(t, "kernel_all_load") {
		if s.labels["instname"] == "1 minute" {
			want = withName(s.labels, "kernel_all_load")
		}
	}
	if len(r.Result) != 1 || want == nil || labelKey(r.Result[0].Metric) != labelKey(want) {
		var got []string
		for _, s := range r.Result {
			got = append(got, labelKey(s.Metric))
		}
		t.Errorf("%s: %v, want pmproxy's %v", q, got, labelKey(want))
	}

	rng := url.Values{"start": {secs(start)}, "end": {secs(end)}}
	// label_values(hostname)
	var vals []string
	apiData(t, base, "/api/v1/label/hostname/values", rng, &vals)
	same("label_values(hostname)", vals, []string{host})
	// label_values(disk_dev_read, instname), as Grafana asks it: label
	// values with match[], and (older Grafana) /api/v1/series.
	p := url.Values{"match[]": {"disk_dev_read"}, "start": rng["start"], "end": rng["end"]}
	vals = nil
	apiData(t, base, "/api/v1/label/instname/values", p, &vals)
	same("label_values(disk_dev_read, instname)", vals, instnames("disk_dev_read"))
	var series []map[string]string
	apiData(t, base, "/api/v1/series", p, &series)
	vals = nil
	for _, s := range series {
		vals = append(vals, s["instname"])
	}
	sort.Strings(vals)
	same("series of disk_dev_read: instname", vals, instnames("disk_dev_read"))
}
