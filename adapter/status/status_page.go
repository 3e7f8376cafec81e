package status

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// The HTML status page: per host, a timeline drawn server-side as inline
// SVG (no script), then the archive tables of the same hosts.
//
// Each host is one row on an axis common to every host (that ?host=
// keeps; ?axis=host gives each row its own host's span). An archive is a bar
// coloured by its column table: complete, prefix (the newest archive; the
// part after the table, read directly, is grey) or none yet; a problem
// archive is red and at least 3 px wide. Overlapping archives are laid
// out in up to maxLanes lanes under an orange band; time with no archive
// for minGap or longer is a pink band; every other boundary where one
// archive ends before the next begins (where libpcp puts its <mark>) is
// a tick below the bars. Marks inside an archive are known only by
// reading its records, so they are not drawn.
//
// Bars narrower than mergeBelow (4 px, too thin to point at; wider ones
// are drawn a pixel short, so that archives in a row stay apart) merge
// with their neighbours of the same kind into runs, and bars narrower
// than a pixel merge whatever their kind (the run is striped when some of
// its archives have a table and some not): a row has at most a few
// elements per pixel of width however many archives the host has. The
// page is built in one pass over the archives of the hosts it shows, from
// Status alone (and one over all hosts for the axis and the totals).
// Hosts are listed hostsPerPage at a time (?page=, ?per_page= up to
// maxPerPage); ?host= keeps the hosts whose name contains it, ignoring
// case.

const (
	timelineW    = 840 // px, the width of every timeline
	laneH        = 10  // px, the height of a bar
	lanePitch    = 12
	laneTop      = 6 // px above the first lane, where the overlap band shows
	marksH       = 6 // px below the last lane, for the boundary ticks
	maxLanes     = 3
	mergeBelow   = 4 // px: narrower bars merge into runs
	minGap       = 5 * time.Minute
	hostsPerPage = 50
	openBelow    = 5 // hosts shown, up to which every archive table is unfolded
	maxPerPage   = 500
)

// shape is one SVG rect.
type shape struct {
	X, Y, W, H int
	Class      string
	Title      string
}

// hostRow is one host's timeline and summary.
type hostRow struct {
	H        *multiarchive.HostStatus
	ID       string // the anchor of its archive table
	Open     bool   // its table unfolded: a problem, or few hosts shown
	Height   int
	SVG      template.HTML // the timeline (see writeTimeline)
	Rows     template.HTML // the rows of its archive table
	Gaps     []shape
	Overlaps []shape
	Bars     []shape
	Grid     string // SVG path: a vertical line per axis tick
	Marks    string // SVG path: a tick per boundary mark
	// NMarks is the marks drawn, DenseMarks those too close together.
	NMarks, DenseMarks int

	Archives, Complete, Prefix, Queued, Problems int
	GapCount                                     int
	LongestGap                                   string
	OverlapNote                                  string // the first overlapping pair, short
	Span                                         string // with ?axis=host
}

type tick struct {
	X     int
	Label string
}

// statusView is what the page template reads.
type statusView struct {
	St         *multiarchive.Status
	CSS        template.CSS
	Defs       template.HTML
	Rows       []hostRow
	Ticks      []tick
	PerHost    bool // ?axis=host
	Width      int
	MinGap     string
	AxisFrom   string
	AxisTo     string
	Filter     string
	Matched    int // hosts matching the filter
	First      int // 1-based index of the first host shown
	Last       int
	Prev, Next string // page links, "" at either end
	// Over every host matching the filter, for the table builder's to-do.
	Archives, NoTable, Prefix, Queued, Problems int
}

func renderStatusPage(w io.Writer, st *multiarchive.Status, q url.Values) error {
	return statusPage.Execute(w, buildStatusView(st, q))
}

