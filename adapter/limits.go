package adapter

import (
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
)

// Bounds on what one request may make the server compute before any
// archive is read. Go's regexps are linear and Prometheus' parser has no
// catastrophic case, but both are slow enough in the size of their input
// that one request of a few hundred KiB could keep a CPU busy for minutes,
// and neither can be cancelled.
const (
	// MaxQueryComplexity bounds a PromQL expression's bracket nesting depth
	// plus its operators. The parser takes time quadratic in these: with
	// the engine of the prometheus module in go.mod, 10,000 nested
	// parentheses (20 KB) take about a second and 100,000 more than a
	// minute, and the engine parses inside a concurrency slot, so a few
	// such requests would stall every query. Dashboards use a few dozen.
	MaxQueryComplexity = 1000

	// MaxRegexBytes bounds a regex matcher that is not an alternation of
	// literals (Grafana's multi-value variables are such alternations, and
	// may be longer). A regex's match time grows with its size times the
	// label value's length: a 600 KB regex takes about 5 s to match one
	// 1000-byte value, and a selector is matched against every series it
	// meets.
	MaxRegexBytes = 4096
)

// CheckRegex refuses a regex too large to match cheaply. It runs before
// the regex is compiled: compiling takes time too (about half a second
// for 600 KB).
func CheckRegex(name, re string) error {
	if len(re) > MaxRegexBytes && !literalAlternation(re) {
		on := ""
		if name != "" {
			on = fmt.Sprintf(" on label %q", name)
		}
		return fmt.Errorf("regex of %d bytes%s is too large to match cheaply: at most %d bytes, unless it is an alternation of literal values (a|b|c)",
			len(re), on, MaxRegexBytes)
	}
	return nil
}

// literalAlternation reports whether a regex matches a finite set of
// strings without repetition or wildcards (host1|host2|web-[0-9]): matching
// it costs little, however long it is, and Prometheus matches large ones
// through a map.
func literalAlternation(re string) bool {
	r, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return false
	}
	var finite func(r *syntax.Regexp) bool
	finite = func(r *syntax.Regexp) bool {
		switch r.Op {
		case syntax.OpLiteral, syntax.OpEmptyMatch, syntax.OpCharClass:
			return true
		case syntax.OpCapture, syntax.OpConcat, syntax.OpAlternate:
			for _, sub := range r.Sub {
				if !finite(sub) {
					return false
				}
			}
			return true
		}
		return false
	}
	return finite(r)
}

// CheckQueryText measures a PromQL expression (or series selector)
// without parsing it: the deepest nesting of brackets plus the number of
// operators, outside string literals and comments; and every string
// literal longer than MaxRegexBytes that may be a regex (all but the values
// of = and != matchers) must be an alternation of literals.
func CheckQueryText(q string) error {
	depth, maxDepth, ops := 0, 0, 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '"', '\'', '`':
			end := skipString(q, i)
			if end-i > MaxRegexBytes && !exactMatch(q[:i]) {
				lit := q[i+1 : min(end, len(q))]
				if c != '`' {
					if u, err := strconv.Unquote(q[i:min(end+1, len(q))]); err == nil {
						lit = u
					}
				}
				if err := CheckRegex("", lit); err != nil {
					return err
				}
			}
			i = end
		case '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case '(', '[', '{':
			depth++
			maxDepth = max(maxDepth, depth)
		case ')', ']', '}':
			depth = max(depth-1, 0)
		case '+', '-', '*', '/', '%', '^', '=', '!', '<', '>':
			ops++
		default:
			if isWordStart(c) {
				j := i
				for j < len(q) && isWordChar(q[j]) {
					j++
				}
				switch strings.ToLower(q[i:j]) {
				case "and", "or", "unless", "atan2":
					ops++
				}
				i = j - 1
			}
		}
	}
	if n := maxDepth + ops; n > MaxQueryComplexity {
		return fmt.Errorf("query too complex: %d nested brackets and operators, at most %d", n, MaxQueryComplexity)
	}
	return nil
}

// exactMatch reports whether a string literal after before is the value of
// an = or != matcher.
func exactMatch(before string) bool {
	before = strings.TrimRight(before, " \t\r\n")
	return strings.HasSuffix(before, "=") && !strings.HasSuffix(before, "==")
}

// skipString returns the index of the quote closing the string opened at i
// (or the end of q).
func skipString(q string, i int) int {
	quote := q[i]
	for i++; i < len(q); i++ {
		switch {
		case q[i] == '\\' && quote != '`':
			i++
		case q[i] == quote:
			return i
		}
	}
	return len(q)
}

func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWordChar(c byte) bool {
	return isWordStart(c) || c >= '0' && c <= '9' || c == ':'
}
