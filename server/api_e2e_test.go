package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

func TestManualBuildNeedsAToken(t *testing.T) {
	w := newWorld(t, setup{Tokens: true})
	c := serve(t, w, nil)

	tests := []struct {
		name     string
		token    string
		wantCode int
	}{
		{name: "no token", token: "", wantCode: http.StatusUnauthorized},
		{name: "wrong token", token: "tok-not-it", wantCode: http.StatusUnauthorized},
		{name: "token with a suffix", token: apiToken + "x", wantCode: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := c.createBuild("main", tt.token)
			if code != tt.wantCode {
				t.Errorf("POST build: %d %s, want %d", code, body, tt.wantCode)
			}
			if strings.Contains(body, apiToken) {
				t.Errorf("the answer holds the API token: %s", body)
			}
		})
	}
	if got := c.builds(); len(got) != 0 {
		t.Fatalf("refused requests created builds: %v", got)
	}
	// Reads need the token too: api_tokens_file makes dashboard_auth token.
	if code, body := c.do(http.MethodGet, "/api/v1/builds", "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/builds without a token: %d %s, want 401", code, body)
	}

	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted || b.Status != store.StatusQueued || b.ID == 0 || b.Project != "fixture" || b.Trigger != store.TriggerManual {
		t.Fatalf("POST build with the token: %d %s, want 202 and a queued manual build", code, body)
	}
	if b.Ref != "refs/heads/main" {
		t.Errorf("manual build ref = %q, want refs/heads/main", b.Ref)
	}
	// A token on a line of its own is named by its place in the file.
	if b.StartedBy != "token-1" || strings.Contains(body, apiToken) {
		t.Errorf("manual build started_by = %q, want the token's name token-1 (never its text): %s", b.StartedBy, body)
	}
	b = c.waitFinished(b.ID, buildTimeout)
	if b.Status != store.StatusSucceeded || b.Commit != w.Head {
		t.Errorf("manual build: %s, want succeeded at %s", describe(b), w.Head)
	}
	if got := w.Digest("main-" + w.Head[:7]); got == "" || got != b.Digest {
		t.Errorf("registry main-%s = %q, want %q", w.Head[:7], got, b.Digest)
	}

	// Without api_tokens_file, writes are refused, never open.
	open := serve(t, w, func(cfg *config.Config) {
		cfg.APITokensFile, cfg.APITokens, cfg.DashboardAuth = "", nil, "public"
		cfg.DataDir = t.TempDir()
	})
	for _, token := range []string{"", apiToken} {
		if code, _, body := open.createBuild("main", token); code != http.StatusForbidden {
			t.Errorf("POST build with no api_tokens_file (token %q): %d %s, want 403", token, code, body)
		}
	}
	if code, body := open.do(http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), "", nil, nil); code != http.StatusForbidden {
		t.Errorf("POST cancel with no api_tokens_file: %d %s, want 403", code, body)
	}
	if got := open.builds(); len(got) != 0 {
		t.Errorf("refused writes created builds: %v", got)
	}
}

// TestManualBuildRefusesInvalidRefs: a ref git would refuse is answered 400
// with the reason, before anything is queued.
func TestManualBuildRefusesInvalidRefs(t *testing.T) {
	w := newWorld(t, setup{Tokens: true})
	c := serve(t, w, nil)
	tests := []struct {
		ref, wantReason string
	}{
		{"--upload-pack=x", `cannot start with \"-\"`},
		{"refs/../../etc/passwd", `contains \"..\"`},
		{"refs/heads/ma\tin", "control character"},
		{"refs/heads/feature/", `ends with \"/\"`},
		{"main.lock", `ends with \".lock\"`},
		{"refs/heads/a:b", "one of ~ ^ :"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			code, _, body := c.createBuild(tt.ref, apiToken)
			if code != http.StatusBadRequest {
				t.Fatalf("POST build of ref %q: %d %s, want 400", tt.ref, code, body)
			}
			if !strings.Contains(body, "not a valid git ref name") || !strings.Contains(body, tt.wantReason) {
				t.Errorf("POST build of ref %q answered %s, want the reason %s", tt.ref, body, tt.wantReason)
			}
			if strings.ContainsRune(body, 0) {
				t.Errorf("the answer holds a raw NUL byte: %q", body)
			}
		})
	}
	if got := c.builds(); len(got) != 0 {
		t.Fatalf("refused requests created builds: %v", got)
	}
}

