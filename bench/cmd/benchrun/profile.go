package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type profile struct {
	Row      string `json:"row"`
	Key      string `json:"key"`
	Cold     bool   `json:"cold"`
	Seconds  int    `json:"seconds"`
	Runs     int    `json:"requests"`
	CPUTop   string `json:"cpu_top"`
	CPUCum   string `json:"cpu_top_cum"`
	AllocTop string `json:"alloc_space_top"`
}

// profiles CPU-profiles our server (a build with net/http/pprof on a
// loopback port) for the slowest rows: for a cold row, exactly the first
// request of a fresh process; for a warm row, repetitions of the request
// after one unprofiled warm-up. Up to three cold and two warm profiles.
func (b *bench) profiles() error {
	var cands []*row
	for _, r := range b.res.Rows {
		if r.Profile != "" && !r.Higher && r.Unit == "s" && r.Ratio > 0 && b.profileReq[r.Profile] != nil {
			cands = append(cands, r)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].Ratio > cands[j].Ratio })
	dir := filepath.Join(b.t.cache, "profiles", b.ci.Spec.Scale)
	os.RemoveAll(dir) // this run's profiles only
	os.MkdirAll(dir, 0o755)
	for _, mode := range []struct {
		cold bool
		n    int
	}{{true, 3}, {false, 2}} {
		done := map[string]bool{}
		for _, r := range cands {
			if len(done) == mode.n {
				break
			}
			if strings.HasSuffix(r.Name, ", cold") || strings.HasSuffix(r.Name, "cold time") {
				if !mode.cold {
					continue
				}
			} else if mode.cold || !(strings.HasSuffix(r.Name, ", warm") || strings.HasSuffix(r.Name, "warm time")) {
				continue
			}
			if done[r.Profile] {
				continue
			}
			done[r.Profile] = true
			secs := int(math.Ceil(1.5*r.Ours + 2))
			if !mode.cold {
				secs = min(max(int(math.Ceil(3*r.Ours+5)), 10), 60)
			}
			secs = min(secs, 300)
			logf("profile (%d s): %s", secs, r.Name)
			p, err := b.profileOne(r.Profile, mode.cold, secs, dir)
			if err != nil {
				return err
			}
			p.Row = r.Name
			b.res.Profiles = append(b.res.Profiles, *p)
		}
	}
	return nil
}

func (b *bench) profileOne(key string, cold bool, secs int, dir string) (*profile, error) {
	paddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProc("pcp-remote-read-pprof", b.t.logFile("ours-pprof"), []string{"BENCH_PPROF_ADDR=" + paddr},
		append(append([]string{b.t.oursPprof, "--web.listen-address=" + addr, "--log.level=warn", "--archive.rescan-interval=0", "--query.timeout=10m"},
			b.t.cacheArgs()...), "--query.max-samples=0", b.ci.HostDir)...)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	base := "http://" + addr
	if err := waitReady(p, base+"/-/ready", 10*time.Minute); err != nil {
		return nil, err
	}
	if err := waitReady(p, "http://"+paddr+"/debug/pprof/", time.Minute); err != nil {
		return nil, err
	}
	if !cold {
		b.profileReq[key](base) // warm-up, not profiled
	}
	tag := key + ".warm"
	if cold {
		tag = key + ".cold"
	}
	cpuFile := filepath.Join(dir, tag+".cpu.pb.gz")
	got := make(chan error, 1)
	go func() { got <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", paddr, secs), cpuFile) }()
	time.Sleep(300 * time.Millisecond) // the profile has started
	runs := 0
	deadline := time.Now().Add(time.Duration(secs)*time.Second - 500*time.Millisecond)
	for runs < 500 && (runs == 0 || (!cold && time.Now().Before(deadline))) {
		b.profileReq[key](base)
		runs++
	}
	if err := <-got; err != nil {
		return nil, err
	}
	allocFile := filepath.Join(dir, tag+".allocs.pb.gz")
	if err := fetch("http://"+paddr+"/debug/pprof/allocs", allocFile); err != nil {
		return nil, err
	}
	pr := &profile{Key: tag, Seconds: secs, Runs: runs, Cold: cold}
	out, err := run(5*time.Minute, nil, "go", "tool", "pprof", "-top", "-nodecount=25", b.t.oursPprof, cpuFile)
	if err != nil {
		return nil, err
	}
	pr.CPUTop = trimPprof(string(out))
	out, err = run(5*time.Minute, nil, "go", "tool", "pprof", "-top", "-cum", "-nodecount=30", b.t.oursPprof, cpuFile)
	if err != nil {
		return nil, err
	}
	pr.CPUCum = trimPprof(string(out))
	out, err = run(5*time.Minute, nil, "go", "tool", "pprof", "-top", "-nodecount=15", "-sample_index=alloc_space", b.t.oursPprof, allocFile)
	if err != nil {
		return nil, err
	}
	pr.AllocTop = trimPprof(string(out))
	return pr, nil
}

// trimPprof drops pprof's header lines that name local files.
func trimPprof(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

func fetch(url, file string) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: HTTP %d %s", url, resp.StatusCode, msg)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
