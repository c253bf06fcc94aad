package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

const (
	testSecret  config.Secret = "It's a Secret to Everybody"
	deliveryID                = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	hookPath                  = "/hooks/github"
	defaultBody               = 25 << 20 // GitHub's cap, config's default
)

// call is one Queue.Accept call seen by fakeQueue.
type call struct {
	Delivery webhook.Delivery
	Builds   []store.Build
}

// fakeQueue records Accept calls and answers them like the store would:
// each build gets the next ID unless accept says otherwise.
type fakeQueue struct {
	// accept, when set, answers instead of the default.
	accept func(d webhook.Delivery, builds []store.Build) (webhook.Accepted, error)

	mu    sync.Mutex
	calls []call
	next  int64
}

func (q *fakeQueue) Accept(ctx context.Context, d webhook.Delivery, builds []store.Build) (webhook.Accepted, error) {
	if err := ctx.Err(); err != nil {
		return webhook.Accepted{}, fmt.Errorf("accept: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, call{Delivery: d, Builds: slices.Clone(builds)})
	if q.accept != nil {
		return q.accept(d, builds)
	}
	var acc webhook.Accepted
	for range builds {
		q.next++
		acc.BuildIDs = append(acc.BuildIDs, q.next)
	}
	return acc, nil
}

func (q *fakeQueue) Calls() []call {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.calls)
}

// fakeMetrics records outcomes.
type fakeMetrics struct {
	mu       sync.Mutex
	outcomes []string
}

func (m *fakeMetrics) Delivery(outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outcomes = append(m.outcomes, outcome)
}

func (m *fakeMetrics) Outcomes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.outcomes)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	handler *webhook.Handler
	queue   *fakeQueue
	metrics *fakeMetrics
	logs    *syncBuffer
}

func newFixture(tb testing.TB, maxBody int64, projects []config.Project, q *fakeQueue) *fixture {
	tb.Helper()
	if q == nil {
		q = &fakeQueue{}
	}
	f := &fixture{queue: q, metrics: &fakeMetrics{}, logs: &syncBuffer{}}
	h, err := webhook.NewHandler(testSecret, maxBody, projects, q, zerolog.New(f.logs), f.metrics)
	if err != nil {
		tb.Fatalf("NewHandler: %v", err)
	}
	f.handler = h
	return f
}

// githubRequest is a delivery as GitHub sends it: the body signed with
// testSecret and every header set.
func githubRequest(event string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, hookPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	r.Header.Set("X-GitHub-Event", event)
	r.Header.Set("X-GitHub-Delivery", deliveryID)
	r.Header.Set("X-GitHub-Hook-ID", "109948940")
	r.Header.Set("X-Hub-Signature-256", webhook.Signature(testSecret, body))
	return r
}

func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

// rewriteAfter replaces the recorded `after` of push-new-branch.json.
func rewriteAfter(tb testing.TB, body []byte, commit string) []byte {
	tb.Helper()
	old := []byte(`"after": "` + recordedCommit + `"`)
	if bytes.Count(body, old) != 1 {
		tb.Fatalf("payload has no single %s", old)
	}
	return bytes.Replace(body, old, []byte(`"after": "`+commit+`"`), 1)
}

