package remoteread

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// External labels (--external-label) name this server as a whole, the way
// a Prometheus' global external_labels do: a Thanos sidecar requires some,
// and thanos query tells its stores apart by them. A remote-read answer
// carries them on every series, as Prometheus' own read handler does, so
// they take part in the series' order and identity.
//
// Matchers on an external label's name are decided by its value, once per
// query: a query whose matcher the value fails selects nothing, and the
// matchers the value passes are dropped before the storage sees them (the
// archives know nothing of these labels, and an absent label would match
// only ""). This is how a Thanos sidecar treats them; Prometheus drops
// only equality matchers. An external label replaces a series label of the
// same name, so what a matcher was decided on is what the series shows
// (docs/remote-read-protocol.md §14).

// externalMatchers splits ms into the matchers the storage is to apply.
// ok is false when an external label fails its matcher: the query selects
// nothing. When every matcher named an external label, the rest is one
// matcher selecting every series, which is what the client asked for.
func externalMatchers(ms []*labels.Matcher, ext labels.Labels) (rest []*labels.Matcher, ok bool) {
	if ext.IsEmpty() {
		return ms, true
	}
	rest = make([]*labels.Matcher, 0, len(ms))
	for _, m := range ms {
		if !ext.Has(m.Name) {
			rest = append(rest, m)
			continue
		}
		if !m.Matches(ext.Get(m.Name)) {
			return nil, false
		}
	}
	if len(rest) == 0 {
		rest = append(rest, labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	}
	return rest, true
}

// withExternal returns lset with the external labels set on it.
func withExternal(b *labels.Builder, lset, ext labels.Labels) labels.Labels {
	if ext.IsEmpty() {
		return lset
	}
	b.Reset(lset)
	ext.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
	return b.Labels()
}
