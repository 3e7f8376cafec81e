package translate_test

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// TestLabelsAsPmproxy: a series has the label set pmproxy's /metrics gives
// it. sample-labels (PCP QA) has labels at every level: context
// (hostname, domainname, machineid, latitude, longitude and the credential
// labels groupid and userid), domain (agent, role), cluster, item, indom
// and instances. pmproxy 6.0 merges context, indom, item and instance, and
// has no credential labels on its TCP connection; from 6.2.2 it merges
// domain and cluster too (Options.AgentLabels).
func TestLabelsAsPmproxy(t *testing.T) {
	set := pcptest.OpenSet(t, multiarchive.Options{}, "../testdata/pcp-qa/sample-labels")
	base := map[string]string{"hostname": "shard", "domainname": "localdomain", "machineid": "295b16e3b6074cc8bdbda8bf96f6930a",
		"latitude": "-25.28496", "longitude": "152.87886"}
	with := func(extra map[string]string) labels.Labels {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return labels.FromMap(m)
	}
	for _, c := range []struct {
		agent bool
		name  string
		inst  string
		want  labels.Labels
	}{
		{false, "sample_colour", "red", with(map[string]string{"__name__": "sample_colour", "model": "RGB", "instname": "red", "instid": "0"})},
		{false, "sample_mirage", "m-01", with(map[string]string{"__name__": "sample_mirage", "transient": "true", "instname": "m-01", "instid": "1"})},
		{false, "sample_rapid", "", with(map[string]string{"__name__": "sample_rapid", "measure": "speed", "units": "metres per second", "unitsystem": "SI"})},
		{true, "sample_colour", "red", with(map[string]string{"__name__": "sample_colour", "model": "RGB", "instname": "red", "instid": "0",
			"agent": "sample", "role": "testing", "cluster": "zero"})},
		{true, "sample_rapid", "", with(map[string]string{"__name__": "sample_rapid", "measure": "speed", "units": "metres per second", "unitsystem": "SI",
			"agent": "sample", "role": "testing", "cluster": "zero"})},
	} {
		st := translate.New(set, translate.Options{AgentLabels: c.agent})
		q, _ := st.Querier(math.MinInt64, math.MaxInt64)
		ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", c.name)}
		if c.inst != "" {
			ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, "instname", c.inst))
		}
		ss := q.Select(context.Background(), false, nil, ms...)
		n := 0
		for ss.Next() {
			n++
			if got := ss.At().Labels(); !labels.Equal(got, c.want) {
				t.Errorf("agent %v: %s\n got %s\nwant %s", c.agent, c.name, got, c.want)
			}
		}
		if err := ss.Err(); err != nil || n != 1 {
			t.Errorf("agent %v: %s: %d series, %v", c.agent, c.name, n, err)
		}
	}
}