func sha1Signature(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

func sha512Signature(secret string, body []byte) string {
	m := hmac.New(sha512.New, []byte(secret))
	m.Write(body)
	return "sha512=" + hex.EncodeToString(m.Sum(nil))
}

func helloBuild(ref, commit string) store.Build {
	return store.Build{
		Project: "hello",
		Trigger: store.TriggerPush,
		Ref:     ref,
		Commit:  commit,
		Image:   "registry.test/codertocat/hello",
		Status:  store.StatusQueued,
	}
}

func TestHandler(t *testing.T) {
	push := readPayload(t, "push-new-branch.json")
	pushRewritten := rewriteAfter(t, push, otherCommit)
	ping := readPayload(t, "ping.json")
	unsigned := func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }

	tests := []struct {
		name     string
		projects []config.Project
		accept   func(webhook.Delivery, []store.Build) (webhook.Accepted, error)
		request  func(t *testing.T) *http.Request
		// wantStatus is the HTTP status; wantResp the decoded 2xx answer.
		wantStatus  int
		wantResp    *webhook.Response
		wantCalls   []call
		wantOutcome string
	}{
		{
			name:       "push of a new branch, after rewritten and re-signed",
			request:    func(*testing.T) *http.Request { return githubRequest("push", pushRewritten) },
			wantStatus: http.StatusAccepted,
			wantResp:   &webhook.Response{Delivery: deliveryID, Builds: []int64{1}},
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds:   []store.Build{helloBuild("refs/heads/master", otherCommit)},
			}},
			wantOutcome: webhook.OutcomeQueued,
		},
		{
			name:       "push as recorded",
			request:    func(*testing.T) *http.Request { return githubRequest("push", push) },
			wantStatus: http.StatusAccepted,
			wantResp:   &webhook.Response{Delivery: deliveryID, Builds: []int64{1}},
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds:   []store.Build{helloBuild("refs/heads/master", recordedCommit)},
			}},
			wantOutcome: webhook.OutcomeQueued,
		},
		{
			name: "push form-encoded",
			request: func(*testing.T) *http.Request {
				body := []byte(url.Values{"payload": {string(pushRewritten)}}.Encode())
				r := githubRequest("push", body)
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			wantStatus: http.StatusAccepted,
			wantResp:   &webhook.Response{Delivery: deliveryID, Builds: []int64{1}},
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds:   []store.Build{helloBuild("refs/heads/master", otherCommit)},
			}},
			wantOutcome: webhook.OutcomeQueued,
		},
		{
			name: "push to two projects",
			projects: []config.Project{
				helloProject(),
				{Name: "hello-docs", Repo: "https://github.com/Codertocat/Hello-World.git", Branches: []string{"*"}},
			},
			request:    func(*testing.T) *http.Request { return githubRequest("push", pushRewritten) },
			wantStatus: http.StatusAccepted,
			wantResp:   &webhook.Response{Delivery: deliveryID, Builds: []int64{1, 2}},
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds: []store.Build{
					helloBuild("refs/heads/master", otherCommit),
					{Project: "hello-docs", Trigger: store.TriggerPush, Ref: "refs/heads/master", Commit: otherCommit, Status: store.StatusQueued},
				},
			}},
			wantOutcome: webhook.OutcomeQueued,
		},
		{
			name:       "push of a branch not configured",
			projects:   withProject(func(p *config.Project) { p.Branches = []string{"main"} }),
			request:    func(*testing.T) *http.Request { return githubRequest("push", pushRewritten) },
			wantStatus: http.StatusOK,
			wantResp: &webhook.Response{Delivery: deliveryID, Builds: []int64{},
				Ignored: "branch master is not configured to build (projects[0].branches)"},
			wantCalls: []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeIgnored,
				Reason: "branch master is not configured to build (projects[0].branches)"}}},
			wantOutcome: webhook.OutcomeIgnored,
		},
		{
			name:        "ping",
			request:     func(*testing.T) *http.Request { return githubRequest("ping", ping) },
			wantStatus:  http.StatusOK,
			wantResp:    &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Ignored: webhook.ReasonPing},
			wantCalls:   []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "ping", Outcome: webhook.OutcomeIgnored, Reason: webhook.ReasonPing}}},
			wantOutcome: webhook.OutcomeIgnored,
		},
		{
			name: "push of a deleted tag",
			request: func(t *testing.T) *http.Request {
				return githubRequest("push", readPayload(t, "push-tag-deleted.json"))
			},
			wantStatus:  http.StatusOK,
			wantResp:    &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Ignored: webhook.ReasonRefDeleted},
			wantCalls:   []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeIgnored, Reason: webhook.ReasonRefDeleted}}},
			wantOutcome: webhook.OutcomeIgnored,
		},
		{
			name:        "create tag",
			request:     func(t *testing.T) *http.Request { return githubRequest("create", readPayload(t, "create-tag.json")) },
			wantStatus:  http.StatusOK,
			wantResp:    &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Ignored: webhook.ReasonCreateDelete},
			wantCalls:   []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "create", Outcome: webhook.OutcomeIgnored, Reason: webhook.ReasonCreateDelete}}},
			wantOutcome: webhook.OutcomeIgnored,
		},
		{
			name:        "delete tag",
			request:     func(t *testing.T) *http.Request { return githubRequest("delete", readPayload(t, "delete-tag.json")) },
			wantStatus:  http.StatusOK,
			wantResp:    &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Ignored: webhook.ReasonCreateDelete},
			wantCalls:   []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "delete", Outcome: webhook.OutcomeIgnored, Reason: webhook.ReasonCreateDelete}}},
			wantOutcome: webhook.OutcomeIgnored,
		},
		{
			name:        "event go-github does not know",
			request:     func(*testing.T) *http.Request { return githubRequest("fancy_new_event", ping) },
			wantStatus:  http.StatusAccepted,
			wantResp:    &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Ignored: "event fancy_new_event is not handled"},
			wantCalls:   []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "fancy_new_event", Outcome: webhook.OutcomeIgnored, Reason: "event fancy_new_event is not handled"}}},
			wantOutcome: webhook.OutcomeIgnored,
		},
		{
			name:        "event known but not handled",
			request:     func(*testing.T) *http.Request { return githubRequest("issues", ping) },
			wantStatus:  http.StatusOK,
			wantResp:    &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Ignored: "event issues is not handled"},
			wantCalls:   []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "issues", Outcome: webhook.OutcomeIgnored, Reason: "event issues is not handled"}}},
			wantOutcome: webhook.OutcomeIgnored,
		},
		{
			name: "redelivery",
			accept: func(webhook.Delivery, []store.Build) (webhook.Accepted, error) {
				return webhook.Accepted{Seen: true}, nil
			},
			request:    func(*testing.T) *http.Request { return githubRequest("push", pushRewritten) },
			wantStatus: http.StatusOK,
			wantResp:   &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Duplicate: true},
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds:   []store.Build{helloBuild("refs/heads/master", otherCommit)},
			}},
			wantOutcome: webhook.OutcomeDuplicate,
		},
		{
			name: "redelivery of a ping",
			accept: func(webhook.Delivery, []store.Build) (webhook.Accepted, error) {
				return webhook.Accepted{Seen: true}, nil
			},
			request:     func(*testing.T) *http.Request { return githubRequest("ping", ping) },
			wantStatus:  http.StatusOK,
			wantResp:    &webhook.Response{Delivery: deliveryID, Builds: []int64{}, Ignored: webhook.ReasonPing, Duplicate: true},
			wantCalls:   []call{{Delivery: webhook.Delivery{ID: deliveryID, Event: "ping", Outcome: webhook.OutcomeIgnored, Reason: webhook.ReasonPing}}},
			wantOutcome: webhook.OutcomeDuplicate,
		},
		{
			name: "build already queued for the commit",
			accept: func(webhook.Delivery, []store.Build) (webhook.Accepted, error) {
				return webhook.Accepted{Duplicates: []int64{7}}, nil
			},
			request:    func(*testing.T) *http.Request { return githubRequest("push", pushRewritten) },
			wantStatus: http.StatusOK,
			wantResp:   &webhook.Response{Delivery: deliveryID, Builds: []int64{7}, Duplicate: true},
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds:   []store.Build{helloBuild("refs/heads/master", otherCommit)},
			}},
			wantOutcome: webhook.OutcomeDuplicate,
		},
		{
			name: "one build new, one deduplicated",
			projects: []config.Project{
				helloProject(),
				{Name: "hello-docs", GitHub: "Codertocat/Hello-World", Branches: []string{"*"}},
			},
			accept: func(webhook.Delivery, []store.Build) (webhook.Accepted, error) {
				return webhook.Accepted{BuildIDs: []int64{8}, Duplicates: []int64{7}}, nil
			},
			request:    func(*testing.T) *http.Request { return githubRequest("push", pushRewritten) },
			wantStatus: http.StatusAccepted,
			wantResp:   &webhook.Response{Delivery: deliveryID, Builds: []int64{8, 7}},
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds: []store.Build{
					helloBuild("refs/heads/master", otherCommit),
					{Project: "hello-docs", Trigger: store.TriggerPush, Ref: "refs/heads/master", Commit: otherCommit, Status: store.StatusQueued},
				},
			}},
			wantOutcome: webhook.OutcomeQueued,
		},
		{
			name: "queue error",
			accept: func(webhook.Delivery, []store.Build) (webhook.Accepted, error) {
				return webhook.Accepted{}, errors.New("database is locked")
			},
			request:    func(*testing.T) *http.Request { return githubRequest("push", pushRewritten) },
			wantStatus: http.StatusInternalServerError,
			wantCalls: []call{{
				Delivery: webhook.Delivery{ID: deliveryID, Event: "push", Outcome: webhook.OutcomeQueued},
				Builds:   []store.Build{helloBuild("refs/heads/master", otherCommit)},
			}},
			wantOutcome: webhook.OutcomeError,
		},
		{
			name: "no signature",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				unsigned(r)
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "bad signature",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				sig := []byte(r.Header.Get("X-Hub-Signature-256"))
				if sig[len(sig)-1] == '0' { // stay hex, change one nibble
					sig[len(sig)-1] = '1'
				} else {
					sig[len(sig)-1] = '0'
				}
				r.Header.Set("X-Hub-Signature-256", string(sig))
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "signature of the recorded body on the rewritten one",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Set("X-Hub-Signature-256", webhook.Signature(testSecret, push))
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "wrong secret",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Set("X-Hub-Signature-256", webhook.Signature("not the secret", pushRewritten))
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "sha1-only X-Hub-Signature",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				unsigned(r)
				r.Header.Set("X-Hub-Signature", sha1Signature(testSecret.Value(), pushRewritten))
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "valid sha1 HMAC in X-Hub-Signature-256",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Set("X-Hub-Signature-256", sha1Signature(testSecret.Value(), pushRewritten))
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "valid sha512 HMAC in X-Hub-Signature-256",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Set("X-Hub-Signature-256", sha512Signature(testSecret.Value(), pushRewritten))
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "signature not hex",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Set("X-Hub-Signature-256", "sha256=zz")
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "no signature and no event",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				unsigned(r)
				r.Header.Del("X-GitHub-Event")
				return r
			},
			wantStatus:  http.StatusUnauthorized,
			wantOutcome: webhook.OutcomeBadSignature,
		},
		{
			name: "truncated JSON",
			request: func(*testing.T) *http.Request {
				return githubRequest("push", pushRewritten[:len(pushRewritten)/2])
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name:        "empty body",
			request:     func(*testing.T) *http.Request { return githubRequest("push", nil) },
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name: "unknown event with a body that is not JSON",
			request: func(*testing.T) *http.Request {
				return githubRequest("fancy_new_event", []byte("not json"))
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name: "form-encoded without payload",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", []byte("other=1"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name: "missing event",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Del("X-GitHub-Event")
				return r
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name:        "malformed event",
			request:     func(*testing.T) *http.Request { return githubRequest("Push Event", pushRewritten) },
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name: "missing delivery id",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Del("X-GitHub-Delivery")
				return r
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name: "malformed delivery id",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", pushRewritten)
				r.Header.Set("X-GitHub-Delivery", "a b")
				return r
			},
			wantStatus:  http.StatusBadRequest,
			wantOutcome: webhook.OutcomeMalformed,
		},
		{
			name: "GET",
			request: func(*testing.T) *http.Request {
				r := githubRequest("push", nil)
				r.Method = http.MethodGet
				return r
			},
			wantStatus: http.StatusMethodNotAllowed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			projects := tt.projects
			if projects == nil {
				projects = []config.Project{helloProject()}
			}
			f := newFixture(t, defaultBody, projects, &fakeQueue{accept: tt.accept})
			w := f.serve(tt.request(t))

			if got := w.Code; got != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %s", got, tt.wantStatus, w.Body)
			}
			if got, want := w.Header().Get("Content-Type"), "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if tt.wantResp != nil {
				var got webhook.Response
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatalf("decode answer %q: %v", w.Body, err)
				}
				if diff := cmp.Diff(got, *tt.wantResp); diff != "" {
					t.Errorf("answer mismatch (-got +want):\n%s", diff)
				}
			} else {
				var got struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Error == "" {
					t.Errorf("answer %q is not a JSON error (%v)", w.Body, err)
				}
			}
			if diff := cmp.Diff(f.queue.Calls(), tt.wantCalls, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Queue.Accept calls mismatch (-got +want):\n%s", diff)
			}
			var wantOutcomes []string
			if tt.wantOutcome != "" {
				wantOutcomes = []string{tt.wantOutcome}
			}
			if diff := cmp.Diff(f.metrics.Outcomes(), wantOutcomes); diff != "" {
				t.Errorf("metrics mismatch (-got +want):\n%s", diff)
			}
			if got := strings.Count(f.logs.String(), "\n"); got != 1 {
				t.Errorf("%d log lines, want 1:\n%s", got, f.logs)
			}
		})
	}
}

