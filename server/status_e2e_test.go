package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

// commitStatus is one POST /repos/{owner}/{repo}/statuses/{sha} as the
// stand-in GitHub API received it.
type commitStatus struct {
	Repo        string `json:"-"`
	SHA         string `json:"-"`
	Auth        string `json:"-"`
	State       string `json:"state"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// fakeGitHub stands in for GitHub's REST API: it records commit statuses
// and answers 404 to everything else.
type fakeGitHub struct {
	mu       sync.Mutex
	statuses []commitStatus
	other    []string
}

func startFakeGitHub(t *testing.T) (*fakeGitHub, string) {
	t.Helper()
	g := &fakeGitHub{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var st commitStatus
		if err == nil {
			err = json.Unmarshal(body, &st)
		}
		if err != nil {
			http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
			return
		}
		st.Repo = r.PathValue("owner") + "/" + r.PathValue("repo")
		st.SHA = r.PathValue("sha")
		st.Auth = r.Header.Get("Authorization")
		g.mu.Lock()
		g.statuses = append(g.statuses, st)
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": 1, "state": st.State, "context": st.Context, "target_url": st.TargetURL})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.other = append(g.other, r.Method+" "+r.URL.Path)
		g.mu.Unlock()
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return g, srv.URL + "/"
}

// of returns the statuses recorded for sha, in arrival order, and the
// requests that were not statuses.
func (g *fakeGitHub) of(sha string) ([]commitStatus, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []commitStatus
	for _, s := range g.statuses {
		if s.SHA == sha {
			out = append(out, s)
		}
	}
	return out, append([]string(nil), g.other...)
}

func states(sts []commitStatus) string {
	var s []string
	for _, st := range sts {
		s = append(s, st.State)
	}
	return strings.Join(s, " ")
}

func TestCommitStatusesArriveInOrder(t *testing.T) {
	tests := []struct {
		name       string
		command    []string
		wantBuild  store.Status
		wantStatus string
	}{
		{name: "success", command: []string{"-selftest"}, wantBuild: store.StatusSucceeded, wantStatus: "success"},
		{name: "failure", command: []string{"-fail"}, wantBuild: store.StatusFailed, wantStatus: "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh, apiURL := startFakeGitHub(t)
			w := helloWorldWorld(t, setup{GitHubAPI: apiURL, Fixture: fixture.Options{TestCommand: tt.command}})
			c := serve(t, w, nil)

			code, a := c.deliver(delivery{"push", "status-" + tt.name, pushOf(t, w.Head), "sign"})
			if code != http.StatusAccepted || len(a.Builds) != 1 {
				t.Fatalf("push: %d %+v, want 202 with one build", code, a)
			}
			b := c.waitFinished(a.Builds[0], buildTimeout)
			if b.Status != tt.wantBuild {
				t.Fatalf("build: %s, want %s", describe(b), tt.wantBuild)
			}
			var got []commitStatus
			waitFor(t, buildTimeout, "the final commit status", func() (bool, string) {
				got, _ = gh.of(w.Head)
				return len(got) > 0 && got[len(got)-1].State != "pending", states(got)
			})
			got, other := gh.of(w.Head)
			if len(other) > 0 {
				t.Errorf("unexpected requests to the GitHub API: %v", other)
			}
			last := len(got) - 1
			if last < 1 {
				t.Fatalf("statuses %q, want pending... then %s", states(got), tt.wantStatus)
			}
			for i, st := range got {
				want := "pending"
				if i == last {
					want = tt.wantStatus
				}
				if st.State != want {
					t.Errorf("status %d of %q is %s, want %s", i, states(got), st.State, want)
				}
				if st.Repo != helloWorld || st.Context != "slipway/fixture" {
					t.Errorf("status %d went to %s with context %q, want %s and slipway/fixture", i, st.Repo, st.Context, helloWorld)
				}
				if want := fmt.Sprintf("/builds/%d", b.ID); !strings.HasSuffix(st.TargetURL, want) {
					t.Errorf("status %d target_url = %q, want it to end in %s", i, st.TargetURL, want)
				}
				if st.Auth != "Bearer ghp-test-token" {
					t.Errorf("status %d Authorization = %q, want the github.token", i, st.Auth)
				}
				if len(st.Description) > 140 {
					t.Errorf("status %d description is %d characters, GitHub takes 140", i, len(st.Description))
				}
			}
		})
	}
}
