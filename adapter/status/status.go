package status

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// StatusSource is what the status page and the archive metrics read.
type StatusSource interface {
	Status() multiarchive.Status
}

// NewStatusHandler serves the archive sets' status: JSON at any path when
// the client asks for JSON (or ?format=json), otherwise an HTML page with
// each host's timeline (status_page.go).
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
		// A failed write means the client went away; nothing to do.
		_ = renderStatusPage(w, &st, r.URL.Query())
	})
}

// SetCollector exports the archive sets' figures on /metrics.
type SetCollector struct {
	src                              StatusSource
	hosts, archives, skipped, probs  *prometheus.Desc
	overlaps, cacheN, cacheB         *prometheus.Desc
	hits, misses, evictions, scanned *prometheus.Desc
	lowest                           *prometheus.Desc
	backlogN, backlogB, backlogRate  *prometheus.Desc
	backlogETA, tableBytes, evicted  *prometheus.Desc
	promoted                         *prometheus.Desc
	joined                           *prometheus.Desc
}

// NewSetCollector returns a collector over src.
func NewSetCollector(src StatusSource) *SetCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(adapter.MetricsNamespace+"_"+name, help, nil, nil)
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
		// Prometheus' name, not ours: a Thanos sidecar reads the lowest
		// time its store can answer for from this metric of the server's
		// /metrics (docs/remote-read-protocol.md §14).
		backlogN:    d("table_backlog_archives", "Closed archives the background indexer has still to look at (some may have a table already)."),
		backlogB:    d("table_backlog_bytes", "Size on disk of the files of those archives."),
		backlogRate: d("table_backlog_rate_bytes_per_second", "Bytes of archive the background indexer reads per second of building (0 until it built a table)."),
		backlogETA:  d("table_backlog_eta_seconds", "Time the backlog takes at that rate (0 until the indexer built a table)."),
		tableBytes:  d("table_dir_bytes", "Total size of the column tables in --cache.dir at the last check."),
		evicted:     d("tables_evicted_total", "Column tables removed, least recently used first, to keep --cache.dir within --cache.dir-size."),
		promoted:    d("tables_promoted_total", "Whole tables made from the prefix table of an archive this server saw written (its records not read again)."),
		joined:      d("tables_joined_total", "Whole tables joined from the tables of the archives pmlogextract merged into their archive (its records not read)."),
		lowest: prometheus.NewDesc("prometheus_tsdb_lowest_timestamp_seconds",
			"Start of the earliest archive served (absent before the first archive is found).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *SetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hosts, c.archives, c.skipped, c.probs, c.overlaps, c.cacheN, c.cacheB, c.hits, c.misses, c.evictions, c.scanned, c.lowest,
		c.backlogN, c.backlogB, c.backlogRate, c.backlogETA, c.tableBytes, c.evicted, c.promoted, c.joined} {
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
	if tb := st.Tables; tb.Dir != "" && tb.Problem == "" {
		g(c.backlogN, float64(tb.Backlog.Archives))
		g(c.backlogB, float64(tb.Backlog.Bytes))
		g(c.backlogRate, tb.Backlog.Rate)
		g(c.backlogETA, tb.Backlog.ETA)
		g(c.tableBytes, float64(tb.Bytes))
		k(c.evicted, float64(tb.Evicted))
		k(c.promoted, float64(tb.Promoted))
		k(c.joined, float64(tb.Joined))
	}
	if lowest, ok := lowestStart(st.Hosts); ok {
		// Milliseconds, floored as every timestamp we serve, in seconds
		// as Prometheus reports its own.
		g(c.lowest, float64(lowest.UnixMilli())/1e3)
	}
}

// lowestStart is the earliest start of the hosts' archives.
func lowestStart(hosts []multiarchive.HostStatus) (time.Time, bool) {
	var lowest time.Time
	found := false
	for _, h := range hosts {
		if len(h.Archives) == 0 {
			continue
		}
		if !found || h.Start.Before(lowest) {
			lowest, found = h.Start, true
		}
	}
	return lowest, found
}
