package builders_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dockerbuild "github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	dockerregistry "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
)

// cacheWorld is a fixture repository whose Dockerfile builds on a base
// image in the world's registry (which wants a login), with the projects of
// TestRegistryCacheOnAFreshEngine: pushed (on main, inline cache), fresh
// (on the extra engine, cache.from pushed's main tag), cold (on the extra
// engine, no cache) and missing (on main, cache.from an image never
// pushed).
type cacheWorld struct {
	*pool
	mainCli, extraCli *client.Client
	// repos are the registry repositories of the projects and the base.
	repos map[string]string
}

// newCacheWorld sets up the world with run as the Dockerfile's RUN step
// (a nonce of the run is echoed first, so that only this run's builds can
// have cached it).
func newCacheWorld(t testing.TB, run string) *cacheWorld {
	t.Helper()
	password := testenv.RandomHex(t)
	w := fixture.New(t, fixture.Options{Username: "cache", Password: password})
	extra := second.Get(t)
	restart(t, extra)
	cw := &cacheWorld{pool: &pool{w: w, cfgPath: filepath.Join(w.Dir, "cache.yaml")}, mainCli: testenv.Docker(t), repos: map[string]string{}}
	var err error
	if cw.extraCli, err = extra.Client(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cw.extraCli.Close() })
	for _, name := range []string{"pushed", "fresh", "cold", "missing", "base"} {
		cw.repos[name] = w.Image + "-" + name
	}
	t.Cleanup(func() {
		for _, cli := range []*client.Client{cw.mainCli, cw.extraCli} {
			for _, repo := range cw.repos {
				fixture.RemoveImages(cli, repo)
			}
		}
	})
	base := cw.repos["base"] + ":1"
	if err := cw.mainCli.ImageTag(t.Context(), testenv.Busybox(t, cw.mainCli), base); err != nil {
		t.Fatal(err)
	}
	auth, err := dockerregistry.EncodeAuthConfig(dockerregistry.AuthConfig{Username: "cache", Password: password, ServerAddress: w.Reg.Host})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cw.mainCli.ImagePush(t.Context(), base, image.PushOptions{RegistryAuth: auth})
	if err == nil {
		err = testenv.StreamError(rc)
		rc.Close()
	}
	if err != nil {
		t.Fatalf("push the base image %s: %v", base, err)
	}
	w.Repo.Commit(t, w.Branch, map[string]string{"Dockerfile": fmt.Sprintf(`FROM %s
COPY app /app
COPY ctx/ /ctx/
RUN echo %s > /nonce && %s
ENTRYPOINT ["/app"]
`, base, testenv.RandomHex(t), run)}, "build on a base image from the registry")

	project := func(name, labels, cache string) string {
		return fmt.Sprintf("  - {name: %s, repo: %q, image: %q, builder_labels: {disk: %s}, test: {command: [\"-selftest\"]}%s}\n",
			name, w.Repo.URL(), cw.repos[name], labels, cache)
	}
	pwFile := filepath.Join(w.Dir, "cache-password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`data_dir: %q
build_timeout: 10m
builder: buildkit
registries:
  - {host: %q, username: cache, password_file: %q}
builders:
  - {name: main, host: %q, concurrency: 1, labels: {disk: hdd}}
  - {name: second, host: %q, concurrency: 1, labels: {disk: ssd}}
projects:
`, filepath.Join(w.Dir, "data"), w.Reg.Host, pwFile, cw.mainCli.DaemonHost(), extra.Host) +
		project("pushed", "hdd", ", cache: {inline: true}") +
		project("fresh", "ssd", fmt.Sprintf(", cache: {from: [%q]}", cw.repos["pushed"]+":main")) +
		project("cold", "ssd", "") +
		project("missing", "hdd", fmt.Sprintf(", cache: {from: [%q]}", w.Image+"-never-pushed:main"))
	if err := os.WriteFile(cw.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cw
}

// TestRegistryCacheOnAFreshEngine: a project built on the main engine
// pushes its image with inline cache (cache.inline); a project built on
// the extra engine, which never built it, names that image in cache.from
// and takes its steps from the registry: its RUN step (which echoes a
// nonce of this run, so no engine had it) is CACHED and its build result
// counts the cached steps. A cache.from image that does not exist fails
// nothing. The registry wants a login: both engines pull the base image
// from it, and BuildKit the cache, with the credentials of registries[]
// that slipway hands it through the build session, as builders on two
// hosts would.
func TestRegistryCacheOnAFreshEngine(t *testing.T) {
	cw := newCacheWorld(t, "sha256sum /app > /app.sha256")
	svc := cw.service(t)

	first, log := build(t, svc, "pushed")
	if first.Builder != "main" || first.Cache == nil || first.Cache.TotalSteps == 0 || runCached(log) {
		t.Fatalf("the first build ran on %s with cache use %+v; want main, its steps counted and its RUN step run; log:\n%s", first.Builder, first.Cache, log)
	}
	b, log := build(t, svc, "fresh")
	if b.Builder != "second" {
		t.Fatalf("the fresh project's build ran on %s, want second", b.Builder)
	}
	if b.Cache == nil || b.Cache.CachedSteps < 3 || b.Cache.TotalSteps != first.Cache.TotalSteps {
		t.Errorf("the build on the fresh engine reports cache use %+v, want COPY, COPY and RUN (3 or more) of %d steps cached; log:\n%s", b.Cache, first.Cache.TotalSteps, log)
	}
	if !runCached(log) {
		t.Errorf("the RUN step was not taken from the cache; log:\n%s", log)
	}
	if b.Cache != nil {
		if want := fmt.Sprintf("(%d of %d steps cached)", b.Cache.CachedSteps, b.Cache.TotalSteps); !strings.Contains(log, want) {
			t.Errorf("the build log does not say %q:\n%s", want, log)
		}
	}
	build(t, svc, "missing")
}

// runCached reports whether the build log shows the RUN step CACHED.
func runCached(log string) bool {
	run := regexp.MustCompile(`(?m)^#(\d+) \[\d/\d\] RUN echo `).FindStringSubmatch(log)
	return run != nil && strings.Contains(log, "\n#"+run[1]+" CACHED\n")
}

