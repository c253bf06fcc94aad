package server_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/testenv"
)

// login posts the dashboard's token login to c and returns the session
// cookie it sets.
func login(t *testing.T, c *apiClient) *http.Cookie {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(c.base+"/login", url.Values{"token": {apiToken}, "next": {"/builds"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "slipway_session" && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("POST /login: %d, no session cookie in %v", resp.StatusCode, resp.Header["Set-Cookie"])
	return nil
}

// loggedIn reports whether c lets the session cookie see the builds page
// (a stale cookie is sent to /login).
func loggedIn(t *testing.T, c *apiClient, ck *http.Cookie) bool {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.base+"/builds", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(ck)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestDashboardLoginSurvivesRestart(t *testing.T) {
	w := newWorld(t, setup{Tokens: true})
	c := serve(t, w, nil)
	ck := login(t, c)
	if !loggedIn(t, c, ck) {
		t.Fatal("the session cookie does not log in on the server that set it")
	}
	if loggedIn(t, c, &http.Cookie{Name: ck.Name, Value: strings.Replace(ck.Value, ".", ".x", 1)}) {
		t.Fatal("a forged cookie logs in")
	}
	c.stop()
	if again := serve(t, w, nil); !loggedIn(t, again, ck) {
		t.Error("the login did not survive a restart")
	}
}

func TestReplicasShareDashboardLogins(t *testing.T) {
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	w := newWorld(t, setup{Tokens: true})
	replica := func() *apiClient {
		dir := filepath.Join(t.TempDir(), "data")
		return serve(t, w, func(c *config.Config) {
			c.Database = config.Secret(database)
			c.DataDir = dir
		})
	}
	a, b := replica(), replica()
	ck := login(t, a)
	if !loggedIn(t, b, ck) {
		t.Error("a login on replica a does not hold on replica b")
	}

	t.Run("session_secret_file", func(t *testing.T) {
		// Two servers that share no database but one session secret (the
		// content of session_secret_file, as Load reads it).
		other := newWorld(t, setup{Tokens: true})
		withSecret := func() *apiClient {
			dir := filepath.Join(t.TempDir(), "data")
			return serve(t, other, func(c *config.Config) {
				c.DataDir = dir
				c.SessionSecret = config.Secret("a-shared-session-secret")
			})
		}
		x, y := withSecret(), withSecret()
		if !loggedIn(t, y, login(t, x)) {
			t.Error("two servers with one session_secret_file do not share logins")
		}
		if loggedIn(t, x, ck) {
			t.Error("a login keyed by the database's key holds where session_secret_file keys logins")
		}
	})
}
