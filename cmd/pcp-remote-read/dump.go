package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// runDump prints an archive's labels, metadata, index and records in a
// readable form, for people debugging archives (like pmdumplog -a).
func runDump(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	onlyMeta := fs.Bool("meta", false, "print labels and metadata only")
	showIndex := fs.Bool("index", false, "also print the temporal index")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: pcp-remote-read dump [-meta] [-index] ARCHIVE\n\nARCHIVE is a base name or any file of the archive (foo, foo.meta, foo.0.xz).\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	a, err := archive.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "dump:", err)
		return 1
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	dumpMeta(w, a)
	if *showIndex {
		fmt.Fprintf(w, "\nTemporal index: %d entries\n", len(a.Index()))
		for _, e := range a.Index() {
			fmt.Fprintf(w, "  %s  vol %d  meta %d  data %d\n", ts(e.Time), e.Vol, e.MetaOff, e.DataOff)
		}
	}
	if *onlyMeta {
		return 0
	}
	fmt.Fprintln(w, "\nRecords:")
	r := a.NewReader(archive.ReaderOptions{})
	defer r.Close()
	for r.Next() {
		rec := r.Record()
		if rec.Mark {
			fmt.Fprintf(w, "%s  <mark>  (vol %d offset %d)\n", ts(rec.Time), rec.Vol, rec.Offset)
			continue
		}
		fmt.Fprintf(w, "%s  %d metrics  (vol %d offset %d)\n", ts(rec.Time), rec.NumPMID, rec.Vol, rec.Offset)
		sets := rec.Sets()
		for i := range sets {
			dumpSet(w, a, rec, &sets[i])
		}
	}
	if err := r.Err(); err != nil {
		w.Flush()
		fmt.Fprintln(stderr, "dump:", err)
		return 1
	}
	if r.AtTail() {
		fmt.Fprintln(w, "(the last volume ends in a record still being written)")
	}
	return 0
}

func dumpMeta(w io.Writer, a *archive.Archive) {
	l := a.Label
	fmt.Fprintf(w, "Archive %s: v%d, host %s, pid %d, timezone %s", a.Files.Base, l.Version, l.Hostname, l.PID, l.TZ)
	if l.Zoneinfo != "" {
		fmt.Fprintf(w, " (%s)", l.Zoneinfo)
	}
	fmt.Fprintf(w, "\n  start %s\n  .meta %s\n", ts(l.Start), a.Files.Meta)
	if a.Files.Index != "" {
		fmt.Fprintf(w, "  .index %s (%d entries)\n", a.Files.Index, len(a.Index()))
	}
	for _, v := range a.Files.Volumes {
		fmt.Fprintf(w, "  volume %d %s\n", v.Num, v.Path)
	}
	for _, s := range a.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", s)
	}
	fmt.Fprintf(w, "\nDescriptors: %d\n", len(a.Meta.Descs))
	for _, d := range a.Meta.Descs {
		fmt.Fprintf(w, "  PMID %s %s\n    type %s  indom %s  sem %s  units %q\n", d.PMID, strings.Join(d.Names, " "), d.Type, d.InDom, d.Sem, d.Units.String())
	}
	for _, dup := range a.Meta.Duplicates {
		fmt.Fprintf(w, "  duplicate name %s: kept PMID %s, ignored %s\n", dup.Name, dup.Kept, dup.Extra)
	}
	indoms := make([]archive.InDom, 0, len(a.Meta.InDoms))
	for id := range a.Meta.InDoms {
		indoms = append(indoms, id)
	}
	sort.Slice(indoms, func(i, j int) bool { return indoms[i] < indoms[j] })
	fmt.Fprintf(w, "\nInstance domains: %d\n", len(indoms))
	for _, id := range indoms {
		h := a.Meta.InDoms[id]
		res := h.Resolver()
		for _, t := range h.Times() {
			if !res.At(t) {
				continue
			}
			insts := res.Instances()
			fmt.Fprintf(w, "  %s  InDom %s  %d instances\n", ts(t), id, len(insts))
			for _, in := range insts {
				fmt.Fprintf(w, "    %d %q\n", in.ID, in.Name)
			}
		}
	}
	if len(a.Meta.Labels) > 0 {
		fmt.Fprintf(w, "\nLabel sets: %d records\n", len(a.Meta.Labels))
		for _, r := range a.Meta.Labels {
			fmt.Fprintf(w, "  %s  %s %d\n", ts(r.Time), labelLevel(r.Type), r.Ident)
			for _, s := range r.Sets {
				if s.Inst != archive.InstNull {
					fmt.Fprintf(w, "    inst %d: %s\n", s.Inst, s.JSON)
				} else {
					fmt.Fprintf(w, "    %s\n", s.JSON)
				}
			}
		}
	}
	if len(a.Meta.Texts) > 0 {
		keys := make([]archive.TextKey, 0, len(a.Meta.Texts))
		for k := range a.Meta.Texts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].Ident != keys[j].Ident {
				return keys[i].Ident < keys[j].Ident
			}
			return keys[i].Type < keys[j].Type
		})
		fmt.Fprintf(w, "\nHelp texts: %d\n", len(keys))
		for _, k := range keys {
			kind := "oneline"
			if k.Type&archive.TextHelp != 0 {
				kind = "help"
			}
			var id fmt.Stringer = archive.PMID(k.Ident)
			if k.Type&archive.TextInDom != 0 {
				id = archive.InDom(k.Ident)
			}
			fmt.Fprintf(w, "  %s %s: %q\n", id, kind, a.Meta.Texts[k])
		}
	}
}

