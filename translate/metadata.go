package translate

import (
	"context"
	"fmt"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// MetricMetadata is what the Prometheus metadata API reports about one
// metric name: a PCP descriptor and help text in Prometheus terms.
type MetricMetadata struct {
	Name string // Prometheus metric name
	// Type is "counter" for PCP counter semantics and "gauge" for
	// instantaneous and discrete values.
	Type string
	// Help is PCP's one-line help text, or its long help text when the
	// archive has no one-line text; often empty (pmi-written archives
	// carry no help at all).
	Help string
	// Unit is PCP's units string as pmUnitsStr writes it ("Kbyte",
	// "millisec", "count / sec"), empty for dimensionless metrics. Values
	// are served in these native units, so this is where a user learns
	// them; Prometheus' own convention (a base unit that is also the name's
	// suffix) does not apply to PCP names.
	Unit string
}

// Metadata lists the metadata of the numeric metrics of every host, as the
// archives holding each host's newest data describe them: a metadata
// request has no time range, and reading the descriptors of every archive
// of every host would cycle the whole set through the metadata cache on
// each call. A metric logged only in older archives therefore has no
// metadata (Grafana then shows no type or help for it), and so has a
// metric that has no value in those archives: the archives describe every
// metric pmlogger was asked for, also those that never had a value, which
// pmproxy leaves out too. A non-empty metric restricts the answer to that
// Prometheus name.
//
// The result is sorted by name, then type, help and unit, without
// duplicates; a name has more than one entry only when hosts (or PCP
// names colliding on one Prometheus name) disagree.
func (s *Storage) Metadata(ctx context.Context, metric string) ([]MetricMetadata, annotations.Annotations, error) {
	var warns annotations.Annotations
	seen := map[MetricMetadata]bool{}
	var out []MetricMetadata
	for _, tl := range s.set.Hosts() {
		if err := ctx.Err(); err != nil {
			return nil, warns, err
		}
		_, end := tl.Span()
		opened, errs := tl.Open(end, end)
		for _, err := range errs {
			warns.Add(fmt.Errorf("archive skipped: %w", err))
		}
		if len(opened) == 0 {
			continue
		}
		ns := s.namespaces.get(opened).ns
		present, pwarns, err := s.presentNames(ctx, tl.Host, opened, metric)
		warns.Merge(pwarns)
		if err != nil {
			return nil, warns, err
		}
		for _, n := range ns.Names() {
			prom := MetricName(n)
			if metric != "" && prom != metric || !present[prom] {
				continue
			}
			pmid, _ := ns.Lookup(n)
			d, ok := ns.Desc(pmid)
			if !ok || !d.Type.Numeric() {
				continue // not served as samples, so not a Prometheus metric
			}
			md := MetricMetadata{Name: prom, Type: "gauge", Unit: d.Units.String()}
			if d.Sem == archive.SemCounter {
				md.Type = "counter"
			}
			oneline, help := ns.Text(pmid)
			md.Help = oneline
			if md.Help == "" {
				md.Help = help
			}
			if !seen[md] {
				seen[md] = true
				out = append(out, md)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Name != b.Name:
			return a.Name < b.Name
		case a.Type != b.Type:
			return a.Type < b.Type
		case a.Help != b.Help:
			return a.Help < b.Help
		}
		return a.Unit < b.Unit
	})
	return out, warns, nil
}

// presentNames is the Prometheus names that have a value in a host's
// opened archives, by the rule of the series lookups (keepPresent).
func (s *Storage) presentNames(ctx context.Context, host string, opened []multiarchive.Opened, metric string) (map[string]bool, annotations.Annotations, error) {
	// From the first of them on: the newest archive may have grown
	// past its known end.
	start := opened[0].Entry.Start
	for _, o := range opened[1:] {
		start = min(start, o.Entry.Start)
	}
	name := labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+")
	if metric != "" {
		name = labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, metric)
	}
	q := &querier{s: s, mint: floorMs(start), maxt: msBound}
	ss, err := q.gather(ctx, &storage.SelectHints{Start: floorMs(start), End: msBound, Func: "series"},
		[]*labels.Matcher{name, labels.MustNewMatcher(labels.MatchEqual, LabelHostname, host)})
	if err != nil {
		return nil, nil, err
	}
	out := map[string]bool{}
	for _, sr := range ss.series {
		out[sr.lset.Get(model.MetricNameLabel)] = true
	}
	return out, ss.warns, nil
}
