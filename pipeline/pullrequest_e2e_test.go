package pipeline_test

import (
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestHubPullRequestRunsAutotestWithoutHooks builds a Docker Hub
// repository's pull request head (refs/pull/5/head) by hand: the build
// rules do not apply, Hub's autotest runs, the hooks and the secret build
// env are withheld (a pull request's head built by hand is untrusted), its
// log says so, and nothing is pushed.
func TestHubPullRequestRunsAutotestWithoutHooks(t *testing.T) {
	t.Parallel()
	w := newHubWorld(t, fixture.Options{}, map[string]string{"post_checkout": hubHook("post_checkout")},
		"    autotest: true\n    hooks: true\n    pull_requests: {enabled: true}\n")
	head := w.Repo.Commit(t, "pr", map[string]string{"app/README": "a pull request"}, "a pull request")
	w.Repo.Git(t, "update-ref", "refs/pull/5/head", head)
	svc := openService(t, w.World)

	b, log := hubBuild(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "refs/pull/5/head"})
	if b.Status != store.StatusSucceeded || !b.Untrusted || b.Commit != head {
		t.Fatalf("status %s untrusted %v commit %s, want a succeeded untrusted build of %s; error %s; log:\n%s", b.Status, b.Untrusted, b.Commit, head, b.Error, log)
	}
	if len(b.Tags) != 0 {
		t.Errorf("tags %v recorded, want none: nothing is pushed", b.Tags)
	}
	checkLogHas(t, log, "withheld secret build env HUB_SECRET; hooks", "--> autotest in app", "sut | pong received from pong:7000", "<-- autotest succeeded",
		"not pushing (a pull request: pull_requests.push is off); tagged locally as "+w.Image+":pr-5")
	if lines := w.hookLines(t); len(lines) > 0 {
		t.Errorf("hooks ran for an untrusted build: %q", lines)
	}
	if strings.Contains(log, hubSecret) {
		t.Errorf("the untrusted build's log holds the secret build env")
	}
	checkDigests(t, w.World, map[string]string{"pr-5": "", "main": "", "latest": ""})
	checkAutotestGone(t, w, svc)
}
