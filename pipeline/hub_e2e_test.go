package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/hub"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// hubSecret is a secret_build_env value: it must never reach the build log.
const hubSecret = "hub-secret-value-7f3a"

// hubDockerfile declares some of Hub's variables and a build_env entry, and
// records them as labels (FROM scratch has no RUN).
const hubDockerfile = `FROM scratch
ARG SOURCE_BRANCH
ARG SOURCE_COMMIT
ARG DOCKER_TAG
ARG GREETING
LABEL hub.source_branch=$SOURCE_BRANCH hub.source_commit=$SOURCE_COMMIT hub.docker_tag=$DOCKER_TAG hub.greeting=$GREETING
COPY server /app
ENTRYPOINT ["/app"]
`

// hubTestFile is Hub's autotest: sut talks to a second service over TCP.
const hubTestFile = `services:
  sut:
    image: $IMAGE_NAME
    command: ["client", "pong:7000"]
    environment: [SOURCE_BRANCH]
    depends_on: [pong]
  pong:
    image: $IMAGE_NAME
    command: ["serve", "7000"]
`

// hubHook appends what the hook saw of Hub's variables to $HOOK_LOG (a
// build_env entry naming a file outside the repository) and prints the
// secret build variable, which the log must redact.
func hubHook(name string) string {
	return `#!/bin/sh
set -e
echo "` + name + ` SOURCE_BRANCH=$SOURCE_BRANCH SOURCE_COMMIT=$SOURCE_COMMIT DOCKER_REPO=$DOCKER_REPO DOCKERFILE_PATH=$DOCKERFILE_PATH DOCKER_TAG=$DOCKER_TAG IMAGE_NAME=$IMAGE_NAME COMMIT_MSG=$COMMIT_MSG DIR=$(basename "$(pwd)")" >> "$HOOK_LOG"
echo "` + name + ` sees the secret as $HUB_SECRET"
`
}

// hubWorld is a fixture world whose repository is laid out as a Docker Hub
// user's: app/Dockerfile, app/docker-compose.test.yml and app/hooks/.
type hubWorld struct {
	*fixture.World
	hookLog string // the file the hooks append to
}

// newHubWorld makes the world with o's registry credentials; projectExtra
// is added to the project (after context: app, build_env and build_rules).
func newHubWorld(t *testing.T, o fixture.Options, hooks map[string]string, projectExtra string) *hubWorld {
	t.Helper()
	hookLog := filepath.Join(t.TempDir(), "hooks.log")
	w := fixture.New(t, fixture.Options{
		Username: o.Username,
		Password: o.Password,
		// Runs the server program without arguments: "hello from the image
		// under test".
		TestCommand:    []string{},
		TestEntrypoint: []string{"/app"},
		ProjectExtra: fmt.Sprintf(`    context: app
    build_env: {HOOK_LOG: %q, GREETING: hello-hub}
    secret_build_env: {HUB_SECRET: %q}
    build_rules:
      - {source_type: branch, source: main, docker_tag: "{sourceref},latest"}
      - {source_type: tag, source: "/^v([0-9.]+)$/", docker_tag: "release-{\\1},{sourceref}"}
%s`, hookLog, hubSecret, projectExtra),
	})
	src, err := os.ReadFile("../hub/testdata/app/main.go")
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's own app file would clash with the app/ directory.
	w.Repo.Remove(t, "main", "app", "make room for app/")
	w.Repo.CommitFile(t, "main", "app/server", testenv.StaticBinary(t, string(src)), 0o755, "add the server")
	files := map[string]string{
		"app/Dockerfile":              hubDockerfile,
		"app/docker-compose.test.yml": hubTestFile,
	}
	for name, script := range hooks {
		files["app/hooks/"+name] = script
	}
	w.Head = w.Repo.Commit(t, "main", files, "lay out as on Docker Hub")
	return &hubWorld{World: w, hookLog: hookLog}
}