func dumpSet(w io.Writer, a *archive.Archive, rec *archive.Record, s *archive.ValueSet) {
	d, ok := a.Meta.Desc(s.PMID)
	name := "<no descriptor>"
	if ok && len(d.Names) > 0 {
		name = d.Names[0]
	}
	if s.NumVal <= 0 {
		fmt.Fprintf(w, "  %s (%s): numval %d\n", s.PMID, name, s.NumVal)
		return
	}
	fmt.Fprintf(w, "  %s (%s):", s.PMID, name)
	var res *archive.Resolver
	if ok && d.InDom != archive.InDomNull {
		if h := a.Meta.InDoms[d.InDom]; h != nil {
			res = h.Resolver()
			res.At(rec.Time)
		}
	}
	for j := 0; j < int(s.NumVal); j++ {
		v := rec.Value(s, j)
		if s.NumVal > 1 || v.Inst != archive.InstNull {
			iname := ""
			if res != nil {
				iname, _ = res.Name(v.Inst)
			}
			fmt.Fprintf(w, "\n    inst [%d or %q] ", v.Inst, iname)
		} else {
			fmt.Fprint(w, " ")
		}
		switch {
		case !ok:
			fmt.Fprintf(w, "(raw %x)", v.Bytes())
		case d.Type == archive.TypeString:
			fmt.Fprintf(w, "%q", v.String())
		case d.Type.Numeric():
			if f, good := v.Float64(d.Type); good {
				if n, isInt := v.Int64(d.Type); isInt {
					fmt.Fprint(w, n)
				} else if u, isUint := v.Uint64(d.Type); isUint {
					fmt.Fprint(w, u)
				} else {
					fmt.Fprint(w, f)
				}
			} else {
				fmt.Fprint(w, "(bad value block)")
			}
		default:
			fmt.Fprintf(w, "(%s, %d bytes)", d.Type, len(v.Bytes()))
		}
	}
	fmt.Fprintln(w)
}

func labelLevel(t uint32) string {
	switch t &^ 0xc0 {
	case archive.LabelContext:
		return "context"
	case archive.LabelDomain:
		return "domain"
	case archive.LabelInDom:
		return "indom"
	case archive.LabelCluster:
		return "cluster"
	case archive.LabelItem:
		return "item"
	case archive.LabelInstances:
		return "instances"
	}
	return fmt.Sprintf("type %#x", t)
}

func ts(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}
