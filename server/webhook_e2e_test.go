package server_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

// buildTimeout bounds the wait for one fixture build (clone, image build,
// test, push) on a busy CI machine, where a build waiting for the engine
// behind other packages' builds may take minutes.
const buildTimeout = 5 * time.Minute

// helloWorldWorld is a world whose project tracks the repository of the
// recorded payloads on branch master, as push-new-branch.json pushes.
func helloWorldWorld(t *testing.T, s setup) *fixture.World {
	t.Helper()
	s.Fixture.GitHub = helloWorld
	s.Fixture.Branch = "master"
	return newWorld(t, s)
}

func TestRecordedPayloadsBuildExactlyThePush(t *testing.T) {
	w := helloWorldWorld(t, setup{})
	c := serve(t, w, nil)

	deliveries := []struct {
		delivery
		wantCode   int
		wantBuilds int
	}{
		{delivery{"ping", "d-ping", payload(t, "ping.json"), "sign"}, http.StatusOK, 0},
		{delivery{"push", "d-push", pushOf(t, w.Head), "sign"}, http.StatusAccepted, 1},
		{delivery{"push", "d-push-tag-deleted", payload(t, "push-tag-deleted.json"), "sign"}, http.StatusOK, 0},
		{delivery{"create", "d-create-tag", payload(t, "create-tag.json"), "sign"}, http.StatusOK, 0},
		{delivery{"delete", "d-delete-tag", payload(t, "delete-tag.json"), "sign"}, http.StatusOK, 0},
	}
	var id int64
	for _, d := range deliveries {
		code, a := c.deliver(d.delivery)
		if code != d.wantCode || len(a.Builds) != d.wantBuilds {
			t.Errorf("%s %s: answered %d with builds %v (ignored %q, error %q), want %d with %d builds",
				d.event, d.id, code, a.Builds, a.Ignored, a.Error, d.wantCode, d.wantBuilds)
		}
		if d.wantBuilds == 0 && a.Ignored == "" {
			t.Errorf("%s %s: no reason given for building nothing", d.event, d.id)
		}
		if d.wantBuilds == 1 && len(a.Builds) == 1 {
			id = a.Builds[0]
		}
	}
	if id == 0 {
		t.Fatalf("the push queued no build")
	}

	b := c.waitFinished(id, buildTimeout)
	if b.Status != store.StatusSucceeded {
		t.Fatalf("the push's build did not succeed: %s", describe(b))
	}
	if got := c.builds(); len(got) != 1 {
		t.Fatalf("%d builds exist after the recorded payloads, want 1: %v", len(got), got)
	}
	if b.Trigger != store.TriggerPush || b.Ref != "refs/heads/master" || b.Commit != w.Head || b.StartedBy != "webhook" {
		t.Errorf("build is %s started by %q, want a push of refs/heads/master at %s started by webhook", describe(b), b.StartedBy, w.Head)
	}
	wantTags := []string{"master", "master-" + w.Head[:7], "latest"}
	if diff := cmp.Diff(wantTags, b.Tags); diff != "" {
		t.Errorf("build tags (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(b.Digest, "sha256:") {
		t.Fatalf("build digest = %q", b.Digest)
	}
	for _, tag := range b.Tags {
		if got := w.Digest(tag); got != b.Digest {
			t.Errorf("registry %s:%s = %q, want the build's digest %s", w.Image, tag, got, b.Digest)
		}
	}
}

func TestBadDeliveriesChangeNothing(t *testing.T) {
	w := helloWorldWorld(t, setup{})
	c := serve(t, w, nil)
	push := pushOf(t, w.Head)
	wrongMAC := hmac.New(sha256.New, []byte("another-secret"))
	wrongMAC.Write(push)

	tests := []struct {
		name     string
		d        delivery
		wantCode int
	}{
		{
			name:     "bad signature",
			d:        delivery{"push", "bad-sig", push, "sha256=" + strings.Repeat("ab", 32)},
			wantCode: http.StatusUnauthorized,
		},
		{
			name:     "no signature",
			d:        delivery{"push", "no-sig", push, ""},
			wantCode: http.StatusUnauthorized,
		},
		{
			name:     "wrong secret",
			d:        delivery{"push", "wrong-secret", push, "sha256=" + hex.EncodeToString(wrongMAC.Sum(nil))},
			wantCode: http.StatusUnauthorized,
		},
		{
			name:     "sha1 signature only",
			d:        delivery{"push", "sha1", push, "sha1=" + strings.Repeat("ab", 20)},
			wantCode: http.StatusUnauthorized,
		},
		{
			name:     "truncated JSON",
			d:        delivery{"push", "truncated", push[:len(push)/2], "sign"},
			wantCode: http.StatusBadRequest,
		},
		{
			name:     "unknown event",
			d:        delivery{"made_up_event", "unknown-event", []byte(`{"zen":"Keep it logically awesome."}`), "sign"},
			wantCode: http.StatusAccepted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, a := c.deliver(tt.d)
			if code != tt.wantCode {
				t.Errorf("answered %d (%+v), want %d", code, a, tt.wantCode)
			}
			if len(a.Builds) != 0 {
				t.Errorf("answer names builds %v", a.Builds)
			}
		})
	}

	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("30 MB body chunked=%t", chunked), func(t *testing.T) {
			if got := postHuge(t, strings.TrimPrefix(c.base, "http://"), 30<<20, chunked); got != http.StatusRequestEntityTooLarge {
				t.Errorf("answered %d, want 413", got)
			}
		})
	}

	if got := c.builds(); len(got) != 0 {
		t.Errorf("bad deliveries created builds: %v", got)
	}
	if code, body := c.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after bad deliveries: %d %s", code, body)
	}
	// A good delivery still works afterwards.
	if code, a := c.deliver(delivery{"ping", "after-bad", payload(t, "ping.json"), "sign"}); code != http.StatusOK {
		t.Errorf("ping after bad deliveries: %d %+v", code, a)
	}
}

