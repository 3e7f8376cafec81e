package multiarchive_test

import (
	"flag"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/internal/pcptest"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
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
	s, err := multiarchive.Open(multiarchive.Options{Paths: []string{dir}})
	if err != nil {
		return err
	}
	return compareLiveSet(s, dump)
}
