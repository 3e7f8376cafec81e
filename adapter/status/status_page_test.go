package status

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/html"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// svgEl is an element of a rendered timeline: its tag, classes, title and
// the host of the timeline it is in.
type svgEl struct {
	tag, host, title string
	class            map[string]bool
	attr             map[string]string
}

// parseTimelines parses a status page with an HTML parser and returns the
// elements inside each host's timeline <svg class="tl">, by host.
func parseTimelines(t *testing.T, page string) map[string][]svgEl {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]svgEl{}
	var walk func(n *html.Node, host string)
	walk = func(n *html.Node, host string) {
		if n.Type == html.ElementNode {
			a := map[string]string{}
			for _, at := range n.Attr {
				a[at.Key] = at.Val
			}
			cls := map[string]bool{}
			for _, c := range strings.Fields(a["class"]) {
				cls[c] = true
			}
			if n.Data == "svg" && cls["tl"] {
				host = a["data-host"]
				out[host] = nil
			} else if host != "" && n.Data != "title" {
				e := svgEl{tag: n.Data, host: host, class: cls, attr: a}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && c.Data == "title" && c.FirstChild != nil {
						e.title = c.FirstChild.Data
					}
				}
				out[host] = append(out[host], e)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, host)
		}
	}
	walk(doc, "")
	return out
}

