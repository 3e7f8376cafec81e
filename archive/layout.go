package archive

// setLayout decides, for the value set at each position of a record, whether
// the reader keeps it and which descriptor it has. pmlogger writes the same
// metrics in the same order record after record, so it remembers the last
// PMID seen at each position: a record laid out like the one before costs
// one compare per set instead of two map lookups. It serves one Record: a
// record decoded by a remembered layout (same) shows that layout's buffers.
type setLayout struct {
	want  map[PMID]struct{} // nil keeps every set
	meta  *Meta             // nil: no descriptors (records decoded alone)
	slots []layoutSlot
	same  sameCache // layouts of the last records, for the next ones
}

type layoutSlot struct {
	pmid  PMID
	known bool
	keep  bool
	desc  *Desc
}

// maxLayoutSlots bounds the memory the layout takes: a hostile record can
// claim a set count as large as its length allows. Positions past it are
// looked up every time.
const maxLayoutSlots = 1 << 14

// at returns what to do with PMID p found at position i of a record.
func (l *setLayout) at(i int, p PMID) (keep bool, d *Desc) {
	if i < len(l.slots) && l.slots[i].pmid == p && l.slots[i].known {
		return l.slots[i].keep, l.slots[i].desc
	}
	return l.lookup(i, p)
}

func (l *setLayout) lookup(i int, p PMID) (keep bool, d *Desc) {
	keep = true
	if l.want != nil {
		_, keep = l.want[p]
	}
	if l.meta != nil {
		d, _ = l.meta.Desc(p)
	}
	if i >= maxLayoutSlots || (l.meta != nil && d == nil) {
		// A PMID without a descriptor is not remembered: a later
		// Refresh of the archive may bring one.
		return keep, d
	}
	for i >= len(l.slots) {
		l.slots = append(l.slots, layoutSlot{})
	}
	l.slots[i] = layoutSlot{pmid: p, known: true, keep: keep, desc: d}
	return keep, d
}
