package server_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// TestServeLeaksNoSecret runs `slipway serve` with every kind of secret at
// once (webhook secret, API token, registry password, GitHub token, a
// secret build arg, BuildKit secret mounts from a file and from an
// environment variable that a RUN step prints, the registry hook token
// (from token_file) and HMAC key), drives a build through a signed
// delivery, a manual build, a failing build, registry notifications
// (accepted and forged) and refused requests, then looks for each secret
// in everything slipway said: its stdout and stderr, every API answer,
// the build logs (API and files), /metrics, the dashboard pages, the
// commit statuses sent to GitHub, and the pushed image's labels, env and
// history.
func TestServeLeaksNoSecret(t *testing.T) {
	const (
		registryPassword = "regpw-Lk3-test-only"
		buildArgSecret   = "npm-Hx8-test-only"
		githubToken      = "ghp-test-token" // newWorld's github.token
		notifySecret     = "hmac-Zq7-test-only"
		slackToken       = "slack-Yw2-test-only"
		mountSecret      = "mount-Pq4-test-only"
		envMountSecret   = "envmount-Jd6-test-only"
		hookToken        = "reghook-Tk2-test-only"
		hookSecret       = "reghook-Hm8-test-only"
	)
	secrets := map[string]string{
		"webhook secret":                   webhookSecret.Value(),
		"API token":                        apiToken,
		"registry password":                registryPassword,
		"GitHub token":                     githubToken,
		"secret build arg":                 buildArgSecret,
		"notify secret":                    notifySecret,
		"Slack URL token":                  slackToken,
		"secret mount":                     mountSecret,
		"env secret mount":                 envMountSecret,
		"registry hook token (token_file)": hookToken,
		"registry hook HMAC key":           hookSecret,
	}
	// The environment variable is read by the serve child when a build starts.
	t.Setenv("SLIPWAY_TEST_ENV_MOUNT", envMountSecret)
	secretDir := t.TempDir()
	mountFile := filepath.Join(secretDir, "npmrc")
	hookTokenFile := filepath.Join(secretDir, "registry_hook_token")
	for file, v := range map[string]string{mountFile: mountSecret, hookTokenFile: hookToken + "\n"} {
		if err := os.WriteFile(file, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Notify targets: a webhook that answers, a Slack URL where nothing
	// listens (its failures are logged).
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	notifyKeys := fmt.Sprintf("registry_hooks: {token_file: %q, secret: %q}\n", hookTokenFile, hookSecret) + fmt.Sprintf("notify:\n  - {name: ops, kind: webhook, url: %q, secret: %q}\n  - {name: chat, kind: slack, url: %q}\n",
		hook.URL+"/hook", notifySecret, down.URL+"/services/T0/B0/"+slackToken)
	gh, apiURL := startFakeGitHub(t)
	bin := slipwayBinary(t)
	w := helloWorldWorld(t, setup{
		Tokens:    true,
		GitHubAPI: apiURL,
		Listen:    "${SLIPWAY_TEST_LISTEN}",
		Fixture: fixture.Options{
			Extra:        notifyKeys,
			Username:     "ci",
			Password:     registryPassword,
			ProjectExtra: fmt.Sprintf("    secret_build_args: {NPM_TOKEN: %q}\n    secrets: [{id: npmrc, file: %q}, {id: envtok, env: SLIPWAY_TEST_ENV_MOUNT}]\n", buildArgSecret, mountFile),
		},
	})
	removeTestContainers(t, w)
	// The Dockerfile declares the secret build arg, so the engine gets it
	// (after the RUN step: a RUN in its scope would record it in the
	// history), and prints the secret mounts (a nonce keeps the step out of
	// the cache).
	head := w.Repo.Commit(t, "master", map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s\nRUN --mount=type=secret,id=npmrc --mount=type=secret,id=envtok cat /run/secrets/npmrc /run/secrets/envtok; echo %s\nARG NPM_TOKEN\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
			testenv.Busybox(t, w.Docker), testenv.RandomHex(t)),
	}, "declare NPM_TOKEN, print the npmrc mount")
	ch, c := startServe(t, bin, w)

	// Everything slipway answers is kept to be searched.
	var said []string
	keep := func(what string, code int, body []byte) {
		said = append(said, fmt.Sprintf("%s (%d):\n%s", what, code, body))
	}
	get := func(path, token string) []byte {
		code, body := c.do(http.MethodGet, path, token, nil, nil)
		keep("GET "+path, code, body)
		return body
	}

	code, a := c.deliver(delivery{"push", "secrets-push", pushOf(t, head), "sign"})
	keep("signed push", code, []byte(fmt.Sprintf("%+v", a)))
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("signed push: %d %+v, want 202", code, a)
	}
	code, forged := c.deliver(delivery{"push", "secrets-forged", pushOf(t, head), "sha256=" + strings.Repeat("1", 64)})
	keep("forged push", code, []byte(fmt.Sprintf("%+v", forged)))
	code, body := c.do(http.MethodPost, "/api/v1/projects/fixture/builds", apiToken+"-wrong", strings.NewReader(`{"ref":"master"}`), nil)
	keep("build with a wrong token", code, body)
	code, failing, answer := c.createBuild("no-such-branch", apiToken)
	keep("build of a missing branch", code, []byte(answer))
	registryNotifications(t, c, hookToken, hookSecret, keep)

	pushed := c.waitFinished(a.Builds[0], buildTimeout)
	if pushed.Status != store.StatusSucceeded {
		t.Fatalf("pushed build: %s", describe(pushed))
	}
	if failing.ID != 0 {
		c.waitFinished(failing.ID, buildTimeout)
	}
	waitFor(t, buildTimeout, "the final commit status", func() (bool, string) {
		sts, _ := gh.of(head)
		return len(sts) > 0 && sts[len(sts)-1].State != "pending", states(sts)
	})

	for _, b := range c.builds() {
		get(fmt.Sprintf("/api/v1/builds/%d", b.ID), apiToken)
		get(fmt.Sprintf("/api/v1/builds/%d/log", b.ID), apiToken)
		get(fmt.Sprintf("/builds/%d", b.ID), apiToken)
		get(fmt.Sprintf("/builds/%d/log", b.ID), apiToken)
	}
	for _, path := range []string{"/api/v1/builds", "/api/v1/projects", "/", "/builds", "/login", "/metrics", "/readyz", "/healthz"} {
		get(path, apiToken)
	}
	get("/api/v1/builds", "")
	logs, err := filepath.Glob(filepath.Join(w.Dir, "data", "logs", "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no build log files in data_dir/logs: %v", err)
	}
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		keep("log file "+filepath.Base(f), 0, b)
	}
	sts, _ := gh.of(head)
	for _, st := range sts {
		keep("commit status", 0, []byte(st.State+" "+st.Description+" "+st.TargetURL+" "+st.Context))
	}
	img, err := w.Docker.ImageInspect(t.Context(), w.Image+":master")
	if err != nil {
		t.Fatalf("the pushed image is not in the engine: %v", err)
	}
	keep("image labels and env", 0, []byte(fmt.Sprintf("%v %v %v", img.Config.Labels, img.Config.Env, img.Config.Cmd)))
	hist, err := w.Docker.ImageHistory(t.Context(), img.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		keep("image history", 0, []byte(h.CreatedBy+" "+h.Comment))
	}
	waitFor(t, buildTimeout, "a notification sent and one failed", func() (bool, string) {
		m := string(get("/metrics", ""))
		return strings.Contains(m, `slipway_notifications_total{event="failed",outcome="sent",target="ops"}`) &&
			strings.Contains(m, `slipway_notifications_total{event="failed",outcome="retry",target="chat"}`), "no such metrics yet"
	})
	// The process's own output last: everything above was logged by now.
	keep("slipway serve stdout and stderr", 0, []byte(ch.output()))

	all := strings.Join(said, "\n")
	for kind, secret := range secrets {
		for _, s := range said {
			if strings.Contains(s, secret) {
				t.Errorf("the %s reached %s", kind, s[:strings.IndexByte(s, '\n')])
			}
		}
	}
	// The search saw real output: the build's log and slipway's own log.
	for _, want := range []string{"<== push succeeded", `"message":"github delivery"`, "slipway_builds_total", "cat /run/secrets/npmrc /run/secrets/envtok", `"pushes": 1`} {
		if !strings.Contains(all, want) {
			t.Errorf("the searched output lacks %q: the test looked in the wrong places", want)
		}
	}
}

