package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/server"
	"github.com/slipwayci/slipway/store"
)

// slipwayBinary builds cmd/slipway into a temporary directory.
func slipwayBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "slipway")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/slipwayci/slipway/cmd/slipway")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/slipway: %v\n%s", err, out)
	}
	return bin
}

// child is a `slipway serve` process.
type child struct {
	cmd    *exec.Cmd
	out    *logBuffer // stdout and stderr
	exited chan struct{}
	err    error // Wait's result, set before exited closes
}

// startServe runs `slipway serve --config` on w's config as a child
// process listening on a free loopback port (config listen is
// ${SLIPWAY_TEST_LISTEN}) and waits until it answers /healthz. The child is
// killed when the test ends.
func startServe(t *testing.T, bin string, w *fixture.World) (*child, *apiClient) {
	t.Helper()
	return startServeConfig(t, bin, w.ConfigPath())
}

// startServeConfig is startServe of the config file at path.
func startServeConfig(t *testing.T, bin, path string) (*child, *apiClient) {
	t.Helper()
	// The free port may be taken between the probe and the child's bind:
	// a start that fails for that reason is retried on another port.
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()

		ch := &child{out: &logBuffer{}, exited: make(chan struct{})}
		ch.cmd = exec.Command(bin, "serve", "--config", path, "--grace", "2s")
		ch.cmd.Env = append(os.Environ(), "SLIPWAY_TEST_LISTEN="+addr)
		ch.cmd.Stdout, ch.cmd.Stderr = ch.out, ch.out
		if err := ch.cmd.Start(); err != nil {
			t.Fatalf("start slipway serve: %v", err)
		}
		go func() {
			ch.err = ch.cmd.Wait()
			close(ch.exited)
		}()
		t.Cleanup(func() {
			ch.cmd.Process.Kill()
			<-ch.exited
			if t.Failed() {
				t.Logf("slipway serve on %s (pid %d) wrote:\n%s", addr, ch.cmd.Process.Pid, ch.output())
			}
		})
		c := &apiClient{t: t, base: "http://" + addr, token: apiToken, http: &http.Client{Timeout: 30 * time.Second}}
		up, exited := waitServing(c, ch)
		if up {
			return ch, c
		}
		if exited && attempt < 3 && strings.Contains(ch.output(), "address already in use") {
			continue
		}
		t.Fatalf("slipway serve did not answer /healthz (exited: %t: %v):\n%s", exited, ch.err, ch.output())
	}
}

// waitServing polls /healthz until the child answers or exits.
func waitServing(c *apiClient, ch *child) (up, exited bool) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-ch.exited:
			return false, true
		default:
		}
		resp, err := c.http.Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, false
			}
		}
		select {
		case <-ch.exited:
			return false, true
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false, false
}

func (ch *child) output() string { return ch.out.String() }

// kill9 sends SIGKILL and waits for the process to be gone.
func (ch *child) kill9(t *testing.T) {
	t.Helper()
	if err := ch.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill -9 slipway: %v", err)
	}
	select {
	case <-ch.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("slipway did not die within 30s of SIGKILL")
	}
}

