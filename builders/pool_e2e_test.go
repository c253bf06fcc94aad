package builders_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/server"
	"github.com/slipwayci/slipway/store"
)

// second is the package's extra engine, the builder "second" beside the
// main engine, "main".
var second testenv.EngineShared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := second.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the extra engine:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

const apiToken = "tok-builders-test-only"

// pool is a test world of two builders, main (the main engine) and second
// (the extra engine), with concurrency 1 each, a fixture repository and
// registry, and projects named so that one sticks to each builder.
type pool struct {
	w       *fixture.World
	extra   *testenv.Engine
	engines map[string]*client.Client
	// onMain and onSecond are projects whose sticky builder is main,
	// resp. second.
	onMain, onSecond string
	// third is one more project, "web", on whichever builder it sticks to.
	third   string
	cfgPath string
}

// newPool writes the world's config; testCommand is the test of the
// project on second.
func newPool(t *testing.T, testCommand ...string) *pool {
	t.Helper()
	p := &pool{w: fixture.New(t, fixture.Options{}), extra: second.Get(t)}
	// An earlier test may have left it down.
	restart(t, p.extra)
	mainCli := testenv.Docker(t)
	extraCli, err := p.extra.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { extraCli.Close() })
	p.engines = map[string]*client.Client{"main": mainCli, "second": extraCli}
	p.onMain, p.onSecond = stickyNames(t)
	p.third = "web"
	if len(testCommand) == 0 {
		testCommand = []string{"-selftest"}
	}
	cmd, _ := json.Marshal(testCommand)
	tokens := filepath.Join(p.w.Dir, "tokens")
	if err := os.WriteFile(tokens, []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var projects strings.Builder
	for _, name := range []string{p.onMain, p.onSecond, p.third} {
		test := `["-selftest"]`
		if name == p.onSecond {
			test = string(cmd)
		}
		fmt.Fprintf(&projects, "  - {name: %s, repo: %q, image: %q, test: {command: %s, timeout: 1m}}\n",
			name, p.w.Repo.URL(), p.image(name), test)
		t.Cleanup(func() {
			for _, cli := range p.engines {
				fixture.RemoveImages(cli, p.image(name))
			}
		})
	}
	cfg := fmt.Sprintf(`data_dir: %q
listen: "127.0.0.1:0"
build_timeout: 5m
api_tokens_file: %q
builders:
  - {name: main, host: %q, concurrency: 1}
  - {name: second, host: %q, concurrency: 1, labels: {disk: ssd}}
projects:
%s`, filepath.Join(p.w.Dir, "data"), tokens, mainCli.DaemonHost(), p.extra.Host, projects.String())
	p.cfgPath = filepath.Join(p.w.Dir, "builders.yaml")
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// image is the registry repository of project name.
func (p *pool) image(name string) string { return p.w.Image + "-" + name }

// stickyBuilder is the builder project sticks to when both are free.
func stickyBuilder(t *testing.T, project string) string {
	t.Helper()
	d, err := builders.Place([]builders.Candidate{
		{Name: "main", Healthy: true, Concurrency: 1},
		{Name: "second", Healthy: true, Concurrency: 1},
	}, project, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d.Builder
}

// stickyNames finds a project name whose sticky builder is main and one
// whose is second.
func stickyNames(t *testing.T) (onMain, onSecond string) {
	t.Helper()
	for i := 0; onMain == "" || onSecond == ""; i++ {
		name := fmt.Sprintf("app%d", i)
		switch stickyBuilder(t, name) {
		case "main":
			onMain = cmp.Or(onMain, name)
		case "second":
			onSecond = cmp.Or(onSecond, name)
		}
	}
	return onMain, onSecond
}

// config loads the world's config.
func (p *pool) config(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(p.cfgPath)
	if err != nil {
		t.Fatalf("load the config: %v", err)
	}
	return cfg
}

// service opens the build service of the world.
func (p *pool) service(t testing.TB) *pipeline.Service {
	t.Helper()
	svc, err := pipeline.Open(t.Context(), p.config(t), zerolog.Nop())
	if err != nil {
		t.Fatalf("open the service: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// build runs one build of project and fails the test unless it succeeded.
func build(t testing.TB, svc *pipeline.Service, project string) (store.Build, string) {
	t.Helper()
	var log bytes.Buffer
	b, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: project}, &log)
	if err != nil || b.Status != store.StatusSucceeded {
		t.Fatalf("build of %s: status %q, error %v; log:\n%s", project, b.Status, err, log.String())
	}
	return b, log.String()
}

// TestBuildsStickToTheirBuilders: three projects built twice each (6
// builds) land on their sticky builders every time, and the second build
// of each reuses the cache of the first on that engine.
func TestBuildsStickToTheirBuilders(t *testing.T) {
	p := newPool(t)
	svc := p.service(t)
	for range 2 {
		for _, project := range []string{p.onMain, p.onSecond, p.third} {
			build(t, svc, project)
		}
	}
	sticky := map[string]string{p.onMain: "main", p.onSecond: "second", p.third: stickyBuilder(t, p.third)}
	for project, want := range sticky {
		bs, err := svc.Store().ListBuilds(t.Context(), store.Filter{Project: project})
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 2 {
			t.Fatalf("%s has %d builds, want 2", project, len(bs))
		}
		for _, b := range bs {
			if b.Builder != want || b.BuilderReason != "sticky builder of "+project {
				t.Errorf("build %d of %s ran on %q (%s), want %s, its sticky builder", b.ID, project, b.Builder, b.BuilderReason, want)
			}
		}
		// bs is newest first: the second build found the first's layers
		// in its engine's cache.
		if log := buildLog(t, svc, bs[0].ID); !strings.Contains(log, "CACHED") {
			t.Errorf("second build of %s on %s used no cached step; log:\n%s", project, want, log)
		}
	}
}

// buildLog reads the stored log of build id.
func buildLog(t *testing.T, svc *pipeline.Service, id int64) string {
	t.Helper()
	b, err := os.ReadFile(svc.Store().LogPath(id))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStoppedBuilderGetsNoBuilds: with its sticky builder stopped, a
// project builds on the other builder, and back on its own once it is up.
func TestStoppedBuilderGetsNoBuilds(t *testing.T) {
	p := newPool(t)
	svc := p.service(t)
	if b, _ := build(t, svc, p.onSecond); b.Builder != "second" {
		t.Fatalf("first build ran on %s, want second", b.Builder)
	}
	if err := p.extra.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restart(t, p.extra) })
	b, _ := build(t, svc, p.onSecond)
	if b.Builder != "main" || !strings.HasPrefix(b.BuilderReason, "least loaded (0/1 builds): sticky builder second is unhealthy: ") {
		t.Errorf("with second stopped the build ran on %q (%s), want main because second is unhealthy", b.Builder, b.BuilderReason)
	}
	restart(t, p.extra)
	if b, _ := build(t, svc, p.onSecond); b.Builder != "second" {
		t.Errorf("with second up again the build ran on %q (%s), want second", b.Builder, b.BuilderReason)
	}
}

// restart starts the extra engine again when it is down.
func restart(t testing.TB, e *testenv.Engine) {
	t.Helper()
	cli, err := e.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// A killed engine refuses at once; a running one may be slow to answer
	// on a loaded machine, and starting a second dockerd on its data
	// would fail.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err == nil {
		return
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("restart the extra engine: %v", err)
	}
}

// TestBuilderKilledMidBuild: the engine of a build's builder is killed
// while the build's test runs; the attempt is dropped and the build runs
// again on the other builder, where it succeeds.
func TestBuilderKilledMidBuild(t *testing.T) {
	p := newPool(t, "-sleep", "3s")
	svc := p.service(t)
	t.Cleanup(func() { restart(t, p.extra) })

	type result struct {
		b   store.Build
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := svc.BuildNow(context.WithoutCancel(t.Context()), pipeline.BuildRequest{Project: p.onSecond}, nil)
		done <- result{b, err}
	}()
	// Kill the engine once the build's test container runs on it.
	deadline := time.Now().Add(2 * time.Minute)
	for !testRunsOn(t, svc, p.onSecond, "second") {
		if time.Now().After(deadline) {
			t.Fatal("the build's test stage did not start on second within 2 minutes")
		}
		select {
		case r := <-done:
			t.Fatalf("the build ended (%s, %v) before its test ran on second", r.b.Status, r.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := p.extra.Kill(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	log := buildLog(t, svc, r.b.ID)
	if r.err != nil || r.b.Status != store.StatusSucceeded {
		t.Fatalf("build: %s, %v; want it to succeed on main; log:\n%s", r.b.Status, r.err, log)
	}
	if r.b.Builder != "main" || !strings.Contains(r.b.BuilderReason, "sticky builder second is failed this build's earlier attempt") {
		t.Errorf("the retried build ran on %q (%s), want main", r.b.Builder, r.b.BuilderReason)
	}
	if !strings.Contains(log, "slipway: builder second failed mid-build") {
		t.Errorf("the log does not say the build was retried; log:\n%s", log)
	}
	if n := strings.Count(log, "==> test"); n != 2 {
		t.Errorf("the log shows %d test stages, want 2 (one per attempt); log:\n%s", n, log)
	}
	if r.b.Digest == "" || p.digest(t, p.onSecond, "main") != r.b.Digest {
		t.Errorf("the registry's main tag is not the retried build's digest %s", r.b.Digest)
	}
	// The metrics count the failed attempt and the lost engine on
	// second, no failure on main.
	c := svc.Builders().Collector()
	for _, want := range []struct {
		builder, kind string
		n             float64
	}{{"second", "build", 1}, {"second", "engine_lost", 1}, {"main", "build", 0}, {"main", "engine_lost", 0}} {
		if got := metricValue(t, c, "slipway_builder_failures_total", want.builder, want.kind); got != want.n {
			t.Errorf("slipway_builder_failures_total{builder=%q,kind=%q} = %v, want %v", want.builder, want.kind, got, want.n)
		}
	}
}

// metricValue is the value of c's metric name with label values values
// (in the order of its labels); the test fails when c has no such metric.
func metricValue(t *testing.T, c prometheus.Collector, name string, values ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return cmp.Or(m.GetGauge().GetValue(), m.GetCounter().GetValue())
			}
		}
	}
	t.Fatalf("no metric %s with labels %q", name, values)
	return 0
}

// digest is the registry's digest of project's tag.
func (p *pool) digest(t *testing.T, project, tag string) string {
	t.Helper()
	w := *p.w
	w.T, w.Image = t, p.image(project)
	return w.Digest(tag)
}

// testRunsOn reports whether the newest build of project runs its test
// stage on builder.
func testRunsOn(t *testing.T, svc *pipeline.Service, project, builder string) bool {
	t.Helper()
	bs, err := svc.Store().ListBuilds(t.Context(), store.Filter{Project: project, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) == 0 || bs[0].Builder != builder {
		return false
	}
	st := bs[0].Stages
	return len(st) > 0 && st[len(st)-1].Name == pipeline.StageTest && st[len(st)-1].Status == store.StatusRunning
}

// TestBuildersAPI: GET /api/v1/builders lists both builders, healthy, with
// the engines' arch and os and their disk use; a drained builder takes no
// build, its project falls back, and the drain ends through the API.
func TestBuildersAPI(t *testing.T) {
	p := newPool(t)
	base := serve(t, p.config(t))

	var got []builders.Status
	call(t, "GET", base+"/api/v1/builders", http.StatusOK, &got)
	if len(got) != 2 || got[0].Name != "main" || got[1].Name != "second" {
		t.Fatalf("builders = %+v, want main and second", got)
	}
	for _, s := range got {
		if !s.Healthy || s.Labels["os"] != "linux" || s.Labels["arch"] != "amd64" || s.Disk == nil || s.Concurrency != 1 || len(s.Running) != 0 {
			t.Errorf("builder %+v: want healthy, linux/amd64 from /info, its disk use, concurrency 1, nothing running", s)
		}
	}
	if got[1].Labels["disk"] != "ssd" || got[1].Host != p.extra.Host {
		t.Errorf("second = %+v, want the configured label disk: ssd and host %s", got[1], p.extra.Host)
	}

	var drained builders.Status
	call(t, "POST", base+"/api/v1/builders/second/drain", http.StatusOK, &drained)
	if !drained.Draining {
		t.Errorf("after POST drain: %+v, want draining", drained)
	}
	call(t, "POST", base+"/api/v1/builders/third/drain", http.StatusNotFound, nil)
	b := buildThroughAPI(t, base, p.onSecond)
	if b.Builder != "main" || b.BuilderReason != "least loaded (0/1 builds): sticky builder second is draining" {
		t.Errorf("with second drained the build ran on %q (%s), want main", b.Builder, b.BuilderReason)
	}
	call(t, "DELETE", base+"/api/v1/builders/second/drain", http.StatusOK, &drained)
	last := buildThroughAPI(t, base, p.onSecond)
	if drained.Draining || last.Builder != "second" {
		t.Errorf("after DELETE drain: %+v, build on %q; want second back", drained, last.Builder)
	}

	// The dashboard shows the same: the builders page, and the builder
	// of a build on its page.
	page := getText(t, base+"/builders")
	for _, want := range []string{`data-builder="main" data-healthy="true"`, `data-builder="second" data-healthy="true"`, "disk=ssd"} {
		if !strings.Contains(page, want) {
			t.Errorf("/builders lacks %s:\n%s", want, page)
		}
	}
	if page := getText(t, fmt.Sprintf("%s/builds/%d", base, last.ID)); !strings.Contains(page, `<a href="/builders">second</a> <span class="muted">(sticky builder of `+p.onSecond+`)</span>`) {
		t.Errorf("the build page does not name its builder second:\n%s", page)
	}

	// One build ended on each builder, each of the fixture's two COPY
	// steps.
	metrics := metricsText(t, base)
	for _, want := range []string{
		`slipway_builder_healthy{builder="second"} 1`,
		`slipway_builder_draining{builder="second"} 0`,
		`slipway_builder_running_builds{builder="main"} 0`,
		`slipway_builder_builds_total{builder="main",result="succeeded"} 1`,
		`slipway_builder_builds_total{builder="second",result="succeeded"} 1`,
		`slipway_builder_steps_total{builder="second"} 2`,
		`slipway_builder_failures_total{builder="second",kind="build"} 0`,
		`slipway_builder_failures_total{builder="second",kind="engine_lost"} 0`,
		`slipway_builder_queued_builds{builder="main"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// metricsText reads /metrics.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	return getText(t, base+"/metrics")
}

// getText reads url with the API token; it must answer 200.
func getText(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, b.String())
	}
	return b.String()
}

// serve runs slipway serve on cfg until the test ends and returns its
// base URL.
func serve(t *testing.T, cfg *config.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- server.Run(ctx, cfg, zerolog.Nop(), server.Options{Listener: ln, Grace: time.Second, Ready: func(net.Addr) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		ln.Close()
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// call sends an authorized request and decodes the answer into out.
func call(t *testing.T, method, url string, want int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, url, resp.StatusCode, body.String(), want)
	}
	if out != nil {
		if err := json.Unmarshal(body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, body.String())
		}
	}
}

// buildThroughAPI queues a build of project's default branch and waits for
// it to end successfully.
func buildThroughAPI(t *testing.T, base, project string) store.Build {
	t.Helper()
	var b store.Build
	call(t, "POST", base+"/api/v1/projects/"+project+"/builds", http.StatusAccepted, &b)
	deadline := time.Now().Add(3 * time.Minute)
	for !store.Finished(b.Status) {
		if time.Now().After(deadline) {
			t.Fatalf("build %d still %s after 3 minutes", b.ID, b.Status)
		}
		time.Sleep(100 * time.Millisecond)
		call(t, "GET", fmt.Sprintf("%s/api/v1/builds/%d", base, b.ID), http.StatusOK, &b)
	}
	if b.Status != store.StatusSucceeded {
		t.Fatalf("build %d %s: %s", b.ID, b.Status, b.Error)
	}
	return b
}

// TestAcquireRespectsConcurrency: with both builders at their concurrency
// of 1, a third build waits until a slot frees; a second build of the
// same project goes to the other builder while its sticky one is full.
func TestAcquireRespectsConcurrency(t *testing.T) {
	p := newPool(t)
	pl, err := builders.New(p.config(t).BuilderPool(), builders.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	bounded, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req := builders.Request{Build: 1, Project: p.onMain}
	first, err := pl.Acquire(bounded, req)
	if err != nil || first.Builder != "main" {
		t.Fatalf("first Acquire = %+v, %v; want main", first, err)
	}
	req.Build = 2
	other, err := pl.Acquire(bounded, req)
	if err != nil || other.Builder != "second" || other.Reason != "least loaded (0/1 builds): sticky builder main is full (1/1 builds)" {
		t.Fatalf("second Acquire = %+v, %v; want second, main being full", other, err)
	}
	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	req.Build = 3
	if l, err := pl.Acquire(short, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Acquire with both builders full = %+v, %v; want it to wait until its deadline", l, err)
	}
	if st := pl.Status(t.Context()); len(st[0].Running) != 1 || st[0].Running[0] != 1 || len(st[1].Running) != 1 || st[1].Running[0] != 2 {
		t.Errorf("Status = %+v, want build 1 on main and 2 on second", st)
	}
	got := make(chan *builders.Lease, 1)
	go func() {
		l, err := pl.Acquire(bounded, req)
		if err != nil {
			t.Errorf("Acquire after a release: %v", err)
		}
		got <- l
	}()
	// The waiting build is queued for main, its sticky builder (the one
	// that gave up at its deadline no longer is).
	queued := func(builder string) float64 {
		return metricValue(t, pl.Collector(), "slipway_builder_queued_builds", builder)
	}
	for queued("main") != 1 {
		if bounded.Err() != nil {
			t.Fatalf("slipway_builder_queued_builds{builder=\"main\"} = %v, want 1 while build 3 waits", queued("main"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := queued("second"); n != 0 {
		t.Errorf("slipway_builder_queued_builds{builder=\"second\"} = %v, want 0", n)
	}
	first.Release()
	if l := <-got; l == nil || l.Builder != "main" {
		t.Errorf("after main's slot freed the waiting build got %+v, want main", l)
	}
	if n := queued("main"); n != 0 {
		t.Errorf("slipway_builder_queued_builds{builder=\"main\"} = %v once build 3 got its slot, want 0", n)
	}
}
