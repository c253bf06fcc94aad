package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/internal/testenv"
)

// writeHook writes hooks/name in dir with the given mode.
func writeHook(t *testing.T, dir, name, script string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hooks", name), []byte(script), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile keeps an existing file's mode; set it.
	if err := os.Chmod(filepath.Join(dir, "hooks", name), mode); err != nil {
		t.Fatal(err)
	}
}

func findHooks(t *testing.T, dir string) *Hooks {
	t.Helper()
	h, err := FindHooks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var testEnv = HookEnv{
	SourceBranch:   "main",
	SourceCommit:   "0123456789abcdef0123456789abcdef01234567",
	CommitMsg:      "fix: the thing\n\nwith a body",
	DockerRepo:     "docker.io/acme/web",
	DockerfilePath: "Dockerfile",
	DockerTag:      "latest",
	Extra:          map[string]string{"NODE_ENV": "production", "SOURCE_BRANCH": "cannot-override"},
	Secrets:        map[string]string{"NPM_TOKEN": "s3cr3t-value"},
}

func TestFindHooks(t *testing.T) {
	dir := t.TempDir()
	if h := findHooks(t, dir); len(h.Names()) != 0 || h.Has(HookPreBuild) {
		t.Errorf("no hooks dir: got hooks %v", h.Names())
	}
	writeHook(t, dir, "post_push", "#!/bin/sh\n", 0o755)
	writeHook(t, dir, "pre_build", "#!/bin/sh\n", 0o644)
	writeHook(t, dir, "README.md", "not a hook", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "hooks", "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := findHooks(t, dir)
	if diff := cmp.Diff([]string{HookPreBuild, HookPostPush}, h.Names()); diff != "" {
		t.Errorf("Names mismatch (-want +got):\n%s", diff)
	}
	if h.WorkDir != dir {
		t.Errorf("WorkDir = %q, want %q", h.WorkDir, dir)
	}
	ran, err := h.Run(t.Context(), HookTest, testEnv, time.Second, &bytes.Buffer{})
	if ran || err != nil {
		t.Errorf("Run of a missing hook = %v, %v; want false, nil", ran, err)
	}
}

func TestHookEnvironment(t *testing.T) {
	t.Setenv("SLIPWAY_TEST_PRIVATE", "must-not-leak")
	t.Setenv("DOCKER_HOST", "unix:///from/slipway/env.sock")
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "env.txt")
	writeHook(t, dir, HookPreBuild, "#!/bin/sh\nenv > '"+out+"'\npwd >> '"+out+"'\necho \"token is $NPM_TOKEN\"\necho to stderr >&2\nprintf 'no newline'", 0o755)
	var log bytes.Buffer
	env := testEnv
	env.DockerHost = "tcp://127.0.0.1:2375"
	ran, err := findHooks(t, dir).Run(t.Context(), HookPreBuild, env, time.Minute, &log)
	if !ran || err != nil {
		t.Fatalf("Run = %v, %v; log:\n%s", ran, err, log.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"SOURCE_BRANCH=main\n",
		"SOURCE_COMMIT=0123456789abcdef0123456789abcdef01234567\n",
		"COMMIT_MSG=fix: the thing\n\nwith a body\n",
		"DOCKER_REPO=docker.io/acme/web\n",
		"DOCKERFILE_PATH=Dockerfile\n",
		"DOCKER_TAG=latest\n",
		"IMAGE_NAME=docker.io/acme/web:latest\n",
		"NODE_ENV=production\n",
		"NPM_TOKEN=s3cr3t-value\n",
		"DOCKER_HOST=tcp://127.0.0.1:2375\n",
		"PATH=",
		"\n" + dir + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hook environment lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"must-not-leak", "cannot-override"} {
		if strings.Contains(got, bad) {
			t.Errorf("hook environment has %q:\n%s", bad, got)
		}
	}
	wantLog := "[hook pre_build] token is ***\n[hook pre_build] to stderr\n[hook pre_build] no newline\n"
	if diff := cmp.Diff(wantLog, log.String()); diff != "" {
		t.Errorf("log mismatch (-want +got):\n%s", diff)
	}
}

func TestHookFails(t *testing.T) {
	dir := t.TempDir()
	writeHook(t, dir, HookPostPush, "#!/bin/sh\necho failing\nexit 3\n", 0o755)
	var log bytes.Buffer
	ran, err := findHooks(t, dir).Run(t.Context(), HookPostPush, testEnv, time.Minute, &log)
	if !ran {
		t.Errorf("ran = false")
	}
	var he *HookError
	if !errors.As(err, &he) || !errors.Is(err, ErrHookFailed) {
		t.Fatalf("err = %v, want a *HookError", err)
	}
	if he.Hook != HookPostPush || he.ExitCode != 3 {
		t.Errorf("HookError = %+v, want post_push, 3", he)
	}
	if !strings.Contains(err.Error(), "hook post_push exited with code 3") {
		t.Errorf("err = %q, want it to name the hook and the code", err)
	}
	if !strings.Contains(log.String(), "[hook post_push] failing") {
		t.Errorf("log lacks the hook's output:\n%s", log.String())
	}
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// waitDead fails unless pid is gone within 10 seconds.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", file)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHookTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	writeHook(t, dir, HookPreTest, "#!/bin/sh\nsleep 300 &\necho $! > '"+pidFile+"'\necho started\nsleep 300\n", 0o755)
	start := time.Now()
	var log bytes.Buffer
	ran, err := findHooks(t, dir).Run(t.Context(), HookPreTest, testEnv, 3*time.Second, &log)
	if !ran || !errors.Is(err, ErrHookTimeout) {
		t.Fatalf("Run = %v, %v; want an ErrHookTimeout", ran, err)
	}
	if !strings.Contains(err.Error(), "pre_test") {
		t.Errorf("err = %q, want it to name the hook", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run took %s after a 3s timeout", d)
	}
	waitDead(t, readPID(t, pidFile))
	if !strings.Contains(log.String(), "[hook pre_test] started") {
		t.Errorf("log lacks the output before the timeout:\n%s", log.String())
	}
}

func TestHookCancel(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	writeHook(t, dir, HookBuild, "#!/bin/sh\nsleep 300 &\necho $! > '"+pidFile+"'\nwait\n", 0o755)
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("build superseded")
	done := make(chan error, 1)
	go func() {
		_, err := findHooks(t, dir).Run(ctx, HookBuild, testEnv, time.Minute, &bytes.Buffer{})
		done <- err
	}()
	pid := readPID(t, pidFile)
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Errorf("err = %v, want the cancel cause", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	waitDead(t, pid)
}

func TestHookLeftoverChildKilled(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The background child keeps the output pipe open after the hook exits.
	writeHook(t, dir, HookPostBuild, "#!/bin/sh\nsleep 300 &\necho $! > '"+pidFile+"'\nexit 0\n", 0o755)
	start := time.Now()
	ran, err := findHooks(t, dir).Run(t.Context(), HookPostBuild, testEnv, time.Minute, &bytes.Buffer{})
	if !ran || err != nil {
		t.Fatalf("Run = %v, %v", ran, err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run took %s", d)
	}
	waitDead(t, readPID(t, pidFile))
}

func TestHookNotExecutable(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"no shebang runs with sh", "echo \"via sh: $0\"\n", "via sh: "},
		{"shebang with argument", "#!/bin/sh -e\necho shebang ok\nfalse\necho not reached\n", "shebang ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHook(t, dir, HookPreBuild, tt.script, 0o644)
			var log bytes.Buffer
			ran, err := findHooks(t, dir).Run(t.Context(), HookPreBuild, testEnv, time.Minute, &log)
			if !ran {
				t.Fatal("ran = false")
			}
			if !strings.Contains(log.String(), tt.want) || strings.Contains(log.String(), "not reached") {
				t.Errorf("log = %q, want %q", log.String(), tt.want)
			}
			if strings.Contains(tt.script, "false") {
				var he *HookError
				if !errors.As(err, &he) || he.ExitCode != 1 {
					t.Errorf("err = %v, want exit code 1 (sh -e)", err)
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestHookEnvironNoSlipwaySecrets(t *testing.T) {
	t.Setenv("GITHUB_WEBHOOK_SECRET", "hush")
	t.Setenv("DOCKER_HOST", "")
	env := HookEnv{DockerRepo: "r", DockerTag: "t"}.Environ()
	for _, kv := range env {
		if strings.Contains(kv, "hush") || strings.HasPrefix(kv, "GITHUB_") {
			t.Errorf("Environ has %q", kv)
		}
	}
	if !strings.Contains(strings.Join(env, "\n"), "IMAGE_NAME=r:t") {
		t.Errorf("Environ lacks IMAGE_NAME: %v", env)
	}
}

// TestHookBuildReachesEngine runs a hooks/build that builds IMAGE_NAME with
// the docker CLI, as Hub's build hooks do, and finds the image on the
// engine slipway uses.
func TestHookBuildReachesEngine(t *testing.T) {
	cli := testenv.Docker(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker CLI is needed for build hooks: %v", err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile.hub": "FROM scratch\nARG CUSTOM\nLABEL custom=$CUSTOM\n",
	})
	writeHook(t, dir, HookBuild, "#!/bin/sh\nset -e\nDOCKER_BUILDKIT=0 docker build --build-arg CUSTOM=\"$CUSTOM\" -f \"$DOCKERFILE_PATH\" -t \"$IMAGE_NAME\" .\n", 0o755)
	env := HookEnv{
		DockerRepo:     testenv.Name(t, "slipway-hook"),
		DockerTag:      "built-by-hook",
		DockerfilePath: "Dockerfile.hub",
		DockerHost:     cli.DaemonHost(),
		Extra:          map[string]string{"CUSTOM": "from-hub-env"},
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), env.ImageName(), image.RemoveOptions{Force: true, PruneChildren: true})
	})
	var log bytes.Buffer
	ran, err := findHooks(t, dir).Run(t.Context(), HookBuild, env, 5*time.Minute, &log)
	if !ran || err != nil {
		t.Fatalf("Run = %v, %v\n%s", ran, err, log.String())
	}
	img, err := cli.ImageInspect(t.Context(), env.ImageName())
	if err != nil {
		t.Fatalf("the hook's image is not on the engine: %v\n%s", err, log.String())
	}
	if got := img.Config.Labels["custom"]; got != "from-hub-env" {
		t.Errorf("label custom = %q, want from-hub-env", got)
	}
}
