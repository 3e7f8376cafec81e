package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
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
	"github.com/pcp-remote-read/pcp-remote-read/adapter/promapi"
	"github.com/pcp-remote-read/pcp-remote-read/adapter/remoteread"
	"github.com/pcp-remote-read/pcp-remote-read/adapter/status"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// defaultListen is the conventional port of a remote-storage adapter (the
// Prometheus example adapter's); PCP uses 44321-44323.
const defaultListen = ":9201"

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
func buildInfo() promapi.BuildInfo {
	bi := promapi.BuildInfo{Version: version, GoVersion: runtime.Version()}
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
	s, code := prepare(args, stdout, stderr)
	if s == nil {
		return code
	}
	return s.serve(ctx)
}

// server is a running pcp-remote-read: what the flags set up, and the
// handler that takes over once the archives are indexed.
type server struct {
	c       *config
	log     *slog.Logger
	paths   []string
	ro      adapter.ReadOptions
	reg     *prometheus.Registry
	metrics *adapter.Metrics

	ready    atomic.Bool
	handler  atomic.Pointer[http.Handler]
	opened   atomic.Pointer[multiarchive.Set]
	serveErr chan error
}

// prepare reads the command line and checks everything that can be
// checked before serving. With no server it returns the exit code: 0 for
// --help and --version, 2 for a bad flag or path, 1 for a failure.
func prepare(args []string, stdout, stderr io.Writer) (*server, int) {
	c, err := parseFlags(args, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil, 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pcp-remote-read: error: %v; try --help\n", err)
		return nil, 2
	}
	if c.showVersion {
		fmt.Fprintf(stdout, "pcp-remote-read %s\n", version)
		return nil, 0
	}
	log, err := newLogger(c.logLevel, c.logFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pcp-remote-read:", err)
		return nil, 2
	}
	paths, ro, err := c.startChecks()
	if err != nil {
		fmt.Fprintln(stderr, "pcp-remote-read: error:", err)
		return nil, 2
	}
	if c.webConfig != "" {
		if err := web.Validate(c.webConfig); err != nil {
			fmt.Fprintln(stderr, "pcp-remote-read: --web.config.file:", err)
			return nil, 2
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
		return nil, 1
	}
	return &server{c: c, log: log, paths: paths, ro: ro, reg: reg, metrics: metrics, serveErr: make(chan error, 1)}, 0
}

// serve listens at once, indexes the archives meanwhile, and runs until
// ctx is done or the listener fails.
func (s *server) serve(ctx context.Context) int {
	srv := s.httpServer()
	listen := []string{s.c.listen}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &listen, WebSystemdSocket: &systemd, WebConfigFile: &s.c.webConfig}
	go func() { s.serveErr <- web.ListenAndServe(srv, flags, s.log) }()
	go func() {
		if err := s.open(ctx); err != nil {
			s.serveErr <- err
		}
	}()

	select {
	case err := <-s.serveErr:
		s.log.Error("server failed", "err", err)
		return 1
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if set := s.opened.Load(); set != nil {
		set.Close() // finish or drop a table being written
	}
	return 0
}

// httpServer is the front door: health and readiness, /metrics, and the
// data endpoints, which answer 503 until the archives are indexed.
func (s *server) httpServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "pcp-remote-read is healthy.") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "pcp-remote-read is indexing archives.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "pcp-remote-read is ready.")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := s.handler.Load()
		if h == nil {
			http.Error(w, "pcp-remote-read is indexing archives; try again shortly.", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	return &http.Server{
		// A client that stops reading or sending is dropped after
		// --web.stall-timeout without progress.
		Handler:           adapter.WithStallTimeout(mux, s.c.stallTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: a streamed read may legitimately run as long as
		// the client's remote_timeout, and the client cancels it itself.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    stdlog.New(httpErrorLog{s.log}, "", 0),
	}
}

// backlogDelay is how long the background indexer waits after start, and
// after the last query that read archives without a table: a restarted
// server is asked at once by every dashboard that waited.
const backlogDelay = 500 * time.Millisecond

// open indexes the archives, then puts the data endpoints in place and
// starts the rescans.
func (s *server) open(ctx context.Context) error {
	c, log := s.c, s.log
	start := time.Now()
	set, err := multiarchive.Open(multiarchive.Options{Paths: s.paths, CacheArchives: c.cacheArchives, CacheBytes: c.cacheBytes, TableDir: c.tableDir, Logger: log,
		TableMaxBytes: c.tableMaxBytes, TableBuilders: c.tableBuilders, BacklogDelay: backlogDelay})
	if err != nil {
		return err
	}
	if len(set.Hosts()) == 0 {
		log.Warn("no readable PCP archive yet; serving empty results until some appear", "paths", s.paths)
	}
	s.opened.Store(set)
	st := set.Status()
	log.Info("archives indexed", "hosts", len(st.Hosts), "skipped", len(st.Skipped), "duration", time.Since(start))
	if st.Tables.Problem != "" {
		log.Warn("--cache.dir is unusable: column tables disabled, queries read the archives directly (see /status)",
			"dir", st.Tables.Dir, "reason", st.Tables.Problem)
	}
	s.reg.MustRegister(status.NewSetCollector(set))
	h, err := s.dataHandler(set)
	if err != nil {
		return err
	}
	s.handler.Store(&h)
	s.ready.Store(true)
	go set.Watch(ctx, c.rescan)
	return nil
}

// dataHandler serves remote read, the Prometheus query API and /status
// over a set of archives.
func (s *server) dataHandler(set *multiarchive.Set) (http.Handler, error) {
	c := s.c
	store := translate.New(set, translate.Options{MaxSamples: c.maxSamples, Logger: s.log, AgentLabels: c.agentLabels})
	rh, err := remoteread.NewReadHandler(store, s.ro, s.log, s.metrics)
	if err != nil {
		return nil, err
	}
	api, err := promapi.NewAPIHandler(store, store, promapi.APIOptions{
		LookbackDelta: c.lookbackDelta,
		Timeout:       c.queryTimeout,
		MaxSamples:    int(c.maxSamples),
		MaxConcurrent: c.maxConcurrent,
		Registerer:    s.reg,
		BuildInfo:     buildInfo(),
		// What a Thanos sidecar reads (docs/remote-read-protocol.md §14).
		ExternalLabels: c.externalLabels,
		Flags:          c.flagValues,
	}, s.log, s.metrics)
	if err != nil {
		return nil, err
	}
	data := http.NewServeMux()
	data.Handle("/api/v1/read", rh)
	// Everything else under /api/v1/ is the Prometheus query API that
	// Grafana's Prometheus data source talks to
	// (docs/remote-read-protocol.md §13).
	data.Handle(promapi.APIPrefix, api)
	data.Handle("/status", status.NewStatusHandler(set))
	data.Handle("/{$}", status.NewStatusHandler(set))
	return data, nil
}
