package archive

import "sort"

// inDomRecord is one INDOM or INDOM_DELTA observation. For a delta, the
// entries listed in deleted are removals and the others are additions.
type inDomRecord struct {
	time    int64
	delta   bool
	insts   []int32
	names   []string
	deleted []int // indexes into insts
}

// InDomHistory is the time-versioned history of one instance domain. The
// state at time T is the observation with the largest timestamp <= T, with
// deltas applied on top of the state before them
// (docs/pcp-archive-format.md §5.5).
type InDomHistory struct {
	InDom InDom
	recs  []inDomRecord
}

// Instance is an instance id with its external name.
type Instance struct {
	ID   int32
	Name string
}

// Len is the number of observations.
func (h *InDomHistory) Len() int { return len(h.recs) }

// Size is how many instances the last observation lists (for a v3
// delta, how many it changes): an estimate of the domain's size.
func (h *InDomHistory) Size() int {
	if len(h.recs) == 0 {
		return 0
	}
	return len(h.recs[len(h.recs)-1].insts)
}

// Times returns the stamps of the observations, in order.
func (h *InDomHistory) Times() []int64 {
	ts := make([]int64, len(h.recs))
	for i, r := range h.recs {
		ts[i] = r.time
	}
	return ts
}

// NameAnyTime returns the name of an instance from the most recent
// observation that lists it, whatever the time (libpcp's pmNameInDomArchive).
func (h *InDomHistory) NameAnyTime(inst int32) (string, bool) {
	for i := len(h.recs) - 1; i >= 0; i-- {
		r := &h.recs[i]
		for j, id := range r.insts {
			if id == inst && !(r.delta && isDeleted(r, j)) {
				return r.names[j], true
			}
		}
	}
	return "", false
}

func isDeleted(r *inDomRecord, j int) bool {
	for _, d := range r.deleted {
		if d == j {
			return true
		}
	}
	return false
}

// All returns every instance that any observation lists, with its most
// recent name, sorted by id.
func (h *InDomHistory) All() []Instance {
	seen := map[int32]string{}
	for i := range h.recs {
		r := &h.recs[i]
		for j, id := range r.insts {
			if r.delta && isDeleted(r, j) {
				continue
			}
			seen[id] = r.names[j]
		}
	}
	out := make([]Instance, 0, len(seen))
	for id, n := range seen {
		out = append(out, Instance{id, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Resolver tracks the state of an instance domain as a reader moves through
// time. It is not safe for concurrent use; each reader makes its own.
type Resolver struct {
	h     *InDomHistory
	idx   int // observation the state reflects; -1 before the first
	state map[int32]string
}

// Resolver returns a resolver positioned before the first observation.
func (h *InDomHistory) Resolver() *Resolver {
	return &Resolver{h: h, idx: -1, state: map[int32]string{}}
}

// At moves the resolver to the state in force at time t and reports whether
// that state differs from the previous position's.
func (r *Resolver) At(t int64) bool {
	recs := r.h.recs
	want := sort.Search(len(recs), func(i int) bool { return recs[i].time > t }) - 1
	if want == r.idx {
		return false
	}
	start := r.idx + 1
	if want < r.idx {
		// Backwards: rebuild from the nearest full observation.
		start = 0
		clear(r.state)
	}
	for i := want; i > start; i-- {
		if !recs[i].delta {
			start = i
			break
		}
	}
	for i := start; i <= want; i++ {
		rec := &recs[i]
		if !rec.delta {
			clear(r.state)
		}
		d := 0
		for j, id := range rec.insts {
			if d < len(rec.deleted) && rec.deleted[d] == j {
				delete(r.state, id)
				d++
				continue
			}
			r.state[id] = rec.names[j]
		}
	}
	r.idx = want
	return true
}

// Name returns the name of an instance in the current state.
func (r *Resolver) Name(inst int32) (string, bool) {
	n, ok := r.state[inst]
	return n, ok
}

// Instances returns the current state sorted by instance id.
func (r *Resolver) Instances() []Instance {
	out := make([]Instance, 0, len(r.state))
	for id, n := range r.state {
		out = append(out, Instance{id, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