// postHuge posts a signed JSON body of size bytes to /hooks/github on a raw
// connection (the server may answer and close before the body is sent,
// which an http.Client may report as a write error instead of the answer)
// and returns the status code.
func postHuge(t *testing.T, addr string, size int, chunked bool) int {
	t.Helper()
	const head, tail = `{"zen":"`, `"}`
	filler := []byte(strings.Repeat("z", 64<<10))
	// body calls write with the body's pieces in order.
	body := func(write func([]byte) error) error {
		if err := write([]byte(head)); err != nil {
			return err
		}
		for left := size - len(head) - len(tail); left > 0; {
			n := min(left, len(filler))
			if err := write(filler[:n]); err != nil {
				return err
			}
			left -= n
		}
		return write([]byte(tail))
	}
	mac := hmac.New(sha256.New, []byte(webhookSecret.Value()))
	body(func(p []byte) error { mac.Write(p); return nil })

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "POST /hooks/github HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", addr)
	fmt.Fprintf(&hdr, "X-GitHub-Event: push\r\nX-GitHub-Delivery: huge-%t\r\nX-Hub-Signature-256: sha256=%x\r\n", chunked, mac.Sum(nil))
	if chunked {
		hdr.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&hdr, "Content-Length: %d\r\n\r\n", size)
	}
	if _, err := conn.Write([]byte(hdr.String())); err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		// The server stops reading once it has refused the body; the
		// write error that follows is expected.
		_ = body(func(p []byte) error {
			if chunked {
				if _, err := fmt.Fprintf(conn, "%x\r\n", len(p)); err != nil {
					return err
				}
			}
			if _, err := conn.Write(p); err != nil {
				return err
			}
			if chunked {
				_, err := conn.Write([]byte("\r\n"))
				return err
			}
			return nil
		})
		if chunked {
			conn.Write([]byte("0\r\n\r\n"))
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer to a %d byte body: %v", size, err)
	}
	resp.Body.Close()
	conn.Close() // ends the writer if the server still reads
	<-sent
	return resp.StatusCode
}

