package archive

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

var corpusDir = flag.String("corpus", "", "also compare every archive under this directory (e.g. ../shared/corpus/pcp-qa) with its libpcp dump")

// TestOracle reads every test archive and compares every value, instance,
// timestamp and mark with libpcp's reading of the same archive.
func TestOracle(t *testing.T) {
	roots := []string{"../testdata/archives", "../testdata/pcp-qa"}
	if *corpusDir != "" {
		roots = []string{*corpusDir}
	}
	total, same := 0, 0
	for _, root := range roots {
		cases, err := pcptest.Cases(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if c.Multi {
				continue // a directory of archives: multiarchive's test
			}
			total++
			t.Run(c.Name, func(t *testing.T) {
				if err := compareWithOracle(c.Archive, c.Dump); err != nil {
					t.Error(err)
					return
				}
				same++
			})
		}
	}
	if total == 0 {
		t.Fatal("no test archives found")
	}
	fmt.Printf("oracle: %d/%d archives identical\n", same, total)
}

func compareWithOracle(name, dump string) error {
	want, err := pcptest.ReadDump(dump)
	if err != nil {
		return err
	}
	a, err := Open(name)
	if err != nil {
		return err
	}
	r := a.NewReader(ReaderOptions{})
	defer r.Close()
	i, nrec, nval := 0, 0, 0
	next := func() (*pcptest.Line, error) {
		if i >= len(want) {
			return nil, fmt.Errorf("libpcp has no more lines, we have more")
		}
		i++
		return &want[i-1], nil
	}
	for r.Next() {
		rec := r.Record()
		nrec++
		if rec.Mark {
			w, err := next()
			if err != nil {
				return err
			}
			if !w.Mark || w.T != rec.Time {
				return fmt.Errorf("line %d: want %+v, got mark at %d", i, *w, rec.Time)
			}
			continue
		}
		sets := rec.Sets()
		for k := range sets {
			s := &sets[k]
			if s.NumVal <= 0 {
				continue
			}
			d, ok := a.Meta.Desc(s.PMID)
			if !ok {
				return fmt.Errorf("record at %s vol %d offset %d: PMID %s has no descriptor", fmtTime(rec.Time), rec.Vol, rec.Offset, s.PMID)
			}
			for j := 0; j < int(s.NumVal); j++ {
				v := rec.Value(s, j)
				w, err := next()
				if err != nil {
					return err
				}
				nval++
				if msg := compareValue(a, d, rec.Time, v, w); msg != "" {
					return fmt.Errorf("line %d (vol %d offset %d, pmid %s inst %d): %s", i, rec.Vol, rec.Offset, s.PMID, v.Inst, msg)
				}
			}
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	w, err := next()
	if err != nil {
		return err
	}
	if !w.End {
		return fmt.Errorf("line %d: we ended, libpcp has %+v", i, *w)
	}
	if w.Records != nrec || w.Values != nval {
		return fmt.Errorf("end: libpcp %d records %d values, we %d records %d values", w.Records, w.Values, nrec, nval)
	}
	return nil
}

func fmtTime(ns int64) string { return strconv.FormatInt(ns, 10) }

func compareValue(a *Archive, d *Desc, t int64, v Value, w *pcptest.Line) string {
	switch {
	case w.Mark || w.End:
		return fmt.Sprintf("libpcp has %+v, we have a value", *w)
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
	if w.Name == nil && len(d.Names) != 0 || w.Name != nil && !contains(d.Names, *w.Name) {
		return fmt.Sprintf("names %q, libpcp's name %v", d.Names, w.Name)
	}
	if d.InDom != InDomNull {
		var got *string
		if h := a.Meta.InDoms[d.InDom]; h != nil {
			if n, ok := h.NameAnyTime(v.Inst); ok {
				got = &n
			}
		}
		if (got == nil) != (w.IName == nil) || got != nil && *got != *w.IName {
			return fmt.Sprintf("instance name %v, want %v", deref(got), deref(w.IName))
		}
	}
	switch d.Type {
	case Type32, Type64:
		n, ok := v.Int64(d.Type)
		if !ok || string(w.V) != strconv.FormatInt(n, 10) {
			return fmt.Sprintf("value %d (ok %v), want %s", n, ok, w.V)
		}
	case TypeU32, TypeU64:
		n, ok := v.Uint64(d.Type)
		if !ok || string(w.V) != strconv.FormatUint(n, 10) {
			return fmt.Sprintf("value %d (ok %v), want %s", n, ok, w.V)
		}
	case TypeFloat, TypeDouble:
		f, ok := v.Float64(d.Type)
		wf, err := parseFloat(w.V)
		if !ok || err != nil || !(f == wf || math.IsNaN(f) && math.IsNaN(wf)) {
			return fmt.Sprintf("value %v (ok %v), want %s", f, ok, w.V)
		}
	case TypeString:
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

func parseFloat(raw json.RawMessage) (float64, error) {
	s := string(raw)
	switch s {
	case `"NaN"`:
		return math.NaN(), nil
	case `"Infinity"`:
		return math.Inf(1), nil
	case `"-Infinity"`:
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return strconv.Quote(*s)
}