// TestHandlerAnswerShape pins the JSON keys of the answer, which GitHub's
// delivery log shows to users.
func TestHandlerAnswerShape(t *testing.T) {
	f := newFixture(t, defaultBody, []config.Project{helloProject()}, nil)
	w := f.serve(githubRequest("ping", readPayload(t, "ping.json")))
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("decode %q: %v", w.Body, err)
	}
	want := map[string]any{"delivery": deliveryID, "builds": []any{}, "ignored": "ping", "duplicate": false}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("answer mismatch (-got +want):\n%s", diff)
	}
}

func TestHandlerMethodNotAllowed(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			f := newFixture(t, defaultBody, []config.Project{helloProject()}, nil)
			r := githubRequest("push", readPayload(t, "push-new-branch.json"))
			r.Method = method
			w := f.serve(r)
			if got, want := w.Code, http.StatusMethodNotAllowed; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := w.Header().Get("Allow"), http.MethodPost; got != want {
				t.Errorf("Allow = %q, want %q", got, want)
			}
			if calls := f.queue.Calls(); len(calls) != 0 {
				t.Errorf("Queue.Accept called %d times, want 0", len(calls))
			}
		})
	}
}

// countingReader yields size bytes of JSON-ish filler and counts what was
// read from it.
type countingReader struct {
	size, read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.read >= c.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if rest := c.size - c.read; n > rest {
		n = rest
	}
	for i := range p[:n] {
		p[i] = ' '
	}
	c.read += n
	return int(n), nil
}

