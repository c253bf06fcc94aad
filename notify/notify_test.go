package notify_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/notify"
	"github.com/slipwayci/slipway/store"
)

const secret = "notify-test-secret"

// receiver is a local webhook receiver that checks the signature with its
// own secret and answers 401 when it does not match.
type receiver struct {
	secret string
	mu     sync.Mutex
	got    []map[string]any
	srv    *http.Server
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !hmac.Equal([]byte(r.Header.Get(notify.SignatureHeader)), []byte(notify.Sign([]byte(rc.secret), body))) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, m)
	rc.mu.Unlock()
}

func (rc *receiver) messages() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.got...)
}

// listen serves rc on addr ("127.0.0.1:0" for a new port) until the test
// ends and returns the address.
func (rc *receiver) listen(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc.srv = &http.Server{Handler: rc}
	go rc.srv.Serve(ln)
	t.Cleanup(func() { rc.srv.Close() })
	return ln.Addr().String()
}

type printer struct{ lines []string }

func (p *printer) Printf(format string, args ...any) {
	p.lines = append(p.lines, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// finish records b as finished in st and tells n.
func finish(t *testing.T, st *store.Store, n *notify.Notifier, b store.Build, status store.Status) (store.Build, *printer) {
	t.Helper()
	b, err := st.Insert(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	b.Status = status
	now := time.Now().UTC()
	b.FinishedAt = &now
	if err := st.UpdateBuild(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	var log printer
	n.Finished(t.Context(), b, &log)
	return b, &log
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func push(commit string) store.Build {
	return store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main", Commit: commit, Status: store.StatusQueued}
}

// TestNotify: a failure sends one signed "failed" message, the next success
// "fixed", a second success nothing; a receiver down for 20 s still gets the
// message, queued before a restart; a receiver with another secret refuses
// it, which the build log and the metrics show.
func TestNotify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	good := &receiver{secret: secret}
	addr := good.listen(t, "127.0.0.1:0")
	cfg := &config.Config{Notify: []config.Notify{{Name: "ops", Kind: config.NotifyWebhook, URL: config.Secret("http://" + addr + "/hook"), Secret: secret}}}
	st := openStore(t, dir)
	n := notify.New(cfg, st, notify.Options{Poll: 100 * time.Millisecond})
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()

	failed, log := finish(t, st, n, push("c1"), store.StatusFailed)
	if len(log.lines) != 1 || !strings.Contains(log.lines[0], "failed queued for ops") {
		t.Errorf("build log = %q, want the failed message queued", log.lines)
	}
	waitFor(t, 30*time.Second, "the failed message", func() bool { return len(good.messages()) == 1 })
	if m := good.messages()[0]; m["event"] != "failed" || m["id"] != float64(failed.ID) || m["status"] != "failed" {
		t.Errorf("message = %v, want event failed of build %d", m, failed.ID)
	}
	fixed, _ := finish(t, st, n, push("c2"), store.StatusSucceeded)
	waitFor(t, 30*time.Second, "the fixed message", func() bool { return len(good.messages()) == 2 })
	if m := good.messages()[1]; m["event"] != "fixed" || m["id"] != float64(fixed.ID) {
		t.Errorf("message = %v, want event fixed of build %d", m, fixed.ID)
	}
	if _, log := finish(t, st, n, push("c3"), store.StatusSucceeded); len(log.lines) != 0 {
		t.Errorf("a second success queued %q, want nothing", log.lines)
	}
	waitFor(t, 30*time.Second, "the sends logged", func() bool {
		b, _ := st.ReadLog(t.Context(), fixed.ID, 0, 0)
		return strings.Contains(string(b), "notify: fixed sent to ops (attempt 1)")
	})
	if got := testutil.ToFloat64(n.Metrics().WithLabelValues("ops", "fixed", "sent")); got != 1 {
		t.Errorf("slipway_notifications_total{target=ops,event=fixed,outcome=sent} = %v, want 1", got)
	}

	// Down: the receiver stops; a failure is queued, slipway restarts, the
	// receiver comes back 20 s later and gets it.
	stop()
	<-done
	good.srv.Close()
	down, _ := finish(t, st, n, push("c4"), store.StatusFailed)
	st.Close()
	st = openStore(t, dir)
	defer st.Close()
	n = notify.New(cfg, st, notify.Options{Poll: 100 * time.Millisecond})
	ctx, stop = context.WithCancel(t.Context())
	defer stop()
	go n.Run(ctx)
	waitFor(t, 30*time.Second, "a failed attempt", func() bool {
		b, _ := st.ReadLog(t.Context(), down.ID, 0, 0)
		return strings.Contains(string(b), "attempt 1 failed")
	})
	time.Sleep(20 * time.Second) // the receiver is down for 20 s
	back := &receiver{secret: secret}
	back.listen(t, addr)
	waitFor(t, 40*time.Second, "the message after the receiver came back", func() bool { return len(back.messages()) == 1 })
	if m := back.messages()[0]; m["event"] != "failed" || m["id"] != float64(down.ID) {
		t.Errorf("message = %v, want event failed of build %d", m, down.ID)
	}

	// A receiver with another secret refuses the message: visible in the
	// build log and the metrics. (Another config: the sender of the first
	// one stops, as a restart with a new config would.)
	stop()
	ctx, stop = context.WithCancel(t.Context())
	defer stop()
	wrong := &receiver{secret: "another-secret"}
	waddr := wrong.listen(t, "127.0.0.1:0")
	cfg2 := &config.Config{Notify: []config.Notify{{Name: "other", Kind: config.NotifyWebhook, URL: config.Secret("http://" + waddr + "/"), Secret: secret, On: []string{"failed"}}}}
	n2 := notify.New(cfg2, st, notify.Options{Poll: 100 * time.Millisecond})
	go n2.Run(ctx)
	refused, _ := finish(t, st, n2, push("c5"), store.StatusFailed)
	waitFor(t, 30*time.Second, "the refusal in the build log", func() bool {
		b, _ := st.ReadLog(t.Context(), refused.ID, 0, 0)
		return strings.Contains(string(b), "other answered 401 Unauthorized: bad signature")
	})
	if got := testutil.ToFloat64(n2.Metrics().WithLabelValues("other", "failed", "retry")); got < 1 {
		t.Errorf("slipway_notifications_total{outcome=retry} = %v, want at least 1", got)
	}
}

// TestSlack: a Slack target gets an incoming-webhook message naming the
// project, ref, commit, status and a link to the build; no signature.
func TestSlack(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	st := openStore(t, filepath.Join(t.TempDir(), "data"))
	defer st.Close()
	cfg := &config.Config{PublicURL: "https://ci.example.com/", Notify: []config.Notify{{Name: "chat", Kind: config.NotifySlack, URL: config.Secret("http://" + ln.Addr().String() + "/services/T0/B0/xyz")}}}
	n := notify.New(cfg, st, notify.Options{Poll: 100 * time.Millisecond})
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go n.Run(ctx)
	b, _ := finish(t, st, n, store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main", Commit: "0123456789abcdef0123", Status: store.StatusQueued}, store.StatusFailed)
	select {
	case r := <-got:
		if r.Header.Get(notify.SignatureHeader) != "" {
			t.Errorf("a Slack message is signed")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no Slack message within 30s")
	}
	var m struct{ Text string }
	if err := json.Unmarshal([]byte(<-bodies), &m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web", "failed", "main", "0123456789ab", fmt.Sprintf("<https://ci.example.com/builds/%d|build %d>", b.ID, b.ID)} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("Slack text %q lacks %q", m.Text, want)
		}
	}
}

// TestEvents: which events a target is sent for a build, from the log
// lines of Finished (nothing is sent: no sender runs).
func TestEvents(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "data"))
	defer st.Close()
	cfg := &config.Config{Notify: []config.Notify{
		{Name: "all", Kind: config.NotifyWebhook, URL: "http://127.0.0.1:1/", Secret: "s"},
		{Name: "failures", Kind: config.NotifyWebhook, URL: "http://127.0.0.1:1/", Secret: "s", On: []string{"failed"}},
		{Name: "schedules", Kind: config.NotifyWebhook, URL: "http://127.0.0.1:1/", Secret: "s", On: []string{"schedule_failed"}},
		{Name: "api-only", Kind: config.NotifyWebhook, URL: "http://127.0.0.1:1/", Secret: "s", Projects: []string{"api*"}},
	}}
	n := notify.New(cfg, st, notify.Options{})
	for _, tc := range []struct {
		name   string
		b      store.Build
		status store.Status
		want   string
	}{
		{"scheduled release fails", store.Build{Project: "web", Trigger: store.TriggerSchedule, Schedule: "nightly", Ref: "refs/heads/main"}, store.StatusFailed,
			"schedule_failed queued for all; failed queued for failures; schedule_failed queued for schedules"},
		{"deploy rolled back", store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main",
			Deploys: []store.Deploy{{Target: "prod", Service: "web_app", Status: "rolled_back"}}}, store.StatusFailed,
			"rolled_back queued for all; failed queued for failures"},
		{"fixed and deployed", store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main",
			Deploys: []store.Deploy{{Target: "prod", Service: "web_app", Status: "converged"}}}, store.StatusSucceeded,
			"fixed queued for all; deployed queued for all"},
		{"success again, not deployed", store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main"}, store.StatusSucceeded, ""},
		{"canceled", store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main"}, store.StatusCanceled, ""},
		{"another project", store.Build{Project: "api", Trigger: store.TriggerPush, Ref: "refs/heads/main"}, store.StatusFailed,
			"failed queued for all; failed queued for failures; failed queued for api-only"},
	} {
		tc.b.Status = store.StatusQueued
		_, log := finish(t, st, n, tc.b, tc.status)
		var got []string
		for _, l := range log.lines {
			got = append(got, strings.TrimPrefix(l, "notify: "))
		}
		if s := strings.Join(got, "; "); s != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, s, tc.want)
		}
	}
}
