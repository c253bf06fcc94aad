package hub

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/internal/testenv"
)

// syncBuffer is a log several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dirTar streams dir as a build context tar.
func dirTar(t *testing.T, dir string) io.ReadCloser {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: int64(fi.Mode().Perm()), Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// buildImage builds dir into an image tagged tag, removed at cleanup.
func buildImage(t *testing.T, cli *client.Client, dir, tag string) {
	t.Helper()
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	var log syncBuffer
	if err := engineBuild(t.Context(), cli, dirTar(t, dir), types.ImageBuildOptions{Tags: []string{tag}}, &log); err != nil {
		t.Fatalf("build %s: %v\n%s", tag, err, log.String())
	}
}

// engineBuild builds a context with the engine's classic builder, writing
// its output to log. The test calls the engine directly: hub imports no
// other slipway package, not even in its tests (config imports hub).
func engineBuild(ctx context.Context, cli *client.Client, tarball io.ReadCloser, opts types.ImageBuildOptions, log io.Writer) error {
	defer tarball.Close()
	// NoCache: a cached step of another test's build on the shared engine
	// may be removed by that test's cleanup while this build takes it.
	opts.Remove, opts.ForceRemove, opts.NoCache = true, true, true
	opts.Version = types.BuilderV1
	resp, err := cli.ImageBuild(ctx, tarball, opts)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return jsonmessage.DisplayJSONMessagesStream(resp.Body, log, 0, false, nil)
}

// fixtureImage builds the image under test: FROM scratch with
// testdata/app as /app, its entrypoint.
func fixtureImage(t *testing.T, cli *client.Client) string {
	t.Helper()
	src, err := os.ReadFile("testdata/app/main.go")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(testenv.StaticBinary(t, string(src)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"})
	if err := os.WriteFile(filepath.Join(dir, "app"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	tag := testenv.Name(t, "slipway-hub") + ":under-test"
	buildImage(t, cli, dir, tag)
	return tag
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// leftovers lists what the engine still has of the projects starting
// with prefix.
func leftovers(t *testing.T, cli *client.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", AutotestLabel))
	var out []string
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.HasPrefix(c.Labels[AutotestLabel], prefix) || (len(c.Names) > 0 && strings.HasPrefix(c.Names[0], "/"+prefix)) {
			out = append(out, "container "+strings.Join(c.Names, ","))
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if strings.HasPrefix(n.Labels[AutotestLabel], prefix) || strings.HasPrefix(n.Name, prefix) {
			out = append(out, "network "+n.Name)
		}
	}
	// Also by name, in case a label were missing.
	all, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if strings.HasPrefix(n.Name, prefix) && n.Labels[AutotestLabel] == "" {
			out = append(out, "unlabelled network "+n.Name)
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		if strings.HasPrefix(v.Labels[AutotestLabel], prefix) || strings.HasPrefix(v.Name, prefix) {
			out = append(out, "volume "+v.Name)
		}
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, prefix) {
				out = append(out, "image "+tag)
			}
		}
	}
	return out
}

// autotestCase is one run of Autotest on a fixture context directory.
type autotestCase struct {
	files   map[string]string // test files and other files of the context
	timeout time.Duration
	build   bool // give a BuildService
	env     map[string]string
	secrets map[string]string
}

// runAutotest runs Autotest in a fresh context directory and checks that
// the engine keeps nothing of it afterwards.
func runAutotest(t *testing.T, cli *client.Client, img string, c autotestCase) (bool, error, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
	writeFiles(t, dir, c.files)
	project := testenv.Name(t, "slipway-at")
	opts := AutotestOptions{
		ContextDir: dir,
		Image:      img,
		Env:        c.env,
		Secrets:    c.secrets,
		Timeout:    c.timeout,
		Project:    project,
		Labels:     map[string]string{"io.slipway.build": "42"},
	}
	if c.build {
		opts.BuildService = func(ctx context.Context, b ServiceBuild, log io.Writer) error {
			args := make(map[string]*string, len(b.Args))
			for k, v := range b.Args {
				args[k] = &v
			}
			return engineBuild(ctx, cli, dirTar(t, b.Context), types.ImageBuildOptions{
				Dockerfile: b.Dockerfile, Target: b.Target, BuildArgs: args, Tags: []string{b.Tag},
			}, log)
		}
	}
	var log syncBuffer
	ran, err := Autotest(t.Context(), cli, opts, &log)
	if left := leftovers(t, cli, project); len(left) > 0 {
		t.Errorf("left on the engine after the autotest: %v", left)
	}
	return ran, err, log.String()
}

func TestAutotest(t *testing.T) {
	cli := testenv.Docker(t)
	img := fixtureImage(t, cli)

	t.Run("sut reaches a dependency by name", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{
			env: map[string]string{"SOURCE_BRANCH": "feature/x"},
			files: map[string]string{"docker-compose.test.yml": `
services:
  sut:
    image: ${IMAGE_NAME}
    command: ["client", "server:8080"]
    environment:
      - SOURCE_BRANCH
    depends_on: [server]
  server:
    image: $IMAGE_NAME
    command: ["serve", "8080"]
    labels: {io.slipway.autotest: try-to-escape-cleanup}
  unused:
    image: no-such-image-is-needed:never
`},
		})
		if !ran || err != nil {
			t.Fatalf("Autotest = %v, %v\n%s", ran, err, log)
		}
		for _, want := range []string{"sut | SOURCE_BRANCH=feature/x\n", "sut | pong received from server:8080\n", "server | listening on 8080\n", "docker-compose.test.yml passed"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
		if strings.Contains(log, "unused") {
			t.Errorf("a service sut does not depend on ran:\n%s", log)
		}
	})

	t.Run("failing sut", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{secrets: map[string]string{"REASON": "hush-hush"}, files: map[string]string{"docker-compose.test.yml": `
services:
  sut:
    image: ${IMAGE_NAME}
    command: ["fail"]
    environment: [REASON]
    depends_on: [server]
  server:
    image: ${IMAGE_NAME}
    command: ["serve", "8080"]
volumes:
  unused: {}
`}})
		var ae *AutotestError
		if !ran || !errors.As(err, &ae) || !errors.Is(err, ErrAutotestFailed) {
			t.Fatalf("Autotest = %v, %v; want an *AutotestError\n%s", ran, err, log)
		}
		if diff := cmp.Diff(&AutotestError{File: "docker-compose.test.yml", ExitCode: 1}, ae); diff != "" {
			t.Errorf("AutotestError mismatch (-want +got):\n%s", diff)
		}
		if !strings.Contains(err.Error(), "docker-compose.test.yml: sut exited with code 1") {
			t.Errorf("err = %q", err)
		}
		if !strings.Contains(log, "sut | failing on purpose ***\n") || strings.Contains(log, "hush-hush") {
			t.Errorf("log lacks sut's redacted output:\n%s", log)
		}
	})

	t.Run("build dot is the image under test, version 1 format", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{files: map[string]string{"docker-compose.test.yml": `
sut:
  build: .
  links: ["helper:h"]
helper:
  build:
    context: .
    dockerfile: Dockerfile
  command: ["serve", "9000"]
`}})
		if !ran || err != nil {
			t.Fatalf("Autotest = %v, %v\n%s", ran, err, log)
		}
		if !strings.Contains(log, "sut | hello from the image under test") {
			t.Errorf("sut did not run the image under test:\n%s", log)
		}
	})

	t.Run("no test file", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{files: map[string]string{"docker-compose.yml": "services: {sut: {image: x}}\n", "sub/docker-compose.test.yml": "services: {sut: {image: x}}\n"}})
		if ran || err != nil || log != "" {
			t.Errorf("Autotest = %v, %v, log %q; want false, nil, nothing", ran, err, log)
		}
	})

	t.Run("files run in order and stop at the first failure", func(t *testing.T) {
		t.Parallel()
		pass := "services: {sut: {image: \"${IMAGE_NAME}\"}}\n"
		fail := "services: {sut: {image: \"${IMAGE_NAME}\", command: [fail]}}\n"
		ran, err, log := runAutotest(t, cli, img, autotestCase{files: map[string]string{
			"b.test.yml":              fail,
			"a.test.yml":              pass,
			"docker-compose.test.yml": pass,
			"c.test.yml":              pass,
			"d.test.yaml":             fail, // not a test file
		}})
		var ae *AutotestError
		if !ran || !errors.As(err, &ae) || ae.File != "b.test.yml" {
			t.Fatalf("Autotest = %v, %v; want b.test.yml to fail\n%s", ran, err, log)
		}
		var order []string
		for _, l := range strings.Split(log, "\n") {
			if rest, ok := strings.CutPrefix(l, "autotest: running "); ok {
				order = append(order, strings.Fields(rest)[0])
			}
		}
		if diff := cmp.Diff([]string{"docker-compose.test.yml", "a.test.yml", "b.test.yml"}, order); diff != "" {
			t.Errorf("run order mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("healthy, completed and a shared volume", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{files: map[string]string{".env": "SEED_TEXT=seeded\n", "docker-compose.test.yml": `
services:
  sut:
    image: ${IMAGE_NAME}
    entrypoint: ["/app", "check", "/data/seed", "${SEED_TEXT}"]
    volumes: ["data:/data:ro", "/scratch"]
    tmpfs: [/tmp]
    depends_on:
      seed: {condition: service_completed_successfully}
      server: {condition: service_healthy}
  seed:
    image: ${IMAGE_NAME}
    command: ["write", "/data/seed", "$SEED_TEXT"]
    volumes: ["data:/data"]
  server:
    image: ${IMAGE_NAME}
    command: ["serve", "8080"]
    healthcheck:
      test: ["CMD", "/app", "probe", "127.0.0.1:8080"]
      interval: 1s
      timeout: 2s
      retries: 30
volumes:
  data: {}
`}})
		if !ran || err != nil {
			t.Fatalf("Autotest = %v, %v\n%s", ran, err, log)
		}
		for _, want := range []string{"seed | wrote /data/seed", "sut | check ok"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		ran, err, log := runAutotest(t, cli, img, autotestCase{timeout: 2 * time.Second, files: map[string]string{"docker-compose.test.yml": `
services:
  sut:
    image: ${IMAGE_NAME}
    command: ["sleep", "300s"]
`}})
		if !ran || !errors.Is(err, ErrAutotestTimeout) {
			t.Fatalf("Autotest = %v, %v; want ErrAutotestTimeout\n%s", ran, err, log)
		}
		if d := time.Since(start); d > 90*time.Second {
			t.Errorf("Autotest took %s with a 2s timeout", d)
		}
	})

	t.Run("missing dependency image", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{files: map[string]string{"docker-compose.test.yml": `
services:
  sut:
    image: ${IMAGE_NAME}
    depends_on: [db]
  db:
    image: slipway-hub-test-no-such-image:1
    pull_policy: never
`}})
		if !ran || err == nil || !strings.Contains(err.Error(), "service db: image slipway-hub-test-no-such-image:1 is not on the engine") {
			t.Fatalf("Autotest = %v, %v; want a missing-image error naming db\n%s", ran, err, log)
		}
	})

	t.Run("pull failure", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{files: map[string]string{"docker-compose.test.yml": `
services:
  sut:
    image: ${IMAGE_NAME}
    depends_on: [cache]
  cache:
    image: 127.0.0.1:1/no-such-image:1
`}})
		if !ran || err == nil || !strings.Contains(err.Error(), "service cache: image 127.0.0.1:1/no-such-image:1 is not on the engine and pulling it failed") {
			t.Fatalf("Autotest = %v, %v; want a pull error naming cache\n%s", ran, err, log)
		}
	})

	t.Run("other builds go through BuildService", func(t *testing.T) {
		t.Parallel()
		ran, err, log := runAutotest(t, cli, img, autotestCase{build: true, files: map[string]string{
			"helper/Dockerfile": "FROM " + img + "\nARG GREETING\nLABEL greeting=$GREETING\nCMD [\"write\", \"/x\", \"y\"]\n",
			"docker-compose.test.yml": `
services:
  sut:
    build:
      context: helper
      args: {GREETING: hi}
`}})
		if !ran || err != nil {
			t.Fatalf("Autotest = %v, %v\n%s", ran, err, log)
		}
		if !strings.Contains(log, "sut | wrote /x") {
			t.Errorf("sut did not run the helper image:\n%s", log)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"docker-compose.test.yml": "services: {sut: {image: \"${IMAGE_NAME}\", command: [sleep, 300s]}}\n"})
		project := testenv.Name(t, "slipway-at")
		ctx, cancel := context.WithCancelCause(t.Context())
		cause := errors.New("build canceled by the user")
		var log syncBuffer
		done := make(chan error, 1)
		go func() {
			_, err := Autotest(ctx, cli, AutotestOptions{ContextDir: dir, Image: img, Project: project}, &log)
			done <- err
		}()
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(log.String(), "sut | sleeping") {
			if time.Now().After(deadline) {
				t.Fatalf("sut did not start:\n%s", log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel(cause)
		select {
		case err := <-done:
			if !errors.Is(err, cause) {
				t.Errorf("err = %v, want the cancel cause", err)
			}
		case <-time.After(90 * time.Second):
			t.Fatal("Autotest did not return after cancel")
		}
		if left := leftovers(t, cli, project); len(left) > 0 {
			t.Errorf("left on the engine after cancel: %v", left)
		}
	})
}

func TestPruneAutotests(t *testing.T) {
	cli := testenv.Docker(t)
	ctx := t.Context()
	prune := testenv.Name(t, "slipway-at")
	keep := testenv.Name(t, "slipway-at-keep")
	t.Cleanup(func() {
		if err := PruneAutotests(context.Background(), cli, keep); err != nil {
			t.Errorf("prune %s: %v", keep, err)
		}
		if left := leftovers(t, cli, keep); len(left) > 0 {
			t.Errorf("left after pruning %s: %v", keep, left)
		}
	})
	for _, project := range []string{prune + "-1", keep + "-1"} {
		labels := map[string]string{AutotestLabel: project}
		if _, err := cli.NetworkCreate(ctx, project+"_default", network.CreateOptions{Driver: "bridge", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: project + "_data", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	if err := PruneAutotests(ctx, cli, prune); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, cli, prune); len(left) > 0 {
		t.Errorf("left after pruning: %v", left)
	}
	if left := leftovers(t, cli, keep); len(left) != 2 {
		t.Errorf("another prefix's resources: got %v, want its network and volume kept", left)
	}
}

// TestAutotestRefuses checks that features reaching the host are refused
// before anything is created (the nil client would panic if called).
func TestAutotestRefuses(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"host.env": "SECRET=x\n"})
	tests := []struct {
		name, file, want string
	}{
		{"bind mount", "services: {sut: {image: x, volumes: ['/:/host']}}", "bind mount of /"},
		{"relative bind mount", "services: {sut: {image: x, volumes: ['./:/src']}}", "bind mount"},
		{"privileged", "services: {sut: {image: x, privileged: true}}", "privileged"},
		{"host network", "services: {sut: {image: x, network_mode: host}}", "network_mode"},
		{"host pid", "services: {sut: {image: x, pid: host}}", "host namespaces"},
		{"cap_add", "services: {sut: {image: x, cap_add: [SYS_ADMIN]}}", "cap_add"},
		{"devices", "services: {sut: {image: x, devices: ['/dev/sda:/dev/sda']}}", "devices"},
		{"external network", "services: {sut: {image: x, networks: [n]}}\nnetworks: {n: {external: true}}", "external network"},
		{"overlay network", "services: {sut: {image: x, networks: [n]}}\nnetworks: {n: {driver: overlay}}", "driver overlay"},
		{"external volume", "services: {sut: {image: x, volumes: ['vol:/v']}}\nvolumes: {vol: {external: true}}", "external volume"},
		{"volume driver opts", "services: {sut: {image: x, volumes: ['vol:/v']}}\nvolumes: {vol: {driver_opts: {type: none, o: bind, device: /}}}", "driver_opts"},
		{"secrets", "services: {sut: {image: x, secrets: [s]}}\nsecrets: {s: {file: /etc/passwd}}", "secrets"},
		{"env_file outside", "services: {sut: {image: x, env_file: ['" + filepath.Join(outside, "host.env") + "']}}", "outside the repository"},
		{"env_file up", "services: {sut: {image: x, env_file: ['../" + filepath.Base(outside) + "/host.env']}}", "outside the repository"},
		{"include", "include: [../other.yml]\nservices: {sut: {image: x}}", "include"},
		{"extends file", "services: {sut: {extends: {file: /etc/x.yml, service: y}}}", "extends from another file"},
		{"other build without BuildService", "services: {sut: {build: {context: ., dockerfile: Dockerfile.test}}}", "only the image under test"},
		{"build outside", "services: {sut: {build: {context: /}}}", "outside the repository"},
		{"no sut", "services: {test: {image: x}}", `no "sut" service`},
		{"cycle", "services: {sut: {image: x, depends_on: [a]}, a: {image: x, depends_on: [sut]}}", "cycle"},
		{"bad yaml", "services: [", "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "ctx")
			writeFiles(t, dir, map[string]string{"docker-compose.test.yml": tt.file, "Dockerfile": "FROM scratch\n"})
			ran, err := Autotest(t.Context(), nil, AutotestOptions{ContextDir: dir, Image: "img", Project: "p"}, io.Discard)
			if !ran || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Autotest = %v, %v; want an error containing %q", ran, err, tt.want)
			}
			if !strings.Contains(err.Error(), "docker-compose.test.yml") {
				t.Errorf("err = %q, want it to name the file", err)
			}
		})
	}
}

func TestFindTestFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"z.test.yml": "", "a.test.yml": "", "docker-compose.test.yml": "", "docker-compose.yml": "",
		"x.test.yaml": "", "sub/b.test.yml": "",
	})
	if err := os.Mkdir(filepath.Join(dir, "dir.test.yml"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FindTestFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "docker-compose.test.yml"), filepath.Join(dir, "a.test.yml"), filepath.Join(dir, "z.test.yml")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindTestFiles mismatch (-want +got):\n%s", diff)
	}
}
