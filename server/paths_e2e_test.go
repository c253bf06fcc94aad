package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

// pushEdited returns push-new-branch.json pushing after to branch, with
// before and forced as given (created when before is all zeros).
func pushEdited(t *testing.T, branch, before, after string, forced bool) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(payload(t, "push-new-branch.json"), &p); err != nil {
		t.Fatal(err)
	}
	p["ref"], p["before"], p["after"] = "refs/heads/"+branch, before, after
	p["created"], p["forced"] = strings.Trim(before, "0") == "", forced
	p["head_commit"].(map[string]any)["id"] = after
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPathFilterDecidesPushes delivers pushes to a project with
// paths: {include: ["services/web/**"], exclude: ["**/*.md"]}: only a push
// changing an included file builds; the others are answered with a reason
// naming paths. A new branch and a force-push are compared with the merge
// base of the default branch, not with the default branch's head nor with
// the rewritten branch's old head.
func TestPathFilterDecidesPushes(t *testing.T) {
	w := helloWorldWorld(t, setup{Fixture: fixture.Options{Project: "paths", ProjectExtra: `    branches: ["master", "feature", "rewrite"]
    paths: {include: ["services/web/**"], exclude: ["**/*.md"]}
`}})
	c := serve(t, w, nil)
	repo, zeros := w.Repo, strings.Repeat("0", 40)

	docs := repo.Commit(t, "master", map[string]string{"docs/guide.txt": "guide", "services/web/README.md": "web"}, "docs only")
	web := repo.Commit(t, "master", map[string]string{"services/web/x.go": "package web"}, "web")
	// feature is cut before web: its own change is docs only, the default
	// branch's head differs in services/web/x.go.
	repo.Git(t, "branch", "feature", docs)
	feature := repo.Commit(t, "feature", map[string]string{"docs/more.txt": "more"}, "more docs")
	// rewrite's old head changed services/web; its new head, cut from the
	// same base, does not.
	repo.Git(t, "branch", "rewrite", docs)
	oldRewrite := repo.Commit(t, "rewrite", map[string]string{"services/web/y.go": "package web"}, "web on a branch")
	repo.Git(t, "checkout", "-q", "--detach", docs)
	repo.Git(t, "branch", "-f", "rewrite", docs)
	newRewrite := repo.Commit(t, "rewrite", map[string]string{"docs/rewritten.txt": "r"}, "rewritten")

	for _, tc := range []struct {
		name      string
		body      []byte
		wantBuild bool
	}{
		{"push changing only docs and a markdown file", pushEdited(t, "master", w.Head, docs, false), false},
		{"push changing services/web/x.go", pushEdited(t, "master", docs, web, false), true},
		{"new branch changing only docs since the merge base", pushEdited(t, "feature", zeros, feature, false), false},
		{"force-push changing only docs since the merge base", pushEdited(t, "rewrite", oldRewrite, newRewrite, true), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, a := c.deliver(delivery{"push", "d-" + strings.ReplaceAll(tc.name, " ", "-"), tc.body, "sign"})
			if !tc.wantBuild {
				if code != http.StatusOK || len(a.Builds) != 0 || !strings.HasPrefix(a.Ignored, "paths") {
					t.Fatalf("answered %d with builds %v, ignored %q (error %q); want 200, no build, a reason starting with paths", code, a.Builds, a.Ignored, a.Error)
				}
				return
			}
			if code != http.StatusAccepted || len(a.Builds) != 1 {
				t.Fatalf("answered %d with builds %v, ignored %q (error %q); want 202 and one build", code, a.Builds, a.Ignored, a.Error)
			}
			if b := c.waitFinished(a.Builds[0], buildTimeout); b.Status != store.StatusSucceeded || b.Commit != web {
				t.Fatalf("build %s; want succeeded of %s", describe(b), web)
			}
		})
	}
	if got := len(c.builds()); got != 1 {
		t.Errorf("%d builds exist, want only the one of the push changing services/web", got)
	}
}
