package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// openReplicas opens n stores, each with its own pool and replica name
// r0, r1, …, on one new PostgreSQL database, as n slipway processes would.
func openReplicas(t *testing.T, n int) []*Store {
	t.Helper()
	database := newPostgres(t)
	ss := make([]*Store, n)
	for i := range ss {
		ss[i] = openAt(t, database, filepath.Join(t.TempDir(), "data"), Options{Replica: fmt.Sprint("r", i)})
	}
	return ss
}

// concurrently runs fn(i) for i in [0, n) on n goroutines and collects
// their errors.
func concurrently(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresClaimsAcrossReplicas(t *testing.T) {
	const (
		replicas  = 4
		perStore  = 3 // claiming goroutines per replica
		refs      = 5
		perRef    = 6
		allBuilds = refs * perRef
	)
	ss := openReplicas(t, replicas)
	ctx := t.Context()
	for i := range allBuilds {
		enqueue(t, ss[i%replicas], push("web", fmt.Sprint("b", i%refs), ""))
	}
	var (
		mu         sync.Mutex
		running    = map[string]int64{} // ref -> build a worker runs
		claims     = map[int64]int{}
		violations []string
	)
	concurrently(t, replicas*perStore, func(w int) error {
		s := ss[w%replicas]
		for {
			b, ok, err := s.ClaimNext(ctx)
			if err != nil {
				return err
			}
			if !ok {
				mu.Lock()
				done := len(claims) == allBuilds
				mu.Unlock()
				if done {
					return nil
				}
				if err := s.Wait(ctx, 50*time.Millisecond); err != nil {
					return err
				}
				continue
			}
			mu.Lock()
			if other, busy := running[b.Ref]; busy {
				violations = append(violations, fmt.Sprintf("build %d of %s claimed while build %d runs", b.ID, b.Ref, other))
			}
			running[b.Ref] = b.ID
			claims[b.ID]++
			mu.Unlock()

			// The "work": what the database says runs on this branch.
			rs, err := s.ListBuilds(ctx, Filter{Ref: b.Ref, Status: StatusRunning})
			if err != nil {
				return err
			}
			mu.Lock()
			if len(rs) != 1 {
				violations = append(violations, fmt.Sprintf("%d builds of %s running at once", len(rs), b.Ref))
			}
			delete(running, b.Ref)
			mu.Unlock()
			if _, err := s.SetStatus(ctx, b.ID, []Status{StatusRunning}, StatusSucceeded, ""); err != nil {
				return err
			}
		}
	})
	for _, v := range violations {
		t.Error(v)
	}
	if len(claims) != allBuilds {
		t.Errorf("%d builds claimed, want %d", len(claims), allBuilds)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("build %d claimed %d times", id, n)
		}
	}
	bs, err := ss[0].ListBuilds(ctx, Filter{Status: StatusSucceeded, Limit: MaxLimit})
	if err != nil || len(bs) != allBuilds {
		t.Errorf("%d succeeded builds (%v), want %d", len(bs), err, allBuilds)
	}
}

