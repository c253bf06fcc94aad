package server_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/store"
)

// scrape reads /metrics as Prometheus would and returns each sample by its
// series as exposed (name{label="value",...}, labels sorted by name).
func scrape(t *testing.T, c *apiClient) map[string]float64 {
	t.Helper()
	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s, want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics line %q does not parse", line)
		}
		samples[line[:i]] = v
	}
	return samples
}

func TestMetricsCountBuildsStagesAndDeliveries(t *testing.T) {
	w := helloWorldWorld(t, setup{Tokens: true})
	c := serve(t, w, nil)

	before := scrape(t, c)
	for _, series := range []string{"slipway_queue_depth", "process_resident_memory_bytes", "go_goroutines"} {
		if _, ok := before[series]; !ok {
			t.Errorf("/metrics lacks %s before any build", series)
		}
	}

	// One delivery of each kind a user would alert on: queued, ignored
	// (ping) and a bad signature.
	code, a := c.deliver(delivery{"push", "metrics-push", pushOf(t, w.Head), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("push: %d %+v, want 202", code, a)
	}
	if code, a := c.deliver(delivery{"ping", "metrics-ping", payload(t, "ping.json"), "sign"}); code != http.StatusOK {
		t.Fatalf("ping: %d %+v", code, a)
	}
	if code, a := c.deliver(delivery{"push", "metrics-forged", pushOf(t, w.Head), "sha256=" + strings.Repeat("0", 64)}); code != http.StatusUnauthorized {
		t.Fatalf("forged push: %d %+v", code, a)
	}
	ok := c.waitFinished(a.Builds[0], buildTimeout)
	if ok.Status != store.StatusSucceeded {
		t.Fatalf("pushed build: %s", describe(ok))
	}
	// And a build that fails in its first stage.
	code, failed, body := c.createBuild("no-such-branch", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build: %d %s", code, body)
	}
	if failed = c.waitFinished(failed.ID, buildTimeout); failed.Status != store.StatusFailed {
		t.Fatalf("build of a missing branch: %s, want failed", describe(failed))
	}

	// A build is counted once its run has ended, a moment after the API
	// shows it finished: scrape until both builds are in.
	var got map[string]float64
	waitFor(t, 30*time.Second, "both builds counted in /metrics", func() (bool, string) {
		got = scrape(t, c)
		succeeded, failed := got[`slipway_builds_total{project="fixture",result="succeeded"}`], got[`slipway_builds_total{project="fixture",result="failed"}`]
		steps := got[`slipway_build_steps_total{project="fixture"}`]
		return succeeded > 0 && failed > 0 && steps > 0, fmt.Sprintf("builds_total succeeded %v, failed %v; build_steps_total %v", succeeded, failed, steps)
	})
	want := map[string]float64{
		`slipway_builds_total{project="fixture",result="succeeded"}`:                        1,
		`slipway_builds_total{project="fixture",result="failed"}`:                           1,
		`slipway_stage_duration_seconds_count{result="succeeded",stage="source"}`:           1,
		`slipway_stage_duration_seconds_count{result="succeeded",stage="build"}`:            1,
		`slipway_stage_duration_seconds_count{result="succeeded",stage="test"}`:             1,
		`slipway_stage_duration_seconds_count{result="succeeded",stage="push"}`:             1,
		`slipway_stage_duration_seconds_count{result="failed",stage="source"}`:              1,
		`slipway_stage_duration_seconds_bucket{result="succeeded",stage="build",le="+Inf"}`: 1,
		`slipway_webhook_deliveries_total{outcome="queued"}`:                                1,
		`slipway_webhook_deliveries_total{outcome="ignored"}`:                               1,
		`slipway_webhook_deliveries_total{outcome="bad_signature"}`:                         1,
		`slipway_queue_depth`: 0,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (exposed: %t), want %v", series, g, ok, v)
		}
	}
	// The durations are the stages' own, as the API reports them.
	var stageSum float64
	for _, s := range ok.Stages {
		if s.Name == "build" {
			stageSum = float64(s.DurationMS) / 1000
		}
	}
	if g := got[`slipway_stage_duration_seconds_sum{result="succeeded",stage="build"}`]; g != stageSum {
		t.Errorf("build stage duration sum = %v s, want the API's %v s", g, stageSum)
	}
	// The steps of the (BuildKit) build, as its result reports them.
	if ok.Cache == nil || ok.Cache.TotalSteps == 0 {
		t.Errorf("the build result has no cache use: %+v", ok.Cache)
	} else {
		for series, v := range map[string]int{
			`slipway_build_steps_total{project="fixture"}`:        ok.Cache.TotalSteps,
			`slipway_build_cached_steps_total{project="fixture"}`: ok.Cache.CachedSteps,
		} {
			if g := got[series]; g != float64(v) {
				t.Errorf("%s = %v, want the build result's %d", series, g, v)
			}
		}
	}
	if got["process_resident_memory_bytes"] <= 0 {
		t.Errorf("process_resident_memory_bytes = %v, want > 0", got["process_resident_memory_bytes"])
	}
}
