package pcptest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// Checker compares a stream of records, as our readers return them, with a
// libpcp dump line by line: every value, instance, name, timestamp and mark.
type Checker struct {
	lines      []Line
	i          int
	nrec, nval int
	// Desc looks up a metric's descriptor; IName the name libpcp would
	// give an instance (nil when it has none).
	Desc  func(archive.PMID) (*archive.Desc, bool)
	IName func(d *archive.Desc, inst int32) *string
}

// NewChecker reads a dump.
func NewChecker(dump string) (*Checker, error) {
	lines, err := ReadDump(dump)
	if err != nil {
		return nil, err
	}
	return &Checker{lines: lines}, nil
}

func (c *Checker) next() (*Line, error) {
	if c.i >= len(c.lines) {
		return nil, fmt.Errorf("libpcp has no more lines, we have more")
	}
	c.i++
	return &c.lines[c.i-1], nil
}

// Record checks one record.
func (c *Checker) Record(rec *archive.Record) error {
	c.nrec++
	if rec.Mark {
		w, err := c.next()
		if err != nil {
			return err
		}
		if !w.Mark || w.T != rec.Time {
			return fmt.Errorf("line %d: want %s, got a mark at %d", c.i, lineString(w), rec.Time)
		}
		return nil
	}
	sets := rec.Sets()
	for k := range sets {
		s := &sets[k]
		if s.NumVal <= 0 {
			continue
		}
		d, ok := c.Desc(s.PMID)
		if !ok {
			return fmt.Errorf("record at %d vol %d offset %d: PMID %s has no descriptor", rec.Time, rec.Vol, rec.Offset, s.PMID)
		}
		for j := 0; j < int(s.NumVal); j++ {
			v := rec.Value(s, j)
			w, err := c.next()
			if err != nil {
				return err
			}
			c.nval++
			if msg := c.value(d, rec.Time, v, w); msg != "" {
				return fmt.Errorf("line %d (vol %d offset %d, pmid %s inst %d): %s", c.i, rec.Vol, rec.Offset, s.PMID, v.Inst, msg)
			}
		}
	}
	return nil
}

// Finish checks that libpcp saw no more and counted the same.
func (c *Checker) Finish() error {
	w, err := c.next()
	if err != nil {
		return err
	}
	if !w.End {
		return fmt.Errorf("line %d: we ended, libpcp has %s", c.i, lineString(w))
	}
	if w.Records != c.nrec || w.Values != c.nval {
		return fmt.Errorf("end: libpcp %d records %d values, we %d records %d values", w.Records, w.Values, c.nrec, c.nval)
	}
	return nil
}

func lineString(w *Line) string {
	b, _ := json.Marshal(w)
	return string(b)
}

func (c *Checker) value(d *archive.Desc, t int64, v archive.Value, w *Line) string {
	switch {
	case w.Mark || w.End:
		return fmt.Sprintf("libpcp has %s, we have a value", lineString(w))
	case w.T != t:
		return fmt.Sprintf("time %d, want %d", t, w.T)
	case w.PMID != d.PMID.String():
		return fmt.Sprintf("pmid %s, want %s", d.PMID, w.PMID)
	case w.Type != d.Type.String():
		return fmt.Sprintf("type %s, want %s", d.Type, w.Type)
	case w.Sem != d.Sem.String():
		return fmt.Sprintf("sem %s, want %s", d.Sem, w.Sem)
	case w.Inst != v.Inst:
		return fmt.Sprintf("inst %d, want %d", v.Inst, w.Inst)
	}
	if w.Name == nil && len(d.Names) != 0 || w.Name != nil && !has(d.Names, *w.Name) {
		return fmt.Sprintf("names %q, libpcp's name %v", d.Names, deref(w.Name))
	}
	if d.InDom != archive.InDomNull {
		got := c.IName(d, v.Inst)
		if (got == nil) != (w.IName == nil) || got != nil && *got != *w.IName {
			return fmt.Sprintf("instance name %v, want %v", deref(got), deref(w.IName))
		}
	}
	switch d.Type {
	case archive.Type32, archive.Type64:
		n, ok := v.Int64(d.Type)
		if !ok || string(w.V) != strconv.FormatInt(n, 10) {
			return fmt.Sprintf("value %d (ok %v), want %s", n, ok, w.V)
		}
	case archive.TypeU32, archive.TypeU64:
		n, ok := v.Uint64(d.Type)
		if !ok || string(w.V) != strconv.FormatUint(n, 10) {
			return fmt.Sprintf("value %d (ok %v), want %s", n, ok, w.V)
		}
	case archive.TypeFloat, archive.TypeDouble:
		f, ok := v.Float64(d.Type)
		wf, err := ParseFloat(w.V)
		if !ok || err != nil || !(f == wf || math.IsNaN(f) && math.IsNaN(wf)) {
			return fmt.Sprintf("value %v (ok %v), want %s", f, ok, w.V)
		}
	case archive.TypeString:
		var s string
		if err := json.Unmarshal(w.V, &s); err != nil {
			return fmt.Sprintf("libpcp value %s: %v", w.V, err)
		}
		// libpcp's dumper decodes strings as UTF-8 with replacement.
		if got := string([]rune(v.String())); got != s {
			return fmt.Sprintf("value %q, want %q", got, s)
		}
	default:
		if w.Skipped == "" {
			return fmt.Sprintf("type %s not skipped by libpcp", d.Type)
		}
	}
	return ""
}

// ParseFloat parses a dump's numeric value, including the quoted NaN and
// infinities ReadDump makes of Python's bare ones.
func ParseFloat(raw json.RawMessage) (float64, error) {
	switch string(raw) {
	case `"NaN"`:
		return math.NaN(), nil
	case `"Infinity"`:
		return math.Inf(1), nil
	case `"-Infinity"`:
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(string(raw), 64)
}

func has(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return strconv.Quote(*s)
}
