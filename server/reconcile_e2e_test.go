package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

// TestReconcileBuildsAPushMissedWhileDown stops the only replica, commits
// to a built branch without telling slipway, and starts it again: its
// first reconcile pass queues the new head once, with trigger reconcile,
// and leaves the branch whose head is built alone; a further restart
// queues nothing more.
func TestReconcileBuildsAPushMissedWhileDown(t *testing.T) {
	bin := slipwayBinary(t)
	w := newWorld(t, setup{
		Concurrency: 1,
		Tokens:      true,
		Listen:      "${SLIPWAY_TEST_LISTEN}",
		Fixture:     fixture.Options{ProjectExtra: "    branches: [main, side]\n"},
	})
	w.Repo.Commit(t, "side", map[string]string{"ctx/side.txt": "side"}, "on side")

	first, c := startServe(t, bin, w)
	for _, br := range []string{"main", "side"} {
		code, b, body := c.createBuild(br, apiToken)
		if code != http.StatusAccepted {
			t.Fatalf("POST build of %s: %d %s, want 202", br, code, body)
		}
		if b = c.waitFinished(b.ID, buildTimeout); b.Status != store.StatusSucceeded {
			t.Fatalf("%s, want succeeded", describe(b))
		}
	}
	first.kill9(t)

	missed := w.Repo.Commit(t, "main", map[string]string{"ctx/missed.txt": "pushed while down"}, "missed push")
	second, c := startServe(t, bin, w)
	passEnded(t, second)
	var got store.Build
	for _, b := range c.builds() {
		if b.Commit == missed {
			got = b
		}
	}
	if got.ID == 0 {
		t.Fatalf("no build of the missed head %s after the first reconcile pass: %v", missed, c.builds())
	}
	if got = c.waitFinished(got.ID, buildTimeout); got.Trigger != store.TriggerReconcile || got.Ref != "refs/heads/main" || got.Status != store.StatusSucceeded {
		t.Errorf("%s (trigger %s), want a succeeded reconcile build of refs/heads/main", describe(got), got.Trigger)
	}
	if d := w.Digest("main"); d != got.Digest {
		t.Errorf("the registry's main is %s, want the reconcile build's %s", d, got.Digest)
	}
	second.kill9(t)

	third, c := startServe(t, bin, w)
	passEnded(t, third)
	all := c.builds()
	if len(all) != 3 {
		var ds []string
		for _, b := range all {
			ds = append(ds, describe(b)+" "+b.Trigger)
		}
		t.Errorf("%d builds after a pass over built heads, want 3 (main, side, the missed head once): %s", len(all), strings.Join(ds, "; "))
	}
}

// passEnded waits until the child's first reconcile pass ended.
func passEnded(t *testing.T, ch *child) {
	t.Helper()
	waitFor(t, time.Minute, "a reconcile pass ends", func() (bool, string) {
		return strings.Contains(ch.output(), "reconcile pass ended"), ""
	})
}
