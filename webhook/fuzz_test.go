package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

// Fuzz modes: how FuzzHandler signs and sends its input.
const (
	modeSigned      = iota // correct X-Hub-Signature-256
	modeUnsigned           // no signature header
	modeWrongSecret        // signed with another secret
	modeGarbage            // the sig argument as the header
	modeCount
)

// fuzzMaxBody is small so that the fuzzer reaches the 413 path too.
const fuzzMaxBody = 16 << 10

// FuzzHandler feeds arbitrary bodies, event names, delivery IDs and
// signatures to the Handler and checks that it never panics, answers only
// the documented statuses with JSON, and calls the Queue only for correctly
// signed POSTs, at most once.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ event, file string }{
		{"push", "push-new-branch.json"},
		{"push", "push-tag-deleted.json"},
		{"ping", "ping.json"},
		{"create", "create-tag.json"},
		{"delete", "delete-tag.json"},
	}
	for _, s := range seeds {
		body := readPayload(f, s.file)
		for mode := range uint8(modeCount) {
			f.Add(body, s.event, deliveryID, "", mode, false, false)
		}
		f.Add(body, s.event, deliveryID, "", uint8(modeSigned), true, false)
		f.Add(body, s.event, deliveryID, "", uint8(modeSigned), false, true)
		f.Add(body[:len(body)/3], s.event, deliveryID, "", uint8(modeSigned), false, false)
	}
	f.Add([]byte(`{}`), "fancy_new_event", deliveryID, "", uint8(modeSigned), false, false)
	f.Add([]byte(`{"ref":"refs/heads/master","after":"zz","repository":{"full_name":"Codertocat/Hello-World"}}`),
		"push", "", "", uint8(modeSigned), false, false)
	f.Add([]byte(`payload=%7B%7D`), "push", deliveryID, "", uint8(modeSigned), false, true)
	f.Add([]byte(`null`), "push", deliveryID, "sha256=00", uint8(modeGarbage), false, false)
	f.Add(bytes.Repeat([]byte("a"), fuzzMaxBody+1), "push", deliveryID, "", uint8(modeSigned), false, false)

	projects := []config.Project{
		helloProject(),
		{Name: "any", Repo: "git@github.com:Codertocat/Hello-World.git", Branches: []string{"*", "[", "release/**"}},
	}
	allowed := map[int]bool{
		http.StatusOK: true, http.StatusAccepted: true, http.StatusBadRequest: true,
		http.StatusUnauthorized: true, http.StatusMethodNotAllowed: true, http.StatusRequestEntityTooLarge: true,
	}

	f.Fuzz(func(t *testing.T, body []byte, event, delivery, sig string, mode uint8, get, form bool) {
		q := &fakeQueue{}
		h, err := webhook.NewHandler(testSecret, fuzzMaxBody, projects, q, zerolog.Nop(), nil)
		if err != nil {
			t.Fatalf("NewHandler: %v", err)
		}
		method := http.MethodPost
		if get {
			method = http.MethodGet
		}
		r := httptest.NewRequest(method, hookPath, bytes.NewReader(body))
		// Set the raw header values: the fuzzer's strings need not be
		// valid header values, and the handler must cope anyway.
		r.Header["X-Github-Event"] = []string{event}
		r.Header["X-Github-Delivery"] = []string{delivery}
		r.Header.Set("Content-Type", "application/json")
		if form {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		switch mode % modeCount {
		case modeSigned:
			r.Header["X-Hub-Signature-256"] = []string{webhook.Signature(testSecret, body)}
		case modeWrongSecret:
			r.Header["X-Hub-Signature-256"] = []string{webhook.Signature(testSecret+"x", body)}
		case modeGarbage:
			r.Header["X-Hub-Signature-256"] = []string{sig}
		}
		signed := mode%modeCount == modeSigned ||
			(mode%modeCount == modeGarbage && sig == webhook.Signature(testSecret, body))

		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		if !allowed[w.Code] {
			t.Fatalf("status %d not allowed; answer %s", w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer %q is not JSON", w.Body)
		}
		calls := q.Calls()
		if len(calls) > 1 {
			t.Fatalf("Queue.Accept called %d times", len(calls))
		}
		if len(calls) == 1 && (!signed || get) {
			t.Fatalf("Queue.Accept called for an unsigned request (mode %d, get %v)", mode%modeCount, get)
		}
		if len(calls) == 1 && len(body) > fuzzMaxBody {
			t.Fatalf("Queue.Accept called for a body of %d bytes", len(body))
		}
		if got := w.Code == http.StatusOK || w.Code == http.StatusAccepted; got != (len(calls) == 1) {
			t.Fatalf("status %d with %d Accept calls", w.Code, len(calls))
		}
		if len(calls) == 1 && calls[0].Delivery.ID != delivery {
			t.Fatalf("Delivery.ID = %q, want %q", calls[0].Delivery.ID, delivery)
		}
	})
}

// BenchmarkHandler measures a signed push delivery end to end through
// ServeHTTP: body read, HMAC check, parse, Decide, a fake Accept and the
// JSON answer.
func BenchmarkHandler(b *testing.B) {
	body := rewriteAfter(b, readPayload(b, "push-new-branch.json"), otherCommit)
	signature := webhook.Signature(testSecret, body)
	h, err := webhook.NewHandler(testSecret, defaultBody, []config.Project{helloProject()}, discardQueue{}, zerolog.Nop(), nil)
	if err != nil {
		b.Fatalf("NewHandler: %v", err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, hookPath, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", deliveryID)
		r.Header.Set("X-Hub-Signature-256", signature)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status = %d, want %d: %s", w.Code, http.StatusAccepted, w.Body)
		}
	}
}

// discardQueue accepts every delivery and remembers nothing, so that the
// benchmark measures the handler, not a growing fake.
type discardQueue struct{}

func (discardQueue) Accept(_ context.Context, _ webhook.Delivery, builds []store.Build) (webhook.Accepted, error) {
	ids := make([]int64, len(builds))
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	return webhook.Accepted{BuildIDs: ids}, nil
}
