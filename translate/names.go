// Package translate maps PCP archives onto Prometheus' data model and
// implements the one storage.Querier that both front ends (remote read and
// the PromQL API) use.
//
// Naming follows PCP's own /metrics exporter (pmproxy): the metric name is
// the PCP name with every "." replaced by "_"; labels are the merged PCP
// label hierarchy (context, domain, indom, cluster, item, instance) with
// "hostname" always set, and "instname"/"instid" for metrics with an
// instance domain.
package translate

import (
	"encoding/json"
	"strings"
)

// Label names this package sets itself.
const (
	LabelHostname = "hostname"
	LabelInstName = "instname"
	LabelInstID   = "instid"
	// LabelPCPName tells apart PCP metrics whose names map to the same
	// Prometheus name (a.b_c and a_b.c both become a_b_c); it is only set
	// on such metrics.
	LabelPCPName = "pcp_name"
)

// MetricName maps a PCP metric name to its Prometheus name.
func MetricName(pcp string) string {
	return sanitize(strings.ReplaceAll(pcp, ".", "_"))
}

// LabelName makes a PCP label name valid in Prometheus' legacy charset
// [a-zA-Z_][a-zA-Z0-9_]*, which 2.x clients require: every other character
// becomes "_", and a leading digit gets a "_" prefix. Compound names (a.b)
// become a_b.
func LabelName(pcp string) string { return sanitize(pcp) }

func sanitize(s string) string {
	ok := s != ""
	for i := 0; i < len(s) && ok; i++ {
		c := s[i]
		ok = c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
	}
	if ok {
		return s
	}
	var b strings.Builder
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		b.WriteByte('_')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// LabelValue turns a PCP label value, a raw JSON token, into a Prometheus
// label value: strings lose their quotes and escapes; numbers, booleans,
// arrays and objects keep their JSON text; null is empty (no label).
func LabelValue(raw string) string {
	if raw == "null" {
		return ""
	}
	if len(raw) >= 2 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal([]byte(raw), &s); err == nil {
			return s
		}
		return raw[1 : len(raw)-1]
	}
	return raw
}