func TestCancelStopsARunningBuild(t *testing.T) {
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{TestCommand: []string{"-sleep", "60s"}}})
	removeTestContainers(t, w)
	const opsToken = "tok-ops-test-only"
	c := serve(t, w, func(cfg *config.Config) {
		cfg.APITokens = append(cfg.APITokens, config.APIToken{Name: "ops", Token: opsToken})
	})

	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build: %d %s", code, body)
	}
	// Cancel once the test command runs in its container, so that the
	// engine work is what gets stopped.
	waitFor(t, buildTimeout, "the test container runs", func() (bool, string) {
		b = c.build(b.ID)
		if n := len(b.Stages); n == 0 || b.Stages[n-1].Name != "test" || b.Stages[n-1].Status != store.StatusRunning {
			return false, describe(b)
		}
		cs := testContainers(t, w)
		return len(cs) == 1 && cs[0].State == "running", fmt.Sprintf("%s; %d test containers", describe(b), len(cs))
	})

	start := time.Now()
	if code, body := c.do(http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("cancel without a token: %d %s, want 401", code, body)
	}
	if code, body := c.do(http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), opsToken, nil, nil); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s, want 202", code, body)
	}
	b = c.waitFinished(b.ID, 30*time.Second)
	if b.StartedBy != "token-1" || b.CanceledBy != "ops" {
		t.Errorf("canceled build: started_by %q canceled_by %q, want token-1 and ops", b.StartedBy, b.CanceledBy)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the build ended %s after the cancel", took)
	}
	if b.Status != store.StatusCanceled {
		t.Errorf("canceled build: %s, want canceled", describe(b))
	}
	if cs := testContainers(t, w); len(cs) != 0 {
		t.Errorf("%d test containers left after the cancel: %+v", len(cs), cs)
	}
	if d := w.Digest("main"); d != "" {
		t.Errorf("a canceled build pushed main (%s)", d)
	}
	if code, body := c.do(http.MethodPost, fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), apiToken, nil, nil); code != http.StatusConflict {
		t.Errorf("cancel of an ended build: %d %s, want 409", code, body)
	}
}

func TestLogFollowStreamsWhileTheBuildRuns(t *testing.T) {
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{TestCommand: []string{"-tick", "30"}}})
	c := serve(t, w, nil)

	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build: %d %s", code, body)
	}
	var sawFirstTick bool
	log := follow(t, c, b.ID, func(line string) {
		if !sawFirstTick && strings.HasSuffix(line, "tick 1") {
			sawFirstTick = true
			if now := c.build(b.ID); now.Status != store.StatusRunning {
				t.Errorf("when \"tick 1\" arrived the build was %s, want running", describe(now))
			}
		}
	})
	if !sawFirstTick || !strings.Contains(log, "tick 30\n") {
		t.Errorf("the followed log lacks tick 1 or tick 30:\n%s", log)
	}
	// The stream ended by itself: the build has ended.
	if now := c.build(b.ID); now.Status != store.StatusSucceeded {
		t.Errorf("after the stream ended: %s, want succeeded", describe(now))
	}
	// The stored log holds what the stream showed.
	if code, whole := c.get(fmt.Sprintf("/api/v1/builds/%d/log", b.ID)); code != http.StatusOK || !strings.Contains(string(whole), "tick 30") {
		t.Errorf("GET log: %d, want the whole log with tick 30:\n%s", code, whole)
	}
}

// follow reads build id's log with ?follow=1 to its end, calling onLine
// (may be nil) for each line as it arrives, and returns the whole stream.
func follow(t *testing.T, c *apiClient, id int64, onLine func(string)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/builds/%d/log?follow=1", c.base, id), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	// No client timeout: the stream lasts as long as the build.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var log strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("follow stream broke off: %v\nread so far:\n%s", err, log.String())
	}
	return log.String()
}