func buildStatusView(st *multiarchive.Status, q url.Values) *statusView {
	v := &statusView{St: st, CSS: statusCSS, Defs: statusDefs, Width: timelineW, MinGap: fmtDuration(minGap), PerHost: q.Get("axis") == "host", Filter: q.Get("host")}
	per := hostsPerPage
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		per = min(n, maxPerPage)
	}
	page := 1
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		page = n
	}

	var hosts []*multiarchive.HostStatus
	lower := strings.ToLower(v.Filter)
	t0, t1 := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range st.Hosts {
		h := &st.Hosts[i]
		if lower != "" && !strings.Contains(strings.ToLower(h.Host), lower) {
			continue
		}
		hosts = append(hosts, h)
		for _, a := range h.Archives {
			t0, t1 = min(t0, a.Start.UnixNano()), max(t1, a.End.UnixNano())
			v.Archives++
			if a.Problem != "" {
				v.Problems++
			}
			switch a.Table {
			case multiarchive.TableComplete:
			case multiarchive.TablePrefix:
				v.Prefix++
			default:
				v.NoTable++
			}
			if a.TableQueued {
				v.Queued++
			}
		}
	}
	v.Matched = len(hosts)
	pages := max(1, (len(hosts)+per-1)/per)
	page = min(page, pages)
	from, to := (page-1)*per, min(page*per, len(hosts))
	link := func(p int) string {
		u := url.Values{}
		for _, k := range []string{"host", "axis", "per_page"} {
			if x := q.Get(k); x != "" {
				u.Set(k, x)
			}
		}
		u.Set("page", strconv.Itoa(p))
		return "?" + u.Encode()
	}
	if page > 1 {
		v.Prev = link(page - 1)
	}
	if page < pages {
		v.Next = link(page + 1)
	}
	v.First, v.Last = from+1, to

	if t0 < t1 && !v.PerHost {
		v.Ticks = axisTicks(t0, t1)
		v.AxisFrom, v.AxisTo = fmtTime(time.Unix(0, t0)), fmtTime(time.Unix(0, t1))
	}
	for i, h := range hosts[from:to] {
		a, b, ticks := t0, t1, v.Ticks
		if v.PerHost {
			a, b = hostSpan(h)
			ticks = nil
		}
		v.Rows = append(v.Rows, buildRow(h, a, b, fmt.Sprintf("host-%d", from+i+1), ticks))
		v.Rows[i].Open = to-from <= openBelow || v.Rows[i].Problems > 0
	}
	return v
}

func hostSpan(h *multiarchive.HostStatus) (int64, int64) {
	t0, t1 := int64(math.MaxInt64), int64(math.MinInt64)
	for _, a := range h.Archives {
		t0, t1 = min(t0, a.Start.UnixNano()), max(t1, a.End.UnixNano())
	}
	return t0, t1
}

// axisSteps are the tick spacings tried, finest first.
var axisSteps = []struct {
	d      time.Duration
	months int
}{
	{time.Minute, 0}, {5 * time.Minute, 0}, {15 * time.Minute, 0}, {30 * time.Minute, 0},
	{time.Hour, 0}, {3 * time.Hour, 0}, {6 * time.Hour, 0}, {12 * time.Hour, 0},
	{24 * time.Hour, 0}, {2 * 24 * time.Hour, 0}, {7 * 24 * time.Hour, 0}, {14 * 24 * time.Hour, 0},
	{0, 1}, {0, 3}, {0, 6}, {0, 12}, {0, 24}, {0, 60}, {0, 120},
}

// axisTicks returns ticks at least 60 px apart, on round UTC times.
func axisTicks(t0, t1 int64) []tick {
	span := float64(t1 - t0)
	for _, s := range axisSteps {
		d := s.d
		if d == 0 {
			d = time.Duration(s.months) * 30 * 24 * time.Hour
		}
		if float64(d)/span*timelineW < 60 && s.months < 120 {
			continue
		}
		var out []tick
		t := time.Unix(0, t0).UTC()
		if s.months > 0 {
			if s.months > 12 {
				t = time.Date(t.Year()-t.Year()%(s.months/12), 1, 1, 0, 0, 0, 0, time.UTC)
			} else {
				// January, April, July, October for 3 months, and so on.
				t = time.Date(t.Year(), t.Month()-(t.Month()-1)%time.Month(s.months), 1, 0, 0, 0, 0, time.UTC)
			}
		} else {
			t = t.Truncate(d)
		}
		for ; t.UnixNano() <= t1; t = nextTick(t, s.d, s.months) {
			// Not at the very ends, where half the label would be cut.
			if x := px(t.UnixNano(), t0, t1); x >= 15 && x <= timelineW-15 {
				out = append(out, tick{X: x, Label: tickLabel(t, s.d, s.months)})
			}
		}
		return out
	}
	return nil
}

func nextTick(t time.Time, d time.Duration, months int) time.Time {
	if months > 0 {
		return t.AddDate(0, months, 0)
	}
	return t.Add(d)
}

