package multiarchive_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/pmns"
)

var corpusDir = flag.String("corpus", "", "compare every archive directory under this directory with its libpcp dump instead of testdata's")

// TestOracleSets reads each directory of archives as one timeline and
// compares it with libpcp's multi-archive reading, boundary marks included.
func TestOracleSets(t *testing.T) {
	roots := []string{"../testdata/pcp-qa", "../testdata/demo"}
	if *corpusDir != "" {
		roots = []string{*corpusDir}
	}
	pcptest.ForEachCase(t, "multiarchive: archive sets", roots, true, func(c pcptest.Case) error {
		return compareSet(c.Archive, c.Dump)
	})
}

func compareSet(dir, dump string) error {
	c, err := pcptest.NewChecker(dump)
	if err != nil {
		return err
	}
	s, err := multiarchive.Open(multiarchive.Options{Paths: []string{dir}})
	if err != nil {
		return err
	}
	hosts := s.Hosts()
	if len(hosts) != 1 {
		return fmt.Errorf("want one host, got %d", len(hosts))
	}
	arcs, errs := hosts[0].Open(math.MinInt64, math.MaxInt64)
	if len(errs) > 0 {
		return errs[0]
	}
	var srcs []pmns.Source
	for _, o := range arcs {
		srcs = append(srcs, pmns.Source{Name: o.Entry.Files.Base, Meta: o.Archive.Meta})
	}
	ns := pmns.New(srcs...)
	c.Desc = ns.Desc
	c.IName = func(d *archive.Desc, inst int32) *string {
		// libpcp merges the instance domains of all archives; its dumper
		// takes the most recent name of the instance.
		for i := len(arcs) - 1; i >= 0; i-- {
			if h := arcs[i].Archive.Meta.InDoms[d.InDom]; h != nil {
				if n, ok := h.NameAnyTime(inst); ok {
					return &n
				}
			}
		}
		return nil
	}
	r := multiarchive.NewReader(context.Background(), arcs, multiarchive.ReadOptions{})
	defer r.Close()
	for r.Next() {
		if err := c.Record(r.Record()); err != nil {
			return err
		}
	}
	if w := r.Warnings(); len(w) > 0 {
		return w[0]
	}
	return c.Finish()
}
