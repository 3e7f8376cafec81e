package adapter

import (
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// StatusSource is what the status page and the archive metrics read.
type StatusSource interface {
	Status() multiarchive.Status
}

// NewStatusHandler serves the archive sets' status: JSON at any path when
// the client asks for JSON (or ?format=json), otherwise a small HTML page.
func NewStatusHandler(src StatusSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := src.Status()
		if r.URL.Query().Get("format") == "json" || r.Header.Get("Accept") == "application/json" {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			// A failed write means the client went away; nothing to do.
			_ = enc.Encode(st)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = statusPage.Execute(w, st)
	})
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"ts": func(t time.Time) string { return t.Format("2006-01-02 15:04:05Z") },
}).Parse(`<!doctype html>
<html><head><title>pcp-remote-read</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}.bad{color:#b00}</style>
</head><body>
<h1>pcp-remote-read</h1>
<p><a href="/metrics">/metrics</a> · <a href="/status?format=json">status as JSON</a> · remote read at <code>/api/v1/read</code></p>
<p>Last scan {{ts .Scanned}}. Cache: {{.Cache.Archives}} archives, {{.Cache.Bytes}} bytes, {{.Cache.Hits}} hits, {{.Cache.Misses}} misses.</p>
{{with .Tables}}{{if .Problem}}<p class="bad">Column tables disabled: cache directory {{.Dir}} is unusable ({{.Problem}}); every query reads the archives directly.</p>
{{else if .Dir}}<p>Column tables in {{.Dir}}: {{.Loaded}} loaded, {{.Built}} built, {{.Failed}} failed, {{.Prefixes}} prefix tables ({{.Extended}} built or extended).</p>
{{else}}<p>Column tables off (no cache directory).</p>
{{end}}{{end}}{{range .Hosts}}
<h2>{{.Host}}</h2>
<p>{{ts .Start}} to {{ts .End}}</p>
<table><tr><th>archive</th><th>v</th><th>volumes</th><th>start</th><th>end (known)</th><th>problem</th></tr>
{{range .Archives}}<tr><td>{{.Path}}</td><td>{{.Version}}</td><td>{{.Volumes}}</td><td>{{ts .Start}}</td><td>{{ts .End}}</td><td class="bad">{{.Problem}}</td></tr>
{{end}}</table>
{{range .Overlaps}}<p class="bad">overlap: {{.First}} and {{.Second}}</p>{{end}}
{{else}}<p>No archives found yet.</p>{{end}}
{{if .Skipped}}<h2>Skipped</h2><table><tr><th>path</th><th>reason</th></tr>
{{range .Skipped}}<tr><td>{{.Path}}</td><td class="bad">{{.Reason}}</td></tr>{{end}}</table>{{end}}
</body></html>
`))

// SetCollector exports the archive sets' figures on /metrics.
type SetCollector struct {
	src                              StatusSource
	hosts, archives, skipped, probs  *prometheus.Desc
	overlaps, cacheN, cacheB         *prometheus.Desc
	hits, misses, evictions, scanned *prometheus.Desc
}

// NewSetCollector returns a collector over src.
func NewSetCollector(src StatusSource) *SetCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(metricsNamespace+"_"+name, help, nil, nil)
	}
	return &SetCollector{
		src:       src,
		hosts:     d("hosts", "Hosts (timelines) known."),
		archives:  d("archives", "Archives known."),
		skipped:   d("archives_skipped", "Paths or archives skipped at the last scan (unreadable, corrupt, not archives)."),
		probs:     d("archives_failed", "Archives that failed when read after discovery."),
		overlaps:  d("archive_overlaps", "Pairs of archives of one host whose time ranges overlap."),
		cacheN:    d("cache_archives", "Archives whose metadata is held in the cache."),
		cacheB:    d("cache_bytes", "Size of the cached archives' metadata files."),
		hits:      d("cache_hits_total", "Archive cache hits."),
		misses:    d("cache_misses_total", "Archive cache misses (archive metadata loaded)."),
		evictions: d("cache_evictions_total", "Archives evicted from the cache."),
		scanned:   d("last_scan_timestamp_seconds", "Time of the last scan of the archive paths."),
	}
}

// Describe implements prometheus.Collector.
func (c *SetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hosts, c.archives, c.skipped, c.probs, c.overlaps, c.cacheN, c.cacheB, c.hits, c.misses, c.evictions, c.scanned} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *SetCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	var archives, problems, overlaps int
	for _, h := range st.Hosts {
		archives += len(h.Archives)
		overlaps += h.OverlapCount // Overlaps lists only the first ones
		for _, a := range h.Archives {
			if a.Problem != "" {
				problems++
			}
		}
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.hosts, float64(len(st.Hosts)))
	g(c.archives, float64(archives))
	g(c.skipped, float64(len(st.Skipped)))
	g(c.probs, float64(problems))
	g(c.overlaps, float64(overlaps))
	g(c.cacheN, float64(st.Cache.Archives))
	g(c.cacheB, float64(st.Cache.Bytes))
	k(c.hits, float64(st.Cache.Hits))
	k(c.misses, float64(st.Cache.Misses))
	k(c.evictions, float64(st.Cache.Evictions))
	g(c.scanned, float64(st.Scanned.UnixNano())/1e9)
}