func tickLabel(t time.Time, d time.Duration, months int) string {
	switch {
	case months >= 12:
		return t.Format("2006")
	case months > 0:
		return t.Format("2006-01")
	case d >= 24*time.Hour:
		return t.Format("2006-01-02")
	case t.Hour() == 0 && t.Minute() == 0:
		return t.Format("01-02 15:04")
	default:
		return t.Format("15:04")
	}
}

// pxf maps a time to the x of the timeline, in pixels.
func pxf(t, t0, t1 int64) float64 {
	if t1 <= t0 {
		return 0
	}
	return float64(t-t0) / float64(t1-t0) * timelineW
}

func px(t, t0, t1 int64) int { return int(math.Round(pxf(t, t0, t1))) }

// run is a bar on the timeline: one archive, or neighbours narrower than
// mergeBelow merged.
type run struct {
	x0, x1     float64
	lane       int
	kind       string // complete, prefix, none or mixed
	n          int
	start, end int64
	tables     int // archives with a table
	problem    bool
	alone      bool  // a problem or queued archive, never merged
	narrow     bool  // of archives narrower than mergeBelow
	idx        []int // the archives, in start order
}

func tableKind(a *multiarchive.ArchiveStatus) string {
	switch a.Table {
	case multiarchive.TableComplete:
		return "complete"
	case multiarchive.TablePrefix:
		return "prefix"
	}
	return "none"
}

// region is a gap or overlap on the timeline, in time and pixels.
type region struct {
	x0, x1   float64
	from, to int64
	n        int
	names    []string // the archives of an overlap, the first few
}

