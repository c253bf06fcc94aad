package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// build runs `slipway build --json fixture ARGS...` in-process and returns
// the exit code, the decoded result (when stdout had one) and stderr.
func build(t *testing.T, w *fixture.World, args ...string) (int, store.Build, string) {
	t.Helper()
	return runForResult(t, append([]string{"build", "--config", w.ConfigPath(), "--json", w.Project}, args...))
}

// runForResult runs the command line argv (one that prints a build result
// with --json) in-process and returns the exit code, the decoded result
// (when stdout had one) and stderr.
func runForResult(t *testing.T, argv []string) (int, store.Build, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), argv, &stdout, &stderr)
	var b store.Build
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &b); err != nil {
			t.Fatalf("%s --json printed something that is not a build result: %v\n%s", argv[0], err, stdout.String())
		}
	}
	return code, b, stderr.String()
}

func TestBuildPushesTaggedTestedImage(t *testing.T) {
	w := fixture.New(t, fixture.Options{})
	code, b, stderr := build(t, w)
	if code != 0 {
		t.Fatalf("slipway build exited %d:\n%s", code, stderr)
	}
	head := w.Head
	if b.Status != store.StatusSucceeded || b.Commit != head || b.Ref != "refs/heads/main" {
		t.Fatalf("result: status %q commit %q ref %q, want succeeded %s refs/heads/main", b.Status, b.Commit, b.Ref, head)
	}
	wantTags := []string{"main", "main-" + head[:7], "latest"}
	if fmt.Sprint(b.Tags) != fmt.Sprint(wantTags) {
		t.Errorf("result tags = %v, want %v", b.Tags, wantTags)
	}
	var stages []string
	for _, s := range b.Stages {
		stages = append(stages, s.Name+":"+string(s.Status))
	}
	if got, want := strings.Join(stages, " "), "source:succeeded build:succeeded test:succeeded push:succeeded"; got != want {
		t.Errorf("stages = %s, want %s", got, want)
	}
	if !strings.Contains(stderr, "selftest: ok") {
		t.Errorf("the test command's output is not in the build log on stderr:\n%s", stderr)
	}
	// Off a terminal: one push line per tag (no layers), and after the
	// last stage one summary line.
	if strings.Contains(stderr, ": layer ") || strings.Count(stderr, "checked in the registry") != len(wantTags) {
		t.Errorf("push output is not one line per tag (%d tags):\n%s", len(wantTags), stderr)
	}
	if tail := stderr[strings.LastIndex(stderr, "<== push succeeded"):]; strings.Count(tail, "\n") != 2 ||
		!strings.Contains(tail, fmt.Sprintf("\nslipway build: build %d succeeded in ", b.ID)) {
		t.Errorf("after the push stage, want exactly one summary line; stderr ends:\n%s", tail)
	}
	for _, tag := range wantTags {
		if got := w.Digest(tag); got != b.Digest {
			t.Errorf("registry %s:%s = %q, want the result's digest %q", w.Image, tag, got, b.Digest)
		}
	}
	// The image carries the OCI labels with the commit.
	insp, err := w.Docker.ImageInspect(t.Context(), w.Image+":main-"+head[:7])
	if err != nil {
		t.Fatal(err)
	}
	if got := insp.Config.Labels["org.opencontainers.image.revision"]; got != head {
		t.Errorf("label org.opencontainers.image.revision = %q, want %q", got, head)
	}
	for _, l := range []string{"source", "created", "title"} {
		if insp.Config.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("label org.opencontainers.image.%s missing: %v", l, insp.Config.Labels)
		}
	}
	// The ignored file is absent from the image, the kept one present.
	ctr, err := w.Docker.ContainerCreate(t.Context(), &container.Config{Image: insp.ID}, nil, nil, nil, testenv.Name(t, "inspect"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Docker.ContainerRemove(context.Background(), ctr.ID, container.RemoveOptions{Force: true})
	if _, err := w.Docker.ContainerStatPath(t.Context(), ctr.ID, "/ctx/kept.txt"); err != nil {
		t.Errorf("kept file missing from the image: %v", err)
	}
	if _, err := w.Docker.ContainerStatPath(t.Context(), ctr.ID, "/ctx/secret.env"); err == nil {
		t.Errorf("/ctx/secret.env is in the image although .dockerignore excludes it")
	}

	// A second commit builds after an incremental fetch and moves the tags.
	second := w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": "kept, v2\n"}, "second commit")
	// As on a terminal: the live line names each stage as it runs, and
	// is erased before the summary.
	code, b2, stderr := build(t, w, "--progress", "tty")
	if code != 0 {
		t.Fatalf("second build exited %d:\n%s", code, stderr)
	}
	for _, stage := range []string{"source", "build", "test", "push"} {
		if !strings.Contains(stderr, "\r\x1b[K=> "+stage+" ") {
			t.Errorf("--progress tty: no live line for stage %s:\n%q", stage, stderr)
		}
	}
	if !strings.Contains(stderr, "\r\x1b[Kslipway build: build ") {
		t.Errorf("--progress tty: the live line is not erased before the summary:\n%q", stderr[max(0, len(stderr)-300):])
	}
	if !strings.Contains(stderr, "fetched refs/heads/main at "+second) {
		t.Errorf("second build did not fetch incrementally (want a 'fetched' line for %s):\n%s", second, stderr)
	}
	if b2.Commit != second || b2.Digest == b.Digest {
		t.Fatalf("second build: commit %s digest %s; want commit %s and a new digest", b2.Commit, b2.Digest, second)
	}
	for _, tag := range []string{"main", "latest", "main-" + second[:7]} {
		if got := w.Digest(tag); got != b2.Digest {
			t.Errorf("after the second build %s = %s, want %s", tag, got, b2.Digest)
		}
	}
	if got := w.Digest("main-" + head[:7]); got != b.Digest {
		t.Errorf("immutable tag main-%s moved to %s", head[:7], got)
	}
}

func TestBuildFailuresNameTheCauseAndMoveNoTag(t *testing.T) {
	tests := []struct {
		name    string
		opts    fixture.Options
		setup   func(t *testing.T, w *fixture.World)
		args    []string
		wantErr string
	}{
		{
			name:    "failing test command",
			opts:    fixture.Options{TestCommand: []string{"-fail"}},
			wantErr: "exited with code 3",
		},
		{
			name: "broken Dockerfile",
			setup: func(t *testing.T, w *fixture.World) {
				w.Repo.Commit(t, "main", map[string]string{"Dockerfile": "FORM scratch\n"}, "break the Dockerfile")
			},
			wantErr: "FORM",
		},
		{
			name:    "unreachable repository",
			opts:    fixture.Options{RepoURL: "http://127.0.0.1:1/nothing-listens-here.git"},
			wantErr: "127.0.0.1:1",
		},
		{
			name:    "missing branch",
			args:    []string{"--ref", "no-such-branch"},
			wantErr: "no-such-branch",
		},
		{
			name:    "registry with a wrong password",
			opts:    fixture.Options{Username: "ci", Password: "Zq7-right-pw", ConfigPassword: "Xk9-bad-pw"},
			wantErr: "unauthorized",
		},
		{
			name: "registry down",
			setup: func(t *testing.T, w *fixture.World) {
				cfg, err := os.ReadFile(w.ConfigPath())
				if err != nil {
					t.Fatal(err)
				}
				downHost := testenv.ClosedAddr(t)
				t.Cleanup(func() { fixture.RemoveImages(w.Docker, strings.Replace(w.Image, w.Reg.Host, downHost, 1)) })
				down := strings.Replace(string(cfg), "image: \""+w.Reg.Host+"/", "image: \""+downHost+"/", 1)
				if err := os.WriteFile(w.ConfigPath(), []byte(down), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "push",
		},
		{
			name:    "dockerfile outside the checkout",
			opts:    fixture.Options{Dockerfile: "../x"},
			wantErr: "dockerfile",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fixture.New(t, tt.opts)
			if tt.setup != nil {
				tt.setup(t, w)
			}
			code, b, stderr := build(t, w, tt.args...)
			if code == 0 {
				t.Fatalf("slipway build exited 0, want a failure; stderr:\n%s", stderr)
			}
			if !strings.Contains(strings.ToLower(stderr), strings.ToLower(tt.wantErr)) {
				t.Errorf("stderr does not name the cause %q:\n%s", tt.wantErr, stderr)
			}
			if b.ID != 0 && b.Status != store.StatusFailed {
				t.Errorf("result status = %q, want failed", b.Status)
			}
			// One prefix per layer: the stage names itself once.
			for _, doubled := range []string{"source: source:", "build: build:", "test: test:", "push: push"} {
				if strings.Contains(b.Error, doubled) {
					t.Errorf("the error names its stage twice (%q): %q", doubled, b.Error)
				}
			}
			// Nothing was pushed: the result lists no tag and no digest.
			if len(b.Tags) != 0 || b.Digest != "" {
				t.Errorf("result tags = %v, digest = %q; want none after a failed build", b.Tags, b.Digest)
			}
			// The immutable main-<sha7> is pushed first of all: it must
			// not exist either, nor any other tag.
			commit := w.Head
			if b.Commit != "" {
				commit = b.Commit
			}
			for _, tag := range []string{"main-" + commit[:7], "main", "latest"} {
				if d := w.Digest(tag); d != "" {
					t.Errorf("tag %s exists in the registry (%s) after a failed build", tag, d)
				}
			}
			if tags := w.Tags(); len(tags) != 0 {
				t.Errorf("the registry holds tags %v after a failed build, want none", tags)
			}
			if strings.Contains(stderr, "Xk9-bad-pw") || strings.Contains(stderr, "Zq7-right-pw") {
				t.Errorf("a registry password reached the output")
			}
		})
	}
}

func TestBuildWithHtpasswdRegistry(t *testing.T) {
	w := fixture.New(t, fixture.Options{Username: "ci", Password: "s3cret-pass"})
	code, b, stderr := build(t, w)
	if code != 0 {
		t.Fatalf("slipway build exited %d:\n%s", code, stderr)
	}
	if got := w.Digest("latest"); got == "" || got != b.Digest {
		t.Errorf("latest = %q, want %q", got, b.Digest)
	}
	if strings.Contains(stderr, "s3cret-pass") {
		t.Errorf("the registry password reached the build output")
	}
}

// TestBuildContextHasGitDir: by default the build context holds the
// commit's .git, as docker build on a clone does, so COPY .git/ works;
// git_dir: false leaves it out and such a build fails naming it.
func TestBuildContextHasGitDir(t *testing.T) {
	dockerfile := "FROM scratch\nCOPY .git/HEAD .git/shallow /git/\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n"
	for _, tt := range []struct {
		name, extra string
		wantOK      bool
	}{
		{name: "default", wantOK: true},
		{name: "git_dir false", extra: "    git_dir: false\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := fixture.New(t, fixture.Options{ProjectExtra: tt.extra})
			w.Repo.Commit(t, "main", map[string]string{"Dockerfile": dockerfile}, "copy .git")
			code, b, stderr := build(t, w)
			switch {
			case tt.wantOK && code != 0:
				t.Fatalf("slipway build exited %d, want COPY .git/ to work:\n%s", code, stderr)
			case !tt.wantOK && code == 0:
				t.Fatalf("slipway build with git_dir: false succeeded, want COPY .git/ to fail:\n%s", stderr)
			case !tt.wantOK && !strings.Contains(b.Error, ".git"):
				t.Errorf("error %q does not name .git", b.Error)
			}
		})
	}
}
