package webhook_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v75/github"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

// recordedHead is pull_request.head.sha of testdata/pull-request-opened.json.
const recordedHead = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

// pullRequest parses pull-request-opened.json with action and lets edit
// change it.
func pullRequest(tb testing.TB, action string, edit func(*github.PullRequestEvent)) any {
	tb.Helper()
	e := parsePayload(tb, "pull_request", "pull-request-opened.json").(*github.PullRequestEvent)
	e.Action = github.Ptr(action)
	if edit != nil {
		edit(e)
	}
	return e
}

// fromAFork makes the pull request's head another repository's.
func fromAFork(e *github.PullRequestEvent) {
	e.PullRequest.Head.Repo = &github.Repository{ID: github.Ptr(int64(99)), FullName: github.Ptr("mallory/Hello-World"), Fork: github.Ptr(true)}
}

func TestDecidePullRequest(t *testing.T) {
	prs := func(pr config.PullRequests) []config.Project {
		return withProject(func(p *config.Project) { p.PullRequests = pr })
	}
	enabled := config.PullRequests{Enabled: true}
	prTrigger := func(untrusted bool) webhook.Trigger {
		return webhook.Trigger{Project: "hello", Trigger: store.TriggerPullRequest, Ref: "refs/pull/2/head", Commit: recordedHead,
			Message: "Update the README with new information.", Pusher: "Codertocat", Untrusted: untrusted}
	}
	for _, tc := range []struct {
		name     string
		projects []config.Project
		payload  any
		want     webhook.Decision
	}{
		{"opened builds the head", prs(enabled), pullRequest(t, "opened", nil),
			webhook.Decision{Triggers: []webhook.Trigger{prTrigger(false)}}},
		{"synchronize builds the head", prs(enabled), pullRequest(t, "synchronize", nil),
			webhook.Decision{Triggers: []webhook.Trigger{prTrigger(false)}}},
		{"reopened builds the head", prs(enabled), pullRequest(t, "reopened", nil),
			webhook.Decision{Triggers: []webhook.Trigger{prTrigger(false)}}},
		{"not enabled", prs(config.PullRequests{}), pullRequest(t, "opened", nil),
			webhook.Decision{Ignored: "pull requests do not build (projects[0].pull_requests.enabled)"}},
		{"another action", prs(enabled), pullRequest(t, "labeled", nil),
			webhook.Decision{Ignored: `pull_request action "labeled" does not build (opened, synchronize and reopened do)`}},
		{"base branch not built", prs(enabled), pullRequest(t, "opened", func(e *github.PullRequestEvent) { e.PullRequest.Base.Ref = github.Ptr("gh-pages") }),
			webhook.Decision{Ignored: "pull request #2 targets branch gh-pages, which is not configured to build (projects[0].branches)"}},
		{"fork without forks", prs(enabled), pullRequest(t, "opened", fromAFork),
			webhook.Decision{Ignored: "pull request #2 comes from the fork mallory/Hello-World; set projects[0].pull_requests.forks: true to build it without secrets"}},
		{"fork whose repository is gone", prs(enabled), pullRequest(t, "opened", func(e *github.PullRequestEvent) { e.PullRequest.Head.Repo = nil }),
			webhook.Decision{Ignored: "pull request #2 comes from a deleted fork; set projects[0].pull_requests.forks: true to build it without secrets"}},
		{"fork with forks builds untrusted", prs(config.PullRequests{Enabled: true, Forks: true}), pullRequest(t, "opened", fromAFork),
			webhook.Decision{Triggers: []webhook.Trigger{prTrigger(true)}}},
		{"closed cancels", prs(enabled), pullRequest(t, "closed", nil),
			webhook.Decision{Ignored: "pull request #2 closed", Cancels: []webhook.Cancel{{Project: "hello", Ref: "refs/pull/2/head"}}}},
		{"bad head sha", prs(enabled), pullRequest(t, "opened", func(e *github.PullRequestEvent) { e.PullRequest.Head.SHA = github.Ptr("HEAD") }),
			webhook.Decision{Ignored: `pull request #2 head commit "HEAD" is not 40 hex`}},
		{"other repository", prs(enabled), pullRequest(t, "opened", func(e *github.PullRequestEvent) {
			e.Repo = &github.Repository{ID: github.Ptr(int64(7)), FullName: github.Ptr("acme/other")}
		}), webhook.Decision{Ignored: "no project is configured for repository acme/other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := webhook.Decide(tc.projects, "pull_request", tc.payload)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
