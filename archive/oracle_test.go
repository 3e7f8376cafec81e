package archive_test

import (
	"flag"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
)

var corpusDir = flag.String("corpus", "", "compare every archive under this directory (e.g. ../shared/corpus/pcp-qa) with its libpcp dump instead of testdata's")

// TestOracle reads every test archive and compares every value, instance,
// timestamp and mark with libpcp's reading of the same archive.
func TestOracle(t *testing.T) {
	roots := []string{"../testdata/archives", "../testdata/pcp-qa"}
	if *corpusDir != "" {
		roots = []string{*corpusDir}
	}
	// Directories of archives are multiarchive's test.
	pcptest.ForEachCase(t, "archive: archives", roots, false, func(c pcptest.Case) error {
		return compareWithOracle(c.Archive, c.Dump)
	})
}

func compareWithOracle(name, dump string) error {
	c, err := pcptest.NewChecker(dump)
	if err != nil {
		return err
	}
	a, err := archive.Open(name)
	if err != nil {
		return err
	}
	c.Desc = a.Meta.Desc
	c.IName = func(d *archive.Desc, inst int32) *string {
		// libpcp's dumper names instances with pmNameInDomArchive: the
		// most recent observation listing the instance, at any time.
		if h := a.Meta.InDoms[d.InDom]; h != nil {
			if n, ok := h.NameAnyTime(inst); ok {
				return &n
			}
		}
		return nil
	}
	r := a.NewReader(archive.ReaderOptions{})
	defer r.Close()
	for r.Next() {
		if err := c.Record(r.Record()); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	return c.Finish()
}
