package promapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// Defaults for APIOptions, as Prometheus' own flags.
const (
	DefaultLookbackDelta = 5 * time.Minute
	DefaultQueryTimeout  = 2 * time.Minute
)

// MetadataSource lists metric metadata for /api/v1/metadata;
// translate.Storage is one.
type MetadataSource interface {
	Metadata(ctx context.Context, metric string) ([]translate.MetricMetadata, annotations.Annotations, error)
}

// BuildInfo is what /api/v1/status/buildinfo reports. It has no features
// field on purpose: Grafana classifies a server with features as Mimir and
// then expects a ruler API (docs/remote-read-protocol.md §13.1).
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// APIOptions configures the Prometheus HTTP query API.
type APIOptions struct {
	// LookbackDelta is how far back an instant vector selector looks for
	// a sample (--query.lookback-delta). 0 means DefaultLookbackDelta.
	LookbackDelta time.Duration
	// Timeout bounds one PromQL query, queueing included
	// (--query.timeout). 0 means DefaultQueryTimeout.
	Timeout time.Duration
	// MaxSamples bounds the samples the engine holds in memory for one
	// query (--query.max-samples); over it a query fails with 422
	// "execution". 0 means no limit.
	MaxSamples int
	// MaxConcurrent is the number of PromQL queries evaluated at once
	// (--query.max-concurrency); more wait, up to their timeout, as in
	// Prometheus. It must be > 0.
	MaxConcurrent int
	// Registerer receives the engine's prometheus_engine_* metrics; nil
	// leaves them unregistered.
	Registerer prometheus.Registerer
	// BuildInfo is served at /api/v1/status/buildinfo.
	BuildInfo BuildInfo
	// ExternalLabels are shown in /api/v1/status/config as Prometheus'
	// global external_labels, where a Thanos sidecar reads them. The
	// query API does not add them to series, as Prometheus does not.
	ExternalLabels labels.Labels
	// Flags is /api/v1/status/flags: each command-line flag's value.
	Flags map[string]string
	// Now is the clock (the default time of instant queries); nil means
	// time.Now.
	Now func() time.Time
}

func (o *APIOptions) setDefaults() error {
	if o.LookbackDelta == 0 {
		o.LookbackDelta = DefaultLookbackDelta
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultQueryTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BuildInfo.GoVersion == "" {
		o.BuildInfo.GoVersion = runtime.Version()
	}
	var errs []error
	if o.LookbackDelta < 0 {
		errs = append(errs, fmt.Errorf("LookbackDelta %v < 0", o.LookbackDelta))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("negative Timeout %v", o.Timeout))
	}
	if o.MaxSamples < 0 {
		errs = append(errs, fmt.Errorf("MaxSamples %d < 0", o.MaxSamples))
	}
	if o.MaxConcurrent <= 0 {
		errs = append(errs, fmt.Errorf("MaxConcurrent %d must be > 0", o.MaxConcurrent))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid API options: %w", err)
	}
	return nil
}

// Values of the "handler" label for the query API, one per endpoint.
const (
	handlerQuery          = "query"
	handlerQueryRange     = "query_range"
	handlerSeries         = "series"
	handlerLabels         = "labels"
	handlerLabelValues    = "label_values"
	handlerMetadata       = "metadata"
	handlerQueryExemplars = "query_exemplars"
	handlerFormatQuery    = "format_query"
	handlerBuildInfo      = "buildinfo"
	handlerRuntimeInfo    = "runtimeinfo"
	handlerConfig         = "config"
	handlerFlags          = "flags"
	handlerRules          = "rules"
	handlerAlerts         = "alerts"
)

// responseTypeJSON is the "response_type" of the query API's answers.
const responseTypeJSON = "json"

// APIPrefix is where the query API lives; mount the handler there.
const APIPrefix = "/api/v1/"

type api struct {
	queryable storage.Queryable
	metadata  MetadataSource
	engine    *promql.Engine
	parser    parser.Parser
	opts      APIOptions
	log       *slog.Logger
	metrics   *adapter.Metrics
	started   time.Time
}

