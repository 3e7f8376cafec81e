// Package pcptest reads the libpcp dumps (oracle.jsonl.gz) that sit beside the
// test archives, so every package can check its reading against libpcp's.
package pcptest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// Line is one line of a dump made by testdata/gen/pcp-dump.py (the same
// format as ../shared/tools/pcp-oracle): a value, a mark, or the end.
type Line struct {
	T       int64           `json:"t"`
	Mark    bool            `json:"mark"`
	End     bool            `json:"end"`
	Records int             `json:"records"`
	Values  int             `json:"values"`
	Name    *string         `json:"name"`
	PMID    string          `json:"pmid"`
	Type    string          `json:"type"`
	Sem     string          `json:"sem"`
	Units   string          `json:"units"`
	InDom   *string         `json:"indom"`
	Inst    int32           `json:"inst"`
	IName   *string         `json:"iname"`
	V       json.RawMessage `json:"v"`
	Skipped string          `json:"skipped"`
}

// Python's json module writes NaN and Infinity bare; quote them so Go's
// decoder accepts the line. The value keeps its spelling for comparison.
var nonFinite = regexp.MustCompile(`"v": (NaN|-?Infinity)`)

// ReadDump reads a whole dump.
func ReadDump(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Line
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if bytes.Contains(b, []byte(`"v": N`)) || bytes.Contains(b, []byte(`"v": I`)) || bytes.Contains(b, []byte(`"v": -I`)) {
			b = nonFinite.ReplaceAll(b, []byte(`"v": "$1"`))
		}
		var l Line
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// Case is one archive (or directory of archives) with its dump.
type Case struct {
	Name    string // folder name
	Dir     string // folder path
	Archive string // what to open: the archive base name, or the folder for dir-* sets
	Dump    string // path of oracle.jsonl.gz
	Multi   bool   // a directory of archives read as one set
}

// Cases lists the folders under root that hold an oracle.jsonl.gz. A folder
// holds one archive whose base name is the folder name, or (names starting
// with "dir-") a set of archives read together.
func Cases(root string) ([]Case, error) {
	dumps, err := filepath.Glob(filepath.Join(root, "*", "oracle.jsonl.gz"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dumps)
	var out []Case
	for _, d := range dumps {
		dir := filepath.Dir(d)
		name := filepath.Base(dir)
		c := Case{Name: name, Dir: dir, Dump: d, Archive: filepath.Join(dir, name)}
		if len(name) > 4 && name[:4] == "dir-" {
			c.Multi, c.Archive = true, dir
		}
		out = append(out, c)
	}
	return out, nil
}

// HostDirCases lists per-host archive directories (root/<host>/) that have
// a dump beside them (root/<host>.oracle.jsonl.gz), like the demo set.
func HostDirCases(root string) ([]Case, error) {
	dumps, err := filepath.Glob(filepath.Join(root, "*.oracle.jsonl.gz"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dumps)
	var out []Case
	for _, d := range dumps {
		host := filepath.Base(d)
		host = host[:len(host)-len(".oracle.jsonl.gz")]
		dir := filepath.Join(root, host)
		out = append(out, Case{Name: host, Dir: dir, Archive: dir, Dump: d, Multi: true})
	}
	return out, nil
}

// ForEachCase runs check as a subtest on every case under roots that is (or,
// with multi false, is not) a set of archives, and prints how many matched
// libpcp in the form `make corpus-check` adds up.
func ForEachCase(t *testing.T, what string, roots []string, multi bool, check func(Case) error) {
	t.Helper()
	total, same := 0, 0
	for _, root := range roots {
		cases, err := Cases(root)
		if err != nil {
			t.Fatal(err)
		}
		if hosts, err := HostDirCases(root); err == nil {
			cases = append(cases, hosts...)
		}
		for _, c := range cases {
			if c.Multi != multi {
				continue
			}
			total++
			t.Run(c.Name, func(t *testing.T) {
				if err := check(c); err != nil {
					t.Error(err)
					return
				}
				same++
			})
		}
	}
	if total == 0 {
		t.Fatalf("no test cases under %v", roots)
	}
	fmt.Printf("%s: %d/%d identical to libpcp\n", what, same, total)
}
