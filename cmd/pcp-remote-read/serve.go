package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// defaultListen is the conventional port of a remote-storage adapter (the
// Prometheus example adapter's); PCP uses 44321-44323.
const defaultListen = ":9201"

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type config struct {
	archives       stringList
	listen         string
	webConfig      string
	logLevel       string
	logFormat      string
	showVersion    bool
	rescan         time.Duration
	cacheArchives  int
	cacheBytes     int64
	tableDir       string
	maxSamples     int64
	maxConcurrent  int
	lookbackDelta  time.Duration
	queryTimeout   time.Duration
	maxFrameBytes  int
	maxRequestSize int64
	stallTimeout   time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("pcp-remote-read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ro := adapter.DefaultReadOptions()
	fs.Var(&c.archives, "a", "shorthand for --archive")
	fs.Var(&c.archives, "archive", "archive to serve: a base name, any archive file, a directory (walked), or a comma list of these; repeatable")
	fs.StringVar(&c.listen, "web.listen-address", defaultListen, "address to listen on")
	fs.StringVar(&c.webConfig, "web.config.file", "", "TLS and basic-auth configuration (Prometheus exporter-toolkit web config format)")
	fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log.format", "logfmt", "log format: logfmt or json")
	fs.DurationVar(&c.stallTimeout, "web.stall-timeout", adapter.DefaultStallTimeout, "drop a client whose request body or response makes no progress for this long (0: never)")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.DurationVar(&c.rescan, "archive.rescan-interval", time.Minute, "how often to rescan the archive paths for new archives (0 disables; queries reaching past the newest data also rescan)")
	fs.IntVar(&c.cacheArchives, "cache.archives", 16, "archives whose metadata is kept in memory")
	fs.Int64Var(&c.cacheBytes, "cache.bytes", 512<<20, "bytes of archive metadata kept in memory")
	fs.StringVar(&c.tableDir, "cache.dir", defaultTableDir(), "directory for column tables of archives (built in the background, safe to delete; never inside archive directories); empty disables them")
	fs.Int64Var(&c.maxSamples, "query.max-samples", ro.MaxSamplesPerQuery, "samples one query may select (0: no limit); over it a remote read fails with 400 before any data, a PromQL query with 422")
	fs.IntVar(&c.maxConcurrent, "query.max-concurrency", ro.MaxConcurrent, "remote reads served at once (> 0; more wait up to 10s, then get 429), and PromQL queries evaluated at once (more wait within their timeout)")
	fs.DurationVar(&c.lookbackDelta, "query.lookback-delta", adapter.DefaultLookbackDelta, "how far back PromQL looks for a sample of a series at each evaluation time (> 0)")
	fs.DurationVar(&c.queryTimeout, "query.timeout", adapter.DefaultQueryTimeout, "longest a PromQL query may run, queueing included (> 0); then it fails with 503")
	fs.IntVar(&c.maxFrameBytes, "remote-read.max-bytes-in-frame", ro.MaxBytesPerFrame, "largest streamed frame (one whole series) in bytes; keep below the client's chunked_read_limit (5e7)")
	fs.Int64Var(&c.maxRequestSize, "remote-read.max-request-bytes", ro.MaxRequestBytes, "largest remote-read request body, compressed and decompressed")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: pcp-remote-read [flags] [PATH...]\n       pcp-remote-read dump [-meta] [-index] ARCHIVE\n\n"+
			"Serves PCP archives to Prometheus (remote read at /api/v1/read) and to Grafana\n"+
			"(the Prometheus query API: /api/v1/query, query_range, series, labels, ...).\n"+
			"PATHs are archives or directories; with none, $PCP_ARCHIVE_DIR (default /var/log/pcp/pmlogger).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// Flags and paths may come in any order.
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			c.archives = append(c.archives, args[0])
			args = args[1:]
		}
	}
	return c, nil
}

// defaultTableDir is the user's cache directory ($XDG_CACHE_HOME or
// ~/.cache), or none when there is no home.
func defaultTableDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pcp-remote-read", "tables")
}

// archivePaths applies the default: $PCP_ARCHIVE_DIR, as pmlogger uses it.
func (c *config) archivePaths() ([]string, error) {
	if len(c.archives) > 0 {
		return c.archives, nil
	}
	dir := os.Getenv("PCP_ARCHIVE_DIR")
	if dir == "" {
		dir = "/var/log/pcp/pmlogger"
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return []string{dir}, nil
	}
	return nil, fmt.Errorf("no archives named and %s does not exist: name archives or directories as arguments or with -a/--archive (e.g. pcp-remote-read /var/log/pcp/pmlogger/myhost), or set PCP_ARCHIVE_DIR", dir)
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "logfmt", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format %q: want logfmt or json", format)
}

// buildInfo is what /api/v1/status/buildinfo reports: this program's
// version (not a Prometheus version; Grafana's "Detect version" then finds
// none, so deployments/grafana sets the data source's Prometheus version).
func buildInfo() adapter.BuildInfo {
	bi := adapter.BuildInfo{Version: version, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				bi.Revision = s.Value
			case "vcs.time":
				bi.BuildDate = s.Value
			}
		}
	}
	return bi
}