func TestHandlerTooLarge(t *testing.T) {
	const size = 30_000_000
	tests := []struct {
		name          string
		contentLength int64
		wantMaxRead   int64
	}{
		{name: "chunked", contentLength: -1, wantMaxRead: defaultBody + 1},
		{name: "content-length", contentLength: size, wantMaxRead: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultBody, []config.Project{helloProject()}, nil)
			body := &countingReader{size: size}
			r := httptest.NewRequest(http.MethodPost, hookPath, body)
			r.ContentLength = tt.contentLength
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Event", "push")
			r.Header.Set("X-GitHub-Delivery", deliveryID)
			r.Header.Set("X-Hub-Signature-256", webhook.Signature(testSecret, nil))
			w := f.serve(r)

			if got, want := w.Code, http.StatusRequestEntityTooLarge; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if body.read > tt.wantMaxRead {
				t.Errorf("read %d bytes of the body, want at most %d", body.read, tt.wantMaxRead)
			}
			var got struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Error == "" {
				t.Errorf("answer %q is not a JSON error (%v)", w.Body, err)
			}
			if calls := f.queue.Calls(); len(calls) != 0 {
				t.Errorf("Queue.Accept called %d times, want 0", len(calls))
			}
			if diff := cmp.Diff(f.metrics.Outcomes(), []string{webhook.OutcomeTooLarge}); diff != "" {
				t.Errorf("metrics mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// TestHandlerBodyLimitBoundary checks that a body of exactly maxBody bytes
// passes and one byte less of limit refuses it.
func TestHandlerBodyLimitBoundary(t *testing.T) {
	body := rewriteAfter(t, readPayload(t, "push-new-branch.json"), otherCommit)
	tests := []struct {
		name       string
		maxBody    int64
		chunked    bool
		wantStatus int
	}{
		{name: "exactly the limit", maxBody: int64(len(body)), wantStatus: http.StatusAccepted},
		{name: "exactly the limit chunked", maxBody: int64(len(body)), chunked: true, wantStatus: http.StatusAccepted},
		{name: "one byte over", maxBody: int64(len(body)) - 1, wantStatus: http.StatusRequestEntityTooLarge},
		{name: "one byte over chunked", maxBody: int64(len(body)) - 1, chunked: true, wantStatus: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.maxBody, []config.Project{helloProject()}, nil)
			r := githubRequest("push", body)
			if tt.chunked {
				r.ContentLength = -1
			}
			if got := f.serve(r).Code; got != tt.wantStatus {
				t.Errorf("status = %d, want %d", got, tt.wantStatus)
			}
		})
	}
}

// TestHandlerLogsNoSecret sends every kind of delivery and checks that the
// log has one line each, with the fields an operator needs, and never the
// secret, a signature, or any part of a body beyond the logged fields.
func TestHandlerLogsNoSecret(t *testing.T) {
	push := rewriteAfter(t, readPayload(t, "push-new-branch.json"), otherCommit)
	bodies := map[string][]byte{
		"push":   push,
		"ping":   readPayload(t, "ping.json"),
		"create": readPayload(t, "create-tag.json"),
		"delete": readPayload(t, "delete-tag.json"),
	}
	var requests []*http.Request
	for event, body := range bodies {
		requests = append(requests, githubRequest(event, body))
		truncated := githubRequest(event, body[:len(body)-10])
		requests = append(requests, truncated)
		wrong := githubRequest(event, body)
		wrong.Header.Set("X-Hub-Signature-256", webhook.Signature("wrong", body))
		requests = append(requests, wrong)
	}
	failing := &fakeQueue{accept: func(webhook.Delivery, []store.Build) (webhook.Accepted, error) {
		return webhook.Accepted{}, errors.New("disk full")
	}}

	logs := &syncBuffer{}
	logger := zerolog.New(logs)
	h, err := webhook.NewHandler(testSecret, defaultBody, []config.Project{helloProject()}, &fakeQueue{}, logger, nil)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	hFailing, err := webhook.NewHandler(testSecret, defaultBody, []config.Project{helloProject()}, failing, logger, nil)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	var signatures []string
	for _, r := range requests {
		signatures = append(signatures, r.Header.Get("X-Hub-Signature-256"))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	hFailing.ServeHTTP(httptest.NewRecorder(), githubRequest("push", push))

	out := logs.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if got, want := len(lines), len(requests)+1; got != want {
		t.Errorf("%d log lines, want %d:\n%s", got, want, out)
	}
	forbidden := []string{
		testSecret.Value(),
		"Anything added dilutes everything else.", // ping zen
		"Initial commit",                          // head commit message
		"21031067+Codertocat@users.noreply.github.com",
		"avatars1.githubusercontent.com",
		"MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", // repository node_id
		otherCommit,
		"GitHub-Hookshot",
	}
	forbidden = append(forbidden, signatures...)
	for _, s := range forbidden {
		if strings.Contains(out, s) {
			t.Errorf("log contains %q:\n%s", s, out)
		}
	}
	for body := range bodies {
		if strings.Contains(out, string(bodies[body])) {
			t.Errorf("log contains the %s body", body)
		}
	}

	// The fields an operator needs are there.
	var first map[string]any
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["outcome"] == webhook.OutcomeQueued {
			first = m
		}
	}
	want := map[string]any{
		"level": "info", "message": "github delivery",
		"delivery": deliveryID, "event": "push", "repository": "Codertocat/Hello-World",
		"ref": "refs/heads/master", "outcome": webhook.OutcomeQueued, "reason": "",
		"builds": []any{float64(1)}, "status": float64(http.StatusAccepted),
	}
	if diff := cmp.Diff(first, want); diff != "" {
		t.Errorf("queued log line mismatch (-got +want):\n%s", diff)
	}
}

func TestNewHandler(t *testing.T) {
	q := &fakeQueue{}
	tests := []struct {
		name    string
		secret  config.Secret
		maxBody int64
		queue   webhook.Queue
		wantErr bool
	}{
		{name: "valid", secret: testSecret, maxBody: defaultBody, queue: q},
		{name: "empty secret", secret: "", maxBody: defaultBody, queue: q, wantErr: true},
		{name: "whitespace-only secret", secret: " \t\n", maxBody: defaultBody, queue: q, wantErr: true},
		{name: "zero max body", secret: testSecret, maxBody: 0, queue: q, wantErr: true},
		{name: "negative max body", secret: testSecret, maxBody: -1, queue: q, wantErr: true},
		{name: "nil queue", secret: testSecret, maxBody: defaultBody, queue: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := webhook.NewHandler(tt.secret, tt.maxBody, nil, tt.queue, zerolog.Nop(), nil)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("NewHandler() error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && h == nil {
				t.Fatal("NewHandler() = nil, nil")
			}
			if err != nil && tt.secret != "" && strings.Contains(err.Error(), tt.secret.Value()) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

// TestHandlerNilMetrics checks that Metrics is optional.
func TestHandlerNilMetrics(t *testing.T) {
	h, err := webhook.NewHandler(testSecret, defaultBody, []config.Project{helloProject()}, &fakeQueue{}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, githubRequest("push", readPayload(t, "push-new-branch.json")))
	if got, want := w.Code, http.StatusAccepted; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
}

// TestHandlerDoesNotKeepProjects checks that the Handler copies the project
// list, so that a caller reusing its slice cannot change decisions.
func TestHandlerDoesNotKeepProjects(t *testing.T) {
	projects := []config.Project{helloProject()}
	f := newFixture(t, defaultBody, projects, nil)
	projects[0] = config.Project{Name: "other", GitHub: "acme/web"}
	w := f.serve(githubRequest("push", readPayload(t, "push-new-branch.json")))
	if got, want := w.Code, http.StatusAccepted; got != want {
		t.Errorf("status = %d, want %d; body %s", got, want, w.Body)
	}
}

// TestHandlerConcurrent serves deliveries from several goroutines, for the
// race detector.
func TestHandlerConcurrent(t *testing.T) {
	f := newFixture(t, defaultBody, []config.Project{helloProject()}, nil)
	body := readPayload(t, "push-new-branch.json")
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			codes <- f.serve(githubRequest("push", body)).Code
		})
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusAccepted {
			t.Errorf("status = %d, want %d", code, http.StatusAccepted)
		}
	}
	if got := len(f.queue.Calls()); got != n {
		t.Errorf("Queue.Accept called %d times, want %d", got, n)
	}
}

// TestHandlerRefusesInvalidRefs: a signed push of a ref git refuses is
// answered 400 with the reason, and nothing is queued or recorded.
func TestHandlerRefusesInvalidRefs(t *testing.T) {
	push := readPayload(t, "push-new-branch.json")
	tests := []struct {
		ref, wantReason string
	}{
		{"refs/heads/--upload-pack=x", `a branch or tag name cannot start with \"-\"`},
		{"refs/heads/../../etc/passwd", `it contains \"..\"`},
		{`refs/tags/v1\u0007x`, "control character"},
		{"refs/heads/a b", "contains a space"},
		{"refs/heads/x.lock", `ends with \".lock\"`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			old := []byte(`"ref": "refs/heads/master"`)
			if bytes.Count(push, old) != 1 {
				t.Fatalf("payload has no single %s", old)
			}
			body := bytes.Replace(push, old, []byte(`"ref": "`+tt.ref+`"`), 1)
			f := newFixture(t, defaultBody, []config.Project{helloProject()}, nil)
			w := f.serve(githubRequest("push", body))
			if w.Code != http.StatusBadRequest {
				t.Fatalf("push of %s: %d %s, want 400", tt.ref, w.Code, w.Body)
			}
			if got := w.Body.String(); !strings.Contains(got, "not a valid git ref name") || !strings.Contains(got, tt.wantReason) {
				t.Errorf("answer %s, want the reason %s", got, tt.wantReason)
			}
			if calls := f.queue.Calls(); len(calls) != 0 {
				t.Errorf("an invalid ref reached the queue: %+v", calls)
			}
			if got, want := f.metrics.Outcomes(), []string{webhook.OutcomeMalformed}; !slices.Equal(got, want) {
				t.Errorf("outcomes %v, want %v", got, want)
			}
		})
	}
}
