package coltable

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// BenchmarkJoinDay compares the two ways to the table of a day
// pmlogextract merged from pieces: joined from the pieces' tables (Join)
// and built from the merged day's records (Build). PCP_DECODE_DAY is the
// base path of a plain day (the bench corpus' newest); it is cut into two
// pieces and merged again with real pmlogextract, once, under
// PCP_JOIN_DIR (default: a temporary directory), and the merged day is
// compressed with xz as pmlogger_daily leaves it.
func BenchmarkJoinDay(b *testing.B) {
	day, a := benchDay(b)
	extract, err := exec.LookPath("pmlogextract")
	if err != nil {
		b.Skip("no pmlogextract")
	}
	dir := os.Getenv("PCP_JOIN_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	var times []int64
	r := a.NewReader(archive.ReaderOptions{})
	for r.Next() {
		times = append(times, r.Record().Time)
	}
	r.Close()
	half := len(times) / 2
	cut := times[half-1] + (times[half]-times[half-1])/2
	pieces := []string{filepath.Join(dir, "piece0"), filepath.Join(dir, "piece1")}
	merged := filepath.Join(dir, "merged")
	if _, err := os.Stat(merged + ".meta.xz"); err != nil {
		for _, args := range [][]string{
			{"-s", strconv.Itoa(half), day, pieces[0]},
			{"-Z", "UTC", "-S", ctime(cut), day, pieces[1]},
			{pieces[0], pieces[1], merged},
			{"xz", "-0", "--block-size=10MiB", merged + ".0", merged + ".meta"},
		} {
			name := extract
			if args[0] == "xz" {
				name, args = "xz", args[1:]
			}
			if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
				b.Fatalf("%s %v: %v\n%s", name, args, err, out)
			}
		}
	}
	var tables []*Table
	for _, p := range pieces {
		pa, err := archive.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		t, err := buildTable(pa, p+".tbl", nil)
		if err != nil {
			b.Fatal(err)
		}
		tables = append(tables, t)
	}
	b.Run("join", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m, err := archive.Open(merged)
			if err != nil {
				b.Fatal(err)
			}
			t, _, why, err := Join(m, tables, filepath.Join(dir, "joined.tbl"))
			if t == nil || err != nil {
				b.Fatalf("not joined: %s %v", why, err)
			}
		}
	})
	b.Run("build", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m, err := archive.Open(merged)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := buildTable(m, filepath.Join(dir, "built.tbl"), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
