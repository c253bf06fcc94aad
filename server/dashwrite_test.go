package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/store"
)

// loginCookie logs in with dashToken and returns the session cookie
// header.
func (w *dashWorld) loginCookie(t *testing.T) http.Header {
	t.Helper()
	resp := w.postForm(t, "/login", url.Values{"token": {dashToken}, "next": {"/"}})
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return http.Header{"Cookie": {sessionCookie + "=" + c.Value}}
		}
	}
	t.Fatalf("login: %d, no session cookie", resp.StatusCode)
	return nil
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrfOf reads the CSRF token a page of the session carries.
func (w *dashWorld) csrfOf(t *testing.T, cookie http.Header) string {
	t.Helper()
	resp, body := w.get(t, "/builds", cookie)
	m := csrfMeta.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /builds with the session: %d, no csrf-token meta in the page", resp.StatusCode)
	}
	return m[1]
}

// postJSON posts body to the API with the headers hdr.
func (w *dashWorld) postJSON(t *testing.T, path, body string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, w.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDashboardSessionWrites: logged in, the dashboard's session with its
// CSRF token authorizes API writes as "dashboard:<token name>"; the cookie
// alone, a wrong CSRF token or a cross-origin request changes nothing. A
// public dashboard lets one log in for writes too.
func TestDashboardSessionWrites(t *testing.T) {
	for _, auth := range []string{"token", "public"} {
		t.Run(auth, func(t *testing.T) {
			w := newDashWorld(t, auth, "")
			cookie := w.loginCookie(t)
			csrf := w.csrfOf(t, cookie)
			with := func(extra http.Header) http.Header {
				h := cookie.Clone()
				for k, v := range extra {
					h[k] = v
				}
				return h
			}
			builds := func() []store.Build {
				t.Helper()
				bs, err := w.store.ListBuilds(t.Context(), store.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				return bs
			}

			refused := []struct {
				name     string
				hdr      http.Header
				wantCode int
			}{
				{name: "cookie without the CSRF token", hdr: with(nil), wantCode: http.StatusUnauthorized},
				{name: "wrong CSRF token", hdr: with(http.Header{csrfHeader: {csrf + "x"}}), wantCode: http.StatusForbidden},
				{name: "cross-site", hdr: with(http.Header{csrfHeader: {csrf}, "Sec-Fetch-Site": {"cross-site"}}), wantCode: http.StatusForbidden},
				{name: "foreign Origin", hdr: with(http.Header{csrfHeader: {csrf}, "Origin": {"https://evil.example"}}), wantCode: http.StatusForbidden},
				{name: "CSRF token without the cookie", hdr: http.Header{csrfHeader: {csrf}}, wantCode: http.StatusUnauthorized},
				{name: "a wrong Bearer token beside the session", hdr: with(http.Header{csrfHeader: {csrf}, "Authorization": {"Bearer nope"}}), wantCode: http.StatusUnauthorized},
			}
			for _, tt := range refused {
				if code, body := w.postJSON(t, "/api/v1/projects/web/builds", `{"ref":"main"}`, tt.hdr); code != tt.wantCode {
					t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.wantCode)
				}
			}
			if got := builds(); len(got) != 0 {
				t.Fatalf("refused writes queued %d builds", len(got))
			}

			ok := with(http.Header{csrfHeader: {csrf}, "Sec-Fetch-Site": {"same-origin"}, "Origin": {w.srv.URL}})
			code, body := w.postJSON(t, "/api/v1/projects/web/builds", `{"ref":"main","commit":"`+commitA+`"}`, ok)
			var b store.Build
			if err := json.Unmarshal([]byte(body), &b); code != http.StatusAccepted || err != nil {
				t.Fatalf("session write: %d %s, want 202", code, body)
			}
			if b.StartedBy != "dashboard:token-1" || b.Commit != commitA {
				t.Errorf("queued build started_by %q commit %q, want dashboard:token-1 at %s", b.StartedBy, b.Commit, commitA)
			}
			code, body = w.postJSON(t, fmt.Sprintf("/api/v1/builds/%d/cancel", b.ID), "", ok)
			if code != http.StatusAccepted {
				t.Fatalf("session cancel: %d %s, want 202", code, body)
			}
			got, err := w.store.GetBuild(t.Context(), b.ID)
			if err != nil || got.Status != store.StatusCanceled || got.CanceledBy != "dashboard:token-1" {
				t.Errorf("after the cancel: %s canceled_by %q (%v), want canceled by dashboard:token-1", got.Status, got.CanceledBy, err)
			}
			page := fmt.Sprintf("/builds/%d", b.ID)
			if _, html := w.get(t, page, cookie); !strings.Contains(html, "dashboard:token-1") || strings.Contains(html, `class="build-error"`) {
				t.Errorf("%s does not name who started and canceled the build, or shows the cancel as an error", page)
			}
			if _, html := w.get(t, "/", cookie); !strings.Contains(html, "Sign out") || !strings.Contains(html, "token-1") {
				t.Errorf("the header of a logged-in page lacks the token's name and Sign out")
			}
		})
	}
}

// TestDashboardErrorAndStagePages: a page that does not exist gets the
// dashboard's styled 404 (the API keeps its own answers); a running stage
// shows how long it has run so far, with its start for the page's timer.
func TestDashboardErrorAndStagePages(t *testing.T) {
	w := newDashWorld(t, "public", "")
	for _, path := range []string{"/nope", "/builds/999", "/builds/1/nope"} {
		resp, body := w.get(t, path, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `class="error-page"`) || !strings.Contains(body, `href="/builds"`) {
			t.Errorf("GET %s: %d %s, want the styled 404 page:\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if resp, body := w.get(t, "/api/v1/nope", nil); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "<html") {
		t.Errorf("GET /api/v1/nope: %d %s, want a plain 404", resp.StatusCode, body)
	}
	if resp, _ := w.get(t, "/logout", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d, want 405 (a route of another method)", resp.StatusCode)
	}

	_, home := w.get(t, "/", nil)
	for _, want := range []string{`class="run-schedule secondary" data-project="web" data-schedule="weekly"`, `class="build-ref-form" data-project="web"`, `href="/login">Log in</a>`} {
		if !strings.Contains(home, want) {
			t.Errorf("the projects page lacks %s", want)
		}
	}

	started := time.Now().Add(-75 * time.Second)
	b := w.add(t, store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main", Commit: commitA, Status: store.StatusRunning,
		StartedAt: &started, Stages: []store.Stage{
			{Name: "source", Status: store.StatusSucceeded, StartedAt: &started, DurationMS: 1200},
			{Name: "build", Status: store.StatusRunning, StartedAt: &started},
		}})
	_, body := w.get(t, fmt.Sprintf("/builds/%d", b.ID), nil)
	// 1m 15s and whatever the insert and the request took on a loaded
	// machine, under 2m.
	running := regexp.MustCompile(`<span class="elapsed" data-since="[^"]+">1m (1[5-9]|[2-5][0-9])s</span>`)
	if got := running.FindAllString(body, -1); len(got) != 2 {
		t.Errorf("running build page shows %d running timers %q, want two at 1m 15s (the build's duration and the build stage's)", len(got), got)
	}
	if !strings.Contains(body, `data-stage="source" data-status="succeeded"`) || !strings.Contains(body, "1.2s") {
		t.Errorf("the finished stage lacks its status or duration 1.2s")
	}
}
