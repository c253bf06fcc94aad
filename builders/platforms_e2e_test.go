package builders_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// archApp prints the architecture it was built for; with -test it says
// it was tested there.
const archApp = `package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-test" {
		fmt.Println("tested on", runtime.GOARCH)
		return
	}
	fmt.Println("arch", runtime.GOARCH)
}
`

// multiWorld is a fixture repository with an amd64 and an arm64 build of
// archApp, a Dockerfile that copies the one of TARGETARCH, and a config
// of two builders: main (the main engine, amd64 from /info) and second
// (the extra engine, labelled arch: arm64; QEMU runs its arm64
// containers, which stands in for a native arm64 host).
func multiWorld(t *testing.T, platforms string) (*fixture.World, string) {
	t.Helper()
	w := fixture.New(t, fixture.Options{})
	extra := second.Get(t)
	restart(t, extra)
	requireArm64Emulation(t)
	for _, arch := range []string{"amd64", "arm64"} {
		w.Repo.CommitFile(t, w.Branch, "app-"+arch, testenv.StaticBinaryFor(t, archApp, arch), 0o755, "add app-"+arch)
	}
	w.Repo.Commit(t, w.Branch, map[string]string{
		"Dockerfile.multi": "FROM scratch\nARG TARGETARCH\nCOPY app-${TARGETARCH} /app\nENTRYPOINT [\"/app\"]\n",
	}, "multi-platform Dockerfile")
	mainHost := testenv.Docker(t).DaemonHost()
	cfg := fmt.Sprintf(`data_dir: %q
build_timeout: 5m
builders:
  - {name: main, host: %q, concurrency: 1}
  - {name: second, host: %q, concurrency: 1, labels: {arch: arm64}}
projects:
  - name: multi
    repo: %q
    image: %q
    dockerfile: Dockerfile.multi
    platforms: %s
    test: {command: ["-test"], timeout: 1m}
    schedules: [{name: weekly, cron: "0 3 * * MON"}]
`, filepath.Join(w.Dir, "data"), mainHost, extra.Host, w.Repo.URL(), w.Image, platforms)
	path := filepath.Join(w.Dir, "multi.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cli, err := extra.Client(); err == nil {
			fixture.RemoveImages(cli, w.Image)
			cli.Close()
		}
	})
	return w, path
}

// requireArm64Emulation fails the test unless the kernel runs arm64
// binaries through QEMU (binfmt_misc with the F flag, so in containers too).
func requireArm64Emulation(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/qemu-aarch64")
	flags := ""
	for _, line := range strings.Split(string(b), "\n") {
		if f, ok := strings.CutPrefix(line, "flags: "); ok {
			flags = f
		}
	}
	if err != nil || !strings.HasPrefix(string(b), "enabled") || !strings.Contains(flags, "F") {
		t.Fatalf("arm64 binaries do not run in containers here (binfmt_misc qemu-aarch64 enabled with flag F; %v): run scripts/test-env.sh, which installs qemu-user-static and binfmt-support", err)
	}
}

// TestPlatformsBuildOneIndex: platforms [linux/amd64, linux/arm64] build
// each platform on the builder of its arch and test it there, and push one
// index with both under the build's tags; the arm64 image of the tag runs
// the arm64 binary.
func TestPlatformsBuildOneIndex(t *testing.T) {
	w, path := multiWorld(t, "[linux/amd64, linux/arm64]")
	svc := openService(t, path)
	var log bytes.Buffer
	b, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "multi"}, &log)
	if err != nil || b.Status != store.StatusSucceeded {
		t.Fatalf("build: %s, %v; log:\n%s", b.Status, err, log.String())
	}
	if len(b.Platforms) != 2 || b.Platforms[0].Platform != "linux/amd64" || b.Platforms[0].Builder != "main" ||
		b.Platforms[1].Platform != "linux/arm64" || b.Platforms[1].Builder != "second" {
		t.Errorf("platforms = %+v, want linux/amd64 on main and linux/arm64 on second", b.Platforms)
	}
	for _, want := range []string{"[linux/amd64] tested on amd64", "[linux/arm64] tested on arm64"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q; log:\n%s", want, log.String())
		}
	}

	ref, err := name.NewTag(w.Image+":main", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("read the index of %s: %v", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if d.String() != b.Digest || len(m.Manifests) != 2 {
		t.Fatalf("index %s with %d manifests, want the build's digest %s with 2", d, len(m.Manifests), b.Digest)
	}
	for i, md := range m.Manifests {
		if got := md.Platform.OS + "/" + md.Platform.Architecture; got != b.Platforms[i].Platform || md.Digest.String() != b.Platforms[i].Digest {
			t.Errorf("index entry %d = %s %s, want %s %s", i, got, md.Digest, b.Platforms[i].Platform, b.Platforms[i].Digest)
		}
	}

	// A release of the same commit re-tags the index, on no builder.
	rel, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "multi", Schedule: "weekly"}, &log)
	if err != nil || rel.Status != store.StatusSucceeded || rel.Digest != b.Digest || rel.Builder != "" {
		t.Errorf("release: %s, %v, digest %s on %q; want the index %s re-tagged without a builder; log:\n%s", rel.Status, err, rel.Digest, rel.Builder, b.Digest, log.String())
	}
	if got := w.Digest("weekly"); got != b.Digest {
		t.Errorf("weekly = %s, want the index %s", got, b.Digest)
	}

	// The pull's progress goes to stderr; the program's line to stdout.
	out, err := exec.CommandContext(t.Context(), "docker", "run", "--rm", "--platform", "linux/arm64", ref.String()).Output()
	if err != nil || strings.TrimSpace(string(out)) != "arch arm64" {
		t.Errorf("docker run --platform linux/arm64 %s = %q, %v; want arch arm64", ref, out, err)
	}
}

// TestPlatformWithoutBuilder: a platform no builder has fails the build
// before anything is built, naming the platform and the builders' labels;
// nothing is pushed.
func TestPlatformWithoutBuilder(t *testing.T) {
	w, path := multiWorld(t, "[linux/amd64, linux/riscv64]")
	svc := openService(t, path)
	b, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "multi"}, nil)
	if err == nil || b.Status != store.StatusFailed {
		t.Fatalf("build: %s, %v; want it to fail", b.Status, err)
	}
	want := "build: platform linux/riscv64: no builder has the labels {arch: riscv64, os: linux}: builders: main {arch: amd64, os: linux}; second {arch: arm64, os: linux}"
	if b.Error != want {
		t.Errorf("error = %q\nwant    %q", b.Error, want)
	}
	if tags := w.Tags(); len(tags) != 0 {
		t.Errorf("the registry holds %v, want nothing pushed", tags)
	}
}

// openService opens the build service of the config at path.
func openService(t *testing.T, path string) *pipeline.Service {
	t.Helper()
	p := &pool{cfgPath: path}
	return p.service(t)
}
