package server_test

import (
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

// prPayload returns pull-request-opened.json (pull request #2 of
// Codertocat/Hello-World) with action and head.sha set; fork makes the
// head another repository's.
func prPayload(t *testing.T, action, head string, fork bool) []byte {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(payload(t, "pull-request-opened.json"), &e); err != nil {
		t.Fatal(err)
	}
	e["action"] = action
	h := e["pull_request"].(map[string]any)["head"].(map[string]any)
	h["sha"] = head
	if fork {
		repo := h["repo"].(map[string]any)
		repo["id"], repo["full_name"], repo["fork"] = 99, "mallory/Hello-World", true
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPullRequestBuilds delivers pull_request events for pull request #2,
// whose head the test's repository keeps at refs/pull/2/head as GitHub
// does: opened builds and tests the head with its commit status and pushes
// nothing; a fork is ignored until pull_requests.forks, then built
// untrusted (the secret build arg withheld, the log says so) and, with
// push: true, pushed as pr-2 and nothing else; closed cancels the running
// build.
func TestPullRequestBuilds(t *testing.T) {
	const secret = "pr-secret-5Tq-never-for-forks"
	gh, api := startFakeGitHub(t)
	w := helloWorldWorld(t, setup{GitHubAPI: api, Fixture: fixture.Options{Project: "prs", TestCommand: heldTest,
		ProjectExtra: fmt.Sprintf("    pull_requests: {enabled: true}\n    secret_build_args: {PR_SECRET: %q}\n", secret)}})
	repo := w.Repo
	pull := func(files map[string]string, msg string) string {
		head := repo.Commit(t, "changes", files, msg)
		repo.Git(t, "update-ref", "refs/pull/2/head", head)
		return head
	}
	c := serve(t, w, nil)
	c.held = w

	head := pull(map[string]string{"README": "new information"}, "update the README")
	code, a := c.deliver(delivery{"pull_request", "d-pr-opened", prPayload(t, "opened", head, false), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("opened: answered %d with builds %v (ignored %q, error %q), want 202 and one build", code, a.Builds, a.Ignored, a.Error)
	}
	b := c.waitFinished(a.Builds[0], buildTimeout)
	if b.Status != store.StatusSucceeded || b.Trigger != store.TriggerPullRequest || b.Ref != "refs/pull/2/head" || b.Commit != head ||
		b.Untrusted || b.Reason != "pull_request #2" {
		t.Fatalf("opened: build %s trigger %s ref %s reason %q untrusted %v; want a succeeded, trusted pull_request build of refs/pull/2/head at %s, reason pull_request #2",
			describe(b), b.Trigger, b.Ref, b.Reason, b.Untrusted, head)
	}
	stages := map[string]store.Status{}
	for _, s := range b.Stages {
		stages[s.Name] = s.Status
	}
	if stages["test"] != store.StatusSucceeded || stages["push"] == store.StatusSucceeded {
		t.Errorf("opened: stages %v; want test succeeded and no push", stages)
	}
	if tags := w.Tags(); len(tags) != 0 {
		t.Errorf("the registry has tags %v after a pull request build without push: true", tags)
	}
	waitFor(t, 30*time.Second, "a success status on the head commit", func() (bool, string) {
		sts, _ := gh.of(head)
		last := ""
		if len(sts) > 0 {
			last = sts[len(sts)-1].State
		}
		return last == "success", fmt.Sprintf("statuses %+v", sts)
	})

	forkHead := pull(map[string]string{"evil": "x"}, "from a fork")
	code, a = c.deliver(delivery{"pull_request", "d-pr-fork", prPayload(t, "synchronize", forkHead, true), "sign"})
	if code != http.StatusOK || len(a.Builds) != 0 || !strings.Contains(a.Ignored, "pull_requests.forks") {
		t.Fatalf("fork without forks: answered %d with builds %v, ignored %q; want 200, no build, a reason naming pull_requests.forks", code, a.Builds, a.Ignored)
	}

	c.stop()
	c = serve(t, w, func(cfg *config.Config) {
		cfg.Projects[0].PullRequests.Forks, cfg.Projects[0].PullRequests.Push = true, true
	})
	c.held = w
	code, a = c.deliver(delivery{"pull_request", "d-pr-fork-allowed", prPayload(t, "synchronize", forkHead, true), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("fork with forks: answered %d with builds %v (ignored %q), want 202 and one build", code, a.Builds, a.Ignored)
	}
	b = c.waitFinished(a.Builds[0], buildTimeout)
	if b.Status != store.StatusSucceeded || !b.Untrusted || b.Commit != forkHead {
		t.Fatalf("fork with forks: build %s untrusted %v; want a succeeded untrusted build of %s", describe(b), b.Untrusted, forkHead)
	}
	_, log := c.get(fmt.Sprintf("/api/v1/builds/%d/log", b.ID))
	if !strings.Contains(string(log), "untrusted build (a pull request from a fork): withheld secret build args PR_SECRET") {
		t.Errorf("the untrusted build's log does not say its secrets were withheld:\n%s", log)
	}
	if strings.Contains(string(log), secret) {
		t.Errorf("the untrusted build's log holds the secret build arg")
	}
	if tags := w.Tags(); len(tags) != 1 || tags[0] != "pr-2" || w.Digest("pr-2") != b.Digest {
		t.Errorf("with push: true the registry has tags %v, want only pr-2 with the build's digest %s", tags, b.Digest)
	}

	// closed cancels the build of a new head while its test runs.
	last := pull(map[string]string{"README": "once more"}, "once more")
	code, a = c.deliver(delivery{"pull_request", "d-pr-sync", prPayload(t, "synchronize", last, false), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("synchronize: answered %d with builds %v (ignored %q), want 202 and one build", code, a.Builds, a.Ignored)
	}
	id := a.Builds[0]
	waitFor(t, buildTimeout, "the build's test stage runs", func() (bool, string) {
		b := c.build(id)
		for _, s := range b.Stages {
			if s.Name == "test" && s.Status == store.StatusRunning {
				return true, ""
			}
		}
		return false, describe(b)
	})
	code, a = c.deliver(delivery{"pull_request", "d-pr-closed", prPayload(t, "closed", last, false), "sign"})
	if want := fmt.Sprintf("pull request #2 closed: canceled build %d", id); code != http.StatusOK || a.Ignored != want {
		t.Fatalf("closed: answered %d, ignored %q; want 200 and %q", code, a.Ignored, want)
	}
	waitFor(t, time.Minute, "the closed pull request's build ends canceled", func() (bool, string) {
		b := c.build(id)
		return b.Status == store.StatusCanceled, describe(b)
	})
}
