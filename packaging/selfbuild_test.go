package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/source/gitfixture"
	"github.com/slipwayci/slipway/store"
)

// moduleRoot is slipway's source tree, relative to this package.
const moduleRoot = ".."

// TestDockerfileBuildsThroughSlipway builds slipway's own Dockerfile with
// slipway's pipeline, offline: the base images are made here with docker
// import (the local Go toolchain; busybox and CA certificates), the modules
// come from a vendor/ directory committed with the source. The image it
// makes must start slipway and answer /healthz, report healthy through its
// own HEALTHCHECK, clone a file:// repository (git in the image), and run
// as deploy/stack.yml's service with only the webhook secret.
func TestDockerfileBuildsThroughSlipway(t *testing.T) {
	docker := testenv.Docker(t)
	ctx := t.Context()

	goImage := importImage(t, docker, "slipway-golang", goRootFS(t), []string{
		"ENV PATH=/usr/local/go/bin:/bin",
		"ENV HOME=/root",
		"ENV GOCACHE=/tmp/go-build",
		"ENV GOTOOLCHAIN=local",
		"ENV GOPROXY=off",
		"ENV GOFLAGS=-mod=vendor",
	})
	baseImage := importImage(t, docker, "slipway-base", baseRootFS(t), nil)

	repo := sourceRepo(t)
	dir := t.TempDir()
	img := "registry.invalid/" + testenv.Name(t, "slipway-self")
	t.Cleanup(func() { fixture.RemoveImages(docker, img) })
	cfgYAML := fmt.Sprintf(`data_dir: %q
build_timeout: 30m
projects:
  - name: slipway
    repo: %q
    image: %q
    build_args:
      GO_IMAGE: %q
      BASE_IMAGE: %q
      PACKAGES: ""
      VERSION: "v0.0.0-selftest"
    test: {command: ["version"], timeout: 1m}
`, filepath.Join(dir, "data"), repo.URL(), img, goImage, baseImage)
	cfgPath := filepath.Join(dir, "slipway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := pipeline.Open(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	var log bytes.Buffer
	start := time.Now()
	b, err := svc.BuildNow(ctx, pipeline.BuildRequest{Project: "slipway", NoPush: true}, &log)
	t.Logf("self-build took %s", time.Since(start).Round(time.Second))
	if err != nil || b.Status != store.StatusSucceeded {
		t.Fatalf("slipway could not build its own Dockerfile: %v (status %s)\nlog tail:\n%s", err, b.Status, tail(log.String(), 60))
	}
	if !strings.Contains(log.String(), "v0.0.0-selftest") {
		t.Errorf("the test stage did not print the version given as build arg:\n%s", tail(log.String(), 30))
	}
	ref := img + ":main-" + b.Commit[:7]

	insp, err := docker.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("inspect the built image %s: %v", ref, err)
	}
	if insp.Config.User == "" || strings.HasPrefix(insp.Config.User, "0") || insp.Config.User == "root" {
		t.Errorf("image user = %q, want a non-root user", insp.Config.User)
	}
	if insp.Config.Healthcheck == nil || !strings.Contains(strings.Join(insp.Config.Healthcheck.Test, " "), "/healthz") {
		t.Errorf("image healthcheck = %+v, want a check of /healthz", insp.Config.Healthcheck)
	}

	runAndCheckHealth(t, docker, ref)
	t.Run("file:// repositories inside the image", func(t *testing.T) { cloneInImage(t, docker, ref) })
	t.Run("deploy/stack.yml on the swarm", func(t *testing.T) { deployStack(t, docker, ref) })
}

