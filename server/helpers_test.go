package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/server"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

const (
	// webhookSecret is the github.webhook_secret of every test world.
	webhookSecret = config.Secret("whsec-Qv4-test-only")
	// apiToken is the one token of the worlds made with tokens.
	apiToken = "tok-7Hd2-test-only"
	// payloadCommit is the commit the recorded push payloads name.
	payloadCommit = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	// serveGrace is the grace period of in-process servers.
	serveGrace = 2 * time.Second
	// helloWorld is the repository of the recorded payloads.
	helloWorld = "Codertocat/Hello-World"
)

// setup shapes a served test world.
type setup struct {
	// Fixture is passed to fixture.New; its Extra is extended with the
	// keys below.
	Fixture fixture.Options
	// Concurrency is the config's concurrency. Default 2.
	Concurrency int
	// Tokens writes an api_tokens_file holding apiToken.
	Tokens bool
	// GitHubAPI, when set, is github.api_url (with a github.token), the
	// stand-in GitHub API of commit statuses.
	GitHubAPI string
	// Listen, when set, is the config's listen value.
	Listen string
}

// newWorld creates the fixture world of s: repository, registry and a
// slipway.yaml with the webhook secret and s's keys.
func newWorld(t *testing.T, s setup) *fixture.World {
	t.Helper()
	if s.Concurrency == 0 {
		s.Concurrency = 2
	}
	var extra strings.Builder
	fmt.Fprintf(&extra, "concurrency: %d\n", s.Concurrency)
	if s.Listen != "" {
		fmt.Fprintf(&extra, "listen: %q\n", s.Listen)
	}
	if s.Tokens {
		file := filepath.Join(t.TempDir(), "api-tokens")
		if err := os.WriteFile(file, []byte("# test tokens\n"+apiToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&extra, "api_tokens_file: %q\n", file)
	}
	fmt.Fprintf(&extra, "github:\n  webhook_secret: %q\n", webhookSecret.Value())
	if s.GitHubAPI != "" {
		fmt.Fprintf(&extra, "  token: %q\n  api_url: %q\n", "ghp-test-token", s.GitHubAPI)
	}
	s.Fixture.Extra = extra.String() + s.Fixture.Extra
	return fixture.New(t, s.Fixture)
}

// logBuffer collects a server's log lines; they are shown when the test
// fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// serve loads w's config, lets edit change it (may be nil) and runs
// server.Run on a 127.0.0.1:0 listener until the test ends. It returns a
// client of the server.
func serve(t *testing.T, w *fixture.World, edit func(*config.Config)) *apiClient {
	t.Helper()
	cfg, err := config.Load(w.ConfigPath())
	if err != nil {
		t.Fatalf("load the world's config: %v", err)
	}
	if edit != nil {
		edit(cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	// Registered first, so it runs after the server has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, cfg, zerolog.New(logs).With().Timestamp().Logger(), server.Options{
			Listener:        ln,
			Grace:           serveGrace,
			ShutdownTimeout: 5 * time.Second,
		})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server.Run returned %v", err)
				}
			case <-time.After(time.Minute):
				t.Errorf("server.Run did not return within a minute of its context's end")
			}
		})
	}
	t.Cleanup(stop)
	c := &apiClient{t: t, base: "http://" + ln.Addr().String(), http: &http.Client{Timeout: 30 * time.Second}, stop: stop, cfg: cfg, logs: logs}
	if len(cfg.APITokens) > 0 {
		c.token = apiToken
	}
	// Run may fail before it serves (a bad config): report that rather
	// than a refused connection.
	waitFor(t, 30*time.Second, "the server answers /healthz", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("server.Run returned before serving: %v", err)
		default:
		}
		code, body := c.get("/healthz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
	// The start-up reconcile pass queues the heads of branches that have
	// builds: let it end before the test pushes, or on a loaded machine it
	// runs after the first push and queues the head, whose own push is
	// then a duplicate.
	if cfg.ReconcileInterval.On() {
		waitFor(t, time.Minute, "the start-up reconcile pass", func() (bool, string) {
			return strings.Contains(logs.String(), `"message":"reconcile pass ended"`), logs.String()
		})
	}
	return c
}

// apiClient talks to a running slipway over HTTP.
type apiClient struct {
	t     *testing.T
	base  string
	token string // sent on every API request when set
	http  *http.Client
	// stop ends an in-process server and waits for server.Run to return
	// (nil for a child process).
	stop func()
	// cfg is an in-process server's config.
	cfg *config.Config
	// logs is an in-process server's log (zerolog JSON lines).
	logs *logBuffer
	// held is the world whose test stages run heldTest: waitFinished
	// releases them.
	held *fixture.World
}

// do sends a request and returns the status code and body; a transport
// error fails the test.
func (c *apiClient) do(method, path, token string, body io.Reader, hdr http.Header) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return resp.StatusCode, b
}

func (c *apiClient) get(path string) (int, []byte) {
	c.t.Helper()
	return c.do(http.MethodGet, path, c.token, nil, nil)
}

// builds lists every build, newest first.
func (c *apiClient) builds() []store.Build {
	c.t.Helper()
	code, body := c.get("/api/v1/builds?limit=500")
	if code != http.StatusOK {
		c.t.Fatalf("GET /api/v1/builds: %d %s", code, body)
	}
	var bs []store.Build
	if err := json.Unmarshal(body, &bs); err != nil {
		c.t.Fatalf("GET /api/v1/builds: %v in %s", err, body)
	}
	return bs
}

