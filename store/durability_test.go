package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv names the data directory of TestHelperEnqueueProcess when the
// test binary runs as its child.
const helperEnv = "SLIPWAY_STORE_HELPER_DATA_DIR"

// TestHelperEnqueueProcess is not a test: run by TestEnqueueSurvivesKill as
// a child process, it enqueues one build, prints "ID=<id>" and then waits,
// with the database open, to be killed.
func TestHelperEnqueueProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		return
	}
	s, err := Open(t.Context(), dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "open: %v\n", err)
		os.Exit(2)
	}
	b, _, _, err := s.Enqueue(t.Context(), push("web", "main", strings.Repeat("a", 40)), EnqueueOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "enqueue: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("ID=%d\n", b.ID)
	// Block until the parent kills us; stdin closes if the parent dies.
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}

// helperProcess is this test binary running one TestHelper…Process test
// as a child, on a data directory of its own.
type helperProcess struct {
	cmd    *exec.Cmd
	stdout io.Reader
	killed bool
}

// startHelper runs test (a TestHelper…Process) as a child with env=dir
// set; the child is killed at the end of the test if it still runs.
func startHelper(t *testing.T, test, env, dir string) *helperProcess {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("stdin: %v", err)
	}
	t.Cleanup(func() { stdin.Close() })
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	h := &helperProcess{cmd: cmd, stdout: stdout}
	t.Cleanup(func() {
		if !h.killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return h
}

// kill9 sends SIGKILL to the child (no Close, no checkpoint) and checks
// that the signal ended it.
func (h *helperProcess) kill9(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill helper: %v", err)
	}
	h.killed = true
	err := h.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Exited() {
		t.Fatalf("helper ended with %v, want killed by a signal", err)
	}
}

func TestEnqueueSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	h := startHelper(t, "TestHelperEnqueueProcess", helperEnv, dir)

	var (
		id  int64
		err error
	)
	sc := bufio.NewScanner(h.stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ID="); ok {
			if id, err = strconv.ParseInt(v, 10, 64); err != nil {
				t.Fatalf("helper printed %q: %v", sc.Text(), err)
			}
			break
		}
	}
	if id == 0 {
		t.Fatalf("helper exited without printing an ID (scan error %v)", sc.Err())
	}
	// SIGKILL right after Enqueue returned: no Close, no checkpoint.
	h.kill9(t)

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	b, err := s.GetBuild(ctx, id)
	if err != nil {
		t.Fatalf("GetBuild(%d) after kill -9: %v", id, err)
	}
	if b.Status != StatusQueued || b.Project != "web" || b.Commit != strings.Repeat("a", 40) {
		t.Errorf("build after kill -9 = %+v, want the queued web build", b)
	}
	if b.CreatedAt.IsZero() || time.Since(b.CreatedAt) > time.Hour {
		t.Errorf("CreatedAt = %v", b.CreatedAt)
	}
	if n, err := s.QueueDepth(ctx); err != nil || n != 1 {
		t.Errorf("QueueDepth = %d, %v; want 1", n, err)
	}
}