// hookLines returns the lines the hooks wrote; none when no hook ran.
func (w *hubWorld) hookLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(w.hookLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// build runs req and returns the build and its log.
func hubBuild(t *testing.T, svc *pipeline.Service, req pipeline.BuildRequest) (store.Build, string) {
	t.Helper()
	var log bytes.Buffer
	b, _ := svc.BuildNow(t.Context(), req, &log)
	return b, log.String()
}

// checkAutotestGone fails when the engine still has a container, network or
// volume of svc's autotests.
func checkAutotestGone(t *testing.T, w *hubWorld, svc *pipeline.Service) {
	t.Helper()
	prefix := pipeline.AutotestPrefix(svc.Config)
	f := filters.NewArgs(filters.Arg("label", hub.AutotestLabel))
	var left []string
	cs, err := w.Docker.ContainerList(t.Context(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.HasPrefix(c.Labels[hub.AutotestLabel], prefix) {
			left = append(left, "container "+strings.Join(c.Names, ","))
		}
	}
	ns, err := w.Docker.NetworkList(t.Context(), network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if strings.HasPrefix(n.Labels[hub.AutotestLabel], prefix) {
			left = append(left, "network "+n.Name)
		}
	}
	vs, err := w.Docker.VolumeList(t.Context(), volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		if strings.HasPrefix(v.Labels[hub.AutotestLabel], prefix) {
			left = append(left, "volume "+v.Name)
		}
	}
	if len(left) > 0 {
		t.Errorf("the autotest left %s", strings.Join(left, "; "))
	}
}

// checkLogHas fails for each wanted text missing from log, in that order.
func checkLogHas(t *testing.T, log string, want ...string) {
	t.Helper()
	rest := log
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("the build log lacks %q (after the texts before it); log:\n%s", w, log)
			return
		}
		rest = rest[i+len(w):]
	}
}

// TestHubBranchAndTagBuilds builds a Docker Hub repository's main branch
// and its v1.4.2 tag: the build rules give the tags, the hooks run in order
// with Hub's variables, the autotest runs (sut talks to a second service)
// and leaves nothing in the engine, and the declared ARGs get Hub's values.
func TestHubBranchAndTagBuilds(t *testing.T) {
	t.Parallel()
	w := newHubWorld(t, fixture.Options{}, map[string]string{
		"post_checkout": hubHook("post_checkout"),
		"pre_build":     hubHook("pre_build"),
		"post_push":     hubHook("post_push"),
	}, "    autotest: true\n    hooks: true\n")
	svc := openService(t, w.World)

	main, log := hubBuild(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main"})
	if main.Status != store.StatusSucceeded {
		t.Fatalf("main: status %s, error %s; log:\n%s", main.Status, main.Error, log)
	}
	if diff := cmp.Diff(main.Tags, []string{"main", "latest"}); diff != "" {
		t.Errorf("main tags (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(stageNames(main), []string{"source", "build", "test", "push"}); diff != "" {
		t.Errorf("main stages (-got +want):\n%s", diff)
	}
	checkDigests(t, w.World, map[string]string{"main": main.Digest, "latest": main.Digest, "main-" + w.Head[:7]: ""})
	vars := func(branch, tag string) string {
		return fmt.Sprintf("SOURCE_BRANCH=%s SOURCE_COMMIT=%s DOCKER_REPO=%s DOCKERFILE_PATH=Dockerfile DOCKER_TAG=%s IMAGE_NAME=%s:%s COMMIT_MSG=lay out as on Docker Hub DIR=app",
			branch, w.Head, w.Image, tag, w.Image, tag)
	}
	want := []string{
		"post_checkout " + vars("main", "main"),
		"pre_build " + vars("main", "main"),
		"post_push " + vars("main", "main"),
	}
	if diff := cmp.Diff(w.hookLines(t), want); diff != "" {
		t.Errorf("what the hooks saw (-got +want):\n%s", diff)
	}
	checkLogHas(t, log,
		"build rules: branch main matches build_rules[0]: tags main, latest",
		"--> hooks/post_checkout", "<-- hooks/post_checkout",
		"[hook pre_build] pre_build sees the secret as ***",
		"==> test", "hello from the image under test",
		"--> autotest in app", "sut | SOURCE_BRANCH=main", "sut | pong received from pong:7000", "<-- autotest succeeded",
		"==> push", "--> hooks/post_push",
	)
	if strings.Contains(log, hubSecret) {
		t.Errorf("the build log shows secret_build_env's value:\n%s", log)
	}
	labels := func(tag string) map[string]string {
		insp, err := w.Docker.ImageInspect(t.Context(), w.Image+":"+tag)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for k, v := range insp.Config.Labels {
			if strings.HasPrefix(k, "hub.") {
				got[k] = v
			}
		}
		return got
	}
	if diff := cmp.Diff(labels("main"), map[string]string{
		"hub.source_branch": "main", "hub.source_commit": w.Head, "hub.docker_tag": "main", "hub.greeting": "hello-hub",
	}); diff != "" {
		t.Errorf("build args of the main build (-got +want):\n%s", diff)
	}
	checkAutotestGone(t, w, svc)

	// A git tag: the tag rule's {\1} and {sourceref}.
	w.Repo.Tag(t, "v1.4.2", w.Head)
	os.Remove(w.hookLog)
	rel, log := hubBuild(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "refs/tags/v1.4.2"})
	if rel.Status != store.StatusSucceeded {
		t.Fatalf("v1.4.2: status %s, error %s; log:\n%s", rel.Status, rel.Error, log)
	}
	if diff := cmp.Diff(rel.Tags, []string{"release-1.4.2", "v1.4.2"}); diff != "" {
		t.Errorf("v1.4.2 tags (-got +want):\n%s", diff)
	}
	if rel.Digest == main.Digest {
		t.Errorf("v1.4.2 reused the main build's image %s; its SOURCE_BRANCH build arg differs", main.Digest)
	}
	checkDigests(t, w.World, map[string]string{
		"release-1.4.2": rel.Digest, "v1.4.2": rel.Digest,
		"latest": main.Digest, "main": main.Digest, "1.4.2": "",
	})
	want = []string{
		"post_checkout " + vars("v1.4.2", "release-1.4.2"),
		"pre_build " + vars("v1.4.2", "release-1.4.2"),
		"post_push " + vars("v1.4.2", "release-1.4.2"),
	}
	if diff := cmp.Diff(w.hookLines(t), want); diff != "" {
		t.Errorf("what the hooks saw of v1.4.2 (-got +want):\n%s", diff)
	}
	checkLogHas(t, log, "sut | SOURCE_BRANCH=v1.4.2", "<-- autotest succeeded")
	if diff := cmp.Diff(labels("release-1.4.2"), map[string]string{
		"hub.source_branch": "v1.4.2", "hub.source_commit": w.Head, "hub.docker_tag": "release-1.4.2", "hub.greeting": "hello-hub",
	}); diff != "" {
		t.Errorf("build args of the v1.4.2 build (-got +want):\n%s", diff)
	}
	checkAutotestGone(t, w, svc)

	// No rule for the branch: nothing builds.
	w.Repo.Commit(t, "develop", map[string]string{"app/x": "x"}, "develop")
	dev, log := hubBuild(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "develop"})
	if dev.Status != store.StatusFailed || !strings.Contains(dev.Error, "no build rule matches branch develop") {
		t.Errorf("develop: status %s, error %q; want failed for want of a rule; log:\n%s", dev.Status, dev.Error, log)
	}
}