// buildRow draws one host on [t0, t1] with the axis' ticks (nil: its own).
func buildRow(h *multiarchive.HostStatus, t0, t1 int64, id string, ticks []tick) hostRow {
	r := hostRow{H: h, ID: id, Archives: len(h.Archives)}
	as := h.Archives
	order := make([]int, len(as))
	for i := range order {
		order[i] = i
	}
	if !sort.SliceIsSorted(order, func(i, j int) bool { return as[i].Start.Before(as[j].Start) }) {
		sort.SliceStable(order, func(i, j int) bool { return as[order[i]].Start.Before(as[order[j]].Start) })
	}
	if t1 <= t0 {
		t1 = t0 + int64(time.Second)
	}
	if len(as) > 0 {
		a, b := hostSpan(h)
		r.Span = fmtTime(time.Unix(0, a)) + " to " + fmtTime(time.Unix(0, b))
	}
	overlapping := map[string]bool{}
	for _, o := range h.Overlaps {
		overlapping[o.First], overlapping[o.Second] = true, true
	}
	if len(h.Overlaps) > 0 {
		o := h.Overlaps[0]
		r.OverlapNote = "first: " + filepath.Base(o.First) + " and " + filepath.Base(o.Second)
	}

	// One pass in start order: lanes, gaps, overlaps and marks.
	var gaps, overs []region
	var marks []int
	var longest int64
	laneEnd := make([]int64, 0, maxLanes)
	lanes := make([][]int, 0, maxLanes)
	maxEnd, holder := int64(math.MinInt64), -1
	for k, i := range order {
		a := &as[i]
		s, e := a.Start.UnixNano(), a.End.UnixNano()
		e = max(e, s)
		switch a.Table {
		case multiarchive.TableComplete:
			r.Complete++
		case multiarchive.TablePrefix:
			r.Prefix++
		}
		if a.TableQueued {
			r.Queued++
		}
		if a.Problem != "" {
			r.Problems++
		}
		if k > 0 {
			switch {
			case s > maxEnd:
				marks = append(marks, px(maxEnd, t0, t1))
				if d := s - maxEnd; d >= int64(minGap) {
					r.GapCount++
					longest = max(longest, d)
					gaps = addRegion(gaps, region{x0: pxf(maxEnd, t0, t1), x1: pxf(s, t0, t1), from: maxEnd, to: s, n: 1})
				}
			case s < maxEnd:
				overlapping[a.Path], overlapping[as[holder].Path] = true, true
				overs = addRegion(overs, region{x0: pxf(s, t0, t1), x1: pxf(min(e, maxEnd), t0, t1), from: s, to: min(e, maxEnd), n: 1,
					names: []string{filepath.Base(as[holder].Path), filepath.Base(a.Path)}})
			}
		}
		if e > maxEnd {
			maxEnd, holder = e, i
		}
		lane := -1
		for l, end := range laneEnd {
			if end <= s {
				lane = l
				break
			}
		}
		if lane < 0 {
			if len(laneEnd) < maxLanes {
				laneEnd, lanes = append(laneEnd, 0), append(lanes, nil)
				lane = len(laneEnd) - 1
			} else {
				lane = 0
				for l := range laneEnd {
					if laneEnd[l] < laneEnd[lane] {
						lane = l
					}
				}
			}
		}
		laneEnd[lane] = max(laneEnd[lane], e)
		lanes[lane] = append(lanes[lane], i)
	}
	if longest > 0 {
		r.LongestGap = fmtDuration(time.Duration(longest))
	}
	nl := max(1, len(lanes))
	r.Height = laneTop + nl*lanePitch + marksH

	for _, g := range gaps {
		sh := regionShape(g, 0, r.Height, "gap", 2)
		if g.n == 1 {
			sh.Title = fmt.Sprintf("gap: no archive from %s to %s (%s); libpcp puts a <mark> 1 ms after %s, so no series crosses it",
				fmtTime(time.Unix(0, g.from)), fmtTime(time.Unix(0, g.to)), fmtDuration(time.Duration(g.to-g.from)), fmtTime(time.Unix(0, g.from)))
		} else {
			sh.Title = fmt.Sprintf("%d gaps from %s to %s", g.n, fmtTime(time.Unix(0, g.from)), fmtTime(time.Unix(0, g.to)))
		}
		r.Gaps = append(r.Gaps, sh)
	}
	for _, o := range overs {
		sh := regionShape(o, 0, r.Height-marksH, "overlap", 3)
		what := "overlap: " + strings.Join(o.names, " and ")
		if o.n > 1 {
			what = fmt.Sprintf("%d overlaps: %s…", o.n, strings.Join(o.names, ", "))
		}
		sh.Title = fmt.Sprintf("%s\n%s to %s: both served, one sample per series per millisecond",
			what, fmtTime(time.Unix(0, o.from)), fmtTime(time.Unix(0, o.to)))
		r.Overlaps = append(r.Overlaps, sh)
	}

	for l, idx := range lanes {
		var cur *run
		flush := func() {
			if cur != nil {
				r.Bars = append(r.Bars, runShapes(cur, as, overlapping, t0, t1)...)
				cur = nil
			}
		}
		for _, i := range idx {
			a := &as[i]
			s, e := a.Start.UnixNano(), max(a.End.UnixNano(), a.Start.UnixNano())
			x0, x1 := pxf(s, t0, t1), pxf(e, t0, t1)
			kind := tableKind(a)
			// A bar narrower than mergeBelow joins the run before it
			// when that is made of such bars too and touches it, and is
			// of its kind or still narrower than a pixel.
			if cur != nil && x1-x0 < mergeBelow && cur.narrow && !cur.alone && a.Problem == "" && !a.TableQueued && x0-cur.x1 < 1 &&
				(kind == cur.kind || cur.x1-cur.x0 < 1) {
				if kind != cur.kind {
					cur.kind = "mixed"
				}
				cur.x1 = max(cur.x1, x1)
				cur.end = max(cur.end, e)
				cur.n++
				cur.idx = append(cur.idx, i)
				if a.Table != "" {
					cur.tables++
				}
				continue
			}
			flush()
			cur = &run{x0: x0, x1: x1, lane: l, kind: kind, n: 1, start: s, end: e, problem: a.Problem != "", idx: []int{i}, narrow: x1-x0 < mergeBelow,
				alone: a.Problem != "" || a.TableQueued}
			if a.Table != "" {
				cur.tables = 1
			}
		}
		flush()
	}

	var grid strings.Builder
	if ticks == nil {
		ticks = axisTicks(t0, t1)
	}
	for _, t := range ticks {
		fmt.Fprintf(&grid, "M%d 0V%d", t.X, r.Height)
	}
	r.Grid = grid.String()
	// Only marks at least mergeBelow px from the next ones are drawn: a
	// year of daily archives would make a comb of 364 ticks, and its
	// archives are merged into runs anyway.
	var mk strings.Builder
	y := laneTop + nl*lanePitch
	for i, x := range marks {
		if i > 0 && x-marks[i-1] < mergeBelow || i+1 < len(marks) && marks[i+1]-x < mergeBelow {
			r.DenseMarks++
			continue
		}
		r.NMarks++
		fmt.Fprintf(&mk, "M%d.5 %dv%d", x, y, marksH-1)
	}
	r.Marks = mk.String()
	r.SVG, r.Rows = writeTimeline(&r), writeArchiveRows(h)
	return r
}

