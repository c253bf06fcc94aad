package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

const dashToken = "dash-tok-9Fq2-test-only"

// dashWorld is a handler over a store with no engine behind it: enough to
// render every page.
type dashWorld struct {
	srv   *httptest.Server
	store *store.Store
	cfg   *config.Config
}

// newDashWorld serves NewHandler over a fresh data_dir with one project
// "web" (github acme/web, two schedules); auth is dashboard_auth.
func newDashWorld(t *testing.T, auth, extra string) *dashWorld {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(dashToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`data_dir: %q
api_tokens_file: %q
dashboard_auth: %s
github:
  webhook_secret: "whsec-dash-test"
%s
projects:
  - name: web
    repo: https://github.com/acme/web.git
    github: acme/web
    image: registry.example/acme/web
    schedules:
      - {name: weekly, cron: "0 3 * * MON"}
      - {name: nightly, cron: "30 1 * * *", timezone: Europe/Berlin}
`, filepath.Join(dir, "data"), tokens, auth, extra)
	path := filepath.Join(dir, "slipway.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, st := serveHandler(t, cfg)
	return &dashWorld{srv: srv, store: st, cfg: cfg}
}

// serveHandler serves NewHandler for cfg over its store, with no engine
// behind it and no worker, until the end of the test.
func serveHandler(tb testing.TB, cfg *config.Config) (*httptest.Server, *store.Store) {
	tb.Helper()
	svc, err := pipeline.Open(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close() })
	reg := prometheus.NewRegistry()
	h, err := NewHandler(HandlerDeps{
		Config:   cfg,
		Builds:   pipeline.NewQueue(svc, pipeline.QueueOptions{}),
		Metrics:  NewMetrics(reg),
		Gatherer: reg,
		Logger:   zerolog.Nop(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv, svc.Store()
}

// add stores a build as given (status, tags, stages...).
func (w *dashWorld) add(t *testing.T, b store.Build) store.Build {
	t.Helper()
	got, err := w.store.Insert(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	b.ID, b.CreatedAt = got.ID, got.CreatedAt
	if b.StartedAt == nil {
		b.StartedAt = got.StartedAt
	}
	if err := w.store.UpdateBuild(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

// client never follows redirects, so tests see them.
func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (w *dashWorld) get(t *testing.T, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, w.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func (w *dashWorld) postForm(t *testing.T, path string, form url.Values) *http.Response {
	t.Helper()
	return w.postFormWith(t, path, form, nil)
}

// postFormWith posts form with the extra headers hdr.
func (w *dashWorld) postFormWith(t *testing.T, path string, form url.Values, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, w.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

const (
	commitA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	digestA = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestDashboardPagesShowBuildsEscaped(t *testing.T) {
	w := newDashWorld(t, "public", "")
	start := time.Now().Add(-5 * time.Minute).UTC()
	end := start.Add(83 * time.Second)
	ok := w.add(t, store.Build{
		Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main", Commit: commitA,
		Status: store.StatusSucceeded, Image: "registry.example/acme/web", Digest: digestA,
		Tags:      []string{"main", "main-1a2b3c4", "latest"},
		StartedAt: &start, FinishedAt: &end,
		Stages: []store.Stage{
			{Name: "source", Status: store.StatusSucceeded, StartedAt: &start, DurationMS: 1200},
			{Name: "build", Status: store.StatusSucceeded, StartedAt: &start, DurationMS: 65000},
		},
		Deploys: []store.Deploy{{Target: "production", Service: "web_app", Status: "converged"}},
	})
	evil := w.add(t, store.Build{
		Project: "web", Trigger: store.TriggerManual, Ref: "refs/heads/x<b>bold</b>", Commit: commitA,
		Status: store.StatusFailed, Image: "registry.example/acme/web",
		Error: `build: <script>alert("x")</script> failed`,
		Stages: []store.Stage{
			{Name: "build", Status: store.StatusFailed, StartedAt: &start, DurationMS: 10, Error: "<img src=x onerror=alert(1)>"},
		},
	})
	weekly := w.add(t, store.Build{
		Project: "web", Trigger: store.TriggerSchedule, Schedule: "weekly", Ref: "refs/heads/main", Commit: commitA,
		Status: store.StatusRunning, Image: "registry.example/acme/web",
	})

	t.Run("projects", func(t *testing.T) {
		resp, body := w.get(t, "/", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %d\n%s", resp.StatusCode, body)
		}
		for _, want := range []string{
			`href="/builds/` + fmt.Sprint(ok.ID) + `"`,
			`href="https://github.com/acme/web/commit/` + commitA + `"`,
			`x&lt;b&gt;bold&lt;/b&gt;`,
			`data-ref="refs/heads/x&lt;b&gt;bold&lt;/b&gt;"`,
			`data-schedule="weekly"`, `<code>0 3 * * MON</code>`, `(Europe/Berlin)`,
			`href="/builds/` + fmt.Sprint(weekly.ID) + `"`,
			`class="rebuild"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET / lacks %s", want)
			}
		}
		assertNoMarkupFromData(t, body)
	})

	t.Run("builds list", func(t *testing.T) {
		_, body := w.get(t, "/builds", nil)
		for _, want := range []string{
			`<li class="tag">main-1a2b3c4</li>`, `<li class="tag">latest</li>`,
			`sha256:0123456789ab`, `1m 23s`, `>1a2b3c4<`,
			`status st-succeeded`, `status st-failed`, `status st-running`, `schedule · weekly`,
			`x&lt;b&gt;bold&lt;/b&gt;`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /builds lacks %s", want)
			}
		}
		assertNoMarkupFromData(t, body)
	})

	t.Run("builds list filtered", func(t *testing.T) {
		tests := []struct {
			query string
			want  []int64
		}{
			{query: "?status=failed", want: []int64{evil.ID}},
			{query: "?project=web&status=succeeded", want: []int64{ok.ID}},
			{query: "?ref=refs%2Fheads%2Fmain", want: []int64{weekly.ID, ok.ID}},
			{query: "?before=" + fmt.Sprint(weekly.ID), want: []int64{evil.ID, ok.ID}},
			{query: "?project=other", want: nil},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				_, body := w.get(t, "/builds"+tt.query, nil)
				if diff := cmp.Diff(tt.want, rowIDs(body)); diff != "" {
					t.Errorf("rows of /builds%s (-want +got):\n%s", tt.query, diff)
				}
			})
		}
	})

	t.Run("build page", func(t *testing.T) {
		_, body := w.get(t, fmt.Sprintf("/builds/%d", ok.ID), nil)
		for _, want := range []string{
			digestA, `data-stage="source"`, `1.2s`, `1m 05s`, `web_app`, `status st-converged`,
			fmt.Sprintf(`data-src="/builds/%d/log"`, ok.ID), `data-live="false"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("build page lacks %s", want)
			}
		}
		if strings.Contains(body, `class="cancel`) {
			t.Errorf("a finished build has a Cancel button")
		}
		_, body = w.get(t, fmt.Sprintf("/builds/%d", evil.ID), nil)
		for _, want := range []string{
			`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `&lt;img src=x onerror=alert(1)&gt;`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("failed build page lacks the escaped %s", want)
			}
		}
		assertNoMarkupFromData(t, body)
		_, body = w.get(t, fmt.Sprintf("/builds/%d", weekly.ID), nil)
		for _, want := range []string{`class="cancel danger"`, `data-live="true"`, `?follow=1`} {
			if !strings.Contains(body, want) {
				t.Errorf("running build page lacks %s", want)
			}
		}
	})

	t.Run("headers", func(t *testing.T) {
		resp, _ := w.get(t, "/builds", nil)
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
			t.Errorf("Content-Security-Policy = %q", got)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", got)
		}
	})

	t.Run("not found and bad ids", func(t *testing.T) {
		for path, want := range map[string]int{
			"/builds/999":       http.StatusNotFound,
			"/builds/abc":       http.StatusBadRequest,
			"/builds?before=-1": http.StatusBadRequest,
			"/nope":             http.StatusNotFound,
			"/static/style.css": http.StatusOK,
			"/static/app.js":    http.StatusOK,
			"/static/nope.js":   http.StatusNotFound,
		} {
			if resp, _ := w.get(t, path, nil); resp.StatusCode != want {
				t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
			}
		}
	})
}

// assertNoMarkupFromData fails when markup from the builds' data reached
// the page unescaped.
func assertNoMarkupFromData(t *testing.T, body string) {
	t.Helper()
	for _, bad := range []string{"<b>", "<script>alert", "<img"} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds unescaped %q", bad)
		}
	}
}

// rowIDs returns the build IDs of the builds list's rows, in order.
func rowIDs(body string) []int64 {
	var ids []int64
	for _, part := range strings.Split(body, `class="build-row" data-build="`)[1:] {
		var id int64
		fmt.Sscanf(part, "%d", &id)
		ids = append(ids, id)
	}
	return ids
}

func TestDashboardTokenLogin(t *testing.T) {
	w := newDashWorld(t, "token", "")
	w.add(t, store.Build{Project: "web", Trigger: store.TriggerManual, Ref: "refs/heads/main", Status: store.StatusSucceeded})

	resp, _ := w.get(t, "/builds?status=succeeded", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fbuilds%3Fstatus%3Dsucceeded" {
		t.Fatalf("GET /builds without login: %d Location %q, want 303 to the login form", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := w.get(t, "/builds/1/log", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /builds/1/log without login: %d %s, want 401", resp.StatusCode, body)
	}
	if resp, body := w.get(t, "/login", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) {
		t.Errorf("GET /login: %d, want the form", resp.StatusCode)
	}
	if resp, _ := w.get(t, "/builds", http.Header{"Authorization": {"Bearer " + dashToken}}); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /builds with a Bearer token: %d, want 200", resp.StatusCode)
	}

	resp = w.postForm(t, "/login", url.Values{"token": {"not-the-token"}, "next": {"/builds"}})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("login with a wrong token: %d cookies %v, want 401 and no cookie", resp.StatusCode, resp.Cookies())
	}

	resp = w.postForm(t, "/login", url.Values{"token": {dashToken}, "next": {"https://evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("login with next elsewhere: %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = w.postForm(t, "/login", url.Values{"token": {dashToken}, "next": {"/builds/1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/builds/1" {
		t.Fatalf("login: %d Location %q, want 303 to /builds/1", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("login set no %s cookie: %v", sessionCookie, resp.Header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		t.Errorf("session cookie: HttpOnly %v SameSite %v Path %q, want HttpOnly, Strict, /", session.HttpOnly, session.SameSite, session.Path)
	}
	if strings.Contains(session.Value, dashToken) {
		t.Errorf("the session cookie holds the token: %q", session.Value)
	}
	cookie := http.Header{"Cookie": {sessionCookie + "=" + session.Value}}

	for _, path := range []string{"/", "/builds", "/builds/1", "/builds/1/log"} {
		if resp, body := w.get(t, path, cookie); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the session cookie: %d %s", path, resp.StatusCode, body)
		}
	}
	// The cookie is for reading the dashboard only: the API wants the token.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, w.srv.URL+"/api/v1/projects/web/builds", strings.NewReader(`{}`))
	req.Header = cookie.Clone()
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API write with only the session cookie: %v %v, want 401", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	tampered := []string{
		session.Value + "x",
		"9999999999." + strings.SplitN(session.Value, ".", 2)[1],
		"",
		"garbage",
	}
	for _, v := range tampered {
		if resp, _ := w.get(t, "/", http.Header{"Cookie": {sessionCookie + "=" + v}}); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET / with cookie %q: %d, want 303 to login", v, resp.StatusCode)
		}
	}

	resp = w.postForm(t, "/logout", nil)
	if c := resp.Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout cookies %v, want the session cookie deleted", c)
	}
}

func TestSessionCookies(t *testing.T) {
	tokens := hashTokens([]config.APIToken{{Name: "ops", Token: "ops-token"}, {Name: "ci", Token: "ci-token"}})
	sum := tokens[1].sum
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	h := &handler{readAuth: true, tokens: tokens, cfg: &config.Config{}}
	d := newDashboard(h, func() time.Time { return clock })
	other := newDashboard(h, func() time.Time { return clock })
	valid := d.session(sum, now.Add(time.Hour))

	tests := []struct {
		name  string
		value string
		at    time.Time
		want  bool
	}{
		{name: "fresh", value: valid, at: now, want: true},
		{name: "expired", value: valid, at: now.Add(time.Hour), want: false},
		{name: "other process key", value: other.session(sum, now.Add(time.Hour)), at: now, want: false},
		{name: "unknown token", value: d.session([32]byte{1}, now.Add(time.Hour)), at: now, want: false},
		{name: "expiry moved", value: fmt.Sprint(now.Add(2*time.Hour).Unix()) + valid[strings.Index(valid, "."):], at: now, want: false},
		{name: "no dot", value: "abc", at: now, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = tt.at
			tok, got := d.validSession(tt.value)
			if got != tt.want {
				t.Errorf("validSession(%q) at %s = %v, want %v", tt.value, tt.at, got, tt.want)
			}
			if got && tok.name != "ci" {
				t.Errorf("validSession(%q) names token %q, want the session's token ci", tt.value, tok.name)
			}
		})
	}
}

func TestMatchToken(t *testing.T) {
	tokens := hashTokens([]config.APIToken{{Name: "token-1", Token: "first-token"}, {Name: "ci", Token: "second-token"}})
	tests := []struct {
		raw      string
		want     bool
		wantName string
	}{
		{raw: "first-token", want: true, wantName: "token-1"},
		{raw: " second-token\n", want: true, wantName: "ci"},
		{raw: "second-token-x", want: false},
		{raw: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			tok, got := matchToken(tokens, tt.raw)
			if got != tt.want {
				t.Errorf("matchToken(%q) = %v, want %v", tt.raw, got, tt.want)
			}
			if tok.name != tt.wantName {
				t.Errorf("matchToken(%q) names %q, want %q", tt.raw, tok.name, tt.wantName)
			}
		})
	}
	if _, got := matchToken(nil, "first-token"); got {
		t.Errorf("matchToken with no tokens configured = true")
	}
}

func TestLocalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "", want: "/"},
		{in: "/builds?status=failed", want: "/builds?status=failed"},
		{in: "/builds/3", want: "/builds/3"},
		{in: "//evil.example/x", want: "/"},
		{in: "/\\evil.example", want: "/"},
		{in: "https://evil.example/", want: "/"},
		{in: "javascript:alert(1)", want: "/"},
		{in: "builds", want: "/"},
		{in: "/x\r\nSet-Cookie: a=b", want: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := localPath(tt.in); got != tt.want {
				t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{name: "now", t: now, want: "just now"},
		{name: "seconds", t: now.Add(-42 * time.Second), want: "42s ago"},
		{name: "minutes", t: now.Add(-3*time.Minute - 59*time.Second), want: "3m ago"},
		{name: "hours", t: now.Add(-5 * time.Hour), want: "5h ago"},
		{name: "a day and a half", t: now.Add(-36 * time.Hour), want: "36h ago"},
		{name: "days", t: now.Add(-72 * time.Hour), want: "3d ago"},
		{name: "future", t: now.Add(3*time.Hour + time.Minute), want: "in 3h"},
		{name: "long ago", t: time.Date(2025, 7, 4, 9, 0, 0, 0, time.UTC), want: "2025-07-04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := relTime(tt.t, now); got != tt.want {
				t.Errorf("relTime(%s) = %q, want %q", tt.t, got, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{d: -time.Second, want: "0ms"},
		{d: 850 * time.Millisecond, want: "850ms"},
		{d: 1250 * time.Millisecond, want: "1.2s"},
		{d: 42 * time.Second, want: "42s"},
		{d: 3*time.Minute + 5*time.Second, want: "3m 05s"},
		{d: 2*time.Hour + 7*time.Minute + 30*time.Second, want: "2h 07m"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := formatDuration(tt.d); got != tt.want {
				t.Errorf("formatDuration(%s) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestCommitURL(t *testing.T) {
	tests := []struct {
		name, apiURL, github, commit, want string
	}{
		{name: "github.com", github: "acme/web", commit: commitA, want: "https://github.com/acme/web/commit/" + commitA},
		{name: "explicit public api", apiURL: "https://api.github.com/", github: "acme/web", commit: commitA, want: "https://github.com/acme/web/commit/" + commitA},
		{name: "enterprise", apiURL: "https://ghe.example.com/api/v3/", github: "acme/web", commit: commitA, want: "https://ghe.example.com/acme/web/commit/" + commitA},
		{name: "no github key", commit: commitA, want: ""},
		{name: "not a commit", github: "acme/web", commit: "main", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{GitHub: config.GitHub{APIURL: tt.apiURL}, Projects: []config.Project{{Name: "web", GitHub: tt.github}}}
			d := &dashboard{h: &handler{cfg: cfg}}
			if got := d.commitURL("web", tt.commit); got != tt.want {
				t.Errorf("commitURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProjectViewGroupsBuilds(t *testing.T) {
	p := &config.Project{Name: "web", DefaultBranch: "main", Schedules: []config.Schedule{{Name: "weekly", Cron: "@weekly"}}}
	builds := []store.Build{ // newest first, as ListBuilds returns them
		{ID: 6, Trigger: store.TriggerSchedule, Schedule: "weekly", Ref: "refs/heads/main"},
		{ID: 5, Trigger: store.TriggerPush, Ref: "refs/heads/feature"},
		{ID: 4, Trigger: store.TriggerTag, Ref: "refs/tags/v1.0.0"},
		{ID: 3, Trigger: store.TriggerPush, Ref: "refs/heads/main"},
		{ID: 2, Trigger: store.TriggerPush, Ref: "refs/heads/feature"},
		{ID: 1, Trigger: store.TriggerSchedule, Schedule: "weekly", Ref: "refs/heads/main"},
	}
	d := &dashboard{h: &handler{cfg: &config.Config{}}}
	v := d.projectView(p, builds, time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC))
	var got []string
	for _, r := range v.Refs {
		got = append(got, fmt.Sprintf("%s:%d", r.Ref, r.Last.ID))
	}
	want := []string{"refs/heads/main:3", "refs/heads/feature:5", "refs/tags/v1.0.0:4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}
	if len(v.Schedules) != 1 || v.Schedules[0].Last == nil || v.Schedules[0].Last.ID != 6 || v.Schedules[0].Branch != "main" {
		t.Errorf("schedules = %+v, want weekly with last build 6 on main", v.Schedules)
	}
	if want := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC); !v.Schedules[0].Next.Equal(want) {
		t.Errorf("weekly next due = %s, want %s", v.Schedules[0].Next, want)
	}
	empty := d.projectView(p, nil, time.Now())
	if len(empty.Refs) != 1 || empty.Refs[0].Last != nil || !empty.Refs[0].Default {
		t.Errorf("a project without builds lists %+v, want only its default branch, never built", empty.Refs)
	}
}

func TestDashboardRefusesCrossSiteWrites(t *testing.T) {
	w := newDashWorld(t, "token", `public_url: "https://ci.example.com"`)
	login := url.Values{"token": {dashToken}, "next": {"/"}}
	tests := []struct {
		name     string
		hdr      http.Header
		wantCode int
	}{
		{name: "cross-site fetch metadata", hdr: http.Header{"Sec-Fetch-Site": {"cross-site"}}, wantCode: http.StatusForbidden},
		{name: "same-site other origin", hdr: http.Header{"Sec-Fetch-Site": {"same-site"}}, wantCode: http.StatusForbidden},
		{name: "foreign Origin", hdr: http.Header{"Origin": {"https://evil.example"}}, wantCode: http.StatusForbidden},
		{name: "null Origin", hdr: http.Header{"Origin": {"null"}}, wantCode: http.StatusForbidden},
		{name: "same origin fetch metadata", hdr: http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {w.srv.URL}}, wantCode: http.StatusSeeOther},
		{name: "same Origin", hdr: http.Header{"Origin": {w.srv.URL}}, wantCode: http.StatusSeeOther},
		{name: "public_url Origin behind a proxy", hdr: http.Header{"Origin": {"https://ci.example.com"}}, wantCode: http.StatusSeeOther},
		{name: "no browser headers", hdr: http.Header{}, wantCode: http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, route := range []struct {
				path string
				form url.Values
			}{{"/logout", nil}, {"/login", login}} {
				resp := w.postFormWith(t, route.path, route.form, tt.hdr)
				if resp.StatusCode != tt.wantCode {
					t.Errorf("POST %s: %d, want %d", route.path, resp.StatusCode, tt.wantCode)
				}
				if refused := tt.wantCode == http.StatusForbidden; refused && len(resp.Cookies()) != 0 {
					t.Errorf("refused POST %s set cookies %v", route.path, resp.Cookies())
				} else if !refused && len(resp.Cookies()) != 1 {
					t.Errorf("POST %s set cookies %v, want the session cookie set or deleted", route.path, resp.Cookies())
				}
			}
		})
	}
}

// TestProjectViewNextTags: the dashboard shows the tags of a schedule's
// next release as the pipeline plans them for the build.
func TestProjectViewNextTags(t *testing.T) {
	cfg := &config.Config{Projects: []config.Project{{Name: "web", DefaultBranch: "main", Image: "r.example/web",
		Schedules: []config.Schedule{{Name: "nightly", Cron: "0 3 * * *", Branch: "main"}}}}}
	d := &dashboard{h: &handler{cfg: cfg}}
	v := d.projectView(&cfg.Projects[0], nil, time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC))
	if len(v.Schedules) != 1 {
		t.Fatalf("schedules = %+v, want nightly", v.Schedules)
	}
	want := []string{"nightly", "nightly-20260305"}
	if diff := cmp.Diff(want, v.Schedules[0].NextTags); diff != "" {
		t.Errorf("next release's tags (-want +got):\n%s", diff)
	}
}
