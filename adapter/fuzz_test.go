package adapter

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// Run with
//
//	go test -run '^$' -fuzz '^FuzzQueryText$' -fuzztime 1m ./adapter/

// FuzzQueryText runs the query API's pre-parse check on arbitrary text:
// it must not panic, and what it lets through must not make the parser
// panic either.
func FuzzQueryText(f *testing.F) {
	for _, s := range []string{
		`kernel_all_load`, `sum by (hostname) (rate(disk_dev_read_bytes{instname=~"sd.*"}[5m]))`,
		`1 + 2 * 3 and on() vector(1) or absent(x)`, `"unterminated`, "`raw` # comment\n+1",
		`x{a=~'(a|b)', b!~"\"quoted\""}[5m:1m] offset -1h @ end()`, strings.Repeat("(", 600) + "1" + strings.Repeat(")", 600),
	} {
		f.Add(s)
	}
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, q string) {
		if CheckQueryText(q) == nil && len(q) < 1<<16 {
			_, _ = p.ParseExpr(q)
		}
	})
}
