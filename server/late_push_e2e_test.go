package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/store"
)

// olderCommitError is what the build of an ancestor of a pushed commit
// ends with (pipeline.ErrOlderCommit).
const olderCommitError = "older than a commit pushed after it"

// A push of an older commit that arrives late (replayed under a new
// delivery id) must not move the branch backwards nor leave the newest
// commit unbuilt.
func TestLatePushOfAnOlderCommitKeepsTheNewest(t *testing.T) {
	w := helloWorldWorld(t, setup{Concurrency: 2})
	var commits []string
	for i := range 4 {
		commits = append(commits, w.Repo.Commit(t, "master", map[string]string{"ctx/n.txt": fmt.Sprint(i)}, fmt.Sprintf("commit %d", i)))
	}
	// The first build's push is held until every push has arrived, so the
	// later ones wait in the queue (one build per branch runs at a time)
	// however fast the first build is.
	reg := holdRegistryWrites(t, w)
	c := serve(t, w, nil)
	var pushed []int64
	for i, commit := range commits {
		code, a := c.deliver(delivery{"push", fmt.Sprintf("late-%d", i), pushOf(t, commit), "sign"})
		if code != http.StatusAccepted || len(a.Builds) != 1 {
			t.Fatalf("push %d: %d %+v, want 202 and one build", i, code, a)
		}
		pushed = append(pushed, a.Builds[0])
		if i == 0 {
			waitFor(t, buildTimeout, "the first build pushing", func() (bool, string) {
				b := c.build(a.Builds[0])
				return reg.waiting() > 0, describe(b)
			})
		}
	}
	// commit 1 arrives again, late, under a new delivery id. Its first
	// build was superseded by commit 2's, so this is a new build...
	code, a := c.deliver(delivery{"push", "late-again", pushOf(t, commits[1]), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 || slices.Contains(pushed, a.Builds[0]) {
		t.Fatalf("late push of commit 1: %d %+v, want 202 and one new build", code, a)
	}
	reg.release()
	waitFor(t, buildTimeout, "all builds end", func() (bool, string) {
		for _, b := range c.builds() {
			if !store.Finished(b.Status) {
				return false, describe(b)
			}
		}
		return true, ""
	})
	all := c.builds()
	var lines []string
	for _, b := range all {
		lines = append(lines, describe(b))
	}
	t.Logf("builds:\n%s", strings.Join(lines, "\n"))

	// ...which builds nothing: a newer commit of the branch was pushed.
	late := c.build(a.Builds[0])
	if late.Status != store.StatusSuperseded || !strings.Contains(late.Error, olderCommitError) || len(late.Tags) != 0 || late.Digest != "" {
		t.Errorf("late build of commit 1: %s tags %v digest %q, want superseded as %q with nothing pushed", describe(late), late.Tags, late.Digest, olderCommitError)
	}

	// Builds per commit: one per push, one more of commit 1 for the late
	// push, and one more of commit 3 only when the late build superseded
	// commit 3's while it was queued (the newest is then queued again).
	perCommit := map[string][]store.Build{}
	for _, b := range all {
		perCommit[b.Commit] = append(perCommit[b.Commit], b)
	}
	newest := perCommit[commits[3]]
	want := map[string]int{commits[0]: 1, commits[1]: 2, commits[2]: 1, commits[3]: 1}
	if len(newest) == 2 && slices.ContainsFunc(newest, func(b store.Build) bool {
		return b.Status == store.StatusSuperseded && b.Error == fmt.Sprintf("superseded by build %d", late.ID)
	}) {
		want[commits[3]] = 2
	}
	for i, commit := range commits {
		if got := len(perCommit[commit]); got != want[commit] {
			t.Errorf("commit %d has %d builds, want %d", i, got, want[commit])
		}
	}
	if got, wantTotal := len(all), want[commits[0]]+want[commits[1]]+want[commits[2]]+want[commits[3]]; got != wantTotal {
		t.Errorf("%d builds in all, want %d", got, wantTotal)
	}

	// The newest commit ends built exactly once, and the branch points at
	// it.
	var succeeded []store.Build
	for _, b := range newest {
		if b.Status == store.StatusSucceeded {
			succeeded = append(succeeded, b)
		}
	}
	if len(succeeded) != 1 {
		t.Fatalf("%d succeeded builds of the newest commit %s, want 1", len(succeeded), commits[3])
	}
	if got := w.Digest("master"); got != succeeded[0].Digest {
		t.Errorf("master = %s, want newest's %s", got, succeeded[0].Digest)
	}
}

// A push of an ancestor of a commit already built for the branch builds
// nothing: the branch tag stays and no tag of the older commit appears.
func TestPushOfAnAncestorBuildsNothing(t *testing.T) {
	w := helloWorldWorld(t, setup{})
	older := w.Repo.Commit(t, "master", map[string]string{"ctx/n.txt": "older"}, "older")
	newer := w.Repo.Commit(t, "master", map[string]string{"ctx/n.txt": "newer"}, "newer")
	c := serve(t, w, nil)

	code, a := c.deliver(delivery{"push", "ancestor-1", pushOf(t, newer), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("push of the newer commit: %d %+v, want 202", code, a)
	}
	built := c.waitFinished(a.Builds[0], buildTimeout)
	if built.Status != store.StatusSucceeded {
		t.Fatalf("build of the newer commit: %s", describe(built))
	}

	code, a = c.deliver(delivery{"push", "ancestor-2", pushOf(t, older), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("push of the older commit: %d %+v, want 202", code, a)
	}
	b := c.waitFinished(a.Builds[0], buildTimeout)
	if b.Status != store.StatusSuperseded || !strings.Contains(b.Error, olderCommitError) || !strings.Contains(b.Error, newer) {
		t.Errorf("build of the ancestor: %s, want superseded as %q naming %s", describe(b), olderCommitError, newer)
	}
	for _, s := range b.Stages {
		if s.Name != "source" {
			t.Errorf("build of the ancestor ran stage %s, want only source", s.Name)
		}
	}
	if len(b.Tags) != 0 || b.Digest != "" {
		t.Errorf("build of the ancestor lists tags %v digest %q, want none", b.Tags, b.Digest)
	}
	if got := w.Digest("master"); got != built.Digest {
		t.Errorf("master = %s after the ancestor's push, want %s", got, built.Digest)
	}
	if got := w.Digest("master-" + older[:7]); got != "" {
		t.Errorf("master-%s was pushed (%s), want no tag of the ancestor", older[:7], got)
	}
	if got := c.builds(); len(got) != 2 {
		t.Errorf("%d builds, want 2 (nothing queued again)", len(got))
	}
}
