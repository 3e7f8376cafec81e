package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

// Checks made at start, before anything is served: each error names the
// flag or path at fault and what is wanted; runServe exits 2 on any.

// startChecks validates the configuration and returns the archive paths
// to serve and the remote-read options.
func (c *config) startChecks() ([]string, adapter.ReadOptions, error) {
	ro := c.readOptions()
	if err := c.validate(); err != nil {
		return nil, ro, err
	}
	if err := ro.Validate(); err != nil {
		return nil, ro, err
	}
	paths, err := c.archivePaths()
	if err != nil {
		return nil, ro, err
	}
	if err := checkPathsExist(paths); err != nil {
		return nil, ro, err
	}
	return paths, ro, checkCacheDir(c.tableDir, paths)
}

func (c *config) readOptions() adapter.ReadOptions {
	return adapter.ReadOptions{
		MaxSamplesPerQuery: c.maxSamples, MaxConcurrent: c.maxConcurrent, MaxQueueWait: adapter.DefaultMaxQueueWait,
		MaxBytesPerFrame: c.maxFrameBytes, MaxRequestBytes: c.maxRequestSize,
		MaxQueriesPerRequest: adapter.DefaultMaxQueriesPerRequest,
		ExternalLabels:       c.externalLabels,
	}
}

// validate checks the values that parsing alone cannot.
func (c *config) validate() error {
	if err := checkListen(c.listen); err != nil {
		return err
	}
	switch {
	case c.lookbackDelta <= 0:
		return errors.New("--query.lookback-delta must be > 0")
	case c.queryTimeout <= 0:
		return errors.New("--query.timeout must be > 0")
	case c.maxSamples < 0 || c.maxSamples > math.MaxInt:
		return fmt.Errorf("--query.max-samples must be >= 0 (0: no limit) and at most %d", math.MaxInt)
	case c.tableBuilders <= 0:
		return errors.New("--cache.build-cpus must be > 0")
	case c.tableMaxBytes < 0:
		return errors.New("--cache.dir-size must be >= 0 (0: no bound)")
	case c.maxConcurrent <= 0:
		return errors.New("--query.max-concurrency must be > 0")
	case c.maxFrameBytes <= 0:
		return errors.New("--remote-read.max-bytes-in-frame must be > 0")
	case c.maxRequestSize <= 0:
		return errors.New("--remote-read.max-request-bytes must be > 0")
	}
	return nil
}

// checkListen wants host:port. A bare port is the usual slip (other tools
// take one); without this check it surfaces as a listen error, or worse,
// as a host name.
func checkListen(addr string) error {
	_, _, err := net.SplitHostPort(addr)
	if err == nil {
		return nil
	}
	if _, perr := strconv.ParseUint(addr, 10, 16); perr == nil {
		return fmt.Errorf("--web.listen-address=%q: want host:port; did you mean \":%s\"?", addr, addr)
	}
	return fmt.Errorf("--web.listen-address=%q: want host:port, e.g. :9201 or 127.0.0.1:9201 (%v)", addr, err)
}

// checkPathsExist fails on paths that name nothing at all: a typo would
// otherwise serve an empty set forever. A directory without archives yet
// is fine (pmlogger may not have written to it).
func checkPathsExist(paths []string) error {
	missing := multiarchive.Missing(paths)
	if len(missing) == 0 {
		return nil
	}
	noun := "archive path"
	if len(missing) > 1 {
		noun += "s"
	}
	return fmt.Errorf("%s %s: no such file, directory or archive", noun, strings.Join(missing, ", "))
}

// checkCacheDir refuses a --cache.dir equal to or below a directory that
// is served: tables are never written among the archives (the directory
// may be read-only, shared, or managed by pmlogger_daily), and the walk
// would read them.
func checkCacheDir(cacheDir string, paths []string) error {
	if cacheDir == "" {
		return nil
	}
	cache := resolve(cacheDir)
	for _, p := range multiarchive.SplitPaths(paths) {
		dir := p
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			dir = filepath.Dir(p) // an archive file or base name
		}
		if within(cache, resolve(dir)) {
			return fmt.Errorf("--cache.dir=%s is inside the archive directory %s (from %s); "+
				"tables are never written among archives: choose a directory outside it, or --cache.dir= to disable tables",
				cacheDir, dir, p)
		}
	}
	return nil
}

// resolve makes p absolute and resolves the symbolic links of the part of
// it that exists, so that two names of one directory compare equal even
// when the cache directory is yet to be created.
func resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for d := abs; ; d = filepath.Dir(d) {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(d) == d {
			return abs
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}

// within reports whether path is dir or below it, by whole components:
// /a/bc is not within /a/b.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
