// Package pmns is the merged namespace of a set of archives: metric names,
// PMIDs, descriptors, instance domains, label sets and help text, combined
// with libpcp's consistency rules for multi-archive contexts.
//
// libpcp fails a whole multi-archive context when a metric's type,
// semantics, instance domain or units change between archives
// (PM_ERR_LOGCHANGE*). A server cannot do that to a user's years of
// archives, so here the first archive (in the order they are added, which
// callers make time order) defines the metric, and a later archive that
// disagrees has its values of that metric excluded and reported.
package pmns

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// Source is one archive's metadata as added to a namespace.
type Source struct {
	Name string // for reports, e.g. the archive's base name
	Meta *archive.Meta
}

// Conflict says that one archive's descriptor of a metric disagrees with the
// namespace's: that archive's values of the metric are excluded.
type Conflict struct {
	Archive string
	PMID    archive.PMID
	Name    string // a name of the metric, for the report
	Reason  string // e.g. "units changed from "Kbyte" to "byte""
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s: metric %s (%s): %s; its values in this archive are not served", c.Archive, c.Name, c.PMID, c.Reason)
}

// DuplicateName says that a name is bound to two PMIDs; the first wins.
type DuplicateName struct {
	Archive     string
	Name        string
	Kept, Extra archive.PMID
}

func (d DuplicateName) String() string {
	return fmt.Sprintf("%s: name %s bound to %s and %s; %s is used", d.Archive, d.Name, d.Kept, d.Extra, d.Kept)
}

// Namespace is the merged namespace. It is built once and then only read,
// so it is safe for concurrent readers.
type Namespace struct {
	sources    []Source
	descs      map[archive.PMID]*archive.Desc
	owner      map[archive.PMID]int // source index that defined the metric
	names      map[string]archive.PMID
	sorted     []string // all names, sorted
	excluded   []map[archive.PMID]bool
	Conflicts  []Conflict
	Duplicates []DuplicateName
}

// New merges the sources in order.
func New(sources ...Source) *Namespace {
	ns := &Namespace{
		descs: map[archive.PMID]*archive.Desc{},
		owner: map[archive.PMID]int{},
		names: map[string]archive.PMID{},
	}
	for _, s := range sources {
		ns.add(s)
	}
	ns.sorted = make([]string, 0, len(ns.names))
	for n := range ns.names {
		ns.sorted = append(ns.sorted, n)
	}
	sort.Strings(ns.sorted)
	return ns
}

func (ns *Namespace) add(s Source) {
	i := len(ns.sources)
	ns.sources = append(ns.sources, s)
	excl := map[archive.PMID]bool{}
	ns.excluded = append(ns.excluded, excl)
	for _, d := range s.Meta.Descs {
		old, ok := ns.descs[d.PMID]
		if !ok {
			ns.descs[d.PMID] = d
			ns.owner[d.PMID] = i
		} else if why := archive.DescChange(old, d); why != "" {
			excl[d.PMID] = true
			ns.Conflicts = append(ns.Conflicts, Conflict{Archive: s.Name, PMID: d.PMID, Name: firstName(d), Reason: why})
			continue
		}
		for _, n := range d.Names {
			if p, ok := ns.names[n]; ok {
				if p != d.PMID {
					ns.Duplicates = append(ns.Duplicates, DuplicateName{Archive: s.Name, Name: n, Kept: p, Extra: d.PMID})
				}
				continue
			}
			ns.names[n] = d.PMID
		}
	}
	for _, dup := range s.Meta.Duplicates {
		ns.Duplicates = append(ns.Duplicates, DuplicateName{Archive: s.Name, Name: dup.Name, Kept: dup.Kept, Extra: dup.Extra})
	}
}

func firstName(d *archive.Desc) string {
	if len(d.Names) > 0 {
		return d.Names[0]
	}
	return d.PMID.String()
}

// Desc returns the namespace's descriptor of a PMID.
func (ns *Namespace) Desc(p archive.PMID) (*archive.Desc, bool) {
	d, ok := ns.descs[p]
	return d, ok
}

// Lookup returns the PMID a name is bound to.
func (ns *Namespace) Lookup(name string) (archive.PMID, bool) {
	p, ok := ns.names[name]
	return p, ok
}

// Names returns every name, sorted. The slice must not be modified.
func (ns *Namespace) Names() []string { return ns.sorted }

// NamesOf returns the names bound to a PMID in this namespace, sorted.
func (ns *Namespace) NamesOf(p archive.PMID) []string {
	d, ok := ns.descs[p]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(d.Names))
	for _, n := range d.Names {
		if ns.names[n] == p {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Match returns the names a regular expression matches, sorted.
func (ns *Namespace) Match(re *regexp.Regexp) []string {
	var out []string
	for _, n := range ns.sorted {
		if re.MatchString(n) {
			out = append(out, n)
		}
	}
	return out
}

// Excluded reports whether source i's values of a PMID are excluded
// because its descriptor conflicts with the namespace's.
func (ns *Namespace) Excluded(i int, p archive.PMID) bool {
	if i < 0 || i >= len(ns.excluded) {
		return false
	}
	return ns.excluded[i][p]
}

// Sources returns the sources in merge order.
func (ns *Namespace) Sources() []Source { return ns.sources }

// Text returns the help text of a metric (PM_TEXT_HELP, else the one-line
// text) from the first source that has one.
func (ns *Namespace) Text(p archive.PMID) (oneline, help string) {
	for _, s := range ns.sources {
		if oneline == "" {
			oneline, _ = s.Meta.Text(archive.TextOneLine|archive.TextPMID, uint32(p))
		}
		if help == "" {
			help, _ = s.Meta.Text(archive.TextHelp|archive.TextPMID, uint32(p))
		}
	}
	return oneline, help
}
