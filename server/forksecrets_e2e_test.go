package server_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// TestForkPullRequestGetsNoSecretMount: a project with secrets: builds
// pull requests, forks too. The RUN step of a trusted pull request sees
// the secret mount; the same step of a fork's pull request finds none, and
// the fork's build log says in one line that the secret was withheld, with
// no trace of its value.
func TestForkPullRequestGetsNoSecretMount(t *testing.T) {
	secret := "npm-token-" + testenv.RandomHex(t)
	secretFile := filepath.Join(t.TempDir(), "npmrc")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	w := helloWorldWorld(t, setup{Fixture: fixture.Options{Project: "forks",
		ProjectExtra: fmt.Sprintf("    pull_requests: {enabled: true, forks: true}\n    secrets: [{id: npmrc, file: %q}]\n", secretFile)}})
	base := testenv.Busybox(t, w.Docker)
	// Each head gets a nonce of its own, so that its RUN step runs.
	pull := func(msg string) string {
		head := w.Repo.Commit(t, "changes", map[string]string{"Dockerfile": fmt.Sprintf(`FROM %s
COPY app /app
COPY ctx/ /ctx/
RUN --mount=type=secret,id=npmrc,required=false echo %s; if [ -s /run/secrets/npmrc ]; then echo "secret mount: present"; else echo "secret mount: absent"; fi
ENTRYPOINT ["/app"]
`, base, testenv.RandomHex(t))}, msg)
		w.Repo.Git(t, "update-ref", "refs/pull/2/head", head)
		return head
	}
	c := serve(t, w, nil)
	build := func(id string, fork bool) (store.Build, string) {
		t.Helper()
		code, a := c.deliver(delivery{"pull_request", id, prPayload(t, "synchronize", pull(id), fork), "sign"})
		if code != http.StatusAccepted || len(a.Builds) != 1 {
			t.Fatalf("%s: answered %d with builds %v (ignored %q, error %q), want 202 and one build", id, code, a.Builds, a.Ignored, a.Error)
		}
		b := c.waitFinished(a.Builds[0], buildTimeout)
		_, log := c.get(fmt.Sprintf("/api/v1/builds/%d/log", b.ID))
		if b.Status != store.StatusSucceeded || b.Untrusted != fork {
			t.Fatalf("%s: build %s untrusted %v, want succeeded, untrusted %v; log:\n%s", id, describe(b), b.Untrusted, fork, log)
		}
		return b, string(log)
	}

	_, log := build("d-trusted", false)
	if !strings.Contains(log, "secret mount: present") {
		t.Errorf("the trusted pull request's RUN step did not see the secret mount; log:\n%s", log)
	}
	_, log = build("d-fork", true)
	if !strings.Contains(log, "secret mount: absent") {
		t.Errorf("the fork's RUN step saw a secret mount; log:\n%s", log)
	}
	if n := strings.Count(log, "withheld"); n != 1 || !strings.Contains(log, "untrusted build (a pull request from a fork): withheld secrets npmrc") {
		t.Errorf("the fork's log has %d lines saying what was withheld, want one naming secrets npmrc; log:\n%s", n, log)
	}
	if strings.Contains(log, secret) {
		t.Errorf("the fork's log holds the secret's value")
	}
}
