package server_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
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

// TestReconcileOnPostgresQueuesAMissedHeadOnce: two replicas on one
// PostgreSQL database start after a push missed while none ran; the head
// is built once, with trigger reconcile, whichever replica reconciled.
func TestReconcileOnPostgresQueuesAMissedHeadOnce(t *testing.T) {
	bin := slipwayBinary(t)
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	w := newWorld(t, setup{Concurrency: 1, Tokens: true, Listen: "${SLIPWAY_TEST_LISTEN}"})
	configs := replicaConfigs(t, w, database, 2)

	first, c := startServeConfig(t, bin, configs[0])
	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST build: %d %s", code, body)
	}
	if b = c.waitFinished(b.ID, buildTimeout); b.Status != store.StatusSucceeded {
		t.Fatalf("%s, want succeeded", describe(b))
	}
	first.kill9(t)

	missed := w.Repo.Commit(t, "main", map[string]string{"ctx/missed.txt": "pushed while down"}, "missed push")
	a, ca := startServeConfig(t, bin, configs[0])
	bb, _ := startServeConfig(t, bin, configs[1])
	passEnded(t, a)
	passEnded(t, bb)
	var got []store.Build
	for _, b := range ca.builds() {
		if b.Commit == missed {
			got = append(got, b)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d builds of the missed head after both replicas reconciled, want 1: %v", len(got), got)
	}
	if done := ca.waitFinished(got[0].ID, buildTimeout); done.Trigger != store.TriggerReconcile || done.Status != store.StatusSucceeded {
		t.Errorf("%s (trigger %s), want a succeeded reconcile build", describe(done), done.Trigger)
	}
	if n := len(ca.builds()); n != 2 {
		t.Errorf("%d builds, want 2 (main, the missed head)", n)
	}
}

// replicaConfigs writes n configs of w on database, each with its own
// data_dir, and returns their paths.
func replicaConfigs(t *testing.T, w *fixture.World, database string, n int) []string {
	t.Helper()
	text, err := os.ReadFile(w.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(string(text), "\n")
	if !strings.HasPrefix(first, "data_dir: ") {
		t.Fatalf("the world's config starts with %q, want data_dir", first)
	}
	configs := make([]string, n)
	for r := range configs {
		configs[r] = filepath.Join(w.Dir, fmt.Sprintf("replica-%d.yaml", r))
		cfg := fmt.Sprintf("data_dir: %q\ndatabase: %q\n%s", filepath.Join(w.Dir, fmt.Sprint("data-", r)), database, rest)
		if err := os.WriteFile(configs[r], []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return configs
}

// passEnded waits until the child's first reconcile pass ended.
func passEnded(t *testing.T, ch *child) {
	t.Helper()
	waitFor(t, time.Minute, "a reconcile pass ends", func() (bool, string) {
		return strings.Contains(ch.output(), "reconcile pass ended"), ""
	})
}