// BenchmarkRegistryCache times a build on an engine with neither build
// cache nor images (the extra engine, pruned before each build: run it
// alone, `go test ./builders -run '^$' -bench RegistryCache`), without
// cache (cold) and with cache.from the image a build on the main engine
// pushed with inline cache (cache_from). The RUN step stands for a
// compile: about 3 s of shell arithmetic and a 32 MiB layer.
func BenchmarkRegistryCache(b *testing.B) {
	cw := newCacheWorld(b, "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; head -c 33554432 /dev/urandom > /blob")
	svc := cw.service(b)
	build(b, svc, "pushed")
	for _, project := range []string{"cold", "fresh"} {
		name := map[string]string{"cold": "cold", "fresh": "cache_from"}[project]
		b.Run(name, func(b *testing.B) {
			var cached, total int
			for b.Loop() {
				b.StopTimer()
				cw.pruneExtra(b)
				b.StartTimer()
				got, _ := build(b, svc, project)
				cached, total = got.Cache.CachedSteps, got.Cache.TotalSteps
				b.ReportMetric(float64(got.Stages[len(got.Stages)-1].DurationMS), "push-ms")
				for _, s := range got.Stages {
					if s.Name == pipeline.StageBuild {
						b.ReportMetric(float64(s.DurationMS), "build-stage-ms")
					}
				}
			}
			b.ReportMetric(float64(cached), "cached-steps")
			b.ReportMetric(float64(total), "steps")
		})
	}
}

// pruneExtra leaves the extra engine without the world's images and
// without build cache, as after `docker builder prune -af` and image
// removal. Only the extra engine, which this package's tests own, is
// pruned.
func (cw *cacheWorld) pruneExtra(b *testing.B) {
	b.Helper()
	for _, repo := range cw.repos {
		fixture.RemoveImages(cw.extraCli, repo)
	}
	if _, err := cw.extraCli.BuildCachePrune(b.Context(), dockerbuild.CachePruneOptions{All: true}); err != nil {
		b.Fatalf("prune the extra engine's build cache: %v", err)
	}
}
