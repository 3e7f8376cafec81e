package translate

import (
	"sync"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/pmns"
)

// nsCacheSize is how many merged namespaces are kept: a dashboard's
// queries reuse a few (one per host and range of archives), and merging
// one costs more than the rest of a short query.
const nsCacheSize = 16

// nsCache keeps the merged namespaces of recent queries, with the index
// from Prometheus names to PCP names that selectMetrics builds on them.
// An entry is used only for the same archives' metadata, unchanged since
// (its size is the same); the entry holds the metadata, so the pointers
// it compares cannot be reused by other metadata while it exists.
type nsCache struct {
	mu      sync.Mutex
	entries []*nsEntry // least recently used first
}

type nsEntry struct {
	metas  []*archive.Meta
	sizes  []int64
	bases  []string
	ns     *pmns.Namespace
	byProm map[string][]string // Prometheus name -> PCP names, sorted as ns.Names
}

func (e *nsEntry) matches(opened []multiarchive.Opened) bool {
	if len(e.metas) != len(opened) {
		return false
	}
	for i, o := range opened {
		m := o.Archive.Meta
		if e.metas[i] != m || e.sizes[i] != m.Size() || e.bases[i] != o.Entry.Files.Base {
			return false
		}
	}
	return true
}

// get returns the namespace of the opened archives, merging it if no
// entry matches. Entries are read-only once made.
func (c *nsCache) get(opened []multiarchive.Opened) *nsEntry {
	c.mu.Lock()
	for i, e := range c.entries {
		if e.matches(opened) {
			// Move it to the end, the most recently used.
			copy(c.entries[i:], c.entries[i+1:])
			c.entries[len(c.entries)-1] = e
			c.mu.Unlock()
			return e
		}
	}
	c.mu.Unlock()
	e := newNSEntry(opened)
	c.mu.Lock()
	if n := len(c.entries); n >= nsCacheSize {
		copy(c.entries, c.entries[1:])
		c.entries = c.entries[:n-1]
	}
	c.entries = append(c.entries, e)
	c.mu.Unlock()
	return e
}

func newNSEntry(opened []multiarchive.Opened) *nsEntry {
	e := &nsEntry{
		metas: make([]*archive.Meta, len(opened)),
		sizes: make([]int64, len(opened)),
		bases: make([]string, len(opened)),
	}
	srcs := make([]pmns.Source, len(opened))
	for i, o := range opened {
		m := o.Archive.Meta
		e.metas[i], e.sizes[i], e.bases[i] = m, m.Size(), o.Entry.Files.Base
		srcs[i] = pmns.Source{Name: o.Entry.Files.Base, Meta: m}
	}
	e.ns = pmns.New(srcs...)
	e.byProm = make(map[string][]string, len(e.ns.Names()))
	for _, n := range e.ns.Names() {
		p := MetricName(n)
		e.byProm[p] = append(e.byProm[p], n)
	}
	return e
}
