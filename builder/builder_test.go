package builder_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/testenv"
)

// modes are the builders every build test runs with.
var modes = []builder.Mode{builder.ModeClassic, builder.ModeBuildKit}

// fixture compiles testdata/app for FROM scratch images.
func fixture(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile("testdata/app/main.go")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(testenv.StaticBinary(t, string(src)))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// contextTar streams a build context holding a Dockerfile and, when app is
// not nil, the fixture binary as "app". The writer ends when the reader is
// closed (the HTTP transport closes it) or fully read.
func contextTar(t *testing.T, dockerfile string, app []byte) io.ReadCloser {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tw := tar.NewWriter(pw)
		write := func(name string, mode int64, body []byte) error {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			_, err := tw.Write(body)
			return err
		}
		err := write("Dockerfile", 0o644, []byte(dockerfile))
		if err == nil && app != nil {
			err = write("app", 0o755, app)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	t.Cleanup(func() {
		pr.Close()
		<-done
	})
	return pr
}

// syncBuffer is a build log that a test may read while Build writes it.
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

// removeImage removes an image built by the test, with its untagged
// parents, when the test ends.
func removeImage(t *testing.T, cli *client.Client, ref string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove image %s: %v", ref, err)
		}
	})
}

// classicIntermediates are the images a classic build committed (" --->
// <id>" lines), left dangling when the build fails or is canceled.
var classicIntermediates = regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12})$`)

func removeIntermediates(t *testing.T, cli *client.Client, log *syncBuffer) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m := classicIntermediates.FindAllStringSubmatch(log.String(), -1)
		for i := len(m) - 1; i >= 0; i-- {
			// The engine removes the killed RUN container of a canceled
			// build after the build returns; until then the image is in use.
			for {
				_, err := cli.ImageRemove(ctx, m[i][1], image.RemoveOptions{Force: true, PruneChildren: true})
				if err == nil || cerrdefs.IsNotFound(err) {
					break
				}
				if !cerrdefs.IsConflict(err) || ctx.Err() != nil {
					t.Errorf("remove intermediate image %s: %v", m[i][1], err)
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	})
}

func TestBuild(t *testing.T) {
	cli := testenv.Docker(t)
	app := fixture(t)
	const dockerfile = `FROM scratch
ARG GREETING
ARG TOKEN
COPY app /app
LABEL greeting=$GREETING
RUN ["/app", "env", "GREETING", "TOKEN"]
`
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			name := testenv.Name(t, "slipway-builder")
			tag := "slipway-local/" + name + ":build-1"
			secret := "s3cr3t-" + name
			log := &syncBuffer{}
			removeImage(t, cli, tag)

			img, err := builder.New(cli, mode).Build(t.Context(), builder.BuildOptions{
				Context:    contextTar(t, dockerfile, app),
				Dockerfile: "Dockerfile",
				BuildArgs:  map[string]string{"GREETING": "hello-" + name},
				SecretArgs: map[string]string{"TOKEN": secret},
				Labels:     map[string]string{"io.slipway.test.name": name},
				Tags:       []string{tag},
				NoCache:    true,
			}, log)
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log)
			}
			removeImage(t, cli, img.ID)
			if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(img.ID) {
				t.Errorf("image ID = %q, want sha256:<64 hex>", img.ID)
			}

			got, err := cli.ImageInspect(t.Context(), tag)
			if err != nil {
				t.Fatalf("inspect %s: %v", tag, err)
			}
			if got.ID != img.ID {
				t.Errorf("tag %s is image %s, want %s", tag, got.ID, img.ID)
			}
			wantLabels := map[string]string{"io.slipway.test.name": name, "greeting": "hello-" + name}
			if diff := cmp.Diff(wantLabels, got.Config.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}

			out := log.String()
			t.Logf("build log:\n%s", out)
			wantLines := map[builder.Mode][]string{
				builder.ModeClassic: {
					`(?m)^Step \d+/\d+ : COPY app /app$`,
					`(?m)^GREETING=hello-` + name + `$`,
				},
				builder.ModeBuildKit: {
					`(?m)^#(\d+) \[\d/\d\] COPY app /app$`,
					`(?m)^#\d+ DONE \d+\.\d+s$`,
					`(?m)^#\d+ GREETING=hello-` + name + `$`,
				},
			}[mode]
			wantLines = append(wantLines, `(?m)TOKEN=\*\*\*$`)
			for _, re := range wantLines {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("log has no line matching %s; log:\n%s", re, out)
				}
			}
			if strings.Contains(out, secret) {
				t.Errorf("log contains the secret build arg's value:\n%s", out)
			}
			if regexp.MustCompile(`[A-Za-z0-9+/=]{100,}`).MatchString(out) || strings.Contains(out, "moby.buildkit.trace") {
				t.Errorf("log contains undecoded progress:\n%s", out)
			}
		})
	}
}

func TestBuildBrokenDockerfile(t *testing.T) {
	cli := testenv.Docker(t)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			log := &syncBuffer{}
			_, err := builder.New(cli, mode).Build(t.Context(), builder.BuildOptions{
				Context: contextTar(t, "FORM scratch\n", nil),
			}, log)
			if !errors.Is(err, builder.ErrBuildFailed) {
				t.Fatalf("Build error = %v, want ErrBuildFailed", err)
			}
			t.Logf("Build error: %v", err)
			if want := "unknown instruction: FORM"; !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
				t.Errorf("Build error = %q, want it to contain %q", err, want)
			}
			// The caller names the step: the pipeline's stage says
			// "build: " once.
			if strings.HasPrefix(err.Error(), "build: ") {
				t.Errorf("Build error = %q, want no %q prefix", err, "build: ")
			}
		})
	}
}