// NewAPIHandler returns the Prometheus-compatible HTTP query API
// (/api/v1/query, query_range, series, labels, label/<name>/values,
// metadata, status/buildinfo and what Grafana's Prometheus data source
// calls besides, docs/remote-read-protocol.md §13) over q, the same storage
// path remote read uses, with an embedded PromQL engine. The handler serves
// paths under APIPrefix and answers 404 for others. A nil logger discards
// logs; nil metrics are created unregistered.
func NewAPIHandler(q storage.Queryable, md MetadataSource, opts APIOptions, logger *slog.Logger, m *adapter.Metrics) (http.Handler, error) {
	if q == nil || md == nil {
		return nil, errors.New("query API: nil queryable or metadata source")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("query API: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		var err error
		if m, err = adapter.NewMetrics(nil); err != nil {
			return nil, fmt.Errorf("query API: %w", err)
		}
	}
	p := parser.NewParser(parser.Options{})
	a := &api{
		queryable: storageErrors{q},
		metadata:  md,
		parser:    p,
		opts:      opts,
		log:       logger.With("handler", "api"),
		metrics:   m,
		started:   opts.Now(),
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:               logger,
			Reg:                  opts.Registerer,
			MaxSamples:           engineMaxSamples(opts.MaxSamples),
			Timeout:              opts.Timeout,
			ActiveQueryTracker:   newQueryGate(opts.MaxConcurrent),
			LookbackDelta:        opts.LookbackDelta,
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
			Parser:               p,
		}),
	}

	mux := http.NewServeMux()
	// Methods as Prometheus registers them (web/api/v1/api.go Register):
	// Grafana posts resource calls first and falls back to GET on 400 or
	// 405, so a 405 for POST where Prometheus has none matters.
	getPost := []string{http.MethodGet, http.MethodPost}
	get := []string{http.MethodGet}
	a.route(mux, "query", handlerQuery, getPost, a.query)
	a.route(mux, "query_range", handlerQueryRange, getPost, a.queryRange)
	a.route(mux, "query_exemplars", handlerQueryExemplars, getPost, a.queryExemplars)
	a.route(mux, "format_query", handlerFormatQuery, getPost, a.formatQuery)
	a.route(mux, "series", handlerSeries, getPost, a.series)
	a.route(mux, "labels", handlerLabels, getPost, a.labelNames)
	a.route(mux, "label/{name}/values", handlerLabelValues, get, a.labelValues)
	a.route(mux, "metadata", handlerMetadata, get, a.metricMetadata)
	a.route(mux, "status/buildinfo", handlerBuildInfo, get, a.buildInfo)
	a.route(mux, "status/runtimeinfo", handlerRuntimeInfo, get, a.runtimeInfo)
	a.route(mux, "status/config", handlerConfig, get, a.config)
	a.route(mux, "status/flags", handlerFlags, get, a.flags)
	a.route(mux, "rules", handlerRules, get, a.rules)
	a.route(mux, "alerts", handlerAlerts, get, a.alerts)
	return mux, nil
}

// engineMaxSamples maps "0: no limit" onto the engine, for which 0 would
// refuse every sample.
func engineMaxSamples(n int) int {
	if n == 0 {
		return math.MaxInt
	}
	return n
}

// apiResult is what an endpoint hands to the envelope writer: data (or an
// error) and the annotations that become warnings and infos.
type apiResult struct {
	data  jsonValue
	err   *apiError
	warns annotations.Annotations
	// series and samples are counted in Metrics.SeriesServed/SamplesServed.
	series, samples int
}

type apiFunc func(r *http.Request) apiResult

