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

func TestEnqueueSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperEnqueueProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("stdin: %v", err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	var id int64
	sc := bufio.NewScanner(stdout)
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
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill helper: %v", err)
	}
	killed = true
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Exited() {
		t.Fatalf("helper ended with %v, want killed by a signal", err)
	}

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
