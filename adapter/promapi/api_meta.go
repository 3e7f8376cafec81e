package promapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// metricMetadata is /api/v1/metadata: per metric name, the distinct
// (type, help, unit) of its PCP descriptors (translate.Storage.Metadata).
// limit caps the metric names and limit_per_metric the entries of each,
// as in Prometheus: a negative or missing value means no limit, and
// limit=0 answers no metric at all (Prometheus' own behaviour; Grafana
// sends its series limit, 40000 by default). Prometheus picks the metrics
// in map order; here they are the first by name.
func (a *api) metricMetadata(r *http.Request) apiResult {
	limit := -1
	if s := r.FormValue("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil {
			return apiResult{err: badData(errors.New("limit must be a number"))}
		}
	}
	limitPerMetric := -1
	if s := r.FormValue("limit_per_metric"); s != "" {
		var err error
		if limitPerMetric, err = strconv.Atoi(s); err != nil {
			return apiResult{err: badData(errors.New("limit_per_metric must be a number"))}
		}
	}
	mds, warns, err := a.metadata.Metadata(r.Context(), r.FormValue("metric"))
	if err != nil {
		return apiResult{err: engineError(classifyStorage(err)), warns: warns}
	}
	out := metadataMap{}
	for _, md := range mds {
		n := len(out)
		if n > 0 && out[n-1].name == md.Name {
			if limitPerMetric <= 0 || len(out[n-1].entries) < limitPerMetric {
				out[n-1].entries = append(out[n-1].entries, md)
			}
			continue
		}
		if limit >= 0 && len(out) >= limit {
			break
		}
		out = append(out, metadataEntry{name: md.Name, entries: []translate.MetricMetadata{md}})
	}
	return apiResult{data: out, warns: warns}
}

// metadataMap is {"name":[{"type":…,"help":…,"unit":…}],…}, in name order.
type metadataMap []metadataEntry

type metadataEntry struct {
	name    string
	entries []translate.MetricMetadata
}

func (m metadataMap) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, e := range m {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e.name)
		b = append(b, ':', '[')
		for j, md := range e.entries {
			if j > 0 {
				b = append(b, ',')
			}
			// metadata.Metadata's field order.
			b = append(b, `{"type":`...)
			b = appendString(b, md.Type)
			b = append(b, `,"unit":`...)
			b = appendString(b, md.Unit)
			b = append(b, `,"help":`...)
			b = appendString(b, md.Help)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// buildInfo is /api/v1/status/buildinfo. Grafana reads it on "Save &
// test" and "Detect version"; it has no "features" key
// (docs/remote-read-protocol.md §13.1).
func (a *api) buildInfo(*http.Request) apiResult {
	return apiResult{data: jsonMarshal{a.opts.BuildInfo}}
}

// config is /api/v1/status/config: a Prometheus configuration (YAML in
// "data.yaml") with only the external labels in it. A Thanos sidecar reads
// them from here, requires at least one, and rereads them as a heartbeat
// (docs/remote-read-protocol.md §14).
func (a *api) config(*http.Request) apiResult {
	var b strings.Builder
	if a.opts.ExternalLabels.IsEmpty() {
		b.WriteString("global: {}\n")
	} else {
		b.WriteString("global:\n  external_labels:\n")
		a.opts.ExternalLabels.Range(func(l labels.Label) {
			// A JSON string is a YAML double-quoted scalar; quoting the
			// name too keeps names like "on" or "y" from being read as
			// YAML 1.1 booleans.
			fmt.Fprintf(&b, "    %s: %s\n", yamlQuote(l.Name), yamlQuote(l.Value))
		})
	}
	return apiResult{data: jsonMarshal{struct {
		YAML string `json:"yaml"`
	}{b.String()}}}
}

func yamlQuote(s string) string {
	q, _ := json.Marshal(s) // a string always marshals
	return string(q)
}

// flags is /api/v1/status/flags: every flag's value, by name without
// dashes, as Prometheus gives its own.
func (a *api) flags(*http.Request) apiResult {
	flags := a.opts.Flags
	if flags == nil {
		flags = map[string]string{}
	}
	return apiResult{data: jsonMarshal{flags}}
}

// runtimeInfo is /api/v1/status/runtimeinfo with the fields Prometheus
// has; those about its TSDB and configuration are constant here.
func (a *api) runtimeInfo(*http.Request) apiResult {
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	info := struct {
		StartTime           time.Time `json:"startTime"`
		CWD                 string    `json:"CWD"`
		Hostname            string    `json:"hostname"`
		ServerTime          time.Time `json:"serverTime"`
		ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
		LastConfigTime      time.Time `json:"lastConfigTime"`
		CorruptionCount     int64     `json:"corruptionCount"`
		GoroutineCount      int       `json:"goroutineCount"`
		GOMAXPROCS          int       `json:"GOMAXPROCS"`
		GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
		GOGC                string    `json:"GOGC"`
		GODEBUG             string    `json:"GODEBUG"`
		StorageRetention    string    `json:"storageRetention"`
	}{
		StartTime:           a.started,
		CWD:                 cwd,
		Hostname:            host,
		ServerTime:          a.opts.Now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      a.started,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
		StorageRetention:    "archives on disk",
	}
	return apiResult{data: jsonMarshal{info}}
}

// rules and alerts answer Grafana's alerting pages, which list the rules
// of every Prometheus data source that has "Manage alerts via Alerting
// UI" on: there are none here.
func (a *api) rules(*http.Request) apiResult {
	return apiResult{data: rawJSON(`{"groups":[]}`)}
}

func (a *api) alerts(*http.Request) apiResult {
	return apiResult{data: rawJSON(`{"alerts":[]}`)}
}
