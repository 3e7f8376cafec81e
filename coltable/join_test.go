package coltable

import (
	"fmt"
	"hash/crc32"
	"os"

	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// ctime is how pmlogextract's -S and -T take an absolute time (with -Z UTC).
func ctime(ns int64) string {
	return "@" + time.Unix(0, ns).UTC().Format("Mon Jan 2 15:04:05.000000 2006")
}

// splitArchive cuts an archive into pieces with real pmlogextract, at the
// middle of the gaps before records n/k, 2n/k, …, as pmlogger restarts
// cut a day; it returns the pieces' base paths, or nil when the archive
// has too few records.
func splitArchive(t *testing.T, extract, src, dir string, k int) []string {
	t.Helper()
	a, err := archive.Open(src)
	if err != nil {
		return nil
	}
	var times []int64
	r := a.NewReader(archive.ReaderOptions{})
	for r.Next() {
		times = append(times, r.Record().Time)
	}
	r.Close()
	if r.Err() != nil || len(times) < 3*k {
		return nil
	}
	// -S starts at the first record after the cut; -T would end one
	// record past its time, so the pieces' lengths are counted (-s).
	var cuts []int64
	idx := []int{0}
	for i := 1; i < k; i++ {
		j := i * len(times) / k
		if times[j]-times[j-1] < 10e6 {
			return nil // no gap to cut at
		}
		cuts = append(cuts, times[j-1]+(times[j]-times[j-1])/2)
		idx = append(idx, j)
	}
	idx = append(idx, len(times))
	var pieces []string
	for i := 0; i < k; i++ {
		args := []string{"-Z", "UTC"}
		if i > 0 {
			args = append(args, "-S", ctime(cuts[i-1]))
		}
		if i < k-1 {
			args = append(args, "-s", strconv.Itoa(idx[i+1]-idx[i]))
		}
		out := filepath.Join(dir, fmt.Sprintf("piece%d", i))
		if msg, err := exec.Command(extract, append(args, src, out)...).CombinedOutput(); err != nil {
			t.Logf("%s: pmlogextract %v: %v\n%s", src, args, err, msg)
			return nil
		}
		pieces = append(pieces, out)
	}
	return pieces
}

// TestJoinMatchesBuild: the table of a day pmlogextract merged from pieces,
// joined from the pieces' tables, is the table built from the merged
// day's own records: the same series and samples, and the same record
// history (each record's time, length and checksum: the marks Join
// predicts are the ones pmlogextract wrote). Pieces are cut from every
// test archive with real pmlogextract and merged by it again, with its
// default marks and with -m, into one volume or several (-v), plain or
// xz-compressed; a merge that dropped metrics (-c) or records (-S) is not
// joined.
func TestJoinMatchesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs pmlogextract for every test archive")
	}
	extract := requireTool(t, "pmlogextract")
	requireTool(t, "xz")
	joined, marked, multivol, refused := 0, 0, 0, 0
	for _, base := range testArchiveBases(t) {
		dir := t.TempDir()
		pieces := splitArchive(t, extract, base, dir, 3)
		if pieces == nil {
			continue
		}
		var tables []*Table
		for _, p := range pieces {
			a, err := archive.Open(p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			tb, err := buildTable(a, p+".tbl", nil)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			tables = append(tables, tb)
		}
		h, err := tables[0].readHistory()
		if err != nil || len(h.recs) < 3 {
			t.Fatalf("%s: %v", pieces[0], err)
		}
		late := h.recs[1].t + (h.recs[2].t-h.recs[1].t)/2 // drops two records
		variants := []struct {
			name     string
			args     []string
			compress bool
			join     bool
		}{
			{"merge", nil, false, true},
			{"merge -m", []string{"-m"}, false, true},
			{"merge -v 7, xz", []string{"-v", "7"}, true, true},
			{"merge -S (records dropped)", []string{"-Z", "UTC", "-S", ctime(late)}, false, false},
		}
		for vi, v := range variants {
			m := filepath.Join(dir, fmt.Sprintf("merged%d", vi))
			if msg, err := exec.Command(extract, append(append(v.args, pieces...), m)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: pmlogextract %v: %v\n%s", base, v.args, err, msg)
			}
			if v.compress {
				files, _ := filepath.Glob(m + ".[0-9]*")
				for _, f := range append(files, m+".meta") {
					if msg, err := exec.Command("xz", "-0", "--block-size=1KiB", f).CombinedOutput(); err != nil {
						t.Fatalf("xz %s: %v\n%s", f, err, msg)
					}
				}
			}
			ma, err := archive.Open(m)
			if err != nil {
				t.Fatalf("%s %s: %v", base, v.name, err)
			}
			got, n, why, err := Join(ma, tables, m+".joined.tbl")
			if err != nil {
				t.Fatalf("%s %s: %v", base, v.name, err)
			}
			if !v.join {
				if got != nil {
					t.Errorf("%s %s: joined from %d pieces", base, v.name, n)
				}
				refused++
				continue
			}
			if got == nil {
				// Refused: right only if m is not made of the
				// pieces' records (pmlogextract treats records at the
				// epoch, as value-test has, as no time window at all).
				built, err := buildTable(ma, m+".built.tbl", nil)
				if err != nil {
					t.Fatal(err)
				}
				if mergeOf(t, built, tables) {
					t.Errorf("%s %s: not joined: %s", base, v.name, why)
				}
				t.Logf("%s %s: not a merge of the pieces (%s)", base, v.name, why)
				refused++
				continue
			}
			if n != len(tables) {
				t.Errorf("%s %s: joined %d pieces, want %d", base, v.name, n, len(tables))
			}
			want, err := buildTable(ma, m+".built.tbl", nil)
			if err != nil {
				t.Fatal(err)
			}
			if msg := diffTables(want, got); msg != "" {
				t.Errorf("%s %s: joined table differs from the built one: %s", base, v.name, msg)
				continue
			}
			joined++
			if len(ma.Files.Volumes) > 1 {
				multivol++
			}
			if h, _ := got.readHistory(); h != nil && len(h.recs) > 0 {
				for _, r := range h.recs {
					if r.n == uint32(markLen(h.version)) {
						marked++
						break
					}
				}
			}
		}
	}
	t.Logf("%d merges joined (%d with marks, %d of several volumes), %d refused", joined, marked, multivol, refused)
	if joined < 30 || marked < 10 || multivol < 10 || refused < 10 {
		t.Errorf("too few cases: %d joined, %d with marks, %d of several volumes, %d refused", joined, marked, multivol, refused)
	}
}

