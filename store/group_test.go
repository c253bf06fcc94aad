package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdGroup starts group transactions in every slot (one on SQLite) that
// stay in flight until the returned release is called: writes submitted
// meanwhile wait for them and then share the next group.
func holdGroup(t *testing.T, s *Store) (release func()) {
	t.Helper()
	hold := make(chan struct{})
	slots := max(s.group.maxInFlight, 1)
	done := make(chan error, slots)
	for range slots {
		started := make(chan struct{})
		go func() {
			done <- s.writeGroup(context.Background(), nil, func(context.Context, querier) error {
				close(started)
				<-hold
				return nil
			})
		}()
		<-started
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(hold)
			for range slots {
				if err := <-done; err != nil {
					t.Errorf("holding group: %v", err)
				}
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitPending waits until n writes wait for the next group.
func waitPending(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.group.mu.Lock()
		got := len(s.group.pending)
		s.group.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes wait for the next group, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// testGroupCommit: deliveries and enqueues that arrive while a group is in
// flight share the next transaction; the same delivery twice in it queues
// one build; a bad member fails alone.
func testGroupCommit(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	release := holdGroup(t, s)
	commits := s.group.commits.Load()

	type delivered struct {
		seen    bool
		results []EnqueueResult
		err     error
	}
	var (
		wg        sync.WaitGroup
		dups      [2]delivered
		other     delivered
		bad, good error
		goodBuild Build
	)
	dupBuild := push("web", "main", "c1")
	for i := range dups {
		wg.Go(func() {
			d := &dups[i]
			d.seen, d.results, d.err = s.RecordDeliveryAndEnqueue(ctx, Delivery{ID: "dup", Event: "push", Outcome: "queued"},
				[]Build{dupBuild}, EnqueueOptions{Dedup: true, Supersede: true})
		})
	}
	waitPending(t, s, 2)
	wg.Go(func() {
		other.seen, other.results, other.err = s.RecordDeliveryAndEnqueue(ctx, Delivery{ID: "other", Event: "push", Outcome: "queued"},
			[]Build{push("web", "dev", "c2")}, EnqueueOptions{Dedup: true, Supersede: true})
	})
	waitPending(t, s, 3)
	wg.Go(func() {
		_, _, _, bad = s.Enqueue(ctx, Build{Project: "", Trigger: TriggerManual, Ref: "refs/heads/main"}, EnqueueOptions{})
	})
	waitPending(t, s, 4)
	wg.Go(func() {
		goodBuild, _, _, good = s.Enqueue(ctx, push("api", "main", "c3"), EnqueueOptions{Supersede: true})
	})
	waitPending(t, s, 5)
	release()
	wg.Wait()

	held := int64(max(s.group.maxInFlight, 1))
	if got := s.group.commits.Load() - commits - held; got != 1 {
		t.Errorf("%d group transactions committed besides the held ones, want 1 for the four good writes", got)
	}
	for i, d := range dups {
		if d.err != nil {
			t.Fatalf("delivery dup #%d: %v", i, d.err)
		}
	}
	first, second := dups[0], dups[1]
	if first.seen {
		first, second = second, first
	}
	if first.seen || len(first.results) != 1 || !first.results[0].Created {
		t.Errorf("first dup = seen %v, %+v; want a created build", first.seen, first.results)
	}
	if !second.seen || len(second.results) != 0 {
		t.Errorf("second dup = seen %v, %+v; want seen, nothing queued", second.seen, second.results)
	}
	if bs, err := s.ListBuilds(ctx, Filter{Project: "web", Ref: "refs/heads/main"}); err != nil || len(bs) != 1 {
		t.Errorf("builds of web main = %d, %v; want 1", len(bs), err)
	}
	if got, err := s.GetDelivery(ctx, "dup"); err != nil || len(got.BuildIDs) != 1 || len(first.results) != 1 || got.BuildIDs[0] != first.results[0].Build.ID {
		t.Errorf("delivery dup = %+v, %v; want the one build", got, err)
	}
	if other.err != nil || other.seen || len(other.results) != 1 || mustGet(t, s, other.results[0].Build.ID).Status != StatusQueued {
		t.Errorf("delivery other = %+v; want its build queued", other)
	}
	if bad == nil || !strings.Contains(bad.Error(), "project is empty") {
		t.Errorf("bad Enqueue = %v, want the error project is empty", bad)
	}
	if good != nil || mustGet(t, s, goodBuild.ID).Project != "api" {
		t.Errorf("good Enqueue = %+v, %v", goodBuild, good)
	}
	if n, err := s.QueueDepth(ctx); err != nil || n != 3 {
		t.Errorf("QueueDepth = %d, %v; want 3", n, err)
	}

	t.Run("a canceled caller leaves the group", func(t *testing.T) {
		release := holdGroup(t, s)
		cctx, cancel := context.WithCancel(ctx)
		var canceled, kept error
		wg.Go(func() {
			_, _, canceled = s.RecordDeliveryAndEnqueue(cctx, Delivery{ID: "canceled", Event: "ping"}, nil, EnqueueOptions{})
		})
		waitPending(t, s, 1)
		wg.Go(func() {
			_, _, kept = s.RecordDeliveryAndEnqueue(ctx, Delivery{ID: "kept", Event: "ping"}, nil, EnqueueOptions{})
		})
		waitPending(t, s, 2)
		cancel()
		release()
		wg.Wait()
		if !errors.Is(canceled, context.Canceled) {
			t.Errorf("canceled delivery: %v, want context.Canceled", canceled)
		}
		if _, err := s.GetDelivery(ctx, "canceled"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetDelivery(canceled) = %v, want ErrNotFound", err)
		}
		if kept != nil {
			t.Errorf("kept delivery: %v", kept)
		}
		if _, err := s.GetDelivery(ctx, "kept"); err != nil {
			t.Errorf("GetDelivery(kept) = %v", err)
		}
	})
}

// groupHelperEnv names the data directory of TestHelperGroupProcess when
// the test binary runs as its child.
const groupHelperEnv = "SLIPWAY_STORE_GROUP_HELPER_DATA_DIR"

// groupSenders is how many goroutines of TestHelperGroupProcess record
// deliveries at once.
const groupSenders = 16

// TestHelperGroupProcess is not a test: run by
// TestGroupCommitSurvivesKill as a child process, it records deliveries
// (each queueing a build) from groupSenders goroutines at once, printing
// "OK=<delivery id>" as each call returns, until it is killed.
func TestHelperGroupProcess(t *testing.T) {
	dir := os.Getenv(groupHelperEnv)
	if dir == "" {
		return
	}
	s, err := Open(context.Background(), dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "open: %v\n", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for g := range groupSenders {
		go func() {
			for n := 0; ; n++ {
				id := fmt.Sprintf("g%d-%d", g, n)
				b := push("web", fmt.Sprint("b", g), fmt.Sprint("c", n))
				if _, _, err := s.RecordDeliveryAndEnqueue(context.Background(), Delivery{ID: id, Event: "push"}, []Build{b}, EnqueueOptions{Dedup: true, Supersede: true}); err != nil {
					fmt.Fprintf(os.Stderr, "record %s: %v\n", id, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Printf("OK=%s\n", id)
				mu.Unlock()
			}
		}()
	}
	// Block until the parent kills us; stdin closes if the parent dies.
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}

// TestGroupCommitSurvivesKill: every delivery whose call returned (what a
// webhook answers 2xx) is in the database after a kill -9 in the middle of
// concurrent group commits, with its build; none is recorded without it.
func TestGroupCommitSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	h := startHelper(t, "TestHelperGroupProcess", groupHelperEnv, dir)

	const answered = 300
	var acked []string
	sc := bufio.NewScanner(h.stdout)
	for len(acked) < answered && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "OK="); ok {
			acked = append(acked, id)
		}
	}
	if len(acked) < answered {
		t.Fatalf("helper printed %d deliveries, want %d (scan error %v)", len(acked), answered, sc.Err())
	}
	// SIGKILL while the other senders' groups are in flight.
	h.kill9(t)

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	for _, id := range acked {
		d, err := s.GetDelivery(ctx, id)
		if err != nil {
			t.Errorf("delivery %s answered before the kill: %v", id, err)
			continue
		}
		if len(d.BuildIDs) != 1 {
			t.Errorf("delivery %s has builds %v, want one", id, d.BuildIDs)
			continue
		}
		mustGet(t, s, d.BuildIDs[0])
	}
	// Atomicity: no delivery without its build, whatever the kill cut.
	n, err := s.CountDeliveries(ctx)
	if err != nil {
		t.Fatalf("CountDeliveries: %v", err)
	}
	var withBuild int
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM deliveries WHERE build_ids != '[]'`).Scan(&withBuild); err != nil {
		t.Fatalf("count deliveries with builds: %v", err)
	}
	if withBuild != n {
		t.Errorf("%d of %d deliveries have their build", withBuild, n)
	}
	var builds int
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM builds`).Scan(&builds); err != nil {
		t.Fatalf("count builds: %v", err)
	}
	if builds != n {
		t.Errorf("%d builds for %d deliveries, want one each", builds, n)
	}
	t.Logf("%d deliveries answered, %d recorded at the kill", len(acked), n)
}