// runAndCheckHealth starts slipway from ref with a minimal config and waits
// until /healthz answers on the published port and the image's HEALTHCHECK
// reports healthy.
func runAndCheckHealth(t *testing.T, docker *client.Client, ref string) {
	t.Helper()
	ctx := t.Context()
	port := nat.Port("8080/tcp")
	created, err := docker.ContainerCreate(ctx, &container.Config{
		Image:        ref,
		Env:          []string{"GITHUB_WEBHOOK_SECRET=selfbuild-test-secret"},
		ExposedPorts: nat.PortSet{port: {}},
		// The image's check, run every second instead of every 30s.
		Healthcheck: &container.HealthConfig{Interval: time.Second, Timeout: 5 * time.Second},
	}, &container.HostConfig{
		PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: ""}}},
	}, nil, nil, testenv.Name(t, "slipway-self"))
	if err != nil {
		t.Fatalf("create a container of %s: %v", ref, err)
	}
	t.Cleanup(func() {
		docker.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	conf := `listen: ":8080"
data_dir: /data
github:
  webhook_secret: ${GITHUB_WEBHOOK_SECRET}
projects:
  - name: hello
    repo: https://git.invalid/hello.git
    image: registry.invalid/hello
`
	if err := docker.CopyToContainer(ctx, created.ID, "/etc/slipway/", tarOf(t, "slipway.yaml", conf), container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("copy slipway.yaml into the container: %v", err)
	}
	if err := docker.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start slipway from %s: %v", ref, err)
	}
	logs := func() string {
		rc, err := docker.ContainerLogs(context.Background(), created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			return err.Error()
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}

	var hostPort string
	waitUntil(t, time.Minute, "the port is published", func() (bool, string) {
		insp, err := docker.ContainerInspect(ctx, created.ID)
		if err != nil {
			return false, err.Error()
		}
		if !insp.State.Running {
			t.Fatalf("slipway exited (%d):\n%s", insp.State.ExitCode, logs())
		}
		if b := insp.NetworkSettings.Ports[port]; len(b) > 0 && b[0].HostPort != "" {
			hostPort = b[0].HostPort
			return true, ""
		}
		return false, "no binding yet"
	})
	hc := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + net.JoinHostPort("127.0.0.1", hostPort) + "/healthz"
	waitUntil(t, time.Minute, "GET /healthz answers 200", func() (bool, string) {
		resp, err := hc.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok", fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
	waitUntil(t, 2*time.Minute, "the container's health check reports healthy", func() (bool, string) {
		insp, err := docker.ContainerInspect(ctx, created.ID)
		if err != nil || insp.State.Health == nil {
			return false, fmt.Sprintf("%v, no health state", err)
		}
		last := ""
		if n := len(insp.State.Health.Log); n > 0 {
			last = insp.State.Health.Log[n-1].Output
		}
		if insp.State.Health.Status == "unhealthy" {
			t.Fatalf("slipway's container is unhealthy (%s)\n%s", last, logs())
		}
		return insp.State.Health.Status == "healthy", insp.State.Health.Status + " " + last
	})
}

// sourceRepo commits slipway's source tree, as its .dockerignore sends it
// to a build, and its vendored modules to a new repository.
func sourceRepo(t *testing.T) *gitfixture.Repo {
	t.Helper()
	root, err := filepath.Abs(moduleRoot)
	if err != nil {
		t.Fatal(err)
	}
	if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.HasPrefix(mod, []byte("module github.com/slipwayci/slipway\n")) {
		t.Fatalf("%s is not slipway's module root: %v", root, err)
	}
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// vendor/ is made fresh below from go.mod.
	ignore, err := patternmatcher.New(append(patterns, "vendor"))
	if err != nil {
		t.Fatal(err)
	}
	repo := gitfixture.New(t)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		if skip, err := ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || skip {
			if d.IsDir() && err == nil {
				return filepath.SkipDir
			}
			return err
		}
		dst := filepath.Join(repo.Dir, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, dst)
		}
		return nil // sockets, symlinks: nothing of the build
	})
	if err != nil {
		t.Fatalf("copy the source tree: %v", err)
	}
	cmd := exec.Command("go", "mod", "vendor")
	cmd.Dir = repo.Dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor (offline, from the module cache): %v\n%s\nthe module cache lacks modules of other platforms: run `go mod download` first (scripts/test.sh does)", err, out)
	}
	repo.Commit(t, "main", nil, "slipway's source with its vendored modules")
	return repo
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// rootFS writes a root file system as a tar stream.
type rootFS func(tw *tar.Writer) error

