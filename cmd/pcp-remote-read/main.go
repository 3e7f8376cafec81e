// Command pcp-remote-read serves Performance Co-Pilot archives to Prometheus
// (remote read) and Grafana (the Prometheus query API).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "dump":
			return runDump(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintf(stdout, "pcp-remote-read %s\n", version)
			return 0
		}
	}
	return runServe(ctx, args, stdout, stderr)
}