func TestPostgresEnqueueAcrossReplicas(t *testing.T) {
	const replicas = 4
	ss := openReplicas(t, replicas)
	ctx := t.Context()

	t.Run("dedup", func(t *testing.T) {
		var created [replicas * 3]bool
		concurrently(t, len(created), func(i int) error {
			_, c, _, err := ss[i%replicas].Enqueue(ctx, push("web", "dedup", "c1"), EnqueueOptions{Dedup: true, Supersede: true})
			created[i] = c
			return err
		})
		n := 0
		for _, c := range created {
			if c {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d of %d concurrent enqueues of one commit created a build, want 1", n, len(created))
		}
	})
	t.Run("supersede", func(t *testing.T) {
		const n = 24
		concurrently(t, n, func(i int) error {
			_, _, _, err := ss[i%replicas].Enqueue(ctx, push("web", "sup", fmt.Sprint("c", i)), EnqueueOptions{Dedup: true, Supersede: true})
			return err
		})
		queued, err := ss[0].ListBuilds(ctx, Filter{Ref: "refs/heads/sup", Status: StatusQueued})
		if err != nil {
			t.Fatal(err)
		}
		superseded, err := ss[0].ListBuilds(ctx, Filter{Ref: "refs/heads/sup", Status: StatusSuperseded})
		if err != nil {
			t.Fatal(err)
		}
		if len(queued) != 1 || len(superseded) != n-1 {
			t.Errorf("%d queued, %d superseded; want 1, %d", len(queued), len(superseded), n-1)
		}
		if len(queued) == 1 {
			newest, err := ss[0].LastBuild(ctx, "web", "refs/heads/sup")
			if err != nil || newest.ID != queued[0].ID {
				t.Errorf("queued build %d, newest %d (%v): the newest must stay queued", queued[0].ID, newest.ID, err)
			}
		}
	})
}

func TestPostgresDeliveriesAcrossReplicas(t *testing.T) {
	const (
		replicas   = 4
		deliveries = 20
	)
	ss := openReplicas(t, replicas)
	ctx := t.Context()
	var (
		mu      sync.Mutex
		queued  = map[string]int{} // delivery -> times it was not seen
		created = map[string]int{} // commit -> builds created
	)
	// Every replica receives every delivery (GitHub's redelivery, a
	// balancer retry); a second ID of the same commit (a force-push
	// re-sent) must dedup by commit too.
	concurrently(t, replicas*deliveries*2, func(i int) error {
		n := i % deliveries
		id := fmt.Sprint("delivery-", n)
		if i >= replicas*deliveries {
			id += "-again"
		}
		commit := fmt.Sprintf("%040d", n)
		d := Delivery{ID: id, Event: "push", Outcome: "queued"}
		seen, results, err := ss[i%replicas].RecordDeliveryAndEnqueue(ctx, d, []Build{push("web", fmt.Sprint("b", n), commit)},
			EnqueueOptions{Dedup: true, Supersede: true})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if !seen {
			queued[id]++
		}
		for _, r := range results {
			if r.Created {
				created[commit]++
			}
		}
		return nil
	})
	if len(queued) != 2*deliveries {
		t.Errorf("%d deliveries recorded, want %d", len(queued), 2*deliveries)
	}
	for id, n := range queued {
		if n != 1 {
			t.Errorf("delivery %s recorded %d times", id, n)
		}
	}
	if len(created) != deliveries {
		t.Errorf("%d commits built, want %d", len(created), deliveries)
	}
	for c, n := range created {
		if n != 1 {
			t.Errorf("commit %s queued %d times", c, n)
		}
	}
	if n, err := ss[0].CountDeliveries(ctx); err != nil || n != 2*deliveries {
		t.Errorf("CountDeliveries = %d, %v; want %d", n, err, 2*deliveries)
	}
}

func TestPostgresScheduleFiresOnceAcrossReplicas(t *testing.T) {
	const (
		replicas = 4
		dues     = 10
	)
	ss := openReplicas(t, replicas)
	ctx := t.Context()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for d := range dues {
		due := start.Add(time.Duration(d) * 5 * time.Second)
		var created [replicas * 2]bool
		concurrently(t, len(created), func(i int) error {
			b := Build{Project: "web", Trigger: TriggerSchedule, Ref: "refs/heads/main", Schedule: "often", DueAt: &due}
			r, err := ss[i%replicas].MarkFiredAndEnqueue(ctx, "web", "often", due, b, EnqueueOptions{})
			created[i] = r.Created
			if err == nil && !r.Created && (r.Build.DueAt == nil || !r.Build.DueAt.Equal(due)) {
				err = fmt.Errorf("a fire found seen returned build %d due %v, want the build of %v", r.Build.ID, r.Build.DueAt, due)
			}
			return err
		})
		n := 0
		for _, c := range created {
			if c {
				n++
			}
		}
		if n != 1 {
			t.Errorf("due %v fired %d times, want once", due, n)
		}
	}
	bs, err := ss[0].ListBuilds(ctx, Filter{Project: "web"})
	if err != nil || len(bs) != dues {
		t.Errorf("%d builds (%v), want %d", len(bs), err, dues)
	}
	last, ok, err := ss[1].LastFired(ctx, "web", "often")
	if want := start.Add((dues - 1) * 5 * time.Second); err != nil || !ok || !last.Equal(want) {
		t.Errorf("LastFired = %v, %v, %v; want %v", last, ok, err, want)
	}
}

func TestPostgresLeaseTakeover(t *testing.T) {
	ss := openReplicas(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	fixClock(a, t0)
	fixClock(b, t0)
	build := enqueue(t, a, push("web", "main", "c1"))
	got, ok, err := a.ClaimNext(ctx)
	if err != nil || !ok || got.ID != build.ID {
		t.Fatalf("a.ClaimNext = %d, %v, %v", got.ID, ok, err)
	}
	// b starting up leaves a's live build alone.
	if rq, f, err := b.Recover(ctx, 2); err != nil || rq+f != 0 {
		t.Errorf("b.Recover = %d, %d, %v; want nothing recovered", rq, f, err)
	}
	fixClock(b, t0.Add(DefaultLease+time.Second))
	if rq, f, err := b.RequeueExpired(ctx, 2); err != nil || rq != 1 || f != 0 {
		t.Fatalf("b.RequeueExpired after the lease = %d, %d, %v; want 1, 0", rq, f, err)
	}
	taken, ok, err := b.ClaimNext(ctx)
	if err != nil || !ok || taken.ID != build.ID || taken.Attempts != 2 {
		t.Fatalf("b.ClaimNext = %d (attempts %d), %v, %v; want %d at attempt 2", taken.ID, taken.Attempts, ok, err, build.ID)
	}
	if err := a.Heartbeat(ctx, build.ID, a.Replica()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("a.Heartbeat after the takeover = %v, want ErrLeaseLost", err)
	}
	if who, _, ok, err := a.Lease(ctx, build.ID); err != nil || !ok || who != "r1" {
		t.Errorf("Lease = %q, %v, %v; want r1", who, ok, err)
	}
}

func TestPostgresQueueSignalAcrossReplicas(t *testing.T) {
	ss := openReplicas(t, 2)
	a, b := ss[0], ss[1]
	// The listener fires when it connects: wait until it listens, so that
	// only a's enqueue can close the channel taken after.
	select {
	case <-b.listening:
	case <-time.After(30 * time.Second):
		t.Fatal("replica b's listener did not connect within 30s")
	}
	ch := b.QueueSignal()
	enqueue(t, a, push("web", "main", "c1"))
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("replica b was not woken within 30s by replica a's enqueue")
	}
}

func TestPostgresLeaseKeeper(t *testing.T) {
	// Long enough that a's keeper (every lease/10) always extends it in
	// time on a loaded machine, where a PostgreSQL update may take a
	// second: a lapse would let b take the build from a live a.
	const lease = 3 * time.Second
	database := newPostgres(t)
	opts := func(name string) Options {
		return Options{Replica: name, Lease: lease, KeepLeases: lease / 10}
	}
	a, err := OpenDatabase(t.Context(), database, t.TempDir(), opts("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openAt(t, database, t.TempDir(), opts("b"))
	ctx := t.Context()
	build := enqueue(t, a, push("web", "main", "c1"))
	if got, ok, err := a.ClaimNext(ctx); err != nil || !ok || got.ID != build.ID {
		t.Fatalf("a.ClaimNext = %d, %v, %v", got.ID, ok, err)
	}
	_, first, _, err := a.Lease(ctx, build.ID)
	if err != nil {
		t.Fatal(err)
	}
	// a is alive: its keeper extends the lease past the first one, and b's
	// keeper leaves the build alone.
	waitUntil(t, 30*time.Second, "a's keeper extends its lease past the first", func() bool {
		who, until, ok, err := b.Lease(ctx, build.ID)
		return err == nil && ok && who == "a" && until.After(first.Add(lease))
	})
	// a dies (its keeper stops with it): b puts the build back within the
	// lease and claims it.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	died := time.Now()
	var taken Build
	// The bound: taken over within lease + 5s.
	waitUntil(t, lease+5*time.Second, "b takes the build over", func() bool {
		got, ok, err := b.ClaimNext(ctx)
		taken = got
		return err == nil && ok
	})
	took := time.Since(died)
	if taken.ID != build.ID || taken.Attempts != 2 {
		t.Errorf("b claimed %d (attempt %d), want %d at attempt 2", taken.ID, taken.Attempts, build.ID)
	}
	t.Logf("takeover %v after a's end (lease %v)", took.Round(time.Millisecond), lease)
}

// waitUntil polls cond until it holds or fails the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPostgresCancelAcrossReplicas(t *testing.T) {
	database := newPostgres(t)
	a := openAt(t, database, t.TempDir(), Options{Replica: "a", KeepLeases: 100 * time.Millisecond})
	b := openAt(t, database, t.TempDir(), Options{Replica: "b"})
	ctx := t.Context()
	running := enqueue(t, a, push("web", "main", "c1"))
	queued := enqueue(t, a, push("web", "main", "c2"))
	if got, ok, err := a.ClaimNext(ctx); err != nil || !ok || got.ID != running.ID {
		t.Fatalf("a.ClaimNext = %d, %v, %v", got.ID, ok, err)
	}
	if ok, err := b.RequestCancel(ctx, queued.ID); err != nil || ok {
		t.Errorf("RequestCancel of a queued build = %v, %v; want false", ok, err)
	}
	if ok, err := b.RequestCancel(ctx, running.ID); err != nil || !ok {
		t.Fatalf("RequestCancel through b = %v, %v; want true", ok, err)
	}
	// Once by NOTIFY, then again by a's lease keeper while the build runs.
	for i := range 2 {
		select {
		case id := <-a.CancelRequests():
			if id != running.ID {
				t.Errorf("a got a cancel of build %d, want %d", id, running.ID)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("a got no cancel request %d within 30s", i+1)
		}
	}
	sqlite := openAt(t, "", t.TempDir(), Options{})
	if ok, err := sqlite.RequestCancel(ctx, 1); err != nil || ok {
		t.Errorf("RequestCancel on SQLite = %v, %v; want false (one replica cancels its own builds)", ok, err)
	}
}

func TestPostgresTakenOverBuildIsFenced(t *testing.T) {
	database := newPostgres(t)
	a := openAt(t, database, t.TempDir(), Options{Replica: "a", KeepLeases: 100 * time.Millisecond})
	b := openAt(t, database, t.TempDir(), Options{Replica: "b"})
	ctx := t.Context()
	build := enqueue(t, a, push("web", "main", "c1"))
	mine, ok, err := a.ClaimNext(ctx)
	if err != nil || !ok {
		t.Fatalf("a.ClaimNext = %v, %v", ok, err)
	}
	// a is cut off past its lease: b puts the build back and runs it.
	fixClock(b, time.Now().Add(DefaultLease+time.Minute))
	if rq, _, err := b.RequeueExpired(ctx, 2); err != nil || rq != 1 {
		t.Fatalf("b.RequeueExpired = %d, %v; want 1", rq, err)
	}
	theirs, ok, err := b.ClaimNext(ctx)
	if err != nil || !ok || theirs.Attempts != 2 {
		t.Fatalf("b.ClaimNext = %+v, %v, %v", theirs, ok, err)
	}
	// a hears that it lost the build ...
	select {
	case id := <-a.CancelRequests():
		if id != build.ID {
			t.Errorf("a was told to stop build %d, want %d", id, build.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a was not told within 30s that its build was taken over")
	}
	// ... and its late write changes nothing.
	mine.Status, mine.Error = StatusFailed, "written by the replica that lost it"
	if err := a.UpdateBuild(ctx, mine); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("a.UpdateBuild of the build b runs = %v, want ErrLeaseLost", err)
	}
	if got := mustGet(t, b, build.ID); got.Status != StatusRunning || got.Attempts != 2 {
		t.Errorf("after a's late write: %s attempt %d, want b's running attempt 2", got.Status, got.Attempts)
	}
	theirs.Status = StatusSucceeded
	if err := b.UpdateBuild(ctx, theirs); err != nil {
		t.Errorf("b.UpdateBuild: %v", err)
	}
	if err := a.UpdateBuild(ctx, mine); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("a.UpdateBuild after b finished = %v, want ErrLeaseLost", err)
	}
}

// TestPostgresExclusiveAcrossReplicas: one replica at a time holds a
// TryExclusive lock; after its release another takes it.
func TestPostgresExclusiveAcrossReplicas(t *testing.T) {
	ss := openReplicas(t, 2)
	a, b := ss[0], ss[1]
	release, ok, err := a.TryExclusive(t.Context(), "reconcile")
	if err != nil || !ok {
		t.Fatalf("replica a TryExclusive = %t, %v; want taken", ok, err)
	}
	if _, ok, err := b.TryExclusive(t.Context(), "reconcile"); err != nil || ok {
		t.Fatalf("replica b TryExclusive while a holds it = %t, %v; want refused", ok, err)
	}
	other, ok, err := b.TryExclusive(t.Context(), "another")
	if err != nil || !ok {
		t.Fatalf("replica b TryExclusive of another name = %t, %v; want taken", ok, err)
	}
	other()
	release()
	again, ok, err := b.TryExclusive(t.Context(), "reconcile")
	if err != nil || !ok {
		t.Fatalf("replica b TryExclusive after a's release = %t, %v; want taken", ok, err)
	}
	again()
}

// TestPostgresBuiltBranches lists the branches with push, manual or
// reconcile builds, each once.
func TestPostgresBuiltBranches(t *testing.T) {
	s := openReplicas(t, 1)[0]
	enqueue(t, s, push("web", "main", "c1"))
	enqueue(t, s, push("web", "main", "c2"))
	enqueue(t, s, Build{Project: "web", Trigger: TriggerReconcile, Ref: "refs/heads/dev", Commit: "c3"})
	enqueue(t, s, Build{Project: "web", Trigger: TriggerTag, Ref: "refs/tags/v1", Commit: "c4"})
	enqueue(t, s, Build{Project: "web", Trigger: TriggerSchedule, Ref: "refs/heads/nightly", Schedule: "nightly"})
	enqueue(t, s, push("api", "other", "c5"))
	got, err := s.BuiltBranches(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"refs/heads/dev", "refs/heads/main"}; !slices.Equal(got, want) {
		t.Errorf("BuiltBranches = %v, want %v", got, want)
	}
}