// httpErrorLog routes net/http's own messages into the log: a panic in a
// handler at error level, a client's failed TLS handshake (scanners, plain
// HTTP sent to the TLS port) at debug, anything else at warn.
type httpErrorLog struct{ log *slog.Logger }

func (h httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(msg, "panic"):
		h.log.Error("http server", "err", msg)
	case strings.Contains(msg, "TLS handshake error"):
		h.log.Debug("http server", "err", msg)
	default:
		h.log.Warn("http server", "err", msg)
	}
	return len(p), nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.showVersion {
		fmt.Fprintf(stdout, "pcp-remote-read %s\n", version)
		return 0
	}
	log, err := newLogger(c.logLevel, c.logFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pcp-remote-read:", err)
		return 2
	}
	paths, err := c.archivePaths()
	if err != nil {
		fmt.Fprintln(stderr, "pcp-remote-read:", err)
		return 2
	}
	ro := adapter.ReadOptions{
		MaxSamplesPerQuery: c.maxSamples, MaxConcurrent: c.maxConcurrent, MaxQueueWait: adapter.DefaultMaxQueueWait,
		MaxBytesPerFrame: c.maxFrameBytes, MaxRequestBytes: c.maxRequestSize,
		MaxQueriesPerRequest: adapter.DefaultMaxQueriesPerRequest,
	}
	if err := ro.Validate(); err != nil {
		fmt.Fprintln(stderr, "pcp-remote-read:", err)
		return 2
	}
	if c.lookbackDelta <= 0 || c.queryTimeout <= 0 || c.maxSamples > math.MaxInt || c.stallTimeout < 0 {
		fmt.Fprintln(stderr, "pcp-remote-read: --query.lookback-delta and --query.timeout must be > 0, --query.max-samples must fit an int, --web.stall-timeout must be >= 0")
		return 2
	}
	if c.webConfig != "" {
		if err := web.Validate(c.webConfig); err != nil {
			fmt.Fprintln(stderr, "pcp-remote-read: --web.config.file:", err)
			return 2
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pcp_remote_read_build_info", Help: "Build information.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))
	metrics, err := adapter.NewMetrics(reg)
	if err != nil {
		fmt.Fprintln(stderr, "pcp-remote-read:", err)
		return 1
	}

	// The HTTP server answers health checks while the archives are indexed;
	// /-/ready and the data endpoints wait for that.
	var ready atomic.Bool
	var handler atomic.Pointer[http.Handler]
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "pcp-remote-read is healthy.") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "pcp-remote-read is indexing archives.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "pcp-remote-read is ready.")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := handler.Load()
		if h == nil {
			http.Error(w, "pcp-remote-read is indexing archives; try again shortly.", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	srv := &http.Server{
		// A client that stops reading or sending is dropped after
		// --web.stall-timeout without progress.
		Handler:           adapter.WithStallTimeout(mux, c.stallTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: a streamed read may legitimately run as long as
		// the client's remote_timeout, and the client cancels it itself.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    stdlog.New(httpErrorLog{log}, "", 0),
	}
	listen := []string{c.listen}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &listen, WebSystemdSocket: &systemd, WebConfigFile: &c.webConfig}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, flags, log) }()

	var opened atomic.Pointer[multiarchive.Set]
	go func() {
		start := time.Now()
		set, err := multiarchive.Open(multiarchive.Options{Paths: paths, CacheArchives: c.cacheArchives, CacheBytes: c.cacheBytes, TableDir: c.tableDir, Logger: log})
		if err != nil {
			log.Warn("no archives yet; serving empty results until some appear", "err", err)
		}
		opened.Store(set)
		st := set.Status()
		log.Info("archives indexed", "hosts", len(st.Hosts), "skipped", len(st.Skipped), "duration", time.Since(start))
		reg.MustRegister(adapter.NewSetCollector(set))
		store := translate.New(set, translate.Options{MaxSamples: c.maxSamples, Logger: log})
		rh, err := adapter.NewReadHandler(store, ro, log, metrics)
		if err != nil {
			serveErr <- err
			return
		}
		api, err := adapter.NewAPIHandler(store, store, adapter.APIOptions{
			LookbackDelta: c.lookbackDelta,
			Timeout:       c.queryTimeout,
			MaxSamples:    int(c.maxSamples),
			MaxConcurrent: c.maxConcurrent,
			Registerer:    reg,
			BuildInfo:     buildInfo(),
		}, log, metrics)
		if err != nil {
			serveErr <- err
			return
		}
		data := http.NewServeMux()
		data.Handle("/api/v1/read", rh)
		// Everything else under /api/v1/ is the Prometheus query API that
		// Grafana's Prometheus data source talks to (§13).
		data.Handle(adapter.APIPrefix, api)
		data.Handle("/status", adapter.NewStatusHandler(set))
		data.Handle("/{$}", adapter.NewStatusHandler(set))
		var h http.Handler = data
		handler.Store(&h)
		ready.Store(true)
		go set.Watch(ctx, c.rescan)
	}()

	select {
	case err := <-serveErr:
		log.Error("server failed", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if set := opened.Load(); set != nil {
		set.Close() // finish or drop a table being written
	}
	return 0
}
