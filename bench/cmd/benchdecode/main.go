// Command benchdecode is the decode half of bench/cmd/benchrun: our archive
// reader's hot loop over one archive, as archive's BenchmarkDecode runs it
// (every record, every numeric value as a float64 by its descriptor's type,
// through Record.Floats: one call per value set). It uses only the public
// API of archive/, so the harness can build it together with the server it
// measures from any revision (BENCH_REV) that has Record.Floats and
// ValueSet.Desc; older ones need the Value/Float64 loop of their day.
//
//	benchdecode ARCHIVE [PASSES]
//
// Prints one JSON line per pass: records, values, seconds (the loop only;
// opening the archive is not timed, as pcpdecode.c does not time
// pmNewContext) and the sum of the values.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchdecode ARCHIVE [PASSES]")
		os.Exit(2)
	}
	passes := 1
	if len(os.Args) > 2 {
		passes, _ = strconv.Atoi(os.Args[2])
	}
	for p := 0; p < max(passes, 1); p++ {
		a, err := archive.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var records, values int64
		var sum float64
		t0 := time.Now()
		r := a.NewReader(archive.ReaderOptions{})
		for r.Next() {
			rec := r.Record()
			records++
			sets := rec.Sets()
			for k := range sets {
				s := &sets[k]
				if s.Desc == nil || !s.Desc.Type.Numeric() {
					continue
				}
				_, vals, _ := rec.Floats(s)
				for _, f := range vals {
					sum += f
				}
				values += int64(len(vals))
			}
		}
		if err := r.Err(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.Close()
		secs := time.Since(t0).Seconds()
		fmt.Printf("{\"records\":%d,\"values\":%d,\"seconds\":%.6f,\"sum\":%s}\n", records, values, secs, strconv.FormatFloat(sum, 'g', 17, 64))
	}
}
