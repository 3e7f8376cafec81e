// Command benchdecode is the decode half of bench/cmd/benchrun: our archive
// reader's hot loop over one archive, as archive's BenchmarkDecode runs it
// (every record, every numeric value as a float64 by its descriptor's type,
// through Record.Floats: one call per value set). It uses only the public
// API of archive/, so the harness can build it together with the server it
// measures from any revision (BENCH_REV) that has Record.Floats and
// ValueSet.Desc; older ones need the Value/Float64 loop of their day.
//
//	benchdecode ARCHIVE [PASSES]
//	benchdecode -read ARCHIVE [PASSES]
//
// Prints one JSON line per pass: records, values, seconds (the loop only;
// opening the archive is not timed, as pcpdecode.c does not time
// pmNewContext) and the sum of the values.
//
// With -read it only reads the archive's (plain) data volumes as the reader
// does, pread into one 256 KiB buffer, and sums every 8-byte word, so that
// every byte reaches the CPU: no decoder can be faster than that. It prints
// bytes and seconds.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

func main() {
	args := os.Args[1:]
	readOnly := len(args) > 0 && args[0] == "-read"
	if readOnly {
		args = args[1:]
	}
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: benchdecode [-read] ARCHIVE [PASSES]")
		os.Exit(2)
	}
	passes := 1
	if len(args) > 1 {
		passes, _ = strconv.Atoi(args[1])
	}
	if readOnly {
		readPasses(args[0], passes)
		return
	}
	os.Args = append(os.Args[:1], args...)
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

// readPasses is the -read loop.
func readPasses(name string, passes int) {
	files, err := archive.FindFiles(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 256<<10)
	for p := 0; p < max(passes, 1); p++ {
		var n int64
		var a0, a1, a2, a3 uint64
		t0 := time.Now()
		for _, v := range files.Volumes {
			f, err := os.Open(v.Path)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			for off := int64(0); ; {
				m, err := f.ReadAt(buf, off)
				b := buf[:m-m%32]
				for i := 0; i+32 <= len(b); i += 32 {
					w := b[i : i+32 : i+32]
					a0 += binary.LittleEndian.Uint64(w)
					a1 += binary.LittleEndian.Uint64(w[8:])
					a2 += binary.LittleEndian.Uint64(w[16:])
					a3 += binary.LittleEndian.Uint64(w[24:])
				}
				off += int64(m)
				n += int64(m)
				if err == io.EOF {
					break
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
			}
			f.Close()
		}
		secs := time.Since(t0).Seconds()
		fmt.Printf("{\"bytes\":%d,\"seconds\":%.6f,\"check\":%d}\n", n, secs, a0^a1^a2^a3)
	}
}
