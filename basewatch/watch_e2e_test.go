package basewatch_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// proxy stands in front of a test registry: it counts the watcher's HEAD
// requests of manifests, can play a registry that is down (503), and one
// that refuses the pushes to a repository (403 DENIED).
type proxy struct {
	Host    string
	down    atomic.Bool
	refused atomic.Pointer[string] // the repository whose pushes are refused

	mu    sync.Mutex
	heads map[string][]time.Time // repository → times of the watcher's HEADs
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{Host: ln.Addr().String(), heads: map[string][]time.Time{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "registry down for the test", http.StatusServiceUnavailable)
			return
		}
		if repo := p.refused.Load(); repo != nil && r.Method != http.MethodGet && r.Method != http.MethodHead &&
			strings.HasPrefix(r.URL.Path, "/v2/"+*repo+"/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"pushes refused for the test"}]}`)
			return
		}
		repo, _, isManifest := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		if r.Method == http.MethodHead && isManifest && strings.Contains(r.UserAgent(), "go-containerregistry") {
			p.mu.Lock()
			p.heads[repo] = append(p.heads[repo], time.Now())
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// headsOf returns the times of the HEAD requests of repo so far.
func (p *proxy) headsOf(repo string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.heads[repo]...)
}

// world is a slipway with a queue and a base image watcher running, its
// projects built on a base behind a proxy.
type world struct {
	*fixture.World
	px       *proxy
	baseRef  string // the base's repository behind the proxy, "base-x"
	base     string // its reference, proxy host/base-x:1
	svc      *pipeline.Service
	queue    *pipeline.Queue
	watcher  *basewatch.Watcher   // the first replica's
	watchers []*basewatch.Watcher // every replica's
	log      *testenv.Buffer
}

// newWorld makes the fixture with its Dockerfile FROM the base (through an
// ARG), appends extra to the config (more projects), pushes the base's
// first version and starts the queue and the watcher: replicas of them,
// sharing a PostgreSQL database, when replicas > 1.
func newWorld(t *testing.T, o fixture.Options, extra func(w *fixture.World, base string) string, replicas int) (*world, fixture.Base) {
	t.Helper()
	if replicas > 1 {
		database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
		o.Extra += fmt.Sprintf("database: %q\n", database)
	}
	w := fixture.New(t, o)
	px := startProxy(t, w.Reg.Host)
	repo := testenv.Name(t, "base")
	base := px.Host + "/" + repo + ":1"
	v1 := fixture.PushBase(t, w.Docker, base, map[string]string{"base-version": "1\n"})
	w.Repo.Commit(t, "main", map[string]string{
		"Dockerfile": "ARG BASE=" + base + "\nFROM $BASE\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
	}, "build on a base")
	if extra != nil {
		f, err := os.OpenFile(w.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(extra(w, base)); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	cfg, err := config.Load(w.ConfigPath())
	if err != nil {
		t.Fatalf("load the config: %v", err)
	}
	log := &testenv.Buffer{}
	logger := zerolog.New(log)
	wd := &world{World: w, px: px, baseRef: repo, base: base, log: log}
	for range max(replicas, 1) {
		svc, err := pipeline.Open(t.Context(), cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		var watcher *basewatch.Watcher
		queue := pipeline.NewQueue(svc, pipeline.QueueOptions{Concurrency: 2,
			Finished: func(ctx context.Context, b store.Build) { watcher.Pushed(ctx, b) }})
		watcher = basewatch.New(cfg.Projects, basewatch.Options{
			Store: svc.Store(), Queue: queue, Logger: logger,
			Resolve: func(ctx context.Context, ref string) (string, error) { return registry.Resolve(ctx, ref, svc.Keys()) },
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		go func() { queue.Run(ctx); done <- struct{}{} }()
		go func() { watcher.Run(ctx); done <- struct{}{} }()
		t.Cleanup(func() { cancel(); <-done; <-done })
		wd.watchers = append(wd.watchers, watcher)
		if wd.svc == nil {
			wd.svc, wd.queue, wd.watcher = svc, queue, watcher
		}
	}
	return wd, v1
}

// push queues a push build of project's main head and waits for it to
// succeed.
func (w *world) push(t *testing.T, project string) store.Build {
	t.Helper()
	res, err := w.queue.Enqueue(t.Context(), pipeline.Request{Triggers: []pipeline.Trigger{{Kind: store.TriggerPush, Project: project, Ref: "refs/heads/main"}}})
	if err != nil {
		t.Fatal(err)
	}
	return w.wait(t, res.First().ID)
}

// wait waits for build id to end and fails the test unless it succeeded.
func (w *world) wait(t *testing.T, id int64) store.Build {
	t.Helper()
	b := w.waitEnd(t, id)
	if b.Status != store.StatusSucceeded {
		log, _ := w.svc.Store().ReadLog(t.Context(), id, 0, 1<<20)
		t.Fatalf("build %d %s: %s; log:\n%s", id, b.Status, b.Error, log)
	}
	return b
}

// waitEnd waits for build id to end, whatever its status.
func (w *world) waitEnd(t *testing.T, id int64) store.Build {
	t.Helper()
	var b store.Build
	waitFor(t, 3*time.Minute, fmt.Sprintf("build %d to end", id), func() (bool, string) {
		var err error
		b, err = w.svc.Store().GetBuild(t.Context(), id)
		return err == nil && store.Finished(b.Status), fmt.Sprintf("%s %v", b.Status, err)
	})
	return b
}

// rebuilds lists project's base_image builds, oldest first.
func (w *world) rebuilds(t *testing.T, project string) []store.Build {
	t.Helper()
	bs, err := w.svc.Store().ListBuilds(t.Context(), store.Filter{Project: project, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Build
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i].Trigger == store.TriggerBaseImage {
			out = append(out, bs[i])
		}
	}
	return out
}

// waitRebuild waits for project's n-th base_image build and for it to
// succeed.
func (w *world) waitRebuild(t *testing.T, project string, n int, timeout time.Duration) store.Build {
	t.Helper()
	return w.wait(t, w.nthRebuild(t, project, n, timeout).ID)
}

// nthRebuild waits for project's n-th base_image build to be queued.
func (w *world) nthRebuild(t *testing.T, project string, n int, timeout time.Duration) store.Build {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("base image rebuild %d of %s", n, project), func() (bool, string) {
		got := w.rebuilds(t, project)
		return len(got) >= n, fmt.Sprintf("%d rebuilds; log:\n%s", len(got), w.log.String())
	})
	return w.rebuilds(t, project)[n-1]
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// short is a digest as reasons show it.
func short(d string) string { return d[:len("sha256:")+12] + "…" }

// TestRebuildOnNewBaseDigest: a project FROM $REG/base:1 (an ARG default)
// that watches its bases every second: unchanged for several checks, no
// build; a new digest pushed for base:1 (the engine's own copy left at the
// old one) gives one rebuild, whose reason names both digests, which moves
// the branch's tags to an image on the new base layer and rolls the swarm
// service out; with the registry down, checks back off (logged) and no
// build starts; a change made meanwhile is found once it answers again.
func TestRebuildOnNewBaseDigest(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	stack := testenv.Name(t, "stk")
	svcName := stack + "_app"
	w, v1 := newWorld(t, fixture.Options{
		Project: testenv.Name(t, "bw"),
		Extra:   "deploy_targets:\n  local:\n    hosts: [\"unix:///var/run/docker.sock\"]\n",
		ProjectExtra: fmt.Sprintf(`    base_images: {watch: true, interval: 1s}
    deploy:
      - {target: local, stack: %q, services: [%q], on: ["base_image"], deploy_timeout: 90s, stable_for: 1s}
`, stack, svcName),
	}, nil, 1)
	project := w.Project
	first := w.push(t, project)
	if len(first.Bases) != 1 || first.Bases[0].Ref != w.base || first.Bases[0].Digest != v1.Digest {
		t.Fatalf("bases of the first build = %+v, want %s at %s", first.Bases, w.base, v1.Digest)
	}
	spec := swarmtest.Spec(svcName, w.Image+":main@"+first.Digest, 1, map[string]string{"com.docker.stack.namespace": stack})
	spec.TaskTemplate.ContainerSpec.Args = []string{"-sleep", "1h"}
	id := swarmtest.CreateService(t, cli, spec, "")
	swarmtest.WaitRunning(t, cli, id, 1, 90*time.Second)

	// Unchanged: several checks, no build.
	before := len(w.px.headsOf(w.baseRef))
	waitFor(t, 30*time.Second, "4 checks of the unchanged base", func() (bool, string) {
		n := len(w.px.headsOf(w.baseRef)) - before
		return n >= 4, fmt.Sprintf("%d checks; log:\n%s", n, w.log.String())
	})
	if got := w.rebuilds(t, project); len(got) != 0 {
		t.Fatalf("the unchanged base started %d rebuilds: %+v", len(got), got)
	}

	// A new digest for base:1; the engine's base:1 is the old image again.
	v2 := fixture.PushBase(t, w.Docker, w.base, map[string]string{"base-version": "2\n"})
	if err := w.Docker.ImageTag(t.Context(), v1.ID, w.base); err != nil {
		t.Fatal(err)
	}
	pushedAt := time.Now()
	rb := w.waitRebuild(t, project, 1, 3*time.Minute)
	// Queued by the first check after the push: no second check of the
	// base came in between (checks are an interval apart however loaded
	// the machine is, which a bound on the time would not be).
	var between []time.Time
	for _, h := range w.px.headsOf(w.baseRef) {
		if h.After(pushedAt) && h.Before(rb.CreatedAt) {
			between = append(between, h)
		}
	}
	if len(between) > 1 {
		t.Errorf("the rebuild was queued %s after the push of the new base, after %d checks (at %v), want by the first", rb.CreatedAt.Sub(pushedAt), len(between), between)
	}
	wantReason := "base_image " + w.base + " " + short(v1.Digest) + " → " + short(v2.Digest)
	if rb.Reason != wantReason {
		t.Errorf("reason = %q, want %q", rb.Reason, wantReason)
	}
	if rb.Commit != first.Commit || rb.Ref != "refs/heads/main" {
		t.Errorf("the rebuild built %s %s, want the newest built commit %s of main", rb.Ref, rb.Commit, first.Commit)
	}
	if len(rb.Bases) != 1 || rb.Bases[0].Digest != v2.Digest {
		t.Errorf("bases of the rebuild = %+v, want %s", rb.Bases, v2.Digest)
	}
	for _, tag := range []string{"main", "latest", "main-" + first.Commit[:7]} {
		if got := w.Digest(tag); got != rb.Digest {
			t.Errorf("%s:%s = %s, want the rebuild's %s", w.Image, tag, got, rb.Digest)
		}
	}
	if rb.Digest == first.Digest {
		t.Errorf("the rebuild pushed the first build's digest %s", rb.Digest)
	}
	if got := fixture.Layers(t, w.Image+":main")[0]; got != v2.Layer {
		t.Errorf("the image's base layer is %s, want the new base's %s", got, v2.Layer)
	}
	if len(rb.Deploys) != 1 || rb.Deploys[0].Status != pipeline.DeployConverged {
		t.Errorf("deploys of the rebuild = %+v, want %s converged", rb.Deploys, svcName)
	}
	svc, _, err := cli.ServiceInspectWithRaw(t.Context(), id, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := svc.Spec.TaskTemplate.ContainerSpec.Image; !strings.HasSuffix(img, "@"+rb.Digest) {
		t.Errorf("the service runs %s, want the rebuild's %s", img, rb.Digest)
	}
	// No second rebuild for the same change.
	checks := len(w.px.headsOf(w.baseRef))
	waitFor(t, 30*time.Second, "3 more checks", func() (bool, string) {
		n := len(w.px.headsOf(w.baseRef)) - checks
		return n >= 3, fmt.Sprintf("%d checks", n)
	})
	if got := w.rebuilds(t, project); len(got) != 1 {
		t.Fatalf("%d rebuilds after one change, want 1: %+v", len(got), got)
	}

	// The registry is down: the checks fail and back off, nothing builds.
	w.px.down.Store(true)
	waitFor(t, 30*time.Second, "three failed checks logged", func() (bool, string) {
		return strings.Count(w.log.String(), "check failed; backing off") >= 3, w.log.String()
	})
	if !strings.Contains(w.log.String(), `"failures":3`) {
		t.Errorf("the log does not count the failures in a row:\n%s", w.log.String())
	}
	// The third wait is the interval (250ms, 500ms, 1s).
	if !strings.Contains(w.log.String(), `"retry_in":1000`) {
		t.Errorf("the waits after failures do not grow to the interval:\n%s", w.log.String())
	}
	// A change made while the registry is down (pushed to it directly).
	direct := w.Reg.Host + "/" + w.baseRef + ":1"
	v3 := fixture.PushBase(t, w.Docker, direct, map[string]string{"base-version": "3\n"})
	if got := w.rebuilds(t, project); len(got) != 1 {
		t.Fatalf("%d rebuilds while the registry was down, want still 1", len(got))
	}
	w.px.down.Store(false)
	rb2 := w.waitRebuild(t, project, 2, 3*time.Minute)
	if want := "base_image " + w.base + " " + short(v2.Digest) + " → " + short(v3.Digest); rb2.Reason != want {
		t.Errorf("reason after the outage = %q, want %q", rb2.Reason, want)
	}
	if got := fixture.Layers(t, w.Image+":main")[0]; got != v3.Layer {
		t.Errorf("after the outage the image's base layer is %s, want %s", got, v3.Layer)
	}
}

// TestSharedBaseOneCheckPerInterval: two projects on the same base, served
// by two replicas sharing a PostgreSQL database, are checked with one HEAD
// request per interval in all, and a new digest rebuilds both, once each.
func TestSharedBaseOneCheckPerInterval(t *testing.T) {
	t.Parallel()
	second := testenv.Name(t, "second")
	w, v1 := newWorld(t, fixture.Options{
		Project:      testenv.Name(t, "first"),
		ProjectExtra: "    base_images: {watch: true, interval: 1s}\n",
	}, func(w *fixture.World, base string) string {
		return fmt.Sprintf(`  - name: %q
    repo: %q
    image: %q
    base_images: {watch: true, interval: 1s}
`, second, w.Repo.URL(), w.Image+"-second")
	}, 2)
	t.Cleanup(func() { fixture.RemoveImages(w.Docker, w.Image+"-second") })
	w.push(t, w.Project)
	w.push(t, second)

	start := len(w.px.headsOf(w.baseRef))
	waitFor(t, 30*time.Second, "5 checks of the shared base", func() (bool, string) {
		n := len(w.px.headsOf(w.baseRef)) - start
		return n >= 5, fmt.Sprintf("%d checks", n)
	})
	heads := w.px.headsOf(w.baseRef)[start:]
	for i := 1; i < len(heads); i++ {
		// One check per interval (1s, jittered by a tenth either way).
		if gap := heads[i].Sub(heads[i-1]); gap < 850*time.Millisecond {
			t.Errorf("HEAD %d came %s after the one before: more than one check per interval for two projects", i, gap)
		}
	}

	v2 := fixture.PushBase(t, w.Docker, w.base, map[string]string{"base-version": "2\n"})
	for _, p := range []string{w.Project, second} {
		rb := w.waitRebuild(t, p, 1, 3*time.Minute)
		if !strings.Contains(rb.Reason, short(v1.Digest)+" → "+short(v2.Digest)) {
			t.Errorf("%s: reason %q does not name both digests", p, rb.Reason)
		}
	}
	checks := len(w.px.headsOf(w.baseRef))
	waitFor(t, 30*time.Second, "3 more checks", func() (bool, string) {
		return len(w.px.headsOf(w.baseRef))-checks >= 3, ""
	})
	for _, p := range []string{w.Project, second} {
		if got := w.rebuilds(t, p); len(got) != 1 {
			t.Errorf("%s: %d rebuilds, want 1", p, len(got))
		}
	}
}

// TestUpstreamChain: project B is built FROM project A's image (A watches
// its own base). A push to A rebuilds B once A's push succeeded, with the
// reason naming A's new digest; a push to A that fails leaves B alone;
// and once A is built FROM B's image in turn, A's push rebuilds nothing,
// the watcher's error names the cycle, and so does the status of each
// project's base that closes it (what the API and dashboard show).
func TestUpstreamChain(t *testing.T) {
	t.Parallel()
	down := testenv.Name(t, "down")
	var upImage string
	w, _ := newWorld(t, fixture.Options{
		Project:      testenv.Name(t, "up"),
		ProjectExtra: "    base_images: {watch: true, interval: 1s}\n",
	}, func(fw *fixture.World, base string) string {
		upImage = fw.Image
		fw.Repo.Commit(t, "main", map[string]string{
			"Dockerfile.down": "FROM " + fw.Image + ":main\nCOPY ctx/kept.txt /down.txt\n",
		}, "down on up")
		return fmt.Sprintf(`  - name: %q
    repo: %q
    dockerfile: Dockerfile.down
    image: %q
`, down, fw.Repo.URL(), fw.Image+"-down")
	}, 1)
	t.Cleanup(func() { fixture.RemoveImages(w.Docker, w.Image+"-down") })
	up1 := w.push(t, w.Project)
	d1 := w.push(t, down)
	if len(d1.Bases) != 1 || d1.Bases[0].Ref != upImage+":main" || d1.Bases[0].Digest != up1.Digest {
		t.Fatalf("bases of %s = %+v, want %s:main at %s", down, d1.Bases, upImage, up1.Digest)
	}

	// A push to the upstream project rebuilds the downstream one after it.
	w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": "kept, changed\n"}, "change up")
	up2 := w.push(t, w.Project)
	rb := w.waitRebuild(t, down, 1, 2*time.Minute)
	if want := "base_image " + upImage + ":main " + short(up1.Digest) + " → " + short(up2.Digest); rb.Reason != want {
		t.Errorf("reason = %q, want %q", rb.Reason, want)
	}
	if rb.CreatedAt.Before(*up2.FinishedAt) {
		t.Errorf("the downstream rebuild was queued at %v, before the upstream build ended at %v", rb.CreatedAt, up2.FinishedAt)
	}
	if len(rb.Bases) != 1 || rb.Bases[0].Digest != up2.Digest {
		t.Errorf("bases of the rebuild = %+v, want %s", rb.Bases, up2.Digest)
	}

	// A failing upstream build: nothing downstream.
	w.Repo.Commit(t, "main", map[string]string{"Dockerfile": "FROM " + w.base + "\nCOPY missing-file /x\n"}, "break up")
	res, err := w.queue.Enqueue(t.Context(), pipeline.Request{Triggers: []pipeline.Trigger{{Kind: store.TriggerPush, Project: w.Project, Ref: "refs/heads/main"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the broken upstream build to fail", func() (bool, string) {
		b, err := w.svc.Store().GetBuild(t.Context(), res.First().ID)
		return err == nil && b.Status == store.StatusFailed, fmt.Sprintf("%s %v", b.Status, err)
	})
	checks := len(w.px.headsOf(w.baseRef))
	waitFor(t, 30*time.Second, "two more passes of the watcher", func() (bool, string) {
		return len(w.px.headsOf(w.baseRef))-checks >= 2, ""
	})
	if got := w.rebuilds(t, down); len(got) != 1 {
		t.Errorf("%d rebuilds of %s after a failed upstream build, want still 1", len(got), down)
	}
	if got := w.Digest("main"); got != up2.Digest {
		t.Errorf("the failed build moved %s:main to %s", w.Image, got)
	}

	cycles := func() map[string]string {
		t.Helper()
		st, err := w.watcher.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for project, bases := range st {
			for _, b := range bases {
				if b.Cycle != "" {
					out[project+" "+b.Ref] = b.Cycle
				}
			}
		}
		return out
	}
	if got := cycles(); len(got) != 0 {
		t.Errorf("before the cycle the status shows cycles %v, want none", got)
	}

	// A cycle: the upstream project built FROM the downstream image.
	w.Repo.Commit(t, "main", map[string]string{
		"Dockerfile": "FROM " + upImage + "-down:main AS down\nFROM " + w.base + "\nCOPY --from=down /app /app\nCOPY --from=down /ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
	}, "up on down")
	w.push(t, w.Project)
	waitFor(t, time.Minute, "the cycle error", func() (bool, string) {
		return strings.Contains(w.log.String(), "upstream chain cycle "+down+" → "+w.Project+" → "+down), w.log.String()
	})
	if got := w.rebuilds(t, down); len(got) != 1 {
		t.Errorf("%d rebuilds of %s in a cycle, want still 1", len(got), down)
	}
	if got := w.rebuilds(t, w.Project); len(got) != 0 {
		t.Errorf("%d base image rebuilds of %s in a cycle, want none", len(got), w.Project)
	}
	checks = len(w.px.headsOf(w.baseRef))
	waitFor(t, 30*time.Second, "two more passes of the watcher", func() (bool, string) {
		return len(w.px.headsOf(w.baseRef))-checks >= 2, ""
	})
	if n := strings.Count(w.log.String(), "upstream chain cycle"); n != 1 {
		t.Errorf("the cycle was logged %d times, want once", n)
	}
	want := map[string]string{
		down + " " + upImage + ":main":           down + " → " + w.Project + " → " + down,
		w.Project + " " + upImage + "-down:main": w.Project + " → " + down + " → " + w.Project,
	}
	if diff := cmp.Diff(want, cycles()); diff != "" {
		t.Errorf("the cycles in the bases' status (project ref: cycle), -want +got:\n%s", diff)
	}
}
