package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testenv"
)

// serving is a `slipway serve` run in-process by startServe.
type serving struct {
	base string          // http://127.0.0.1:PORT
	logs *testenv.Buffer // its stderr
}

var listenField = regexp.MustCompile(`listen"?[:=]"?(127\.0\.0\.1:[0-9]+)`)

// startServe runs `slipway serve --config cfgPath ARGS...` in-process (the
// config listens on 127.0.0.1:0) until the test ends, and returns once it
// answers /healthz, with the address its start-up log line names.
func startServe(t *testing.T, cfgPath string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{logs: &testenv.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--config", cfgPath, "--grace", "2s"}, args...), io.Discard, s.logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("slipway serve exited %d:\n%s", code, s.logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("slipway serve did not stop within 30s of its context's end")
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if m := listenField.FindStringSubmatch(s.logs.String()); m != nil {
			s.base = "http://" + m[1]
			break
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("slipway serve exited %d:\n%s", code, s.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("slipway serve did not log its address within a minute:\n%s", s.logs.String())
		}
	}
	resp, err := http.Get(s.base + "/healthz")
	if err != nil {
		t.Fatalf("slipway serve logged %s but /healthz: %v", s.base, err)
	}
	resp.Body.Close()
	return s
}

// TestServeLogOptions: --log-format console and json, the version in the
// start-up line, and bad values refused with exit 2 before anything
// starts (the levels themselves: internal/logging's tests).
func TestServeLogOptions(t *testing.T) {
	t.Parallel()
	cfgPath := writeConfig(t, `listen: "127.0.0.1:0"
github: {webhook_secret: not-so-secret}
projects:
  - {name: web, repo: "https://github.com/acme/web.git", image: docker.io/acme/web}
`)
	t.Run("console", func(t *testing.T) {
		s := startServe(t, cfgPath, "--log-format", "console", "--log-level", "debug")
		line := firstLine(s.logs.String(), "slipway serving")
		if json := strings.HasPrefix(line, "{"); json || !strings.Contains(line, "INF") || !strings.Contains(line, `version="dev`) {
			t.Errorf("start-up line %q: want a console line at INF with version=\"dev ...\"", line)
		}
	})
	t.Run("json", func(t *testing.T) {
		s := startServe(t, cfgPath, "--log-format", "json")
		line := firstLine(s.logs.String(), "slipway serving")
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"version":"dev`) || !strings.Contains(line, `"level":"info"`) {
			t.Errorf("start-up line %q: want JSON with version dev", line)
		}
	})
	for _, tt := range []struct{ flag, value string }{{"--log-level", "loud"}, {"--log-format", "xml"}} {
		var stderr bytes.Buffer
		if code := run(t.Context(), []string{"serve", "--config", cfgPath, tt.flag, tt.value}, io.Discard, &stderr); code != 2 {
			t.Errorf("serve %s %s: exit %d, want 2; stderr:\n%s", tt.flag, tt.value, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tt.value) {
			t.Errorf("serve %s %s: stderr %q does not name the value", tt.flag, tt.value, stderr.String())
		}
	}
}

// writeConfig writes slipway.yaml with body and a data_dir of its own into
// a temporary directory and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "slipway.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("data_dir: %q\n%s", filepath.Join(dir, "data"), body)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// firstLine is the first line of s containing sub ("" when none).
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
