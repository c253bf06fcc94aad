package store

import "testing"

// TestPullRequestBuilds checks on every backend that a pull request's
// build is accepted, keeps its untrusted mark, and that a newer head
// supersedes the queued build of its ref.
func TestPullRequestBuilds(t *testing.T) {
	for _, be := range testBackends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			pr := func(commit string, untrusted bool) Build {
				return Build{Project: "web", Trigger: TriggerPullRequest, Ref: "refs/pull/7/head", Commit: commit, Untrusted: untrusted}
			}
			first := enqueue(t, s, pr("abc", true))
			if got := mustGet(t, s, first.ID); !got.Untrusted || got.Trigger != TriggerPullRequest {
				t.Errorf("stored untrusted %v trigger %q, want true and pull_request", got.Untrusted, got.Trigger)
			}
			second, _, _, err := s.Enqueue(t.Context(), pr("def", false), EnqueueOptions{Dedup: true, Supersede: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, s, second.ID); got.Untrusted {
				t.Errorf("a trusted build is stored untrusted")
			}
			if got := mustGet(t, s, first.ID); got.Status != StatusSuperseded {
				t.Errorf("the older head's queued build is %s, want superseded", got.Status)
			}
		})
	}
}