func TestRedeliveryAndReplayBuildOnce(t *testing.T) {
	w := helloWorldWorld(t, setup{})
	c := serve(t, w, nil)
	push := pushOf(t, w.Head)

	code, first := c.deliver(delivery{"push", "redelivered", push, "sign"})
	if code != http.StatusAccepted || len(first.Builds) != 1 {
		t.Fatalf("first delivery: %d %+v, want 202 with one build", code, first)
	}
	code, again := c.deliver(delivery{"push", "redelivered", push, "sign"})
	if code != http.StatusOK || !again.Duplicate {
		t.Errorf("redelivery: %d %+v, want 200 duplicate", code, again)
	}
	// The same body under a new delivery ID (a replay: neither the ID nor a
	// time is signed) is deduplicated on project, ref and commit.
	code, replay := c.deliver(delivery{"push", "replayed", push, "sign"})
	if code != http.StatusOK || !replay.Duplicate {
		t.Errorf("replay with a new ID: %d %+v, want 200 duplicate", code, replay)
	}
	b := c.waitFinished(first.Builds[0], buildTimeout)
	if b.Status != store.StatusSucceeded {
		t.Errorf("build: %s", describe(b))
	}
	// A redelivery after the build ended builds nothing either.
	if code, a := c.deliver(delivery{"push", "redelivered", push, "sign"}); code != http.StatusOK || !a.Duplicate {
		t.Errorf("redelivery after the build: %d %+v, want 200 duplicate", code, a)
	}
	if got := c.builds(); len(got) != 1 {
		t.Errorf("%d builds, want 1: %v", len(got), got)
	}
}

func TestBurstOfPushesBuildsTheNewestLast(t *testing.T) {
	const pushes = 20
	w := helloWorldWorld(t, setup{Concurrency: 2})
	commits := make([]string, pushes)
	for i := range commits {
		commits[i] = w.Repo.Commit(t, "master", map[string]string{"ctx/n.txt": fmt.Sprint(i)}, fmt.Sprintf("commit %d", i))
	}
	c := serve(t, w, nil)

	byCommit := map[int64]int{}
	for i, commit := range commits {
		code, a := c.deliver(delivery{"push", fmt.Sprintf("burst-%d", i), pushOf(t, commit), "sign"})
		if code != http.StatusAccepted || len(a.Builds) != 1 {
			t.Fatalf("push %d: %d %+v, want 202 with one build", i, code, a)
		}
		byCommit[a.Builds[0]] = i
	}
	newestID := int64(0)
	for id, i := range byCommit {
		if i == pushes-1 {
			newestID = id
		}
	}
	newest := c.waitFinished(newestID, 2*buildTimeout)
	if newest.Status != store.StatusSucceeded || newest.Commit != commits[pushes-1] {
		t.Fatalf("the newest commit's build: %s, want succeeded at %s", describe(newest), commits[pushes-1])
	}

	all := c.builds()
	if len(all) != pushes {
		t.Fatalf("%d builds, want %d", len(all), pushes)
	}
	ran := 0
	for _, b := range all {
		if b.ID == newest.ID {
			continue
		}
		if !store.Finished(b.Status) {
			t.Errorf("%s has not ended after the newest build did", describe(b))
			continue
		}
		if len(b.Stages) > 0 {
			ran++
			if b.StartedAt == nil || b.StartedAt.After(*newest.StartedAt) {
				t.Errorf("%s started at %s, after the newest build started (%s)", describe(b), b.StartedAt, newest.StartedAt)
			}
		} else if b.Status != store.StatusSuperseded || b.StartedAt != nil {
			t.Errorf("%s never ran but is not superseded", describe(b))
		}
		if b.FinishedAt == nil || b.FinishedAt.After(*newest.FinishedAt) {
			t.Errorf("%s finished at %v, after the newest build (%s)", describe(b), b.FinishedAt, newest.FinishedAt)
		}
	}
	t.Logf("%d pushes: %d builds ran stages, the others were superseded", pushes, ran+1)
	if ran+1 > 2 {
		t.Errorf("%d builds ran stages, want at most 2", ran+1)
	}
	if got := w.Digest("master"); got != newest.Digest {
		t.Errorf("master = %s in the registry, want the newest build's %s", got, newest.Digest)
	}
}