// build reads one build.
func (c *apiClient) build(id int64) store.Build {
	c.t.Helper()
	code, body := c.get(fmt.Sprintf("/api/v1/builds/%d", id))
	if code != http.StatusOK {
		c.t.Fatalf("GET /api/v1/builds/%d: %d %s", id, code, body)
	}
	var b store.Build
	if err := json.Unmarshal(body, &b); err != nil {
		c.t.Fatalf("GET /api/v1/builds/%d: %v in %s", id, err, body)
	}
	return b
}

// waitFinished polls build id until it has ended and returns it. With
// c.held set, it releases the held test stages as it polls.
func (c *apiClient) waitFinished(id int64, timeout time.Duration) store.Build {
	c.t.Helper()
	var b store.Build
	waitFor(c.t, timeout, fmt.Sprintf("build %d ends", id), func() (bool, string) {
		if c.held != nil {
			releaseTests(c.t, c.held)
		}
		b = c.build(id)
		return store.Finished(b.Status), describe(b)
	})
	return b
}

// createBuild asks for a manual build of ref with token.
func (c *apiClient) createBuild(ref, token string) (int, store.Build, string) {
	c.t.Helper()
	code, body := c.do(http.MethodPost, "/api/v1/projects/fixture/builds", token,
		strings.NewReader(fmt.Sprintf(`{"ref":%q}`, ref)), http.Header{"Content-Type": {"application/json"}})
	var b store.Build
	if code == http.StatusAccepted {
		if err := json.Unmarshal(body, &b); err != nil {
			c.t.Fatalf("POST builds answered 202 with %s: %v", body, err)
		}
	}
	return code, b, string(body)
}

// hookAnswer is the JSON answer of POST /hooks/github.
type hookAnswer struct {
	webhook.Response
	Error string `json:"error"`
}

// delivery is one request to POST /hooks/github.
type delivery struct {
	event, id string
	body      []byte
	// signature is X-Hub-Signature-256; "sign" signs body with the
	// world's secret, "" sends none.
	signature string
}

// deliver posts d as GitHub would and returns the status code and answer.
func (c *apiClient) deliver(d delivery) (int, hookAnswer) {
	c.t.Helper()
	hdr := http.Header{
		"Content-Type":      {"application/json"},
		"X-Github-Event":    {d.event},
		"X-Github-Delivery": {d.id},
		"User-Agent":        {"GitHub-Hookshot/test"},
	}
	switch d.signature {
	case "sign":
		hdr.Set("X-Hub-Signature-256", webhook.Signature(webhookSecret, d.body))
	case "":
	default:
		hdr.Set("X-Hub-Signature-256", d.signature)
	}
	code, body := c.do(http.MethodPost, "/hooks/github", "", bytes.NewReader(d.body), hdr)
	var a hookAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		c.t.Fatalf("delivery %s answered %d with a body that is not JSON: %v\n%s", d.id, code, err, body)
	}
	return code, a
}

// payload reads a recorded GitHub payload.
func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushOf returns push-new-branch.json with every mention of its commit
// (after, head_commit.id, commits[].id and URLs) replaced by commit.
func pushOf(t *testing.T, commit string) []byte {
	t.Helper()
	b := payload(t, "push-new-branch.json")
	if !bytes.Contains(b, []byte(`"after": "`+payloadCommit+`"`)) {
		t.Fatalf("push-new-branch.json no longer has after = %s", payloadCommit)
	}
	return bytes.ReplaceAll(b, []byte(payloadCommit), []byte(commit))
}

// waitFor polls cond until it holds, failing the test with cond's last
// description after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(delay)
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// describe is a one-line summary of a build for failure messages.
func describe(b store.Build) string {
	var stages []string
	for _, s := range b.Stages {
		stages = append(stages, s.Name+":"+string(s.Status))
	}
	return fmt.Sprintf("build %d %s %s@%.7s status %s stages [%s] error %q",
		b.ID, b.Trigger, b.Ref, b.Commit, b.Status, strings.Join(stages, " "), b.Error)
}

// testContainers lists the test containers (label io.slipway.test) made
// from w's images, running or not. Other tests share the engine, so only
// containers of this world's images count.
func testContainers(t *testing.T, w *fixture.World) []container.Summary {
	t.Helper()
	ctx := context.Background()
	imgs, err := w.Docker.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	ours := map[string]bool{}
	for _, img := range imgs {
		if slices.ContainsFunc(img.RepoTags, func(tag string) bool { return strings.HasPrefix(tag, w.Image+":") }) {
			ours[img.ID] = true
		}
	}
	cs, err := w.Docker.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", builder.TestLabel)),
	})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	var mine []container.Summary
	for _, c := range cs {
		if ours[c.ImageID] {
			mine = append(mine, c)
		}
	}
	return mine
}

// removeTestContainers removes w's test containers when the test ends
// (a killed slipway leaves its test container behind).
func removeTestContainers(t *testing.T, w *fixture.World) {
	t.Cleanup(func() {
		for _, c := range testContainers(t, w) {
			w.Docker.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
	})
}

// heldTest is a test.command that keeps a build's test stage running,
// printing a tick every 100ms, until releaseTests lets it end with
// success: tests wait on that condition instead of racing a timer.
var heldTest = []string{"-tick-until", "/released"}

// releaseTests ends the heldTest stages running in w's test containers by
// copying /released into them, and returns how many it released.
func releaseTests(t *testing.T, w *fixture.World) int {
	t.Helper()
	var file bytes.Buffer
	tw := tar.NewWriter(&file)
	if err := tw.WriteHeader(&tar.Header{Name: "released", Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	n := 0
	for _, c := range testContainers(t, w) {
		if c.State != "running" {
			continue
		}
		// A container that ends meanwhile is not an error.
		if err := w.Docker.CopyToContainer(context.Background(), c.ID, "/", bytes.NewReader(file.Bytes()), container.CopyToContainerOptions{}); err == nil {
			n++
		}
	}
	return n
}
