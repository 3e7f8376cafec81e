package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// corpusSpec is everything a corpus is generated from: the same spec gives
// the same values (pcpgen is deterministic from the seed).
type corpusSpec struct {
	Scale    string `json:"scale"` // full or small
	Seed     uint64 `json:"seed"`
	Start    int64  `json:"start"` // UTC midnight, s
	Days     int    `json:"days"`
	Interval int    `json:"interval_s"`
	Divisor  int    `json:"instance_divisor"`
	Host     string `json:"host"`
	Version  int    `json:"archive_version"`
	GenHash  string `json:"generator_sha256"` // of bench/pcpgen.c
}

type corpusInfo struct {
	Spec            corpusSpec `json:"spec"`
	Dir             string     `json:"-"`
	HostDir         string     `json:"-"`
	Series          int64      `json:"series"`
	Records         int64      `json:"records"`
	Values          int64      `json:"values"`
	GenSeconds      float64    `json:"generate_seconds"`
	CompressSeconds float64    `json:"compress_seconds"`
	DiskBytes       int64      `json:"disk_bytes"`         // as stored (6 days xz)
	RawBytes        int64      `json:"uncompressed_bytes"` // volumes + meta + index uncompressed
	Archives        []string   `json:"archives"`           // base names, oldest first
	Created         time.Time  `json:"created"`
}

func (c *corpusInfo) base(i int) string { return filepath.Join(c.HostDir, c.Archives[i]) }

// ensureCorpus generates the corpus once and reuses it while its spec is
// unchanged.
func ensureCorpus(spec corpusSpec, cache string, pcpgen string) (*corpusInfo, error) {
	dir := filepath.Join(cache, fmt.Sprintf("hostweek-%s-s%d", spec.Scale, spec.Seed))
	manifest := filepath.Join(dir, "corpus.json")
	var ci corpusInfo
	if b, err := os.ReadFile(manifest); err == nil && json.Unmarshal(b, &ci) == nil && ci.Spec == spec {
		ci.Dir, ci.HostDir = dir, filepath.Join(dir, "archives", spec.Host)
		ok := len(ci.Archives) == spec.Days
		for _, a := range ci.Archives {
			if _, err := os.Stat(filepath.Join(ci.HostDir, a+".index")); err != nil {
				ok = false
			}
		}
		if ok {
			logf("corpus: cached %s (%s on disk, generated in %.0f s + %.0f s xz)", dir, mib(ci.DiskBytes), ci.GenSeconds, ci.CompressSeconds)
			return &ci, nil
		}
	}
	logf("corpus: generating %s (%d days, 1/%d of the instances, seed %d)", dir, spec.Days, spec.Divisor, spec.Seed)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "archives.tmp", spec.Host)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	t0 := time.Now()
	out, err := run(60*time.Minute, nil, pcpgen, "-o", tmp, "-s", fmt.Sprint(spec.Seed), "-t", fmt.Sprint(spec.Start),
		"-d", fmt.Sprint(spec.Days), "-i", fmt.Sprint(spec.Interval), "-x", fmt.Sprint(spec.Divisor),
		"-H", spec.Host, "-V", fmt.Sprint(spec.Version))
	if err != nil {
		return nil, err
	}
	ci = corpusInfo{Spec: spec, Dir: dir, Created: time.Now().UTC()}
	var gen struct {
		Series, Records, Values int64
		Seconds                 float64
	}
	if err := json.Unmarshal(out, &gen); err != nil {
		return nil, fmt.Errorf("pcpgen output %q: %w", out, err)
	}
	ci.Series, ci.Records, ci.Values = gen.Series, gen.Records, gen.Values
	ci.GenSeconds = time.Since(t0).Seconds()
	names, _ := filepath.Glob(filepath.Join(tmp, "*.index"))
	sort.Strings(names)
	for _, n := range names {
		ci.Archives = append(ci.Archives, strings.TrimSuffix(filepath.Base(n), ".index"))
	}
	if len(ci.Archives) != spec.Days {
		return nil, fmt.Errorf("pcpgen wrote %d archives, want %d", len(ci.Archives), spec.Days)
	}
	ci.RawBytes = dirBytes(tmp)
	// pmlogger_daily in PCP 6 compresses the data volumes and .meta of
	// older archives with `xz -0 --block-size=10MiB` and leaves .index
	// plain; the newest day stays as pmlogger left it.
	t1 := time.Now()
	var files []string
	for _, a := range ci.Archives[:len(ci.Archives)-1] {
		files = append(files, filepath.Join(tmp, a+".0"), filepath.Join(tmp, a+".meta"))
	}
	if err := parallel(len(files), workers(), func(i int) error {
		_, err := run(30*time.Minute, nil, "xz", "-0", "--block-size=10MiB", files[i])
		return err
	}); err != nil {
		return nil, err
	}
	ci.CompressSeconds = time.Since(t1).Seconds()
	final := filepath.Join(dir, "archives")
	if err := os.Rename(filepath.Dir(tmp), final); err != nil {
		return nil, err
	}
	ci.HostDir = filepath.Join(final, spec.Host)
	ci.DiskBytes = dirBytes(ci.HostDir)
	b, _ := json.MarshalIndent(&ci, "", "  ")
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		return nil, err
	}
	logf("corpus: %d series, %d values, %s raw, %s on disk; generated in %.1f s, compressed in %.1f s",
		ci.Series, ci.Values, mib(ci.RawBytes), mib(ci.DiskBytes), ci.GenSeconds, ci.CompressSeconds)
	return &ci, nil
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// warmPageCache reads every file under dir so "cold" runs measure a fresh
// process, not the disk.
func warmPageCache(dirs ...string) {
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if f, err := os.Open(p); err == nil {
					io.Copy(io.Discard, f)
					f.Close()
				}
			}
			return nil
		})
	}
}

func workers() int {
	n := numCPU()
	if n > 4 {
		n = 4
	}
	return n
}

// parallel runs f(0..n-1) on k goroutines, returning the first error.
func parallel(n, k int, f func(int) error) error {
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for w := 0; w < k; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= n || first != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
