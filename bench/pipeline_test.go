package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/source/gitfixture"
)

var (
	slipwayOnce sync.Once
	slipwayBin  string
	slipwayErr  error
)

// slipwayBinary builds cmd/slipway once per benchmark binary.
func slipwayBinary(b *testing.B) string {
	b.Helper()
	slipwayOnce.Do(func() {
		dir, err := os.MkdirTemp("", "slipway-bench-bin-")
		if err != nil {
			slipwayErr = err
			return
		}
		slipwayBin = filepath.Join(dir, "slipway")
		if out, err := exec.Command("go", "build", "-o", slipwayBin, "../cmd/slipway").CombinedOutput(); err != nil {
			slipwayErr = fmt.Errorf("go build ./cmd/slipway: %w\n%s", err, out)
		}
	})
	if slipwayErr != nil {
		b.Fatal(slipwayErr)
	}
	return slipwayBin
}

// pipelineFixture is a git repository of a project, a registry, and a
// slipway config building the repository's main branch.
type pipelineFixture struct {
	repo   *gitfixture.Repo
	image  string // slipway's repository in the registry
	cliRef string // the CLI's repository in the registry
	config string
	// buildkit makes the reference build with DOCKER_BUILDKIT=1.
	buildkit bool
}

// newPipelineFixture commits files (the Dockerfile and what it copies) and
// bin as "app" on main, and writes a slipway config whose project builds
// main, tests with -selftest and pushes the branch's 3 tags.
func newPipelineFixture(b *testing.B, files map[string]string, bin string, buildkit bool) *pipelineFixture {
	b.Helper()
	reg := testenv.StartRegistry(b, testenv.RegistryOptions{})
	repo := gitfixture.New(b)
	repo.CommitFile(b, "main", "app", bin, 0o755, "add app")
	repo.Commit(b, "main", files, "first commit")
	dir := b.TempDir()
	f := &pipelineFixture{
		repo:     repo,
		image:    reg.Host + "/" + testenv.Name(b, "bench-slipway"),
		cliRef:   reg.Host + "/" + testenv.Name(b, "bench-cli"),
		config:   filepath.Join(dir, "slipway.yaml"),
		buildkit: buildkit,
	}
	cfg := fmt.Sprintf(`data_dir: %q
projects:
  - name: bench
    repo: %q
    default_branch: main
    image: %q
    test: {command: ["-selftest"], timeout: 1m}
`, filepath.Join(dir, "data"), repo.URL(), f.image)
	if err := os.WriteFile(f.config, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		out, _ := exec.Command(*dockerCLI, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").Output()
		for _, ref := range strings.Fields(string(out)) {
			if strings.HasPrefix(ref, f.image+":") || strings.HasPrefix(ref, f.cliRef+":") {
				_ = exec.Command(*dockerCLI, "rmi", "-f", ref).Run()
			}
		}
	})
	return f
}

// commit makes a new commit on main whose image has a layer of its own.
func (f *pipelineFixture) commit(b *testing.B, side string, round int) string {
	b.Helper()
	return f.repo.Commit(b, "main", map[string]string{"ctx/stamp.txt": fmt.Sprintf("%s %d %s\n", side, round, time.Now())}, "round")
}

// buildResult is the part of `slipway build --json` the benchmark reads.
type buildResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Tags   []string
	Stages []struct {
		Name     string `json:"name"`
		Duration int64  `json:"duration_ms"`
	} `json:"stages"`
}