func TestKill9LosesNoAcceptedBuild(t *testing.T) {
	bin := slipwayBinary(t)
	w := newWorld(t, setup{
		Concurrency: 1,
		Tokens:      true,
		Listen:      "${SLIPWAY_TEST_LISTEN}",
		// Held until released: the first build is still running when the
		// test kills slipway, whatever the machine's speed.
		Fixture: fixture.Options{TestCommand: heldTest},
	})
	removeTestContainers(t, w)
	branches := []string{"b1", "b2", "b3"}
	for _, br := range branches {
		w.Repo.Commit(t, br, map[string]string{"ctx/branch.txt": br}, "on "+br)
	}

	first, c := startServe(t, bin, w)
	var ids []int64
	for _, br := range branches {
		code, b, body := c.createBuild(br, apiToken)
		if code != http.StatusAccepted || b.Status != store.StatusQueued {
			t.Fatalf("POST build of %s: %d %s, want 202 queued", br, code, body)
		}
		ids = append(ids, b.ID)
	}
	waitFor(t, buildTimeout, "one build running", func() (bool, string) {
		var states []string
		running, queued := 0, 0
		for _, id := range ids {
			b := c.build(id)
			states = append(states, describe(b))
			switch b.Status {
			case store.StatusRunning:
				running++
			case store.StatusQueued:
				queued++
			}
		}
		return running == 1 && queued == 2, strings.Join(states, "; ")
	})
	var interrupted int64
	for _, id := range ids {
		if c.build(id).Status == store.StatusRunning {
			interrupted = id
		}
	}
	first.kill9(t)

	_, c = startServe(t, bin, w)
	c.held = w
	for _, id := range ids {
		b := c.waitFinished(id, 2*buildTimeout)
		if b.Status != store.StatusSucceeded {
			t.Errorf("after kill -9 and restart: %s, want succeeded", describe(b))
		}
		// The interrupted build ran once more; the others once.
		wantAttempts := 1
		if id == interrupted {
			wantAttempts = 2
		}
		if b.Attempts != wantAttempts {
			t.Errorf("build %d ran %d times, want %d", id, b.Attempts, wantAttempts)
		}
	}
	if got := c.builds(); len(got) != len(ids) {
		t.Errorf("%d builds after the restart, want %d", len(got), len(ids))
	}
}

func TestShutdownRequeuesARunningBuild(t *testing.T) {
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{TestCommand: []string{"-sleep", "60s"}}})
	removeTestContainers(t, w)
	c := serve(t, w, nil)

	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build: %d %s", code, body)
	}
	waitFor(t, buildTimeout, "the test container runs", func() (bool, string) {
		b = c.build(b.ID)
		n := len(b.Stages)
		return n > 0 && b.Stages[n-1].Name == "test" && b.Stages[n-1].Status == store.StatusRunning, describe(b)
	})

	// A follower of the build's log must not hold the shutdown up.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("%s/api/v1/builds/%d/log?follow=1", c.base, b.ID), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	followEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		followEnded <- err
	}()

	// The build outlives the grace period: it is stopped and queued again,
	// and the interrupted run does not count as an attempt.
	start := time.Now()
	c.stop()
	select {
	case err := <-followEnded:
		if err != nil {
			t.Errorf("the follow stream broke off at the shutdown instead of ending: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the follow stream did not end with the server")
	}
	if took := time.Since(start); took > serveGrace+30*time.Second {
		t.Errorf("server.Run took %s to return with a %s grace period", took, serveGrace)
	}
	st, err := store.Open(t.Context(), c.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetBuild(t.Context(), b.ID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusQueued || got.FinishedAt != nil || got.StartedAt != nil || got.Error != "" || got.Attempts != 0 || len(got.Stages) != 0 {
		t.Errorf("after the shutdown: %s attempts %d started %v finished %v, want queued afresh with 0 attempts",
			describe(got), got.Attempts, got.StartedAt, got.FinishedAt)
	}
	if cs := testContainers(t, w); len(cs) != 0 {
		t.Errorf("%d test containers left after the shutdown", len(cs))
	}

	// The next start runs it again, as a first attempt.
	c = serve(t, w, nil)
	waitFor(t, buildTimeout, "the build runs again", func() (bool, string) {
		b = c.build(b.ID)
		return b.Status == store.StatusRunning, describe(b)
	})
	if b.Attempts != 1 {
		t.Errorf("restarted build has attempts %d, want 1", b.Attempts)
	}
	if code, body := c.do(http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), apiToken, nil, nil); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if b = c.waitFinished(b.ID, 30*time.Second); b.Status != store.StatusCanceled {
		t.Errorf("canceled build: %s", describe(b))
	}
}

func TestStopAsSoonAsServing(t *testing.T) {
	w := newWorld(t, setup{})
	cfg, err := config.Load(w.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A stop that comes before the workers have started is a clean stop.
	err = server.Run(ctx, cfg, zerolog.Nop(), server.Options{Listener: ln, Ready: func(net.Addr) { cancel() }})
	if err != nil {
		t.Errorf("server.Run stopped at once returned %v, want nil", err)
	}
}