// The timeline and the archive table are written here rather than by the
// page template: they are most of the page, and html/template spends
// microseconds on each action (about 0.5 s for a page of 50 hosts of a
// year of daily archives). Every string that is not a constant of this file
// goes through template.HTMLEscapeString, which escapes <, >, &, ' and
// " (text, and attributes in double quotes); the rest are numbers.

var esc = template.HTMLEscapeString

func writeTimeline(r *hostRow) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="tl" id="tl-%s" data-host="%s" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges"><title>%s: %d archives, %s; %d archive boundaries where libpcp puts a &lt;mark&gt;</title>`,
		esc(r.ID), esc(r.H.Host), timelineW, r.Height, timelineW, r.Height, esc(r.H.Host), r.Archives, esc(r.Span), r.NMarks+r.DenseMarks)
	if r.Grid != "" {
		fmt.Fprintf(&b, `<path class="grid" d="%s"/>`, r.Grid)
	}
	for _, list := range [][]shape{r.Gaps, r.Overlaps, r.Bars} {
		for _, sh := range list {
			fmt.Fprintf(&b, "\n"+`<rect class="%s" x="%d" y="%d" width="%d" height="%d"><title>%s</title></rect>`,
				sh.Class, sh.X, sh.Y, sh.W, sh.H, esc(sh.Title))
		}
	}
	if r.Marks != "" {
		what := "boundaries"
		if r.NMarks == 1 {
			what = "boundary"
		}
		dense := ""
		if r.DenseMarks > 0 {
			dense = fmt.Sprintf(" (and %d more, too close together to draw)", r.DenseMarks)
		}
		fmt.Fprintf(&b, "\n"+`<path class="marks" d="%s"><title>%d archive %s%s where one archive ends before the next begins: libpcp puts a &lt;mark&gt; 1 ms after the archive's last record, and no series crosses it</title></path>`,
			r.Marks, r.NMarks, what, dense)
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

func writeArchiveRows(h *multiarchive.HostStatus) template.HTML {
	var b strings.Builder
	b.Grow(len(h.Archives) * 200)
	for _, a := range h.Archives {
		table := esc(a.Table)
		if table == "" {
			table = `<span class="muted">none yet</span>`
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s", esc(a.Path), a.Version, a.Volumes,
			fmtTime(a.Start), fmtTime(a.End), table)
		if a.TableQueued {
			b.WriteString(" (queued)")
		}
		if a.TableProblem != "" {
			fmt.Fprintf(&b, ` <span class="bad">%s</span>`, esc(a.TableProblem))
		}
		fmt.Fprintf(&b, "</td><td class=\"bad\">%s</td></tr>\n", esc(a.Problem))
	}
	return template.HTML(b.String())
}

// addRegion appends g, merged into the last region when they touch at
// the pixel scale.
func addRegion(rs []region, g region) []region {
	if n := len(rs); n > 0 && g.x0-rs[n-1].x1 < 1 {
		p := &rs[n-1]
		p.x1, p.to, p.n = max(p.x1, g.x1), max(p.to, g.to), p.n+g.n
		for _, s := range g.names {
			if len(p.names) < 3 && !contains(p.names, s) {
				p.names = append(p.names, s)
			}
		}
		return rs
	}
	return append(rs, g)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// regionShape draws a gap or overlap at least minW px wide.
func regionShape(g region, y, h int, class string, minW int) shape {
	x := int(math.Round(g.x0))
	w := int(math.Round(g.x1)) - x
	if w < minW {
		x -= (minW - w) / 2
		w = minW
	}
	return shape{X: x, Y: y, W: w, H: h, Class: class}
}

func runShapes(c *run, as []multiarchive.ArchiveStatus, overlapping map[string]bool, t0, t1 int64) []shape {
	x := int(math.Round(c.x0))
	w := max(int(math.Round(c.x1))-x, 1)
	if w >= mergeBelow {
		w-- // a white pixel between archives that follow one another
	}
	if c.alone {
		w = max(w, 3)
	}
	y := laneTop + c.lane*lanePitch
	cls := []string{"archive"}
	switch c.kind {
	case "complete":
		cls = append(cls, "has-table", "complete")
	case "prefix":
		cls = append(cls, "has-table", "prefix")
	case "mixed":
		cls = append(cls, "some-tables")
	default:
		cls = append(cls, "no-table")
	}
	over, queued := false, false
	for _, i := range c.idx {
		over = over || overlapping[as[i].Path]
		queued = queued || as[i].TableQueued
	}
	if c.n > 1 {
		cls = append(cls, "run")
	}
	if over {
		cls = append(cls, "overlapping")
	}
	if queued {
		cls = append(cls, "queued")
	}
	if c.problem {
		cls = append(cls, "problem")
	}
	sh := shape{X: x, Y: y, W: w, H: laneH, Class: strings.Join(cls, " ")}
	a := &as[c.idx[0]]
	if c.n == 1 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n%s to %s (%s)\n", a.Path, fmtTime(a.Start), fmtTime(a.End), fmtDuration(a.End.Sub(a.Start)))
		switch a.Table {
		case multiarchive.TableComplete:
			b.WriteString("column table: complete")
		case multiarchive.TablePrefix:
			b.WriteString("column table: prefix")
			if a.TableEnd != nil {
				fmt.Fprintf(&b, " to %s; the records after it are read directly", fmtTime(*a.TableEnd))
			}
		default:
			b.WriteString("no column table yet: the first query reading it has one built")
		}
		if a.TableQueued {
			b.WriteString(" (a build is queued)")
		}
		if a.TableProblem != "" {
			b.WriteString("\nread directly, no table: " + a.TableProblem)
		}
		if over {
			b.WriteString("\noverlaps another archive")
		}
		if a.Problem != "" {
			b.WriteString("\nproblem: " + a.Problem)
		}
		sh.Title = b.String()
	} else {
		z := &as[c.idx[len(c.idx)-1]]
		sh.Title = fmt.Sprintf("%d archives, %s to %s\n%s to %s\n%d with a column table", c.n, a.Path, filepath.Base(z.Path),
			fmtTime(time.Unix(0, c.start)), fmtTime(time.Unix(0, c.end)), c.tables)
	}
	out := []shape{sh}
	// The part of the newest archive after its prefix table.
	if c.n == 1 && a.Table == multiarchive.TablePrefix && a.TableEnd != nil && a.TableEnd.Before(a.End) {
		tx := max(px(a.TableEnd.UnixNano(), t0, t1), x)
		if tw := x + w - tx; tw >= 1 {
			out = append(out, shape{X: tx, Y: y, W: tw, H: laneH, Class: "tail",
				Title: fmt.Sprintf("%s\n%s to %s: after the prefix table, read directly (the table is extended once 4 MiB of records follow it)",
					a.Path, fmtTime(*a.TableEnd), fmtTime(a.End))})
		}
	}
	return out
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// fmtDuration is d in its two largest units: "2d 3h", "5h 12m", "40s".
func fmtDuration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s >= 86400:
		return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
	case s >= 3600:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	case s >= 60 && s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	case s >= 60:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}

// The colours of the timelines (the Chromium test counts their pixels).
const (
	colComplete = "#2f9e44"
	colPrefix   = "#8ce99a"
	colNone     = "#adb5bd"
	colOverlap  = "#ff922b"
	colGap      = "#ffc9c9"
	colProblem  = "#e03131"
)

var statusCSS = template.CSS(fmt.Sprintf(`body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#212529;font-size:14px}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.2em 0 .3em}
a{color:#1c7ed6}table{border-collapse:collapse}
table.paths td,table.paths th{border:1px solid #dee2e6;padding:2px 8px;text-align:left;white-space:nowrap}
.bad{color:#c92a2a}.muted{color:#868e96}
table.timelines td{padding:2px 6px;vertical-align:middle;white-space:nowrap}
table.timelines td.host{text-align:right;font-weight:600;max-width:16em;overflow:hidden;text-overflow:ellipsis}
table.timelines td.host a{color:#212529;text-decoration:none}
table.timelines td.sum{font-size:12px;color:#495057;white-space:normal;min-width:16em}
table.timelines tr.row td{border-top:1px solid #f1f3f5}
svg.tl{display:block;background:#fff}
svg.tl .grid{stroke:#e9ecef;stroke-width:1}
.archive.complete{fill:%[1]s}.archive.prefix{fill:%[2]s}.archive.no-table,.tail{fill:%[3]s}
.archive.some-tables{fill:url(#some-tables)}
.archive.queued{stroke:#7048e8;stroke-width:2}
.archive.problem{fill:%[6]s}
.archive.overlapping:not(.run){stroke:#d9480f;stroke-width:1}
.gap{fill:%[5]s}.overlap{fill:%[4]s}
.marks{stroke:#343a40;stroke-width:1}
svg.axis text{font-size:11px;fill:#495057}
svg.axis .tickline{stroke:%[3]s}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:#495057;margin:.5em 0 1em}
.legend span{display:inline-flex;align-items:center;gap:5px}
.note{font-size:12px;margin:.1em 0}
.sum .warn{color:#d9480f}.sum .bad{color:#c92a2a}
details{margin:.3em 0}summary{cursor:pointer}
nav.pages{margin:.6em 0}
`, colComplete, colPrefix, colNone, colOverlap, colGap, colProblem))

// statusDefs is the stripes of a run of archives some of which have a table.
var statusDefs = template.HTML(fmt.Sprintf(`<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs><pattern id="some-tables" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="%s"/><rect width="2" height="4" fill="%s"/></pattern></defs></svg>`, colNone, colComplete))

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"ts":   fmtTime,
	"base": filepath.Base,
	"sub":  func(a, b int) int { return a - b },
	"mib":  fmtMiB,
	"secs": fmtSeconds,
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>pcp-remote-read status</title>
<style>
{{.CSS}}</style>
</head><body>
<h1>pcp-remote-read</h1>
<p><a href="/metrics">/metrics</a> · <a href="/status?format=json">status as JSON</a> · remote read at <code>/api/v1/read</code></p>
<p>Last scan {{ts .St.Scanned}}. Cache: {{.St.Cache.Archives}} archives, {{.St.Cache.Bytes}} bytes, {{.St.Cache.Hits}} hits, {{.St.Cache.Misses}} misses.</p>
{{with .St.Tables}}{{if .Problem}}<p class="bad">Column tables disabled: cache directory {{.Dir}} is unusable ({{.Problem}}); every query reads the archives directly.</p>
{{else if .Dir}}<p>Column tables in {{.Dir}}: {{.Loaded}} loaded, {{.Built}} built, {{.Failed}} failed, {{.Prefixes}} prefix tables ({{.Extended}} built or extended).</p>
<p id="builder">Table builder: {{.Pending}} build{{if ne .Pending 1}}s{{end}} queued or under way{{if .Throttled}}, slowed to a quarter while queries read archives that have no table{{end}}; {{$.NoTable}} of {{$.Archives}} archives{{if $.Filter}} shown{{end}} have no table yet{{if $.Prefix}}; {{$.Prefix}} with a prefix table, the newest of {{if eq $.Prefix 1}}a{{else}}each{{end}} host{{end}}.</p>
<p id="backlog">Background indexing: {{with .Backlog}}{{if .Archives}}{{.Archives}} closed archive{{if ne .Archives 1}}s{{end}} ({{mib .Bytes}}) still to look at, newest first per host{{if gt .Rate 0.0}}, at {{mib .Rate}}/s: about {{secs .ETA}} to go{{end}}{{else}}every closed archive looked at{{end}}; {{.Built}} table{{if ne .Built 1}}s{{end}} built{{end}}; {{.Promoted}} from the prefix table of a day this server saw written, {{.Joined}} joined from the tables of the pieces pmlogextract merged. Tables take {{mib .Bytes}}{{if .MaxBytes}} of at most {{mib .MaxBytes}} ({{.Evicted}} least recently used removed){{end}}.</p>
{{else}}<p>Column tables off (no cache directory).</p>
{{end}}{{end}}
<form method="get" action=""><label>Hosts containing <input name="host" value="{{.Filter}}" size="20"></label> <button>show</button>{{if .Filter}} <a href="?">all hosts</a>{{end}}
{{if .PerHost}}· each row on its host's span (<a href="?host={{.Filter}}">common axis</a>){{else}}· common axis (<a href="?host={{.Filter}}&amp;axis=host">each host's span</a>){{end}}</form>
<div class="legend">
<span><svg width="22" height="10"><rect class="archive complete" width="22" height="10"/></svg>column table</span>
<span><svg width="22" height="10"><rect class="archive prefix" width="22" height="10"/></svg>prefix table (newest)</span>
<span><svg width="22" height="10"><rect class="archive no-table" width="22" height="10"/></svg>no table yet</span>
<span><svg width="22" height="10"><rect class="archive some-tables" width="22" height="10"/></svg>thin archives, some with a table</span>
<span><svg width="22" height="10"><rect class="archive problem" width="22" height="10"/></svg>problem</span>
<span><svg width="22" height="10"><rect class="overlap" width="22" height="10"/></svg>overlap</span>
<span><svg width="22" height="10"><rect class="gap" width="22" height="10"/></svg>gap ≥ {{.MinGap}}</span>
<span><svg width="22" height="10"><path class="marks" d="M11.5 2v8"/></svg>boundary mark</span>
</div>
{{.Defs}}
{{if .Rows}}<table class="timelines" id="timelines">
{{if .Ticks}}<tr><td></td><td><svg class="axis" width="{{.Width}}" height="18" viewBox="0 0 {{.Width}} 18">{{range .Ticks}}<line class="tickline" x1="{{.X}}" y1="14" x2="{{.X}}" y2="18"/><text x="{{.X}}" y="11" text-anchor="middle">{{.Label}}</text>{{end}}</svg></td><td class="sum muted">{{.AxisFrom}} to {{.AxisTo}}</td></tr>
{{end}}{{range .Rows}}<tr class="row"><td class="host"><a href="#{{.ID}}" title="{{.H.Host}}">{{.H.Host}}</a></td><td>{{.SVG}}</td>
<td class="sum">{{.Archives}} archive{{if ne .Archives 1}}s{{end}} · {{.Complete}} table{{if ne .Complete 1}}s{{end}}{{if .Prefix}} + {{.Prefix}} prefix{{end}}{{if .Queued}} · {{.Queued}} queued{{end}}{{if .GapCount}} · {{.GapCount}} gap{{if ne .GapCount 1}}s{{end}} ({{if gt .GapCount 1}}longest {{end}}{{.LongestGap}}){{end}}{{if .H.OverlapCount}} · <span class="warn overlap-note" title="{{.OverlapNote}}">{{.H.OverlapCount}} overlap{{if ne .H.OverlapCount 1}}s{{end}}</span>{{end}}{{if .Problems}} · <span class="bad">{{.Problems}} problem{{if ne .Problems 1}}s{{end}}</span>{{end}}{{if $.PerHost}}<br><span class="muted">{{.Span}}</span>{{end}}</td></tr>
{{end}}</table>
{{if or .Prev .Next}}<nav class="pages">hosts {{.First}}–{{.Last}} of {{.Matched}}{{if .Prev}} · <a rel="prev" href="{{.Prev}}">previous</a>{{end}}{{if .Next}} · <a rel="next" href="{{.Next}}">next</a>{{end}}</nav>{{end}}
<h2>Archives</h2>
{{range .Rows}}<details id="{{.ID}}"{{if .Open}} open{{end}}><summary><b>{{.H.Host}}</b> · {{ts .H.Start}} to {{ts .H.End}} · {{.Archives}} archives</summary>
<table class="paths"><tr><th>archive</th><th>v</th><th>volumes</th><th>start</th><th>end (known)</th><th>table</th><th>problem</th></tr>
{{.Rows}}</table>
{{range .H.Overlaps}}<p class="bad overlap-pair">overlap: {{.First}} and {{.Second}}</p>{{end}}{{if gt .H.OverlapCount (len .H.Overlaps)}}<p class="bad">and {{sub .H.OverlapCount (len .H.Overlaps)}} more overlapping pairs</p>{{end}}
</details>
{{end}}{{else if .Filter}}<p>No host matches “{{.Filter}}”.</p>{{else}}<p>No archives found yet.</p>{{end}}
{{if .St.Skipped}}<h2>Skipped</h2><table class="paths"><tr><th>path</th><th>reason</th></tr>
{{range .St.Skipped}}<tr><td>{{.Path}}</td><td class="bad">{{.Reason}}</td></tr>{{end}}</table>{{end}}
</body></html>
`))

// fmtMiB writes a byte count (or rate) in MiB, or GiB from 10 GiB up.
func fmtMiB(n any) string {
	var v float64
	switch x := n.(type) {
	case int64:
		v = float64(x)
	case float64:
		v = x
	case int:
		v = float64(x)
	}
	if v >= 10<<30 {
		return strconv.FormatFloat(v/(1<<30), 'f', 1, 64) + " GiB"
	}
	return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB"
}

// fmtSeconds writes a duration in seconds as Go does, to the second.
func fmtSeconds(s float64) string {
	return (time.Duration(s) * time.Second).Round(time.Second).String()
}
