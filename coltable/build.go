package coltable

import "github.com/pcp-remote-read/pcp-remote-read/archive"

// What the table store (multiarchive) needs to build tables and to judge
// the ones it has.

// Build decodes a whole archive into a table file at path (written to a
// temporary name and renamed, so readers never see half a table), calling
// yield, when not nil, between batches of records: the background builder
// gives way to queries there.
func Build(a *archive.Archive, path string, yield func()) (*Table, error) {
	return buildTable(a, path, yield)
}

// A PrefixBuild builds a prefix table of an archive that may still grow:
// Start it (from an older prefix table, or from the archive's start), Feed
// it the records there are now, and Write it, named by where it stopped
// (Pos).
type PrefixBuild struct {
	b *tableBuilder
}

// StartPrefix begins a prefix table of a. With old (a prefix table of a)
// it holds old's series and goes on from old.Tail; the last chunk of each
// series stays as it is, and a series whose last sample is a value is
// open, so a <mark> in the tail ends it. Without old it starts at the
// archive's first record. yield is as for Build.
func StartPrefix(a *archive.Archive, old *Table, yield func()) (*PrefixBuild, error) {
	var b *tableBuilder
	if old != nil {
		var err error
		if b, err = extendTable(a, old); err != nil {
			return nil, err
		}
	} else {
		b = newTableBuilder(a)
		b.hist = newHistory(a)
	}
	b.yield = yield
	return &PrefixBuild{b: b}, nil
}

// Feed reads the archive's records from where the build stands to the end
// there is now, and adds their values to the series.
func (p *PrefixBuild) Feed() error { return p.b.feed() }

// Pos is where the records not yet read begin: the Tail of the table
// Write makes.
func (p *PrefixBuild) Pos() archive.Position { return *p.b.pos }

// Write writes the prefix table to path: its series, its Tail (Pos) and
// the identity of the files it was built from (see Valid).
func (p *PrefixBuild) Write(path string) (*Table, error) { return p.b.write(path, true) }

// WriteWhole writes what the build holds as the whole table of a closed
// archive, for an archive whose prefix table was extended to its end: the
// table pmlogger's live archive had grows into the table of the day it
// closed, without its records being read again. The caller makes sure the
// build reached the end of the archive (Feed on an archive that no longer
// grows).
func (p *PrefixBuild) WriteWhole(path string) (*Table, error) { return p.b.write(path, false) }

// Valid tells whether the files a prefix table was built from are still
// there, the same files, no shorter, their covered ends unchanged. A whole
// table is always valid: it is named by its archive's files.
func (t *Table) Valid() bool { return t.valid() }

// Release drops the table's open file, for the store evicting it: the file
// closes once no reader holds it, and a later read opens it again.
func (t *Table) Release() { t.release() }

// UncoveredFiles is Uncovered for the files of an archive, which need not
// be opened: a scan deciding whether a prefix table is due reads no
// metadata.
func UncoveredFiles(f archive.Files, t *Table) int64 { return uncovered(f, t) }

// Uncovered is how many bytes of a's data volumes prefix table t does not
// cover (all of them when t is nil).
func Uncovered(a *archive.Archive, t *Table) int64 { return uncovered(a.Files, t) }
