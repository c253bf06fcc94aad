package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// sleepArg returns a duration for sleep that no other process has in its
// command line: the tests find the hook's children by it (their PIDs, seen
// from inside the hook's PID namespace, mean nothing here).
func sleepArg(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("300.%09d", time.Now().UnixNano()%1e9)
}

// sleeping returns the live processes whose command line is sleep arg.
func sleeping(t *testing.T, arg string) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(args) == 2 && filepath.Base(args[0]) == "sleep" && args[1] == arg && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitSleeping waits up to 30 seconds for a process sleeping arg.
func waitSleeping(t *testing.T, arg string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(sleeping(t, arg)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no process runs sleep %s", arg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGone fails unless every process sleeping arg is gone within 30
// seconds.
func waitGone(t *testing.T, arg string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := sleeping(t, arg)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("processes %v (sleep %s) outlived the hook", pids, arg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHookTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	arg := sleepArg(t)
	writeHook(t, dir, HookPreTest, "#!/bin/sh\nsleep "+arg+" &\necho started\nsleep 300\n", 0o755)
	start := time.Now()
	var log bytes.Buffer
	// Long enough for the hook to start and log on a loaded machine.
	ran, err := findHooks(t, dir).Run(t.Context(), HookPreTest, testEnv, 10*time.Second, &log)
	if !ran || !errors.Is(err, ErrHookTimeout) {
		t.Fatalf("Run = %v, %v; want an ErrHookTimeout", ran, err)
	}
	if !strings.Contains(err.Error(), "pre_test") {
		t.Errorf("err = %q, want it to name the hook", err)
	}
	if d := time.Since(start); d > 40*time.Second {
		t.Errorf("Run took %s after a 10s timeout", d)
	}
	waitGone(t, arg)
	if !strings.Contains(log.String(), "[hook pre_test] started") {
		t.Errorf("log lacks the output before the timeout:\n%s", log.String())
	}
}

func TestHookCancel(t *testing.T) {
	dir := t.TempDir()
	arg := sleepArg(t)
	writeHook(t, dir, HookBuild, "#!/bin/sh\nsleep "+arg+" &\nwait\n", 0o755)
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("build superseded")
	done := make(chan error, 1)
	go func() {
		_, err := findHooks(t, dir).Run(ctx, HookBuild, testEnv, time.Minute, &bytes.Buffer{})
		done <- err
	}()
	waitSleeping(t, arg)
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Errorf("err = %v, want the cancel cause", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	waitGone(t, arg)
}

func TestHookLeftoverChildKilled(t *testing.T) {
	dir := t.TempDir()
	arg := sleepArg(t)
	// The background child keeps the output pipe open after the hook exits.
	writeHook(t, dir, HookPostBuild, "#!/bin/sh\nsleep "+arg+" &\nexit 0\n", 0o755)
	start := time.Now()
	ran, err := findHooks(t, dir).Run(t.Context(), HookPostBuild, testEnv, time.Minute, &bytes.Buffer{})
	if !ran || err != nil {
		t.Fatalf("Run = %v, %v", ran, err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run took %s", d)
	}
	waitGone(t, arg)
}

// TestHookSetsidChildKilled checks that a child that leaves the hook's
// process group and session (setsid), and one whose parent exited, dies
// with the hook: when it exits, when it times out and when the build is
// canceled.
func TestHookSetsidChildKilled(t *testing.T) {
	// The child says when it has left the session, so that the hook never
	// ends before it has.
	const ready = `sh -c 'touch ready; exec sleep %s'`
	const waitReady = "while [ ! -e ready ]; do sleep 0.05; done\necho started\n"
	tests := []struct {
		name    string
		script  string // %s is the sleep argument
		timeout time.Duration
		cancel  bool
		wantErr error
	}{
		{name: "the hook exits", script: "setsid " + ready + " &\n" + waitReady + "exit 0\n"},
		// Long enough for the child to start and the hook to log on a
		// loaded machine.
		{name: "the hook times out", script: "setsid " + ready + " &\n" + waitReady + "sleep 300\n", timeout: 10 * time.Second, wantErr: ErrHookTimeout},
		{name: "the build is canceled", script: "setsid " + ready + " &\n" + waitReady + "sleep 300\n", cancel: true, wantErr: context.Canceled},
		{name: "an orphan in its own session without the output pipe",
			script: "(setsid " + ready + " </dev/null >/dev/null 2>&1 &)\n" + waitReady + "exit 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			arg := sleepArg(t)
			writeHook(t, dir, HookPreBuild, "#!/bin/sh\n"+fmt.Sprintf(tt.script, arg), 0o755)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			seen := make(chan bool, 1)
			if tt.cancel {
				go func() {
					// Cancel once the child runs (the hook may not have
					// logged yet).
					deadline := time.Now().Add(30 * time.Second)
					for len(sleeping(t, arg)) == 0 && time.Now().Before(deadline) {
						time.Sleep(20 * time.Millisecond)
					}
					seen <- len(sleeping(t, arg)) > 0
					cancel()
				}()
			}
			var log bytes.Buffer
			ran, err := findHooks(t, dir).Run(ctx, HookPreBuild, testEnv, timeout, &log)
			if !ran || !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Errorf("Run = %v, %v; want error %v", ran, err, tt.wantErr)
			}
			if tt.cancel {
				if !<-seen {
					t.Errorf("the hook's child never ran:\n%s", log.String())
				}
			} else if !strings.Contains(log.String(), "[hook pre_build] started") {
				t.Errorf("the hook did not run:\n%s", log.String())
			}
			if strings.Contains(log.String(), "no PID namespace") {
				t.Errorf("the hook ran without its PID namespace (slipway runs as root here):\n%s", log.String())
			}
			waitGone(t, arg)
		})
	}
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