// importImage makes an image from fs with docker import and the Dockerfile
// instructions changes; it is removed when the test ends.
func importImage(t *testing.T, docker *client.Client, prefix string, fs rootFS, changes []string) string {
	t.Helper()
	return testenv.ImportImage(t, docker, prefix, fs, changes)
}

// goRootFS is the stand-in for golang:1.26: busybox as /bin/sh and the
// local Go toolchain at /usr/local/go, without its tests and docs.
func goRootFS(t *testing.T) rootFS {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	busybox := staticBusybox(t)
	return func(tw *tar.Writer) error {
		if err := busyboxFS(tw, busybox); err != nil {
			return err
		}
		for _, d := range []string{"root", "usr", "usr/local"} {
			if err := addDir(tw, d, 0o755); err != nil {
				return err
			}
		}
		return filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(goroot, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if d.IsDir() && (rel == "test" || rel == "api" || rel == "doc" || rel == "misc" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if strings.HasSuffix(rel, "_test.go") {
				return nil
			}
			name := "usr/local/go"
			if rel != "." {
				name += "/" + rel
			}
			return addFile(tw, path, name, d)
		})
	}
}

// baseRootFS is the stand-in for alpine with the Dockerfile's packages:
// busybox (sh, wget and the rest), the host's CA certificates and git.
func baseRootFS(t *testing.T) rootFS {
	t.Helper()
	busybox := staticBusybox(t)
	git := hostGit(t)
	const certs = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(certs); err != nil {
		t.Fatalf("the base image needs %s (Debian's ca-certificates package): %v", certs, err)
	}
	return func(tw *tar.Writer) error {
		if err := busyboxFS(tw, busybox); err != nil {
			return err
		}
		for _, d := range []string{"etc/ssl", "etc/ssl/certs"} {
			if err := addDir(tw, d, 0o755); err != nil {
				return err
			}
		}
		fi, err := os.Stat(certs)
		if err != nil {
			return err
		}
		if err := addFile(tw, certs, strings.TrimPrefix(certs, "/"), fs.FileInfoToDirEntry(fi)); err != nil {
			return err
		}
		return git(tw)
	}
}

// staticBusybox returns the path of a statically linked busybox.
func staticBusybox(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		out, err := exec.Command("ldd", p).CombinedOutput()
		if _, statErr := os.Stat(p); statErr == nil && (err != nil || strings.Contains(string(out), "not a dynamic executable")) {
			return p
		}
	}
	t.Fatal("no statically linked busybox: install Debian's busybox-static package")
	return ""
}

// busyboxFS writes /bin/busybox with a link per applet, /tmp and the
// minimal /etc of a root user.
func busyboxFS(tw *tar.Writer, busybox string) error {
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin", 0o755}, {"etc", 0o755}, {"tmp", 0o1777}} {
		if err := addDir(tw, d.name, d.mode); err != nil {
			return err
		}
	}
	fi, err := os.Stat(busybox)
	if err != nil {
		return err
	}
	if err := addFile(tw, busybox, "bin/busybox", fs.FileInfoToDirEntry(fi)); err != nil {
		return err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		applet := strings.TrimSpace(sc.Text())
		if applet == "" || applet == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777}); err != nil {
			return err
		}
	}
	for name, content := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":  "root:x:0:\n",
	} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, content); err != nil {
			return err
		}
	}
	return nil
}

func addDir(tw *tar.Writer, name string, mode int64) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode})
}

// addFile writes the host file path as name: directories, regular files
// (streamed) and symlinks.
func addFile(tw *tar.Writer, path, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
	if info.IsDir() {
		hdr.Name += "/"
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// tarOf is a tar stream of one file.
func tarOf(t *testing.T, name, content string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tw, content)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// waitUntil polls cond until it holds, failing the test with cond's last
// description after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 50 * time.Millisecond
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(delay)
		delay = min(delay*2, time.Second)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
