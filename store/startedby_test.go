package store

import (
	"errors"
	"testing"
)

// TestStartedBy checks on every backend that who started a build is kept
// from Enqueue and Insert, and that RecordCancel keeps the first asker of
// a build still going and nobody for one that ended.
func TestStartedBy(t *testing.T) {
	for _, be := range testBackends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			ctx := t.Context()
			b := push("web", "main", "abc")
			b.StartedBy, b.CanceledBy = "ci-bot", "left over"
			queued := enqueue(t, s, b)
			if queued.StartedBy != "ci-bot" || queued.CanceledBy != "" {
				t.Errorf("enqueued started_by %q canceled_by %q, want ci-bot and nobody", queued.StartedBy, queued.CanceledBy)
			}
			if err := s.RecordCancel(ctx, queued.ID, "dashboard:ops"); err != nil {
				t.Fatalf("RecordCancel: %v", err)
			}
			if err := s.RecordCancel(ctx, queued.ID, "token-2"); err != nil {
				t.Fatalf("RecordCancel again: %v", err)
			}
			setStatus(t, s, queued.ID, StatusCanceled)
			got := mustGet(t, s, queued.ID)
			if got.StartedBy != "ci-bot" || got.CanceledBy != "dashboard:ops" {
				t.Errorf("after two cancels: started_by %q canceled_by %q, want ci-bot and the first asker dashboard:ops", got.StartedBy, got.CanceledBy)
			}
			// UpdateBuild (the worker's writes) leaves both alone.
			got.StartedBy, got.CanceledBy = "x", "y"
			if err := s.UpdateBuild(ctx, got); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, s, queued.ID); got.StartedBy != "ci-bot" || got.CanceledBy != "dashboard:ops" {
				t.Errorf("after UpdateBuild: started_by %q canceled_by %q, want them unchanged", got.StartedBy, got.CanceledBy)
			}

			done := enqueue(t, s, push("web", "main", "def"))
			setStatus(t, s, done.ID, StatusSucceeded)
			if err := s.RecordCancel(ctx, done.ID, "late"); err != nil {
				t.Fatalf("RecordCancel of an ended build: %v", err)
			}
			if got := mustGet(t, s, done.ID); got.CanceledBy != "" {
				t.Errorf("an ended build records canceled_by %q, want nobody", got.CanceledBy)
			}
			if err := s.RecordCancel(ctx, 9999, "x"); !errors.Is(err, ErrNotFound) {
				t.Errorf("RecordCancel of no build = %v, want ErrNotFound", err)
			}

			ins, err := s.Insert(ctx, Build{Project: "web", Trigger: TriggerManual, Ref: "refs/heads/main", StartedBy: "cli"})
			if err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, s, ins.ID); got.StartedBy != "cli" {
				t.Errorf("inserted build started_by %q, want cli", got.StartedBy)
			}
		})
	}
}