// mergeOf tells whether a table's records are its pieces' records, one
// piece after the other, with or without a <mark> 1 ms after each piece
// but the last.
func mergeOf(t *testing.T, m *Table, pieces []*Table) bool {
	mh, err := m.readHistory()
	if err != nil {
		t.Fatal(err)
	}
	for _, marks := range []bool{false, true} {
		var want []recInfo
		for i, p := range pieces {
			h, err := p.readHistory()
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && marks {
				at := want[len(want)-1].t + 1e6
				raw := markRecord(h.version, at)
				want = append(want, recInfo{at, uint32(len(raw)), crc32.Checksum(raw, castagnoli)})
			}
			want = append(want, h.recs...)
		}
		if reflect.DeepEqual(want, mh.recs) {
			return true
		}
	}
	return false
}

// diffTables says how two table files of one archive differ: series,
// samples (chunks may be cut differently), span, record history.
func diffTables(want, got *Table) string {
	if want.First != got.First || want.Last != got.Last {
		return fmt.Sprintf("span %d-%d, want %d-%d", got.First, got.Last, want.First, want.Last)
	}
	wh, err1 := want.readHistory()
	gh, err2 := got.readHistory()
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("history: %v / %v", err2, err1)
	}
	if !reflect.DeepEqual(wh, gh) {
		return fmt.Sprintf("history: %d records %v, want %d %v", len(gh.recs), gh.recs[:min(4, len(gh.recs))], len(wh.recs), wh.recs[:min(4, len(wh.recs))])
	}
	if len(want.Series) != len(got.Series) {
		return fmt.Sprintf("%d series, want %d", len(got.Series), len(want.Series))
	}
	for i := range want.Series {
		w, g := want.Series[i], got.Series[i]
		if w.PMID != g.PMID || w.Inst != g.Inst || w.IName != g.IName || w.Named != g.Named || w.MinT != g.MinT || w.MaxT != g.MaxT || w.Samples != g.Samples {
			return fmt.Sprintf("series %d: %+v, want %+v", i, g, w)
		}
		wb, err1 := want.ReadSeries(nil, i, nil)
		gb, err2 := got.ReadSeries(nil, i, nil)
		if err1 != nil || err2 != nil {
			return fmt.Sprintf("series %d: %v / %v", i, err2, err1)
		}
		if msg := diffSamples(w, wb, gb); msg != "" {
			return msg
		}
	}
	return ""
}

// requireTool is the path of a command, skipping the test when it is
// missing, failing it under CI=true (pcptest.Require, which coltable's
// tests cannot import).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true (make deps installs it)", name)
	}
	t.Skipf("%s not available (run make deps)", name)
	return ""
}