func TestBuildTarget(t *testing.T) {
	cli := testenv.Docker(t)
	app := fixture(t)
	// The stage after the target cannot build: reaching it fails the build.
	const dockerfile = `FROM scratch AS base
COPY app /app
LABEL stage=base

FROM base AS broken
COPY missing /missing
LABEL stage=broken
`
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			log := &syncBuffer{}
			img, err := builder.New(cli, mode).Build(t.Context(), builder.BuildOptions{
				Context: contextTar(t, dockerfile, app),
				Target:  "base",
				NoCache: true,
			}, log)
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log)
			}
			removeImage(t, cli, img.ID)
			got, err := cli.ImageInspect(t.Context(), img.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := got.Config.Labels["stage"], "base"; got != want {
				t.Errorf("label stage = %q, want %q", got, want)
			}
			if strings.Contains(log.String(), "missing") {
				t.Errorf("log shows the stage after the target:\n%s", log)
			}
		})
	}
}

func TestBuildCancel(t *testing.T) {
	cli := testenv.Docker(t)
	app := fixture(t)
	const dockerfile = `FROM scratch
COPY app /app
RUN ["/app", "sleep", "60"]
`
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			log := &syncBuffer{}
			removeIntermediates(t, cli, log)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			type result struct {
				img builder.Image
				err error
			}
			done := make(chan result, 1)
			go func() {
				img, err := builder.New(cli, mode).Build(ctx, builder.BuildOptions{
					Context: contextTar(t, dockerfile, app),
					NoCache: true,
				}, log)
				done <- result{img, err}
			}()

			deadline := time.After(60 * time.Second)
			for !strings.Contains(log.String(), "sleeping") {
				select {
				case res := <-done:
					t.Fatalf("Build returned before the RUN step ran: %+v\nlog:\n%s", res, log)
				case <-deadline:
					cancel()
					<-done
					t.Fatalf("the RUN step did not start within 60s; log:\n%s", log)
				case <-time.After(50 * time.Millisecond):
				}
			}
			cancel()
			// Promptly: well before the RUN step's 60s, with room for a
			// loaded engine.
			select {
			case res := <-done:
				if res.err == nil {
					removeImage(t, cli, res.img.ID)
					t.Fatal("Build of a canceled build succeeded")
				}
				if !errors.Is(res.err, context.Canceled) {
					t.Errorf("Build error = %v, want context.Canceled", res.err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Build did not return within 30s of the cancel")
			}
		})
	}
}

func TestBuildSecretInLabel(t *testing.T) {
	cli := testenv.Docker(t)
	app := fixture(t)
	const dockerfile = `FROM scratch
ARG TOKEN
COPY app /app
LABEL leak=$TOKEN
`
	// BuildKit reports the image differently (no intermediate containers,
	// the image ID from the solve's metadata): both builders are checked.
	for _, mode := range []builder.Mode{builder.ModeClassic, builder.ModeBuildKit} {
		t.Run(string(mode), func(t *testing.T) {
			name := testenv.Name(t, "slipway-builder")
			tag := "slipway-local/" + name + ":leak"
			removeImage(t, cli, tag)
			log := &syncBuffer{}
			removeIntermediates(t, cli, log)
			secret := "s3cr3t-" + name
			_, err := builder.New(cli, mode).Build(t.Context(), builder.BuildOptions{
				Context:    contextTar(t, dockerfile, app),
				SecretArgs: map[string]string{"TOKEN": secret},
				Tags:       []string{tag},
				NoCache:    true,
			}, log)
			if !errors.Is(err, builder.ErrSecretInLabels) {
				t.Fatalf("Build error = %v, want ErrSecretInLabels", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(log.String(), secret) {
				t.Errorf("the secret leaked into the error %q or the log:\n%s", err, log)
			}
			if _, err := cli.ImageInspect(t.Context(), tag); !cerrdefs.IsNotFound(err) {
				t.Errorf("inspect %s after the failed build: %v, want no such image", tag, err)
			}
			// Nor is the image kept untagged: no image of the engine
			// carries the secret.
			imgs, err := cli.ImageList(t.Context(), image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "leak="+secret))})
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != 0 {
				t.Errorf("%d images with the secret in a label are left in the engine: %v", len(imgs), imgs[0].ID)
			}
		})
	}
}

func TestUsesBuildKit(t *testing.T) {
	cli := testenv.Docker(t)
	ping, err := cli.Ping(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine: API %s, OS %s, Builder-Version %q", ping.APIVersion, ping.OSType, ping.BuilderVersion)
	tests := []struct {
		mode builder.Mode
		want bool
	}{
		{builder.ModeClassic, false},
		{builder.ModeBuildKit, true},
		// The engine of the tests (20.10, Linux, API 1.41) has BuildKit.
		{builder.ModeAuto, true},
		{"", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			got, err := builder.New(cli, tt.mode).UsesBuildKit(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("UsesBuildKit = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := builder.New(cli, "fast").UsesBuildKit(t.Context()); err == nil {
		t.Error("UsesBuildKit of mode fast: no error")
	}
}
