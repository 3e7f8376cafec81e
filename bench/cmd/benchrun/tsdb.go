package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pcp-remote-read/pcp-remote-read/archive"
)

// server is a server under test on a loopback port.
type server struct {
	*proc
	base string
}

func startOurs(t *tools, ci *corpusInfo, logTag string, extra ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{t.ours, "--web.listen-address=" + addr, "--log.level=warn", "--archive.rescan-interval=0", "--query.timeout=10m"}, t.cacheArgs()...)
	args = append(args, extra...)
	args = append(args, ci.HostDir)
	return startServer("pcp-remote-read", t.logFile("ours-"+logTag), t.oursEnv, addr, args...)
}

// startOursCache starts our server as startOurs does, but with
// --cache.dir=dir (an empty directory for a first query on an empty
// cache) instead of the run's tables; a server without --cache.dir gets
// none, and never has tables.
func startOursCache(t *tools, ci *corpusInfo, dir, logTag string, extra ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{t.ours, "--web.listen-address=" + addr, "--log.level=warn", "--archive.rescan-interval=0", "--query.timeout=10m"}
	if t.tableFlag {
		args = append(args, "--cache.dir="+dir)
	}
	args = append(args, extra...)
	args = append(args, ci.HostDir)
	return startServer("pcp-remote-read", t.logFile("ours-"+logTag), t.oursEnv, addr, args...)
}

// startServer starts a server listening on addr and waits until it is ready.
func startServer(name, logFile string, env []string, addr string, argv ...string) (*server, error) {
	p, err := startProc(name, logFile, env, argv...)
	if err != nil {
		return nil, err
	}
	s := &server{proc: p, base: "http://" + addr}
	if err := waitReady(p, s.base+"/-/ready", 10*time.Minute); err != nil {
		p.stop()
		return nil, err
	}
	return s, nil
}

// startProm starts Prometheus 3.x over dataDir with configYAML.
func startProm(t *tools, dataDir, configYAML, logTag string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := strings.TrimSuffix(t.logFile("prometheus-"+logTag), ".log") + ".yml"
	if err := os.WriteFile(cfg, []byte(configYAML), 0o644); err != nil {
		return nil, err
	}
	return startServer("prometheus", strings.TrimSuffix(cfg, ".yml")+".log", nil, addr, t.prom3,
		"--config.file="+cfg, "--storage.tsdb.path="+dataDir, "--storage.tsdb.retention.time=100y",
		"--web.listen-address="+addr, "--log.level=warn", "--query.timeout=10m")
}

const emptyPromConfig = "global:\n  scrape_interval: 1m\n"

type tsdbInfo struct {
	CorpusCreated    time.Time `json:"corpus_created"`
	Series           int       `json:"series"`
	Samples          int64     `json:"samples"`
	OpenMetricsBytes int64     `json:"openmetrics_bytes"`
	ExportSeconds    float64   `json:"export_and_promtool_seconds"`
	SettleSeconds    float64   `json:"compaction_seconds"`
	Blocks           int       `json:"blocks"`
	DiskBytes        int64     `json:"disk_bytes"`
	Promtool         string    `json:"promtool"`
	Dir              string    `json:"-"`
}

