package server_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/slipwayci/slipway/store"
)

// A push of an older commit that arrives late (replayed under a new
// delivery id) must not move the branch backwards nor leave the newest
// commit unbuilt.
func TestLatePushOfAnOlderCommitKeepsTheNewest(t *testing.T) {
	w := helloWorldWorld(t, setup{Concurrency: 2})
	var commits []string
	for i := range 4 {
		commits = append(commits, w.Repo.Commit(t, "master", map[string]string{"ctx/n.txt": fmt.Sprint(i)}, fmt.Sprintf("commit %d", i)))
	}
	c := serve(t, w, nil)
	for i, commit := range commits {
		code, a := c.deliver(delivery{"push", fmt.Sprintf("late-%d", i), pushOf(t, commit), "sign"})
		if code != http.StatusAccepted {
			t.Fatalf("push %d: %d %+v", i, code, a)
		}
	}
	// commit 1 arrives again, late, under a new delivery id.
	code, a := c.deliver(delivery{"push", "late-again", pushOf(t, commits[1]), "sign"})
	t.Logf("late push: %d %+v", code, a)
	waitFor(t, buildTimeout, "all builds end", func() (bool, string) {
		for _, b := range c.builds() {
			if !store.Finished(b.Status) {
				return false, describe(b)
			}
		}
		return true, ""
	})
	for _, b := range c.builds() {
		t.Logf("%s", describe(b))
	}
	// The newest commit ends built: its own build, or a build queued again
	// after the late push of an older commit superseded it.
	var newest store.Build
	for _, b := range c.builds() {
		if b.Commit == commits[3] && b.Status == store.StatusSucceeded {
			newest = b
		}
	}
	if newest.ID == 0 {
		t.Fatalf("no succeeded build of the newest commit %s", commits[3])
	}
	if got := w.Digest("master"); got != newest.Digest {
		t.Errorf("master = %s, want newest's %s", got, newest.Digest)
	}
}