func (a *api) route(mux *http.ServeMux, path, handler string, methods []string, f apiFunc) {
	a.metrics.InitHandler(handler, responseTypeJSON)
	allowed := map[string]bool{}
	allow := ""
	for i, m := range methods {
		allowed[m] = true
		if i > 0 {
			allow += ", "
		}
		allow += m
	}
	mux.HandleFunc(APIPrefix+path, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inFlight := a.metrics.InFlight.WithLabelValues(handler)
		inFlight.Inc()
		defer inFlight.Dec()

		var code int
		switch {
		case r.Method == http.MethodOptions:
			// Prometheus answers OPTIONS on every API path (CORS preflight).
			w.Header().Set("Allow", allow+", "+http.MethodOptions)
			code = http.StatusNoContent
			w.WriteHeader(code)
		case !allowed[r.Method]:
			// As Prometheus' router: plain text, no envelope.
			w.Header().Set("Allow", allow+", "+http.MethodOptions)
			code = http.StatusMethodNotAllowed
			http.Error(w, http.StatusText(code), code)
			a.metrics.Errors.WithLabelValues(handler, errKindBadRequest).Inc()
		default:
			if e := a.checkAPIRequest(r); e != nil {
				code = a.respondError(w, r, handler, e)
				break
			}
			res := f(r)
			code = a.respond(w, r, handler, res)
		}
		a.metrics.Requests.WithLabelValues(handler, strconv.Itoa(code)).Inc()
		a.metrics.RequestDuration.WithLabelValues(handler).Observe(time.Since(start).Seconds())
	})
}

// respond writes the envelope (docs/remote-read-protocol.md §13.2) and returns
// the status code sent.
func (a *api) respond(w http.ResponseWriter, r *http.Request, handler string, res apiResult) int {
	if res.err != nil {
		return a.respondError(w, r, handler, res.err)
	}
	// The query text lets annotations point at positions in it.
	warns, infos := annotationStrings(res.warns, r.FormValue("query"))
	size := 1024
	if raw, ok := res.data.(rawJSON); ok {
		size += len(raw) // encoded already: the envelope is copied once
	}
	b := make([]byte, 0, size)
	b = append(b, `{"status":"success","data":`...)
	b = res.data.appendJSON(b)
	b = appendStringList(b, "warnings", warns)
	b = appendStringList(b, "infos", infos)
	b = append(b, '}')
	if res.series > 0 {
		a.metrics.SeriesServed.WithLabelValues(handler, responseTypeJSON).Add(float64(res.series))
		a.metrics.SamplesServed.WithLabelValues(handler, responseTypeJSON).Add(float64(res.samples))
	}
	writeJSON(w, r, http.StatusOK, b)
	return http.StatusOK
}

// maxAnnotations is how many warnings and infos Prometheus lists; the rest
// are counted in one last line.
const maxAnnotations = 10

// annotationStrings is Annotations.AsStrings with a stable order: the
// annotations are a map, and Prometheus lists them in map order.
func annotationStrings(a annotations.Annotations, query string) (warns, infos []string) {
	warns, infos = a.AsStrings(query, 0, 0)
	cut := func(list []string, what string) []string {
		sort.Strings(list)
		if len(list) <= maxAnnotations {
			return list
		}
		n := len(list) - maxAnnotations
		return append(list[:maxAnnotations], fmt.Sprintf("%d more %s annotations omitted", n, what))
	}
	return cut(warns, "warning"), cut(infos, "info")
}

func appendStringList(b []byte, key string, list []string) []byte {
	if len(list) == 0 {
		return b // omitted when empty, as Prometheus does
	}
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	return stringList(list).appendJSON(b)
}

func (a *api) respondError(w http.ResponseWriter, r *http.Request, handler string, e *apiError) int {
	status := e.status()
	kind := e.kind()
	a.metrics.Errors.WithLabelValues(handler, kind).Inc()
	attrs := []any{"endpoint", handler, "status", status, "errorType", e.typ, "err", e.err, "remote", r.RemoteAddr}
	switch kind {
	case errKindInternal:
		a.log.Error("query API request failed", attrs...)
	case errKindLimit:
		a.log.Info("query API request refused", attrs...)
	default:
		a.log.Debug("query API request rejected", attrs...)
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"status":"error","errorType":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"error":`...)
	b = appendString(b, e.err.Error())
	b = append(b, '}')
	writeJSON(w, r, status, b)
	return status
}