// ensureTSDB backfills the corpus into a Prometheus TSDB once: our own
// OpenMetrics export (read with our archive reader, series named and
// labelled exactly as our server lists them), `promtool tsdb
// create-blocks-from openmetrics` per 2 h window, then one Prometheus 3.x
// run that compacts the blocks as it would have compacted a week of
// scraped data.
func ensureTSDB(t *tools, ci *corpusInfo) (*tsdbInfo, error) {
	dir := filepath.Join(ci.Dir, "tsdb")
	manifest := filepath.Join(ci.Dir, "tsdb.json")
	var ti tsdbInfo
	if b, err := os.ReadFile(manifest); err == nil && json.Unmarshal(b, &ti) == nil && ti.CorpusCreated.Equal(ci.Created) {
		if _, err := os.Stat(dir); err == nil {
			ti.Dir = dir
			logf("tsdb: cached %s (%d blocks, %s)", dir, ti.Blocks, mib(ti.DiskBytes))
			return &ti, nil
		}
	}
	os.Remove(manifest)
	os.RemoveAll(dir)
	work := filepath.Join(ci.Dir, "tsdb-build")
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	tmpDir := filepath.Join(ci.Dir, "tsdb.tmp")
	os.RemoveAll(tmpDir)
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, err
	}

	// Series names and labels exactly as our server serves them.
	srv, err := startOurs(t, ci, "series")
	if err != nil {
		return nil, err
	}
	labels, err := seriesLabels(srv.base, ci.Spec.Host)
	srv.stop()
	if err != nil {
		return nil, err
	}
	logf("tsdb: %d series listed by pcp-remote-read; exporting OpenMetrics and running promtool", len(labels))

	t0 := time.Now()
	files := make(chan string, 4)
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		toolErr error
	)
	for w := 0; w < workers(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range files {
				_, err := run(30*time.Minute, nil, "promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", f, tmpDir)
				os.Remove(f)
				if err != nil {
					errMu.Lock()
					if toolErr == nil {
						toolErr = err
					}
					errMu.Unlock()
				}
			}
		}()
	}
	n, samples, omBytes, err := exportOpenMetrics(ci, labels, work, func(p string) { files <- p })
	close(files)
	wg.Wait()
	if err == nil {
		err = toolErr
	}
	if err != nil {
		return nil, err
	}
	ti = tsdbInfo{CorpusCreated: ci.Created, Series: n, Samples: samples, OpenMetricsBytes: omBytes,
		ExportSeconds: time.Since(t0).Seconds(), Dir: dir}
	if out, err := run(time.Minute, nil, "promtool", "--version"); err == nil {
		ti.Promtool = strings.SplitN(string(out), "\n", 2)[0]
	}
	logf("tsdb: %d series, %d samples, %s of OpenMetrics, blocks made in %.1f s; letting Prometheus compact them",
		n, samples, mib(omBytes), ti.ExportSeconds)

	t1 := time.Now()
	if err := settleTSDB(t, tmpDir); err != nil {
		return nil, err
	}
	ti.SettleSeconds = time.Since(t1).Seconds()
	if err := os.Rename(tmpDir, dir); err != nil {
		return nil, err
	}
	ti.Blocks = countBlocks(dir)
	ti.DiskBytes = dirBytes(dir)
	b, _ := json.MarshalIndent(&ti, "", "  ")
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		return nil, err
	}
	logf("tsdb: %d blocks, %s, compacted in %.0f s", ti.Blocks, mib(ti.DiskBytes), ti.SettleSeconds)
	return &ti, nil
}

var ulidRe = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

func countBlocks(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if e.IsDir() && ulidRe.MatchString(e.Name()) {
			n++
		}
	}
	return n
}

// settleTSDB runs Prometheus over dir until its compactor has nothing
// left to do: no compaction and no change of the loaded blocks for longer
// than one compaction tick (1 min).
func settleTSDB(t *tools, dir string) error {
	srv, err := startProm(t, dir, emptyPromConfig, "compact")
	if err != nil {
		return err
	}
	defer srv.stop()
	start := time.Now()
	last := ""
	lastChange := time.Now()
	for time.Since(start) < 45*time.Minute {
		time.Sleep(5 * time.Second)
		state := ""
		if m, err := scrapeMetrics(srv.base); err == nil {
			state = fmt.Sprintf("%v/%v", m["prometheus_tsdb_compactions_total"], m["prometheus_tsdb_blocks_loaded"])
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp-for-*")); len(tmp) > 0 {
			state += "/busy"
		}
		if state != last {
			last, lastChange = state, time.Now()
		}
		if time.Since(start) > 75*time.Second && time.Since(lastChange) > 75*time.Second && !strings.HasSuffix(state, "busy") {
			logf("tsdb: compaction settled (compactions/blocks %s)", state)
			return nil
		}
	}
	return fmt.Errorf("prometheus did not finish compacting %s in 45 min", dir)
}

// scrapeMetrics reads the unlabelled samples of a /metrics page.
func scrapeMetrics(base string) (map[string]float64, error) {
	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) >= 2 && !strings.Contains(fs[0], "{") {
			if v, err := strconv.ParseFloat(fs[1], 64); err == nil {
				m[fs[0]] = v
			}
		}
	}
	return m, sc.Err()
}

