package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func testLeases(t *testing.T, be testBackend) {
	database, dir := be.newDB(t)
	s := openAt(t, database, dir, Options{Replica: "replica-a", Lease: 30 * time.Second})
	ctx := t.Context()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	fixClock(s, t0)
	b := enqueue(t, s, push("web", "main", "c1"))
	if _, _, ok, err := s.Lease(ctx, b.ID); err != nil || ok {
		t.Errorf("Lease of a queued build = %v, %v; want none", ok, err)
	}
	if _, ok, err := s.ClaimNext(ctx); err != nil || !ok {
		t.Fatalf("ClaimNext = %v, %v", ok, err)
	}
	who, until, ok, err := s.Lease(ctx, b.ID)
	if err != nil || !ok || who != "replica-a" || !until.Equal(t0.Add(30*time.Second)) {
		t.Errorf("Lease after claim = %q, %v, %v, %v; want replica-a until %v", who, until, ok, err, t0.Add(30*time.Second))
	}

	// A heartbeat at 20s keeps the build past its first lease.
	fixClock(s, t0.Add(20*time.Second))
	if err := s.Heartbeat(ctx, b.ID, "replica-a"); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	fixClock(s, t0.Add(40*time.Second))
	if rq, f, err := s.RequeueExpired(ctx, 2); err != nil || rq+f != 0 {
		t.Errorf("RequeueExpired within the lease = %d, %d, %v; want nothing", rq, f, err)
	}
	if err := s.Heartbeat(ctx, b.ID, "replica-b"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Heartbeat by another replica = %v, want ErrLeaseLost", err)
	}
	if err := s.Heartbeat(ctx, 4242, "replica-a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Heartbeat of a missing build = %v, want ErrNotFound", err)
	}

	// Silent past the lease: put back, then failed at the second expiry.
	fixClock(s, t0.Add(51*time.Second))
	if rq, f, err := s.RequeueExpired(ctx, 2); err != nil || rq != 1 || f != 0 {
		t.Fatalf("RequeueExpired = %d, %d, %v; want 1, 0", rq, f, err)
	}
	if got := mustGet(t, s, b.ID); got.Status != StatusQueued || got.Attempts != 1 || got.StartedAt != nil {
		t.Errorf("requeued build: %+v", got)
	}
	if err := s.Heartbeat(ctx, b.ID, "replica-a"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Heartbeat of a requeued build = %v, want ErrLeaseLost", err)
	}
	if got, ok, err := s.ClaimNext(ctx); err != nil || !ok || got.Attempts != 2 {
		t.Fatalf("second ClaimNext = %+v, %v, %v", got, ok, err)
	}
	fixClock(s, t0.Add(2*time.Minute))
	if rq, f, err := s.RequeueExpired(ctx, 2); err != nil || rq != 0 || f != 1 {
		t.Fatalf("second RequeueExpired = %d, %d, %v; want 0, 1", rq, f, err)
	}
	got := mustGet(t, s, b.ID)
	if got.Status != StatusFailed || got.Error != leaseLostError || got.FinishedAt == nil || !got.FinishedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after the second expiry: %+v", got)
	}

	// A `slipway build` (Insert) has no lease and is never requeued by it.
	ins, err := s.Insert(ctx, push("web", "cli", ""))
	if err != nil {
		t.Fatal(err)
	}
	fixClock(s, t0.Add(time.Hour))
	if rq, f, err := s.RequeueExpired(ctx, 2); err != nil || rq+f != 0 {
		t.Errorf("RequeueExpired with an inserted build = %d, %d, %v; want nothing", rq, f, err)
	}
	if st := mustGet(t, s, ins.ID).Status; st != StatusRunning {
		t.Errorf("inserted build status = %s, want running", st)
	}
}

func testQueueSignal(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	ch := s.QueueSignal()
	enqueue(t, s, push("web", "main", "c1"))
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("QueueSignal did not fire within 30s of an enqueue")
	}
	b, ok, err := s.ClaimNext(ctx)
	if err != nil || !ok {
		t.Fatalf("ClaimNext = %v, %v", ok, err)
	}
	ch = s.QueueSignal()
	if _, err := s.SetStatus(ctx, b.ID, nil, StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("QueueSignal did not fire within 30s of a build ending")
	}
	// Wait returns at the poll interval when nothing changes.
	if err := s.Wait(ctx, time.Millisecond); err != nil {
		t.Errorf("Wait = %v", err)
	}
}

func testKey(t *testing.T, be testBackend) {
	database, dir := be.newDB(t)
	ctx := t.Context()
	s, err := OpenDatabase(ctx, database, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := s.Key(ctx, "session", 32)
	if err != nil || len(k1) != 32 {
		t.Fatalf("Key = %x, %v; want 32 bytes", k1, err)
	}
	if again, err := s.Key(ctx, "session", 32); err != nil || !bytes.Equal(again, k1) {
		t.Errorf("second Key = %x, %v; want the first %x", again, err, k1)
	}
	if other, err := s.Key(ctx, "other", 32); err != nil || bytes.Equal(other, k1) {
		t.Errorf("Key(other) = %x, %v; want another key", other, err)
	}
	if _, err := s.Key(ctx, "session", 16); err == nil {
		t.Error("Key of another size succeeded, want an error")
	}
	// Another process (a replica, or the next start) gets the same key.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var others []*Store
	if be.name == BackendPostgres {
		for range 3 {
			others = append(others, openAt(t, database, t.TempDir(), Options{}))
		}
	} else {
		others = append(others, openAt(t, database, dir, Options{}))
	}
	for i, o := range others {
		if got, err := o.Key(ctx, "session", 32); err != nil || !bytes.Equal(got, k1) {
			t.Errorf("store %d: Key = %x, %v; want %x", i, got, err, k1)
		}
	}
}
