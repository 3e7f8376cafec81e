package translate

import (
	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// pcpLabels holds the merged PCP labels of one metric in one archive, and
// the per-instance label sets of its instance domain.
type pcpLabels struct {
	base  map[string]string             // context..item levels merged
	insts map[int32][]archive.MetaLabel // INSTANCES level by instance
}

// labelCache computes pcpLabels once per (archive, metric) in a query.
type labelCache struct {
	byMetric map[labelKey]*pcpLabels
	agent    bool // merge the domain and cluster levels too (Options.AgentLabels)
}

type labelKey struct {
	meta *archive.Meta
	pmid archive.PMID
}

func newLabelCache(agent bool) *labelCache {
	return &labelCache{byMetric: map[labelKey]*pcpLabels{}, agent: agent}
}

// latest is the time at which label sets are taken: the newest of each in
// the archive. PCP label sets rarely change within an archive, and taking
// one state per archive keeps a series' identity stable through it.
const latest = int64(^uint64(0) >> 1)

// credentialLabels are the context labels pmcd adds from the client's
// credentials when the client connects over a Unix socket (pmlogger's
// local: default; PCP 6 flags them optional, older versions did not): they
// describe pmlogger's connection, not the host, and pmproxy's TCP
// connection never has them.
var credentialLabels = map[string]bool{"groupid": true, "userid": true}

// get merges a metric's labels as pmproxy's /metrics does (6.0.x:
// openmetrics.c, open_metrics_labels over the sets webgroup.c's scrape
// fetches), so that a series has the label set a pmproxy scrape of the
// same pmcd gives it: context, indom, item, then instance, later levels
// winning; optional labels are kept, but not the credential labels above.
// The domain and cluster levels (agent="linux") are merged only with
// agent set: pmproxy fetches them from 6.2.2 on.
func (c *labelCache) get(m *archive.Meta, d *archive.Desc) *pcpLabels {
	k := labelKey{m, d.PMID}
	if l, ok := c.byMetric[k]; ok {
		return l
	}
	l := &pcpLabels{base: map[string]string{}}
	merge := func(sets []archive.LabelSet, context bool) {
		for _, s := range sets {
			for _, ml := range s.Labels {
				if context && credentialLabels[ml.Name] {
					continue
				}
				l.base[LabelName(ml.Name)] = LabelValue(ml.Value)
			}
		}
	}
	merge(m.LabelSets(archive.LabelContext, 0xffffffff, latest), true)
	if c.agent {
		merge(m.LabelSets(archive.LabelDomain, d.PMID.Domain(), latest), false)
	}
	if d.InDom != archive.InDomNull {
		merge(m.LabelSets(archive.LabelInDom, uint32(d.InDom), latest), false)
	}
	if c.agent {
		merge(m.LabelSets(archive.LabelCluster, uint32(d.PMID)&^0x3ff, latest), false)
	}
	merge(m.LabelSets(archive.LabelItem, uint32(d.PMID), latest), false)
	if d.InDom != archive.InDomNull {
		for _, s := range m.LabelSets(archive.LabelInstances, uint32(d.InDom), latest) {
			if l.insts == nil {
				l.insts = map[int32][]archive.MetaLabel{}
			}
			l.insts[s.Inst] = s.Labels
		}
	}
	c.byMetric[k] = l
	return l
}
