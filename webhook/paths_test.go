package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/webhook"
)

// changesFunc lists changed files with a function and counts its calls.
type changesFunc struct {
	mu    sync.Mutex
	calls []string
	fn    func(ctx context.Context) ([]string, error)
}

func (c *changesFunc) ChangedFiles(ctx context.Context, project, ref, before, after string, forced bool) ([]string, error) {
	c.mu.Lock()
	c.calls = append(c.calls, strings.Join([]string{project, ref, before, after}, " "))
	c.mu.Unlock()
	return c.fn(ctx)
}

// TestHandlerPathFilter covers the Handler's side of path filters: which
// pushes are checked and what happens when the changed files are not known
// (the clone cache's side is source.TestChangedFiles, the whole way
// server.TestPathFilterDecidesPushes).
func TestHandlerPathFilter(t *testing.T) {
	filtered := helloProject()
	filtered.Paths = config.Paths{Include: []string{"web/**"}}
	push := readPayload(t, "push-new-branch.json")

	for _, tc := range []struct {
		name       string
		project    config.Project
		fn         func(ctx context.Context) ([]string, error)
		wantStatus int
		wantReason string // prefix of the answer's ignored
		wantLog    string
		wantCalls  int
	}{
		{"no changed file included", filtered, func(context.Context) ([]string, error) { return []string{"docs/a.md"}, nil },
			http.StatusOK, "paths: none of the 1 changed files matches projects[0].paths", "", 1},
		{"an included file changed", filtered, func(context.Context) ([]string, error) { return []string{"docs/a.md", "web/x.go"}, nil },
			http.StatusAccepted, "", "", 1},
		{"changes not known in time: builds", filtered, func(ctx context.Context) ([]string, error) { <-ctx.Done(); return nil, ctx.Err() },
			http.StatusAccepted, "", "projects[0].paths not applied (the changed files were not known in time): building", 1},
		{"nothing to compare with: builds", filtered, func(context.Context) ([]string, error) { return nil, source.ErrNoBase },
			http.StatusAccepted, "", "projects[0].paths not applied (no commit to compare with): building", 1},
		{"project without a filter is not checked", helloProject(), func(context.Context) ([]string, error) { return nil, errors.New("unexpected") },
			http.StatusAccepted, "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			changes := &changesFunc{fn: tc.fn}
			logs := &syncBuffer{}
			h, err := webhook.NewHandler(testSecret, defaultBody, []config.Project{tc.project}, &fakeQueue{}, zerolog.New(logs), nil,
				webhook.WithChanges(changes, 50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			f := &fixture{handler: h}
			w := f.serve(githubRequest("push", push))
			var resp webhook.Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatalf("answer %q: %v", w.Body, err)
			}
			if w.Code != tc.wantStatus || !strings.HasPrefix(resp.Ignored, tc.wantReason) || (tc.wantReason == "") != (resp.Ignored == "") {
				t.Errorf("answered %d %+v, want %d with ignored %q", w.Code, resp, tc.wantStatus, tc.wantReason)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs)
			}
			if len(changes.calls) != tc.wantCalls {
				t.Errorf("ChangedFiles called %d times (%q), want %d", len(changes.calls), changes.calls, tc.wantCalls)
			}
		})
	}
}