func TestLogFollowGetsTheTailOfACappedLog(t *testing.T) {
	// With log_limit 1 KiB only the first 512 bytes are written as they
	// come; the kept tail is written when the log closes, which must be
	// before the build is seen to end.
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{
		TestCommand: []string{"-tick", "30"},
		Extra:       "log_limit: 1KiB\n",
	}})
	c := serve(t, w, nil)
	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build: %d %s", code, body)
	}
	log := follow(t, c, b.ID, nil)
	for _, want := range []string{"bytes of output omitted", "pushed " + w.Image, "slipway: build succeeded"} {
		if !strings.Contains(log, want) {
			t.Errorf("the followed log lacks %q:\n%s", want, log)
		}
	}
	if code, whole := c.get(fmt.Sprintf("/api/v1/builds/%d/log", b.ID)); code != http.StatusOK || string(whole) != log {
		t.Errorf("GET log (%d) differs from the followed stream:\n%s\n---\n%s", code, whole, log)
	}
}

func TestBuildBodyWithAnUnknownKeyIsRefused(t *testing.T) {
	w := newWorld(t, setup{Tokens: true})
	c := serve(t, w, nil)

	tests := []struct {
		name, body string
		wantCode   int
		wantError  string
	}{
		{name: "typo of ref", body: `{"reff":"main"}`, wantCode: http.StatusBadRequest, wantError: `unknown key "reff"`},
		{name: "known and unknown", body: `{"ref":"main","branch":"dev"}`, wantCode: http.StatusBadRequest, wantError: `unknown key "branch"`},
		{name: "key in another case", body: `{"Ref":"main"}`, wantCode: http.StatusBadRequest, wantError: `unknown key "Ref"`},
		{name: "two objects", body: `{"ref":"main"} {"ref":"dev"}`, wantCode: http.StatusBadRequest, wantError: "nothing after it"},
		{name: "not an object", body: `["main"]`, wantCode: http.StatusBadRequest, wantError: "JSON object"},
		{name: "ref not a string", body: `{"ref":1}`, wantCode: http.StatusBadRequest, wantError: "body does not fit"},
		{name: "too large", body: `{"ref":"` + strings.Repeat("m", 70<<10) + `"}`, wantCode: http.StatusRequestEntityTooLarge, wantError: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := c.do(http.MethodPost, "/api/v1/projects/fixture/builds", apiToken,
				strings.NewReader(tt.body), http.Header{"Content-Type": {"application/json"}})
			var answer struct{ Error string }
			json.Unmarshal(body, &answer)
			if code != tt.wantCode || !strings.Contains(answer.Error, tt.wantError) {
				t.Errorf("POST builds %s: %d %s, want %d naming %q", tt.body[:min(len(tt.body), 40)], code, body, tt.wantCode, tt.wantError)
			}
		})
	}
	if got := c.builds(); len(got) != 0 {
		t.Errorf("refused bodies queued %d builds: %v", len(got), got)
	}

	// Routes that take no body refuse keys too, and do nothing.
	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build: %d %s", code, body)
	}
	for _, path := range []string{fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), "/api/v1/projects/fixture/schedules/nightly/run"} {
		code, body := c.do(http.MethodPost, path, apiToken, strings.NewReader(`{"force":true}`), http.Header{"Content-Type": {"application/json"}})
		var answer struct{ Error string }
		json.Unmarshal(body, &answer)
		if code != http.StatusBadRequest || !strings.Contains(answer.Error, `unknown key "force"`) {
			t.Errorf("POST %s with a key: %d %s, want 400 naming the key", path, code, body)
		}
	}
	if b = c.waitFinished(b.ID, buildTimeout); b.Status != store.StatusSucceeded {
		t.Errorf("after a refused cancel the build is %s, want succeeded", describe(b))
	}
	if got := c.builds(); len(got) != 1 {
		t.Errorf("%d builds, want only the one asked for", len(got))
	}
}
