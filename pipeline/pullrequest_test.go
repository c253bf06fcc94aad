package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// TestPlanPullRequest: a pull request's build is tagged pr-N only (pushed
// only with pull_requests.push), never deployed, and an untrusted one runs
// no hooks and is never re-tagged for a trusted build.
func TestPlanPullRequest(t *testing.T) {
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	const commit = "0123456789abcdef0123456789abcdef01234567"
	cfg := &config.Config{Projects: []config.Project{
		{Name: "web", DefaultBranch: "main", Context: ".", Dockerfile: "Dockerfile", Image: "r.example/web",
			Hooks: true, PullRequests: config.PullRequests{Enabled: true, Forks: true},
			Tags: []config.TagRule{{Type: registry.RuleRaw, Value: "stable"}}},
		{Name: "pushed", DefaultBranch: "main", Context: ".", Dockerfile: "Dockerfile", Image: "r.example/pushed",
			PullRequests: config.PullRequests{Enabled: true, Push: true},
			BuildRules:   []config.BuildRule{{SourceType: "branch", Source: "main", DockerTag: "latest"}}},
	}}
	for _, tc := range []struct {
		name                 string
		t                    Trigger
		wantTags             []string
		wantNoPush, wantHook bool
	}{
		{"not pushed by default", Trigger{Kind: store.TriggerPullRequest, Project: "web", Ref: "refs/pull/12/head", Commit: commit},
			[]string{"pr-12"}, true, true},
		{"untrusted: no hooks", Trigger{Kind: store.TriggerPullRequest, Project: "web", Ref: "refs/pull/12/head", Commit: commit, Untrusted: true},
			[]string{"pr-12"}, true, false},
		{"push: true, whatever the build rules", Trigger{Kind: store.TriggerPullRequest, Project: "pushed", Ref: "refs/pull/3/head", Commit: commit},
			[]string{"pr-3"}, false, false},
		{"by hand: untrusted, as a pull request", Trigger{Kind: store.TriggerManual, Project: "web", Ref: "refs/pull/12/head", Commit: commit},
			[]string{"pr-12"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A pull request's head built by hand is built untrusted.
			untrusted := tc.t.Untrusted || tc.t.Kind == store.TriggerManual
			plan, err := Plan(cfg, tc.t, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantTags, plan.TagNames()); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			if plan.Hooks != tc.wantHook || plan.Untrusted != untrusted {
				t.Errorf("hooks %v untrusted %v, want %v %v", plan.Hooks, plan.Untrusted, tc.wantHook, untrusted)
			}
			b, err := newBuild(cfg, tc.t, now)
			if err != nil {
				t.Fatal(err)
			}
			if want := "pull_request #" + strings.TrimSuffix(strings.TrimPrefix(string(tc.t.Ref), "refs/pull/"), "/head"); tc.t.Kind == store.TriggerPullRequest && b.Reason != want {
				t.Errorf("reason %q, want %q", b.Reason, want)
			}
			if b.NoPush != tc.wantNoPush || !b.NoDeploy || b.Untrusted != untrusted {
				t.Errorf("record no_push %v no_deploy %v untrusted %v, want %v true %v", b.NoPush, b.NoDeploy, b.Untrusted, tc.wantNoPush, untrusted)
			}
			if got := triggerOf(b); got.Untrusted != untrusted {
				t.Errorf("triggerOf(record).Untrusted = %v, want %v", got.Untrusted, untrusted)
			}
		})
	}

	trusted, _ := Plan(cfg, Trigger{Kind: store.TriggerPullRequest, Project: "web", Ref: "refs/pull/12/head", Commit: commit}, now)
	untrusted, _ := Plan(cfg, Trigger{Kind: store.TriggerPullRequest, Project: "web", Ref: "refs/pull/12/head", Commit: commit, Untrusted: true}, now)
	if trusted.BuildKey == untrusted.BuildKey {
		t.Errorf("an untrusted build has the build key of a trusted one (%s): its image could be re-tagged for a trusted build", trusted.BuildKey)
	}
}

// TestBuildKeyNamesSubmodules: a context with its submodules checked out is
// another build than one with empty submodule directories.
func TestBuildKeyNamesSubmodules(t *testing.T) {
	p := &config.Project{Name: "web", Context: ".", Dockerfile: "Dockerfile"}
	q := *p
	q.Submodules = true
	if BuildKey(p, "refs/heads/main") == BuildKey(&q, "refs/heads/main") {
		t.Error("submodules: true does not change the build key")
	}
}
