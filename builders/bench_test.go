package builders_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// BenchmarkPool builds 4 projects 3 times each (12 builds, in 3 rounds of
// the 4 at once) with 1 builder (the main engine) and with 2 (the main and
// the extra engine), each running 2 builds at once, and reports the wall
// time of the 12 builds (ns/op) and the share of BuildKit steps that were
// cached. Each project copies 4 MiB of its own random data, new for every
// run, so that only a project's own earlier builds can give it cache hits.
//
//	go test -run '^$' -bench BenchmarkPool -benchtime 1x ./builders
func BenchmarkPool(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("builders=%d", n), func(b *testing.B) {
			var cached, steps int
			for range b.N {
				b.StopTimer()
				svc, projects := benchWorld(b, n)
				b.StartTimer()
				for round := range 3 {
					c, s := benchRound(b, svc, projects, round)
					cached, steps = cached+c, steps+s
				}
			}
			b.ReportMetric(float64(cached)/float64(max(steps, 1)), "cached/step")
		})
	}
}

// benchWorld writes a config of n builders and 4 projects, each with its
// own Dockerfile and random data, and opens its service.
func benchWorld(b *testing.B, n int) (*pipeline.Service, []string) {
	b.Helper()
	w := fixture.New(b, fixture.Options{})
	builders := fmt.Sprintf("  - {name: main, host: %q, concurrency: 2}\n", testenv.Docker(b).DaemonHost())
	if n == 2 {
		extra := second.Get(b)
		builders += fmt.Sprintf("  - {name: second, host: %q, concurrency: 2}\n", extra.Host)
	}
	files := map[string]string{}
	var projects []string
	var yaml strings.Builder
	for i := range 4 {
		data := make([]byte, 4<<20)
		rand.Read(data)
		name := fmt.Sprintf("bench%d", i)
		files[name+".bin"] = string(data)
		files["Dockerfile."+name] = fmt.Sprintf("FROM scratch\nCOPY app /app\nCOPY %s.bin /data.bin\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n", name)
		fmt.Fprintf(&yaml, "  - {name: %s, repo: %q, image: %q, dockerfile: Dockerfile.%s}\n", name, w.Repo.URL(), w.Image+"-"+name, name)
		projects = append(projects, name)
	}
	w.Repo.Commit(b, w.Branch, files, "bench data")
	path := filepath.Join(w.Dir, "bench.yaml")
	cfg := fmt.Sprintf("data_dir: %q\nbuild_timeout: 5m\nbuilders:\n%sprojects:\n%s", filepath.Join(w.Dir, "data"), builders, yaml.String())
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := pipeline.Open(b.Context(), c, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		svc.Close()
		for _, p := range projects {
			fixture.RemoveImages(w.Docker, w.Image+"-"+p)
		}
	})
	return svc, projects
}

// benchRound builds every project once, all at once, and counts the
// cached and all BuildKit steps of their logs.
func benchRound(b *testing.B, svc *pipeline.Service, projects []string, round int) (cached, steps int) {
	b.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed []string
	for _, p := range projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var log strings.Builder
			start := time.Now()
			bd, err := svc.BuildNow(b.Context(), pipeline.BuildRequest{Project: p}, &log)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || bd.Status != store.StatusSucceeded {
				failed = append(failed, fmt.Sprintf("%s: %v", p, err))
				return
			}
			c, s := countSteps(log.String())
			cached, steps = cached+c, steps+s
			b.Logf("round %d: %s on %s in %s, %d of %d steps cached", round, p, bd.Builder, time.Since(start).Round(time.Millisecond), c, s)
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		b.Fatalf("builds failed: %v", failed)
	}
	return cached, steps
}

// countSteps counts the COPY steps of a BuildKit log and those CACHED.
func countSteps(log string) (cached, steps int) {
	step := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case len(f) > 2 && strings.HasPrefix(f[1], "[") && f[2] == "COPY":
			step[f[0]] = true
		case f[1] == "CACHED" && step[f[0]]:
			cached++
		}
	}
	return cached, len(step)
}
