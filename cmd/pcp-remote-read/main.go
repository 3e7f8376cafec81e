// Command pcp-remote-read serves Performance Co-Pilot archives to Prometheus
// (remote read) and Grafana (the Prometheus query API).
package main

import (
	"fmt"
	"io"
	"os"
)

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "dump":
			return runDump(args[1:], stdout, stderr)
		case "--version", "-version", "version":
			fmt.Fprintf(stdout, "pcp-remote-read %s\n", version)
			return 0
		}
	}
	fmt.Fprintln(stderr, "usage: pcp-remote-read dump [-meta] [-index] ARCHIVE")
	return 2
}