// TestHubFailingSutPushesNothing commits a test file whose sut fails: the
// build fails in its test stage, pushes nothing, runs no push hook, and the
// test project is gone from the engine.
func TestHubFailingSutPushesNothing(t *testing.T) {
	t.Parallel()
	w := newHubWorld(t, fixture.Options{}, map[string]string{"post_push": hubHook("post_push")}, "    autotest: true\n    hooks: true\n")
	w.Repo.Commit(t, "main", map[string]string{"app/docker-compose.test.yml": `services:
  sut:
    image: $IMAGE_NAME
    command: ["fail"]
    environment: {REASON: "the test is broken"}
    depends_on: [pong]
  pong:
    image: $IMAGE_NAME
    command: ["serve", "7000"]
`}, "break the test")
	svc := openService(t, w.World)

	b, log := hubBuild(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main"})
	if b.Status != store.StatusFailed {
		t.Fatalf("status %s, want failed; log:\n%s", b.Status, log)
	}
	last := b.Stages[len(b.Stages)-1]
	if last.Name != pipeline.StageTest || last.Status != store.StatusFailed || !strings.Contains(last.Error, "sut exited with code 1") {
		t.Errorf("last stage %s %s (%s), want test failed because sut exited 1", last.Name, last.Status, last.Error)
	}
	checkLogHas(t, log, "sut | failing on purpose the test is broken")
	if b.Digest != "" {
		t.Errorf("digest %s recorded; nothing may be pushed", b.Digest)
	}
	checkDigests(t, w.World, map[string]string{"main": "", "latest": ""})
	if lines := w.hookLines(t); len(lines) > 0 {
		t.Errorf("hooks ran after a failed autotest: %q", lines)
	}
	checkAutotestGone(t, w, svc)
}

// TestHubBuildAndPushHooks: hooks/build replaces the build (it runs docker
// build itself) and hooks/push the push (docker push with the credentials
// slipway gives it in DOCKER_CONFIG); slipway adds the other tags.
func TestHubBuildAndPushHooks(t *testing.T) {
	t.Parallel()
	// The registry wants a password: the push hook can only use slipway's.
	w := newHubWorld(t, fixture.Options{Username: "hub", Password: "hub-registry-pass"}, map[string]string{
		"build": `#!/bin/sh
set -e
docker build -q -t "$IMAGE_NAME" -f "$DOCKERFILE_PATH" .
echo "build made $IMAGE_NAME" >> "$HOOK_LOG"
`,
		"push": `#!/bin/sh
set -e
docker push "$IMAGE_NAME"
echo "push pushed $IMAGE_NAME" >> "$HOOK_LOG"
`,
	}, "    hooks: true\n")
	svc := openService(t, w.World)
	b, log := hubBuild(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main"})
	if b.Status != store.StatusSucceeded {
		t.Fatalf("status %s, error %s; log:\n%s", b.Status, b.Error, log)
	}
	want := []string{
		fmt.Sprintf("build made %s:main", w.Image),
		fmt.Sprintf("push pushed %s:main", w.Image),
	}
	if diff := cmp.Diff(w.hookLines(t), want); diff != "" {
		t.Errorf("what the hooks did (-got +want):\n%s", diff)
	}
	checkLogHas(t, log, "--> hooks/build", "hooks/build made image", "hello from the image under test", "--> hooks/push", "adding the build's other tags")
	if strings.Contains(log, "hub-registry-pass") {
		t.Errorf("the build log shows the registry password:\n%s", log)
	}
	checkDigests(t, w.World, map[string]string{"main": b.Digest, "latest": b.Digest})
	insp, err := w.Docker.ImageInspect(t.Context(), w.Image+":main")
	if err != nil {
		t.Fatal(err)
	}
	if got := insp.Config.Labels["org.opencontainers.image.revision"]; got != "" {
		t.Errorf("the hook's image has slipway's label %q; it cannot", got)
	}
}

// TestHubHooksFalse: with hooks: false no hook runs, and the log says which
// were not run.
func TestHubHooksFalse(t *testing.T) {
	t.Parallel()
	w := newHubWorld(t, fixture.Options{}, map[string]string{
		"pre_build": hubHook("pre_build"),
		"post_push": hubHook("post_push"),
		"build":     "#!/bin/sh\nexit 1\n",
	}, "")
	svc := openService(t, w.World)
	b, log := hubBuild(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main"})
	if b.Status != store.StatusSucceeded {
		t.Fatalf("status %s, error %s; log:\n%s", b.Status, b.Error, log)
	}
	if lines := w.hookLines(t); len(lines) > 0 {
		t.Errorf("hooks ran with hooks: false: %q", lines)
	}
	checkLogHas(t, log, "hooks: false: not running hooks/pre_build, hooks/build, hooks/post_push")
	for _, no := range []string{"--> hooks/", "--> autotest"} {
		if strings.Contains(log, no) {
			t.Errorf("the log has %q with hooks and autotest off:\n%s", no, log)
		}
	}
	checkDigests(t, w.World, map[string]string{"main": b.Digest, "latest": b.Digest})
}

// TestQueueStartPrunesAutotests: when the queue starts, what an autotest of
// this slipway left in the engine (a crash in the middle of one) is
// removed; another slipway's autotests are left alone.
func TestQueueStartPrunesAutotests(t *testing.T) {
	t.Parallel()
	w := fixture.New(t, fixture.Options{})
	svc := openService(t, w)
	mine := pipeline.AutotestPrefix(svc.Config) + "7-1"
	theirs := "slipway-at-00000000-7-1"
	ids := map[string]string{}
	for _, project := range []string{mine, theirs} {
		name := testenv.Name(t, "at-leftover")
		n, err := w.Docker.NetworkCreate(t.Context(), name, network.CreateOptions{Labels: map[string]string{hub.AutotestLabel: project}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Docker.NetworkRemove(context.Background(), n.ID) })
		ids[project] = n.ID
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Run prunes, then stops at once.
	if err := pipeline.NewQueue(svc, pipeline.QueueOptions{}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Docker.NetworkInspect(t.Context(), ids[mine], network.InspectOptions{}); err == nil {
		t.Errorf("the network of this slipway's autotest %s is still there", mine)
	}
	if _, err := w.Docker.NetworkInspect(t.Context(), ids[theirs], network.InspectOptions{}); err != nil {
		t.Errorf("the network of another slipway's autotest %s was removed: %v", theirs, err)
	}
}
