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
}

type labelKey struct {
	meta *archive.Meta
	pmid archive.PMID
}

func newLabelCache() *labelCache { return &labelCache{byMetric: map[labelKey]*pcpLabels{}} }

// latest is the time at which label sets are taken: the newest of each in
// the archive. PCP label sets rarely change within an archive, and taking
// one state per archive keeps a series' identity stable through it.
const latest = int64(^uint64(0) >> 1)

func (c *labelCache) get(m *archive.Meta, d *archive.Desc) *pcpLabels {
	k := labelKey{m, d.PMID}
	if l, ok := c.byMetric[k]; ok {
		return l
	}
	l := &pcpLabels{base: map[string]string{}}
	merge := func(sets []archive.LabelSet) {
		for _, s := range sets {
			for _, ml := range s.Labels {
				l.base[LabelName(ml.Name)] = LabelValue(ml.Value)
			}
		}
	}
	// Later levels override earlier ones: context, domain, indom, cluster,
	// item, then instance (as pmproxy merges them).
	merge(m.LabelSets(archive.LabelContext, 0xffffffff, latest))
	merge(m.LabelSets(archive.LabelDomain, d.PMID.Domain(), latest))
	if d.InDom != archive.InDomNull {
		merge(m.LabelSets(archive.LabelInDom, uint32(d.InDom), latest))
	}
	merge(m.LabelSets(archive.LabelCluster, uint32(d.PMID)&^0x3ff, latest))
	merge(m.LabelSets(archive.LabelItem, uint32(d.PMID), latest))
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