// registryNotifications posts registry push notifications to c, as a
// registry and Docker Hub send them: with the token as a Bearer header and
// as ?token=, signed with the HMAC key, and forged (a wrong token that
// holds the right one, a signature keyed with the token). Each answer goes
// to keep; the accepted ones must be accepted, the forged refused.
func registryNotifications(t *testing.T, c *apiClient, token, key string, keep func(string, int, []byte)) {
	t.Helper()
	body := []byte(`{"events":[{"action":"push","target":{"repository":"nobody/watches-this","tag":"1"},"request":{"host":"registry.invalid"}}]}`)
	sign := func(key string) string {
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		return "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	for _, n := range []struct {
		what, query string
		hdr         http.Header
		want        int
	}{
		{"Bearer token", "", http.Header{"Authorization": {"Bearer " + token}}, http.StatusAccepted},
		{"?token=", "?token=" + url.QueryEscape(token), nil, http.StatusAccepted},
		{"HMAC", "", http.Header{"X-Slipway-Signature-256": {sign(key)}}, http.StatusAccepted},
		{"wrong Bearer token", "", http.Header{"Authorization": {"Bearer " + token + "x"}}, http.StatusUnauthorized},
		{"wrong ?token=", "?token=x" + url.QueryEscape(token), nil, http.StatusUnauthorized},
		{"HMAC keyed with the token", "", http.Header{"X-Slipway-Signature-256": {sign(token)}}, http.StatusUnauthorized},
	} {
		code, answer := c.do(http.MethodPost, "/hooks/registry"+n.query, "", bytes.NewReader(body), n.hdr)
		keep("registry notification with "+n.what, code, answer)
		if code != n.want {
			t.Errorf("registry notification with %s: %d %s, want %d", n.what, code, answer, n.want)
		}
	}
}
