package multiarchive

import (
	"context"
	"math"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// ReadOptions selects the records a Reader returns.
type ReadOptions struct {
	Start, End int64          // ns, inclusive; End 0 means no end
	PMIDs      []archive.PMID // nil means all
}

// Reader (for the tests: the libpcp comparisons read a set record by
// record) reads the records of several archives of one host as one stream,
// in archive start order. Between two archives it returns a <mark> record
// stamped 1 ms after the last record of the first, as libpcp does when a
// multi-archive context crosses a boundary (docs/pcp-archive-format.md §12.2),
// so that nothing is interpolated or rated across a pmlogger restart. No mark
// is made where archives overlap in time: there is no gap.
//
// An archive that fails part way (a corrupt record) is reported in
// Warnings and reading goes on with the next archive.
type Reader struct {
	ctx    context.Context
	arcs   []Opened
	opt    ReadOptions
	i      int
	r      *archive.Reader
	rec    *archive.Record
	mark   archive.Record
	lastT  int64
	any    bool // the current archive returned a record
	warns  []error
	err    error
	count  int
	closed bool
}

// NewReader reads the given archives (from Timeline.Open) over a window.
func NewReader(ctx context.Context, arcs []Opened, opt ReadOptions) *Reader {
	if opt.End == 0 {
		opt.End = math.MaxInt64
	}
	return &Reader{ctx: ctx, arcs: arcs, opt: opt, i: -1}
}

// Next advances to the next record.
func (r *Reader) Next() bool {
	if r.closed {
		return false
	}
	for {
		if r.r == nil {
			if !r.nextArchive() {
				return false
			}
		}
		// Checking the context on every record would cost more than the
		// decode of a small record; every 64 is prompt enough.
		if r.count++; r.count&63 == 0 && r.ctx.Err() != nil {
			r.err = r.ctx.Err()
			r.Close()
			return false
		}
		if r.r.Next() {
			r.rec = r.r.Record()
			r.lastT, r.any = r.rec.Time, true
			r.arcs[r.i].Entry.NoteTime(r.rec.Time)
			return true
		}
		if err := r.r.Err(); err != nil {
			r.warns = append(r.warns, err)
			// Damage past the label is found only now: report it where
			// /status and /metrics show it, not only to this query.
			r.arcs[r.i].Entry.ReportProblem(err)
		}
		r.r.Close()
		r.r = nil
		if r.any && r.i+1 < len(r.arcs) && r.arcs[r.i+1].Entry.Start > r.lastT {
			t := r.lastT + 1e6
			if t <= r.opt.End {
				r.mark = archive.Record{Time: t, Mark: true, Vol: -1}
				r.rec = &r.mark
				r.any = false
				return true
			}
		}
	}
}

func (r *Reader) nextArchive() bool {
	r.i++
	if r.i >= len(r.arcs) {
		r.Close()
		return false
	}
	r.any = false
	r.r = r.arcs[r.i].Archive.NewReader(archive.ReaderOptions{Start: r.opt.Start, End: r.opt.End, PMIDs: r.opt.PMIDs})
	return true
}

// Record returns the current record (overwritten by Next).
func (r *Reader) Record() *archive.Record { return r.rec }

// Current returns the archive the current record came from and its position
// in the reader's list (for namespace exclusions). For a synthesised mark it
// is the archive before the boundary.
func (r *Reader) Current() (Opened, int) {
	if r.i < 0 || r.i >= len(r.arcs) {
		return Opened{}, -1
	}
	return r.arcs[r.i], r.i
}

// Warnings returns the errors of archives that could not be read to the end.
func (r *Reader) Warnings() []error { return r.warns }

// Err returns the error that stopped reading (the context's).
func (r *Reader) Err() error { return r.err }

// Close releases the open volume.
func (r *Reader) Close() {
	if r.r != nil {
		r.r.Close()
		r.r = nil
	}
	r.closed = true
}