// seriesLabels asks our server for every series of host and returns, per
// "name\x00instid", the OpenMetrics series text name{label="value",...}.
func seriesLabels(base, host string) (map[string]string, error) {
	q := url.Values{}
	q.Set("match[]", fmt.Sprintf(`{hostname=%q}`, host))
	resp, err := httpClient.Get(base + "/api/v1/series?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string              `json:"status"`
		Data   []map[string]string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("/api/v1/series: %w", err)
	}
	if body.Status != "success" || len(body.Data) == 0 {
		return nil, fmt.Errorf("/api/v1/series: status %q, %d series", body.Status, len(body.Data))
	}
	out := map[string]string{}
	for _, ls := range body.Data {
		name := ls["__name__"]
		keys := make([]string, 0, len(ls))
		for k := range ls {
			if k != "__name__" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString(name)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(k)
			b.WriteString(`="`)
			b.WriteString(omEscape(ls[k]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
		key := name + "\x00" + ls["instid"]
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("two series for %q instid %q", name, ls["instid"])
		}
		out[key] = b.String()
	}
	return out, nil
}

func omEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

const window = 2 * 3600 * 1000 // promtool's default block range, ms

// exportOpenMetrics writes every numeric value of the corpus, read with
// our archive reader, as OpenMetrics text, one file per 2 h window (so
// promtool makes each block in one pass over a small file), handing each
// finished file to emit. Timestamps are written as seconds with a trailing
// half millisecond: promtool truncates seconds*1000 to an integer, and the
// half keeps float rounding from moving a sample to the previous ms.
func exportOpenMetrics(ci *corpusInfo, labels map[string]string, dir string, emit func(string)) (series int, samples, bytes int64, err error) {
	type out struct {
		text []byte
		last int64
	}
	seriesOf := map[uint64][]*out{}
	var (
		f   *os.File
		w   *bufio.Writer
		cur int64 = -1
	)
	closeFile := func() error {
		if f == nil {
			return nil
		}
		w.WriteString("# EOF\n")
		if err := w.Flush(); err != nil {
			return err
		}
		fi, _ := f.Stat()
		bytes += fi.Size()
		name := f.Name()
		if err := f.Close(); err != nil {
			return err
		}
		f = nil
		emit(name)
		return nil
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	line := make([]byte, 0, 256)
	for i := range ci.Archives {
		a, err := archive.Open(ci.base(i))
		if err != nil {
			return 0, 0, 0, err
		}
		r := a.NewReader(archive.ReaderOptions{})
		for r.Next() {
			rec := r.Record()
			if rec.Mark {
				continue
			}
			ms := floorDiv(rec.Time, 1e6)
			if win := floorDiv(ms, window); win != cur {
				if err := closeFile(); err != nil {
					return 0, 0, 0, err
				}
				cur = win
				if f, err = os.Create(filepath.Join(dir, fmt.Sprintf("w%09d.om", win))); err != nil {
					return 0, 0, 0, err
				}
				w = bufio.NewWriterSize(f, 1<<20)
			}
			sets := rec.Sets()
			for k := range sets {
				s := &sets[k]
				desc, ok := a.Meta.Desc(s.PMID)
				if !ok || !desc.Type.Numeric() {
					continue
				}
				for j := 0; j < int(s.NumVal); j++ {
					v := rec.Value(s, j)
					fv, ok := v.Float64(desc.Type)
					if !ok {
						continue
					}
					key := uint64(s.PMID)<<32 | uint64(uint32(v.Inst))
					outs, ok := seriesOf[key]
					if !ok {
						inst := ""
						if desc.InDom != archive.InDomNull {
							inst = strconv.Itoa(int(v.Inst))
						}
						for _, name := range desc.Names {
							pn := strings.ReplaceAll(name, ".", "_")
							text, ok := labels[pn+"\x00"+inst]
							if !ok {
								return 0, 0, 0, fmt.Errorf("%s instance %s: not listed by pcp-remote-read's /api/v1/series", name, inst)
							}
							outs = append(outs, &out{text: []byte(text), last: -1 << 62})
						}
						seriesOf[key] = outs
						series += len(outs)
					}
					for _, o := range outs {
						if ms <= o.last {
							continue // one sample per series per ms, the first
						}
						o.last = ms
						line = append(line[:0], o.text...)
						line = append(line, ' ')
						line = strconv.AppendFloat(line, fv, 'g', -1, 64)
						line = append(line, ' ')
						line = strconv.AppendInt(line, floorDiv(ms, 1000), 10)
						frac := ms - floorDiv(ms, 1000)*1000
						line = append(line, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10), '5', '\n')
						w.Write(line)
						samples++
					}
				}
			}
		}
		err = r.Err()
		r.Close()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", ci.base(i), err)
		}
	}
	if err := closeFile(); err != nil {
		return 0, 0, 0, err
	}
	if series != len(labels) {
		return 0, 0, 0, fmt.Errorf("exported %d series, pcp-remote-read lists %d", series, len(labels))
	}
	return series, samples, bytes, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