// slipway runs `slipway build` of a new commit, timed from the process's
// start to its end; the stage times go to the benchmark's log.
func (f *pipelineFixture) slipway(b *testing.B, round int) time.Duration {
	b.Helper()
	f.commit(b, "slipway", round)
	cmd := exec.Command(slipwayBinary(b), "build", "--config", f.config, "bench", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var res buildResult
	if jerr := json.Unmarshal(stdout.Bytes(), &res); err != nil || jerr != nil || res.Status != "succeeded" || len(res.Tags) != 3 {
		b.Fatalf("slipway build: %v %v %+v\n%s", err, jerr, res, stderr.String())
	}
	var stages []string
	for _, s := range res.Stages {
		stages = append(stages, fmt.Sprintf("%s %d", s.Name, s.Duration))
	}
	note("slipway round %d stages (ms): %s", round, strings.Join(stages, ", "))
	return took
}

// cli does the same with git and the docker CLI: clone, build with the 3
// tags, run the test, push each tag.
func (f *pipelineFixture) cli(b *testing.B, round int) time.Duration {
	b.Helper()
	ctx := context.Background()
	head := f.commit(b, "cli", round)
	dir := filepath.Join(b.TempDir(), "clone")
	tags := []string{f.cliRef + ":main-" + head[:7], f.cliRef + ":main", f.cliRef + ":latest"}
	var steps []string
	step := func(what string, fn func() error) {
		steps = append(steps, fmt.Sprintf("%s %d", what, timed(b, what, fn).Milliseconds()))
	}
	start := time.Now()
	step("clone", func() error {
		return run(ctx, "", nil, "git", "clone", "-q", "--depth", "1", "--branch", "main", f.repo.URL(), dir)
	})
	step("build", func() error { return dockerBuild(ctx, dir, f.buildkit, tags...) })
	step("test", func() error { return docker(ctx, "run", "--rm", tags[0], "-selftest") })
	step("push", func() error {
		for _, t := range tags {
			if err := docker(ctx, "push", "-q", t); err != nil {
				return err
			}
		}
		return nil
	})
	took := time.Since(start)
	note("cli round %d steps (ms): %s", round, strings.Join(steps, ", "))
	return took
}

// BenchmarkComparePipeline is goal 4 on the small fixture: `slipway build`
// of a new commit (source, build, test, push of main-<sha>, main, latest)
// against git clone --depth 1, docker build (the 20.10 CLI's default, the
// classic builder), docker run --rm and 3 docker pushes.
func BenchmarkComparePipeline(b *testing.B) {
	files := map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
		".dockerignore": "ctx/*.env\n",
		"ctx/kept.txt":  "kept\n",
	}
	f := newPipelineFixture(b, files, helloBinary(b), false)
	b.ResetTimer()
	compare(b, "pipeline, small fixture", *rounds, func(i int) time.Duration { return f.slipway(b, i) }, func(i int) time.Duration { return f.cli(b, i) })
}

// debianBase is the local image the Debian fixture builds FROM: a minbase
// bookworm tree from debootstrap, imported with docker import. It is made
// once and kept between runs (docker rmi it to make it again).
const debianBase = "slipway-bench/debian:bookworm"

// debianImage makes debianBase when the engine does not have it.
func debianImage(b *testing.B) {
	b.Helper()
	if exec.Command("docker", "image", "inspect", debianBase).Run() == nil {
		return
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		b.Fatalf("the Debian fixture's base image is made with debootstrap: apt-get install debootstrap (%v)", err)
	}
	root := filepath.Join(b.TempDir(), "root")
	start := time.Now()
	if out, err := exec.Command("debootstrap", "--variant=minbase", "bookworm", root, "http://deb.debian.org/debian").CombinedOutput(); err != nil {
		b.Fatalf("debootstrap bookworm: %v\n%s", err, out)
	}
	imp := exec.Command("sh", "-c", `tar -C "$1" -c . | docker import - "$2"`, "sh", root, debianBase)
	if out, err := imp.CombinedOutput(); err != nil {
		b.Fatalf("docker import %s: %v\n%s", debianBase, err, out)
	}
	note("made %s with debootstrap in %s", debianBase, time.Since(start).Round(time.Second))
}

// BenchmarkComparePipelineDebian is goal 4 on a Debian-based fixture whose
// Dockerfile installs a package with apt-get: the warm-up round builds the
// first commit on each side, the timed rounds a further commit (the apt-get
// step cached), against the CLI building with BuildKit.
func BenchmarkComparePipelineDebian(b *testing.B) {
	debianImage(b)
	files := map[string]string{
		"Dockerfile": "FROM " + debianBase + "\n" +
			"RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*\n" +
			"COPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
		"ctx/kept.txt": "kept\n",
	}
	f := newPipelineFixture(b, files, helloBinary(b), true)
	b.ResetTimer()
	compare(b, "pipeline, Debian fixture, BuildKit, next commit", *rounds, func(i int) time.Duration { return f.slipway(b, i) }, func(i int) time.Duration { return f.cli(b, i) })
}