func withClass(els []svgEl, classes ...string) []svgEl {
	var out []svgEl
	for _, e := range els {
		ok := true
		for _, c := range classes {
			ok = ok && e.class[c]
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

func getPage(t *testing.T, src StatusSource, query string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	NewStatusHandler(src).ServeHTTP(rec, httptest.NewRequest("GET", "/status"+query, nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /status%s: %d %s", query, rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Body.String()
}

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func arch(host, name string, from, to time.Duration) multiarchive.ArchiveStatus {
	return multiarchive.ArchiveStatus{Path: "/var/log/pcp/pmlogger/" + host + "/" + name, Version: 3, Volumes: 1,
		Start: day0.Add(from), End: day0.Add(to)}
}

// A small synthetic set: a bar per archive, the gap, the overlap, the
// problem and the table classes, escaped names, the tables below.
func TestStatusPageSynthetic(t *testing.T) {
	h := time.Hour
	a := []multiarchive.ArchiveStatus{
		arch("web<1>", "20260101", 0, 24*h-time.Minute),
		arch("web<1>", "20260102", 24*h, 36*h),                    // 1 min after: a mark, no gap
		arch("web<1>", "20260102.12.00", 35*h, 40*h),              // overlaps the one before
		arch("web<1>", "20260103", 48*h, 72*h-time.Minute),        // 8 h gap before
		arch("web<1>", "20260104.00.10", 72*h, 80*h),              // newest
		arch("web<1>", "20260103.broken", 60*h+1, 60*h+time.Hour), // overlaps, a problem
	}
	a[0].Table = multiarchive.TableComplete
	a[1].Table = multiarchive.TableComplete
	a[3].TableQueued = true
	a[4].Table = multiarchive.TablePrefix
	end := day0.Add(78 * h)
	a[4].TableEnd = &end
	a[5].Problem = "volume 0: truncated record"
	st := multiarchive.Status{
		Hosts: []multiarchive.HostStatus{
			{Host: "db2", Start: day0, End: day0.Add(80 * h), Archives: []multiarchive.ArchiveStatus{arch("db2", "20260101", 0, 80*h)}, Overlaps: []multiarchive.Overlap{}},
			{Host: "web<1>", Start: day0, End: day0.Add(80 * h), Archives: a, OverlapCount: 2, Overlaps: []multiarchive.Overlap{
				{First: a[1].Path, Second: a[2].Path}, {First: a[3].Path, Second: a[5].Path}}},
		},
		Skipped: []multiarchive.Skipped{},
		Tables:  multiarchive.TableStats{Dir: "/c", Loaded: 2, Pending: 1},
	}
	page := getPage(t, fixedStatus(st), "")
	if strings.Contains(page, "web<1>") || !strings.Contains(page, "web&lt;1&gt;") {
		t.Error("host name not escaped")
	}
	if strings.Contains(page, "<script") {
		t.Error("the page has a script")
	}
	tl := parseTimelines(t, page)
	if len(tl) != 2 {
		t.Fatalf("timelines for %d hosts, want 2", len(tl))
	}
	els := tl["web<1>"]
	bars := withClass(els, "archive")
	if len(bars) != len(a) {
		t.Fatalf("%d bars, want one per archive (%d)", len(bars), len(a))
	}
	for _, b := range bars {
		if b.tag != "rect" || !strings.Contains(b.title, "/var/log/pcp/pmlogger/web<1>/") || !strings.Contains(b.title, "2026-01-0") {
			t.Errorf("bar %v: title %q lacks the path and times", b.class, b.title)
		}
	}
	if n := len(withClass(els, "archive", "has-table", "complete")); n != 2 {
		t.Errorf("%d complete-table bars, want 2", n)
	}
	if p := withClass(els, "archive", "has-table", "prefix"); len(p) != 1 || !strings.Contains(p[0].title, "prefix to 2026-01-04 06:00:00Z") {
		t.Errorf("prefix bars %+v", p)
	}
	if tail := withClass(els, "tail"); len(tail) != 1 {
		t.Errorf("%d prefix tails, want 1", len(tail))
	}
	if n := len(withClass(els, "archive", "no-table")); n != 3 {
		t.Errorf("%d bars without a table, want 3", n)
	}
	if q := withClass(els, "archive", "queued"); len(q) != 1 || !strings.Contains(q[0].title, "20260103\n") {
		t.Errorf("queued bars %+v", q)
	}
	if p := withClass(els, "archive", "problem"); len(p) != 1 || !strings.Contains(p[0].title, "problem: volume 0: truncated record") {
		t.Errorf("problem bars %+v", p)
	}
	if g := withClass(els, "gap"); len(g) != 1 || !strings.Contains(g[0].title, "2026-01-02 16:00:00Z to 2026-01-03 00:00:00Z (8h 0m)") {
		t.Errorf("gaps %+v", g)
	}
	ov := withClass(els, "overlap")
	if len(ov) != 2 || !strings.Contains(ov[0].title, "20260102 and 20260102.12.00") {
		t.Errorf("overlaps %+v", ov)
	}
	if n := len(withClass(els, "archive", "overlapping")); n != 4 {
		t.Errorf("%d overlapping bars, want 4", n)
	}
	// Overlapping archives are in a second lane.
	lanes := map[string]bool{}
	for _, b := range bars {
		lanes[b.attr["y"]] = true
	}
	if len(lanes) != 2 {
		t.Errorf("bars in lanes %v, want 2", lanes)
	}
	if m := withClass(els, "marks"); len(m) != 1 || strings.Count(m[0].attr["d"], "M") != 3 {
		t.Errorf("marks %+v, want the three boundaries where an archive ends before the next begins", m)
	}
	if n := len(withClass(tl["db2"], "archive", "no-table")); n != 1 {
		t.Errorf("db2: %d bars", n)
	}
	for _, want := range []string{
		"Table builder: 1 build queued or under way; 4 of 7 archives have no table yet",
		`<td class="bad">volume 0: truncated record</td>`,
		"overlap: /var/log/pcp/pmlogger/web&lt;1&gt;/20260102 and",
		`title="first: 20260102 and 20260102.12.00">2 overlaps</span>`,
		"1 gap (8h 0m)",
		"Column tables in /c: 2 loaded",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// JSON carries the new fields and the old ones.
	rec := httptest.NewRecorder()
	NewStatusHandler(fixedStatus(st)).ServeHTTP(rec, httptest.NewRequest("GET", "/status?format=json", nil))
	var js struct {
		Hosts []struct {
			Host     string
			Archives []map[string]any
		}
		Tables map[string]any
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &js); err != nil {
		t.Fatal(err)
	}
	got := js.Hosts[1].Archives
	if got[0]["table"] != "complete" || got[0]["path"] != a[0].Path || got[3]["table_queued"] != true || got[4]["table_end"] == nil ||
		got[5]["problem"] == nil || js.Tables["pending"] != 1.0 {
		t.Errorf("JSON: %s", rec.Body.String())
	}
	if _, ok := got[3]["table"]; ok {
		t.Error(`JSON: "table" of an archive without one, want it left out`)
	}
}

// Whatever an archive's path, host name or problem holds is escaped, in
// the timeline, its titles and the table.
func TestStatusPageEscapes(t *testing.T) {
	evil := `"><img src=x onerror=alert(1)>&amp;<script>`
	a := arch(evil, evil, 0, time.Hour)
	a.Problem, a.TableProblem, a.Table = evil, evil, evil
	b := arch(evil, evil+"2", 2*time.Hour, 3*time.Hour)
	st := multiarchive.Status{Hosts: []multiarchive.HostStatus{{Host: evil, Archives: []multiarchive.ArchiveStatus{a, b},
		Overlaps: []multiarchive.Overlap{{First: evil, Second: evil}}, OverlapCount: 1}},
		Skipped: []multiarchive.Skipped{{Path: evil, Reason: evil}}, Tables: multiarchive.TableStats{Dir: evil}}
	page := getPage(t, fixedStatus(st), "?host="+url.QueryEscape(evil))
	if strings.Contains(page, "<img") || strings.Contains(page, "<script") {
		t.Errorf("not escaped:\n%s", page)
	}
	if tl := parseTimelines(t, page); len(tl[evil]) == 0 || !strings.Contains(withClass(tl[evil], "archive")[0].title, evil) {
		t.Errorf("timeline of %q: %+v", evil, tl)
	}
}

// Axis ticks fall on round times, at least 60 px apart.
func TestStatusAxisTicks(t *testing.T) {
	for _, c := range []struct {
		from, to time.Time
		first    string
		n        int
	}{
		{day0, day0.AddDate(1, 0, 0), "2026-02", 11},
		{day0.Add(10 * 24 * time.Hour), day0.AddDate(3, 0, 0), "2026-04", 11},
		{day0.Add(7 * time.Hour), day0.Add(55 * time.Hour), "12:00", 8},
		{day0, day0.AddDate(40, 0, 0), "2030", 8},
	} {
		ticks := axisTicks(c.from.UnixNano(), c.to.UnixNano())
		if len(ticks) != c.n || ticks[0].Label != c.first {
			t.Errorf("%v to %v: %+v", c.from, c.to, ticks)
		}
		for i := 1; i < len(ticks); i++ {
			if ticks[i].X-ticks[i-1].X < 50 {
				t.Errorf("%v to %v: ticks %+v", c.from, c.to, ticks)
			}
		}
	}
}

// Years of daily archives: bars narrower than a pixel merge into runs, so
// a row has a bounded number of elements.
func TestStatusPageRuns(t *testing.T) {
	st := syntheticStatus(3, 3650)
	page := getPage(t, fixedStatus(st), "")
	for host, els := range parseTimelines(t, page) {
		bars := withClass(els, "archive")
		if len(bars) == 0 || len(bars) > 2*timelineW {
			t.Errorf("%s: %d bars for 3,650 archives", host, len(bars))
		}
		if len(withClass(els, "run")) == 0 {
			t.Errorf("%s: no merged runs", host)
		}
		for _, b := range bars {
			if b.title == "" {
				t.Errorf("%s: a bar without a title", host)
			}
		}
	}
	for _, svg := range regexp.MustCompile(`(?s)<svg class="tl".*?</svg>`).FindAllString(page, -1) {
		if len(svg) > 256<<10 {
			t.Errorf("a timeline of 3,650 archives is %d bytes", len(svg))
		}
	}
}

// Hosts are paged, and ?host= filters them.
func TestStatusPagePages(t *testing.T) {
	st := syntheticStatus(120, 3)
	src := fixedStatus(st)
	page := getPage(t, src, "")
	if n := len(parseTimelines(t, page)); n != hostsPerPage {
		t.Errorf("%d timelines on page 1, want %d", n, hostsPerPage)
	}
	if !strings.Contains(page, "hosts 1–50 of 120") || !strings.Contains(page, `href="?page=2"`) {
		t.Error("no page links")
	}
	page = getPage(t, src, "?page=3")
	if n := len(parseTimelines(t, page)); n != 20 || !strings.Contains(page, "hosts 101–120 of 120") {
		t.Errorf("page 3: %d timelines", n)
	}
	page = getPage(t, src, "?host=HOST011")
	tl := parseTimelines(t, page)
	if len(tl) != 10 { // host0110 to host0119
		t.Errorf("?host=HOST011: hosts %d", len(tl))
	}
	page = getPage(t, src, "?host="+url.QueryEscape(`"><x>`))
	if strings.Contains(page, `"><x>`) || !strings.Contains(page, "No host matches") {
		t.Error("filter not escaped, or matched")
	}
	page = getPage(t, src, "?host=host0008&axis=host")
	if tl := parseTimelines(t, page); len(tl) != 1 || len(withClass(tl["host0008"], "archive")) != 3 {
		t.Errorf("per-host axis: %v", tl)
	}
}

// syntheticStatus is hosts × n daily archives: every third host has a
// leftover piece overlapping a day, every seventh a week-long gap, the
// days of the last quarter have tables (and scattered ones before), one
// host in fifty a damaged archive.
func syntheticStatus(hosts, n int) multiarchive.Status {
	st := multiarchive.Status{Skipped: []multiarchive.Skipped{}, Tables: multiarchive.TableStats{Dir: "/var/cache/pcp-remote-read/tables", Loaded: 128, Built: 4000}}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -n)
	for i := range hosts {
		host := fmt.Sprintf("host%04d", i)
		hs := multiarchive.HostStatus{Host: host, Overlaps: []multiarchive.Overlap{}}
		for d := range n {
			if i%7 == 0 && d > n/2 && d < n/2+7 {
				continue
			}
			s := start.AddDate(0, 0, d)
			a := multiarchive.ArchiveStatus{Path: fmt.Sprintf("/var/log/pcp/pmlogger/%s/%s", host, s.Format("20060102")),
				Version: 3, Volumes: 1, Start: s.Add(10 * time.Second), End: s.Add(24*time.Hour - 50*time.Second)}
			if d > n*3/4 || d%17 == 0 {
				a.Table = multiarchive.TableComplete
			}
			if i%50 == 0 && d == n/3 {
				a.Problem = "volume 0: record at offset 123456 runs past the end of the file"
			}
			hs.Archives = append(hs.Archives, a)
			if i%3 == 0 && d == n*2/3 {
				p := a
				p.Path += ".12.00"
				p.Start, p.Table = s.Add(12*time.Hour), ""
				hs.Archives = append(hs.Archives, p)
				hs.Overlaps = append(hs.Overlaps, multiarchive.Overlap{First: a.Path, Second: p.Path})
				hs.OverlapCount++
			}
		}
		last := &hs.Archives[len(hs.Archives)-1]
		last.Table = multiarchive.TablePrefix
		hs.Start, hs.End = hs.Archives[0].Start, last.End
		st.Hosts = append(st.Hosts, hs)
	}
	return st
}

// demoWithTables opens the demo set with column tables and builds those
// of host's archives (all of them with host ""), as queries do: closed
// archives get whole tables, the newest a prefix table.
func demoWithTables(t testing.TB, dir string, hosts ...string) *multiarchive.Set {
	t.Helper()
	set := pcptest.OpenSet(t, multiarchive.Options{TableDir: t.TempDir(), TableSync: true}, dir)
	for _, tl := range set.Hosts() {
		if len(hosts) > 0 && !contains(hosts, tl.Host) {
			continue
		}
		opened, errs := tl.Open(math.MinInt64, math.MaxInt64)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, o := range opened {
			if set.Table(o) == nil {
				t.Fatalf("no table for %s", o.Entry.Files.Base)
			}
		}
	}
	return set
}

// copyDemo copies the demo set to a temporary directory and adds to
// demo-db1 a leftover copy of 20261119.12.30, which overlaps it wholly
// (the demo set itself has no overlap: 20261119 ends at 11:59, and the
// host was down until 12:30).
func copyDemo(t testing.TB) string {
	t.Helper()
	dst := t.TempDir()
	demo := pcptest.CopyDemo(t, dst)
	pcptest.CopyArchive(t, filepath.Join(demo, "demo-db1", "20261119.12.30"), filepath.Join(dst, "demo-db1", "20261119.12.30-leftover"))
	return dst
}

// The real demo set: four bars a host, the reboot gap of 20261119
// (11:59 to 12:30) and the marks of the daily rolls, no overlap; with the
// tables built, every bar has one (the newest a prefix table).
func TestStatusPageDemo(t *testing.T) {
	for _, tables := range []bool{false, true} {
		var set *multiarchive.Set
		if tables {
			set = demoWithTables(t, "../../testdata/demo")
		} else {
			set = pcptest.OpenSet(t, multiarchive.Options{}, "../../testdata/demo")
		}
		page := getPage(t, set, "")
		tl := parseTimelines(t, page)
		if len(tl) != 2 {
			t.Fatalf("tables %v: timelines %v", tables, tl)
		}
		for _, host := range []string{"demo-db1", "demo-web1"} {
			els := tl[host]
			bars := withClass(els, "archive")
			if len(bars) != 4 {
				t.Errorf("tables %v, %s: %d bars, want 4", tables, host, len(bars))
			}
			for i, name := range []string{"20261118", "20261119", "20261119.12.30", "20261120.00.10"} {
				if i < len(bars) && !strings.HasPrefix(bars[i].title, "../../testdata/demo/"+host+"/"+name+"\n") {
					t.Errorf("%s: bar %d title %q", host, i, bars[i].title)
				}
			}
			if g := withClass(els, "gap"); len(g) != 1 || !strings.Contains(g[0].title, "from 2026-11-19 11:59:0") || !strings.Contains(g[0].title, "to 2026-11-19 12:30:") {
				t.Errorf("%s: gaps %+v", host, g)
			}
			if m := withClass(els, "marks"); len(m) != 1 || strings.Count(m[0].attr["d"], "M") != 3 {
				t.Errorf("%s: marks %+v, want 3 boundaries", host, m)
			}
			if n := len(withClass(els, "overlap")); n != 0 {
				t.Errorf("%s: %d overlaps", host, n)
			}
			complete, prefix, none := len(withClass(bars, "complete")), len(withClass(bars, "prefix")), len(withClass(bars, "no-table"))
			if tables && (complete != 3 || prefix != 1 || none != 0) || !tables && none != 4 {
				t.Errorf("tables %v, %s: %d complete, %d prefix, %d none", tables, host, complete, prefix, none)
			}
			if tables && len(withClass(els, "has-table")) != 4 {
				t.Errorf("%s: has-table on %d bars", host, len(withClass(els, "has-table")))
			}
		}
		if tables && !strings.Contains(page, "Table builder: 0 builds queued or under way; 0 of 8 archives have no table yet") {
			t.Error("page lacks the table builder's state")
		}
	}
}

// The demo set with a leftover archive overlapping 20261119.12.30 of
// demo-db1, and the tables of demo-db1 only.
func TestStatusPageDemoOverlap(t *testing.T) {
	set := demoWithTables(t, copyDemo(t), "demo-db1")
	page := getPage(t, set, "")
	tl := parseTimelines(t, page)
	db, web := tl["demo-db1"], tl["demo-web1"]
	if n := len(withClass(db, "archive")); n != 5 {
		t.Errorf("demo-db1: %d bars, want 5", n)
	}
	ov := withClass(db, "overlap")
	if len(ov) != 1 || !strings.Contains(ov[0].title, "overlap: 20261119.12.30 and 20261119.12.30-leftover") {
		t.Errorf("demo-db1 overlaps %+v", ov)
	}
	if o := withClass(db, "archive", "overlapping"); len(o) != 2 {
		t.Errorf("demo-db1: %d overlapping bars, want 2", len(o))
	}
	if n := len(withClass(db, "archive", "has-table")); n != 5 {
		t.Errorf("demo-db1: %d bars with tables, want 5", n)
	}
	if n := len(withClass(web, "archive", "no-table")); n != 4 {
		t.Errorf("demo-web1: %d bars without tables, want 4", n)
	}
	if !regexp.MustCompile(`class="bad overlap-pair">overlap: \S+/demo-db1/20261119\.12\.30(-leftover)? and \S+/demo-db1/20261119\.12\.30(-leftover)?</p>`).MatchString(page) {
		t.Error("the overlapping pair is not listed")
	}
}

// BenchmarkStatusPage renders the page over a synthetic Status of 1,000
// hosts of a year of daily archives each: the first page (50 hosts), a
// page of 500, and one host.
func BenchmarkStatusPage(b *testing.B) {
	src := fixedStatus(syntheticStatus(1000, 365))
	for _, q := range []string{"", "?per_page=500", "?host=host0042"} {
		b.Run("q="+q, func(b *testing.B) {
			h := NewStatusHandler(src)
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/status"+q, nil))
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "page-bytes")
		})
	}
}

// The background indexer over the demo set with no query: the page and
// /metrics say what it built and that nothing is left, and every closed
// archive shows its table.
func TestStatusPageBacklog(t *testing.T) {
	set := pcptest.OpenSet(t, multiarchive.Options{TableDir: t.TempDir()}, "../../testdata/demo")
	var st multiarchive.Status
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st = set.Status()
		if tb := st.Tables; tb.Backlog.Archives == 0 && tb.Pending == 0 && tb.Built == 6 && tb.Prefixes == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog not done: %+v", st.Tables)
		}
	}
	page := getPage(t, set, "")
	for _, want := range []string{"Background indexing: every closed archive looked at; 6 tables built", "Tables take "} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewSetCollector(set))
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if g := m.GetGauge(); g != nil {
				got[mf.GetName()] = g.GetValue()
			}
		}
	}
	if got["pcp_remote_read_table_backlog_archives"] != 0 || got["pcp_remote_read_table_backlog_bytes"] != 0 ||
		got["pcp_remote_read_table_backlog_rate_bytes_per_second"] <= 0 || got["pcp_remote_read_table_dir_bytes"] <= 0 {
		t.Errorf("backlog metrics %v", got)
	}
	lowest := st.Hosts[0].Start
	for _, h := range st.Hosts {
		if h.Start.Before(lowest) {
			lowest = h.Start
		}
	}
	if want := float64(lowest.UnixMilli()) / 1e3; got["prometheus_tsdb_lowest_timestamp_seconds"] != want {
		t.Errorf("lowest timestamp %v, want %v", got["prometheus_tsdb_lowest_timestamp_seconds"], want)
	}
}
