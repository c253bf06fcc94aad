package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testBaseImages(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	d1, d2 := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)

	t.Run("reason and bases round trip", func(t *testing.T) {
		b := push("web", "main", "c1")
		b.Reason = "push"
		got := enqueue(t, s, b)
		got.Bases = []BaseImage{{Ref: "127.0.0.1:5000/base:1", Digest: d1}, {Ref: "docker.io/library/golang:1.26", Digest: d2, Platform: "linux/amd64"}}
		got.Reason = "changed" // never written by UpdateBuild
		if err := s.UpdateBuild(ctx, got); err != nil {
			t.Fatalf("UpdateBuild: %v", err)
		}
		want := got
		want.Reason = "push"
		if diff := cmp.Diff(mustGet(t, s, got.ID), want); diff != "" {
			t.Errorf("GetBuild (-got +want):\n%s", diff)
		}
	})

	t.Run("a rebuild dedups only against a queued rebuild", func(t *testing.T) {
		old := enqueue(t, s, push("api", "main", "c9"))
		setStatus(t, s, old.ID, StatusSucceeded)
		rebuild := Build{Project: "api", Trigger: TriggerBaseImage, Ref: "refs/heads/main", Commit: "c9", Reason: "base_image x"}
		opts := EnqueueOptions{Dedup: true, Rebuild: true}
		first, created, _, err := s.Enqueue(ctx, rebuild, opts)
		if err != nil || !created {
			t.Fatalf("Enqueue of a rebuild of a succeeded commit = %v, created %v; want a new build", err, created)
		}
		again, created, _, err := s.Enqueue(ctx, rebuild, opts)
		if err != nil || created || again.ID != first.ID {
			t.Errorf("second rebuild = build %d created %v, %v; want build %d not created", again.ID, created, err, first.ID)
		}
		// A push supersedes a queued rebuild of its branch.
		_, _, superseded, err := s.Enqueue(ctx, push("api", "main", "c10"), EnqueueOptions{Dedup: true, Supersede: true})
		if err != nil || len(superseded) != 1 || superseded[0] != first.ID {
			t.Errorf("push superseded %v, %v; want [%d]", superseded, err, first.ID)
		}
	})

	t.Run("checks", func(t *testing.T) {
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		ref := "127.0.0.1:5000/base:1"
		watch := func(first, latest time.Time) {
			t.Helper()
			if err := s.WatchBases(ctx, map[string]BaseDue{ref: {First: first, Latest: latest}}); err != nil {
				t.Fatalf("WatchBases: %v", err)
			}
		}
		watch(t0.Add(2*time.Hour), t0.Add(3*time.Hour)) // new: due at First
		watch(t0.Add(5*time.Hour), t0)                  // brought forward to Latest
		watch(t0.Add(-time.Hour), t0.Add(time.Hour))    // an earlier due time stays
		c, err := s.BaseCheckOf(ctx, ref)
		if err != nil || !c.NextAt.Equal(t0) || c.Digest != "" {
			t.Fatalf("BaseCheckOf = %+v, %v; want due at %v, no digest", c, err, t0)
		}
		ok, err := s.ClaimBaseCheck(ctx, ref, t0, t0.Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("first claim = %v, %v; want true", ok, err)
		}
		if ok, err := s.ClaimBaseCheck(ctx, ref, t0, t0.Add(time.Minute)); err != nil || ok {
			t.Errorf("second claim of the same due check = %v, %v; want false", ok, err)
		}
		prev, err := s.RecordBaseCheck(ctx, ref, d1, nil, t0.Add(time.Second), t0.Add(time.Hour))
		if err != nil || prev.Digest != "" {
			t.Fatalf("RecordBaseCheck = %+v, %v", prev, err)
		}
		prev, err = s.RecordBaseCheck(ctx, ref, "", errors.New("registry down"), t0.Add(2*time.Second), t0.Add(2*time.Hour))
		if err != nil || prev.Digest != d1 {
			t.Fatalf("RecordBaseCheck of a failure = %+v, %v", prev, err)
		}
		c, _ = s.BaseCheckOf(ctx, ref)
		want := BaseCheck{Ref: ref, Digest: d1, SeenAt: t0.Add(time.Second), CheckedAt: t0.Add(2 * time.Second),
			NextAt: t0.Add(2 * time.Hour), Failures: 1, LastError: "registry down"}
		if diff := cmp.Diff(c, want); diff != "" {
			t.Errorf("after a failure (-got +want):\n%s", diff)
		}
		if _, err := s.RecordBaseCheck(ctx, ref, d2, nil, t0.Add(3*time.Second), t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		c, _ = s.BaseCheckOf(ctx, ref)
		if c.Digest != d2 || !c.SeenAt.Equal(t0.Add(3*time.Second)) || c.Failures != 0 || c.LastError != "" {
			t.Errorf("after a change = %+v; want %s seen at the check, failures cleared", c, d2)
		}
		fixClock(s, t0.Add(4*time.Second))
		n, err := s.CheckBasesNow(ctx, []string{ref, "unwatched:1"})
		if err != nil || n != 1 {
			t.Errorf("CheckBasesNow = %d, %v; want 1", n, err)
		}
		all, err := s.BaseChecks(ctx)
		if err != nil || len(all) != 1 || !all[0].NextAt.Equal(t0.Add(4*time.Second)) {
			t.Errorf("BaseChecks = %+v, %v; want one due now", all, err)
		}
		if _, err := s.BaseCheckOf(ctx, "unwatched:1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("BaseCheckOf(unwatched) = %v, want ErrNotFound", err)
		}
	})
	t.Run("retry claims", func(t *testing.T) {
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		got, err := s.BaseRetries(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("BaseRetries before any = %v, %v; want none", got, err)
		}
		claim := func(due, until time.Time) bool {
			t.Helper()
			ok, err := s.ClaimBaseRetry(ctx, "web", due, until)
			if err != nil {
				t.Fatalf("ClaimBaseRetry: %v", err)
			}
			return ok
		}
		if !claim(time.Time{}, t0) {
			t.Fatal("the first claim of a project without a retry time failed")
		}
		// A replica that read the same (absent) time loses.
		if claim(time.Time{}, t0.Add(time.Second)) {
			t.Error("a second claim from no retry time succeeded")
		}
		if !claim(t0, t0.Add(time.Hour)) {
			t.Error("the claim of the time read failed")
		}
		if claim(t0, t0.Add(2*time.Hour)) {
			t.Error("a second claim of the same retry time succeeded")
		}
		got, err = s.BaseRetries(ctx)
		if want := map[string]time.Time{"web": t0.Add(time.Hour)}; err != nil || !cmp.Equal(got, want) {
			t.Errorf("BaseRetries = %v, %v; want %v", got, err, want)
		}
	})
}
