package promapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// The query API's JSON is written by hand, byte for byte as Prometheus'
// codec writes it (web/api/v1/json_codec.go, util/jsonutil,
// docs/remote-read-protocol.md §13.3), without reflection: a range query over
// days of archives is millions of points.

// jsonValue is the data of a successful answer.
type jsonValue interface {
	appendJSON(b []byte) []byte
}

// writeJSON sends a whole JSON body, gzip-compressed when the client
// accepts it and the body is worth it, as Prometheus'
// httputil.CompressionHandler does. Write errors mean the client is gone.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if len(body) < 1024 || !acceptsGzip(r) {
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	w.WriteHeader(status)
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // the level is valid
	_, _ = gz.Write(body)
	_ = gz.Close()
}

func acceptsGzip(r *http.Request) bool {
	for _, enc := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(enc) == "gzip" {
			return true
		}
	}
	return false
}

// appendString writes s as a JSON string the way Prometheus' codec
// (jsoniter, standard-library compatible) writes strings in its structs:
// HTML characters escaped, control characters as \u00XX except \n, \r
// and \t, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte { return appendJSONString(b, s, true) }

// appendLabelString writes a label name or value as Prometheus 3 does
// (json_codec.go marshalLabelsJSON, jsoniter's Stream.WriteString): no
// HTML escaping. jsoniter copies invalid UTF-8 through, which makes the
// answer invalid JSON; here it becomes U+FFFD as in every other string.
func appendLabelString(b []byte, s string) []byte { return appendJSONString(b, s, false) }

func appendJSONString(b []byte, s string, html bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if html && (r == '\u2028' || r == '\u2029') {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendTimestamp writes ms as unix seconds with up to three decimals, the
// fraction left out when it is zero (jsonutil.MarshalTimestamp).
func appendTimestamp(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if frac := t % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return b
}

// appendSampleValue writes a sample value as a JSON string: shortest 'f'
// form, 'e' below 1e-6 or from 1e21 on, and NaN, +Inf, -Inf
// (jsonutil.MarshalFloat).
func appendSampleValue(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = append(b, '"')
	b = strconv.AppendFloat(b, f, format, -1, 64)
	return append(b, '"')
}

// appendJSONNumber writes a float as encoding/json does; Prometheus'
// Scalar and String values marshal their time this way.
func appendJSONNumber(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as in encoding/json.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendLabels(b []byte, ls labels.Labels) []byte {
	b = append(b, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendLabelString(b, l.Name)
		b = append(b, ':')
		b = appendLabelString(b, l.Value)
	})
	return append(b, '}')
}

// appendHistogram is jsonutil.MarshalHistogram. PCP values are never
// histograms; this keeps the encoder total over what the engine returns.
func appendHistogram(b []byte, h *histogram.FloatHistogram) []byte {
	b = append(b, `{"count":`...)
	b = appendSampleValue(b, h.Count)
	b = append(b, `,"sum":`...)
	b = appendSampleValue(b, h.Sum)
	found := false
	it := h.AllBucketIterator()
	for it.Next() {
		bk := it.At()
		if bk.Count == 0 {
			continue
		}
		if !found {
			b = append(b, `,"buckets":[`...)
		} else {
			b = append(b, ',')
		}
		found = true
		boundaries := 2 // open on both sides
		switch {
		case bk.LowerInclusive && bk.UpperInclusive:
			boundaries = 3
		case bk.LowerInclusive:
			boundaries = 1
		case bk.UpperInclusive:
			boundaries = 0
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(boundaries), 10)
		b = append(b, ',')
		b = appendSampleValue(b, bk.Lower)
		b = append(b, ',')
		b = appendSampleValue(b, bk.Upper)
		b = append(b, ',')
		b = appendSampleValue(b, bk.Count)
		b = append(b, ']')
	}
	if found {
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendValue writes a query result in Prometheus' shapes
// (docs/remote-read-protocol.md §13.3).
func appendValue(b []byte, v parser.Value) []byte {
	switch v := v.(type) {
	case promql.Vector:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabels(b, s.Metric)
			if s.H == nil {
				b = append(b, `,"value":`...)
				b = appendFloatPoint(b, promql.FPoint{T: s.T, F: s.F})
			} else {
				b = append(b, `,"histogram":`...)
				b = appendHistogramPoint(b, promql.HPoint{T: s.T, H: s.H})
			}
			b = append(b, '}')
		}
		return append(b, ']')
	case promql.Matrix:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabels(b, s.Metric)
			if len(s.Floats) > 0 {
				b = append(b, `,"values":`...)
				b = appendList(b, s.Floats, appendFloatPoint)
			}
			if len(s.Histograms) > 0 {
				b = append(b, `,"histograms":`...)
				b = appendList(b, s.Histograms, appendHistogramPoint)
			}
			b = append(b, '}')
		}
		return append(b, ']')
	case promql.Scalar:
		// promql.Scalar.MarshalJSON: the value always in 'f' form.
		b = append(b, '[')
		b = appendJSONNumber(b, float64(v.T)/1000)
		b = append(b, ',', '"')
		b = strconv.AppendFloat(b, v.V, 'f', -1, 64)
		return append(b, '"', ']')
	case promql.String:
		b = append(b, '[')
		b = appendJSONNumber(b, float64(v.T)/1000)
		b = append(b, ',')
		b = appendString(b, v.V)
		return append(b, ']')
	}
	return append(b, "null"...)
}

// appendList writes a JSON array of xs, each written by appendItem.
func appendList[T any](b []byte, xs []T, appendItem func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, x)
	}
	return append(b, ']')
}

// appendPoint writes a sample of a vector or matrix: [t,value], the value
// written by appendV.
func appendPoint[V any](b []byte, t int64, v V, appendV func([]byte, V) []byte) []byte {
	b = append(b, '[')
	b = appendTimestamp(b, t)
	b = append(b, ',')
	b = appendV(b, v)
	return append(b, ']')
}

// appendFloatPoint writes [t,"value"].
func appendFloatPoint(b []byte, p promql.FPoint) []byte {
	return appendPoint(b, p.T, p.F, appendSampleValue)
}

// appendHistogramPoint writes [t,{histogram}].
func appendHistogramPoint(b []byte, p promql.HPoint) []byte {
	return appendPoint(b, p.T, p.H, appendHistogram)
}

// queryData is the data of /api/v1/query and query_range.
type queryData struct {
	value parser.Value
	stats any // util/stats.QueryStats when asked for; nil otherwise
}

func (d queryData) appendJSON(b []byte) []byte {
	b = append(b, `{"resultType":`...)
	b = appendString(b, string(d.value.Type()))
	b = append(b, `,"result":`...)
	b = appendValue(b, d.value)
	if d.stats != nil {
		b = append(b, `,"stats":`...)
		b = jsonMarshal{d.stats}.appendJSON(b)
	}
	return append(b, '}')
}

// stringList is a JSON array of strings; nil is [] (never null).
type stringList []string

func (l stringList) appendJSON(b []byte) []byte { return appendList(b, l, appendString) }

// labelSets is the data of /api/v1/series.
type labelSets []labels.Labels

func (l labelSets) appendJSON(b []byte) []byte { return appendList(b, l, appendLabels) }

// jsonMarshal writes small, fixed-shape values (build info, stats) with
// encoding/json.
type jsonMarshal struct{ v any }

func (m jsonMarshal) appendJSON(b []byte) []byte {
	out, err := json.Marshal(m.v)
	if err != nil {
		return append(b, "null"...) // only plain structs and maps get here
	}
	return append(b, out...)
}
