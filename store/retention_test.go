package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seedAt stores builds as given (status, CreatedAt) with a log naming
// each, and returns their IDs.
func seedAt(t *testing.T, s *Store, bs ...Build) []int64 {
	t.Helper()
	first, err := s.Seed(t.Context(), len(bs), func(i int) SeedBuild {
		return SeedBuild{Build: bs[i], Log: fmt.Appendf(nil, "log of %d\n", i)}
	})
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	ids := make([]int64, len(bs))
	for i := range ids {
		ids[i] = first + int64(i)
	}
	return ids
}

// builtAt is a build of project in status, created at.
func builtAt(project string, status Status, at time.Time) Build {
	b := push(project, "main", "")
	b.Status, b.CreatedAt = status, at
	return b
}

// remaining lists which of ids still exist, and checks that exactly
// those have their log.
func remaining(t *testing.T, s *Store, ids []int64) []int64 {
	t.Helper()
	out := []int64{}
	for _, id := range ids {
		_, err := s.GetBuild(t.Context(), id)
		log, lerr := s.ReadLog(t.Context(), id, 0, 0)
		if lerr != nil {
			t.Fatalf("ReadLog(%d): %v", id, lerr)
		}
		if err == nil {
			out = append(out, id)
		}
		if (err == nil) != (len(log) > 0) {
			t.Errorf("build %d: GetBuild error %v, log %q: a build and its log go together", id, err, log)
		}
	}
	return out
}

func testPrune(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	now := time.Now().UTC()
	old, recent := now.Add(-10*24*time.Hour), now.Add(-24*time.Hour)
	ids := seedAt(t, s,
		builtAt("web", StatusSucceeded, old),    // 0: goes by age
		builtAt("web", StatusRunning, old),      // 1: running, kept
		builtAt("web", StatusQueued, old),       // 2: queued, kept
		builtAt("web", StatusFailed, old),       // 3: goes by age
		builtAt("api", StatusSucceeded, old),    // 4: api's newest, kept
		builtAt("web", StatusSucceeded, recent), // 5
	)

	if n, err := s.Prune(ctx, Retention{}); err != nil || n != 0 {
		t.Fatalf("Prune(zero) = %d, %v; want nothing deleted", n, err)
	}
	n, err := s.Prune(ctx, Retention{Before: now.Add(-7 * 24 * time.Hour), Batch: 1})
	if err != nil || n != 2 {
		t.Fatalf("Prune(7 days) = %d, %v; want 2", n, err)
	}
	if diff := cmp.Diff(remaining(t, s, ids), []int64{ids[1], ids[2], ids[4], ids[5]}); diff != "" {
		t.Errorf("builds left by keep_days (-got +want):\n%s", diff)
	}

	more := seedAt(t, s,
		builtAt("web", StatusSucceeded, now), // 6
		builtAt("web", StatusCanceled, now),  // 7
		builtAt("web", StatusFailed, now),    // 8
	)
	ids = append(ids, more...)
	// web, newest first: 8 7 6 | 5 2(queued) 1(running).
	n, err = s.Prune(ctx, Retention{KeepPerProject: 3, Batch: 1})
	if err != nil || n != 1 {
		t.Fatalf("Prune(keep 3) = %d, %v; want 1", n, err)
	}
	if diff := cmp.Diff(remaining(t, s, ids), []int64{ids[1], ids[2], ids[4], ids[6], ids[7], ids[8]}); diff != "" {
		t.Errorf("builds left by keep_builds (-got +want):\n%s", diff)
	}
	if n, err := s.Prune(ctx, Retention{KeepPerProject: 3, Before: now.Add(-7 * 24 * time.Hour)}); err != nil || n != 0 {
		t.Errorf("Prune again = %d, %v; want nothing left to delete", n, err)
	}
}

// testPruneLetsWritersIn: deliveries recorded while a long prune runs go
// through between its batches, not after it.
func testPruneLetsWritersIn(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	const old = 1000
	old10 := time.Now().Add(-10 * 24 * time.Hour)
	bs := make([]Build, old)
	for i := range bs {
		bs[i] = builtAt("web", StatusSucceeded, old10)
	}
	seedAt(t, s, bs...)
	newest := enqueue(t, s, push("web", "main", "head"))

	done := make(chan error, 1)
	go func() {
		_, err := s.Prune(ctx, Retention{Before: time.Now().Add(-24 * time.Hour), Batch: 20})
		done <- err
	}()
	var (
		between  int
		recorded []string
	)
	for i := 0; ; i++ {
		id := fmt.Sprint("during-prune-", i)
		if _, _, err := s.RecordDeliveryAndEnqueue(ctx, Delivery{ID: id, Event: "ping"}, nil, EnqueueOptions{}); err != nil {
			t.Fatalf("delivery during the prune: %v", err)
		}
		recorded = append(recorded, id)
		var left int
		if err := s.db.queryRow(ctx, `SELECT count(*) FROM builds`).Scan(&left); err != nil {
			t.Fatalf("count builds: %v", err)
		}
		if left > 1 && left < old+1 {
			between++
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Prune: %v", err)
			}
			if between == 0 {
				t.Errorf("no delivery got in while the prune was half done (%d recorded)", len(recorded))
			}
			for _, id := range recorded {
				if _, err := s.GetDelivery(ctx, id); err != nil {
					t.Errorf("delivery %s: %v", id, err)
				}
			}
			bs, err := s.ListBuilds(ctx, Filter{})
			if err != nil || !slices.EqualFunc(bs, []Build{newest}, func(a, b Build) bool { return a.ID == b.ID }) {
				t.Errorf("builds after the prune: %d, %v; want the newest only", len(bs), err)
			}
			return
		default:
		}
	}
}

// seedDeliveries records one delivery per age (received that long ago),
// named by it, in one transaction.
func seedDeliveries(t *testing.T, s *Store, now time.Time, ages ...time.Duration) []string {
	t.Helper()
	ids := make([]string, len(ages))
	err := s.write(t.Context(), func(tx querier) error {
		for i, age := range ages {
			ids[i] = fmt.Sprintf("delivery-%d-%s", i, age)
			if _, err := s.insertDelivery(t.Context(), tx, Delivery{ID: ids[i], Event: "push", ReceivedAt: now.Add(-age)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed deliveries: %v", err)
	}
	return ids
}

// deliveriesLeft lists which of ids are still recorded.
func deliveriesLeft(t *testing.T, s *Store, ids []string) []string {
	t.Helper()
	out := []string{}
	for _, id := range ids {
		_, err := s.GetDelivery(t.Context(), id)
		switch {
		case err == nil:
			out = append(out, id)
		case !errors.Is(err, ErrNotFound):
			t.Fatalf("GetDelivery(%s): %v", id, err)
		}
	}
	return out
}

// Delivery records older than keep_days go, newer ones stay, and none
// younger than RedeliveryWindow goes whatever keep_days says: a
// redelivery from GitHub still finds its record.
func testPruneDeliveries(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	now := time.Now()
	day := 24 * time.Hour
	ids := seedDeliveries(t, s, now, 40*day, 31*day, 29*day, 8*day, 6*day, day, 0)

	if n, err := s.PruneDeliveries(ctx, time.Time{}, 0); err != nil || n != 0 {
		t.Fatalf("PruneDeliveries(no age) = %d, %v; want nothing deleted", n, err)
	}
	n, err := s.PruneDeliveries(ctx, now.Add(-30*day), 1)
	if err != nil || n != 2 {
		t.Fatalf("PruneDeliveries(30 days, batch 1) = %d, %v; want 2", n, err)
	}
	if diff := cmp.Diff(deliveriesLeft(t, s, ids), ids[2:]); diff != "" {
		t.Errorf("deliveries left by keep_days 30 (-got +want):\n%s", diff)
	}
	// keep_days 2 keeps RedeliveryWindow (7 days).
	n, err = s.PruneDeliveries(ctx, now.Add(-2*day), 0)
	if err != nil || n != 2 {
		t.Fatalf("PruneDeliveries(2 days) = %d, %v; want 2 (those over 7 days)", n, err)
	}
	if diff := cmp.Diff(deliveriesLeft(t, s, ids), ids[4:]); diff != "" {
		t.Errorf("deliveries left by keep_days 2 (-got +want):\n%s", diff)
	}
	// A redelivery of a kept one is still seen.
	if seen, err := s.RecordDelivery(ctx, Delivery{ID: ids[4], Event: "push"}); err != nil || !seen {
		t.Errorf("redelivery of %s after the prune: seen %v, %v; want seen", ids[4], seen, err)
	}
}

// testPruneDeliveriesLetsWritersIn: deliveries recorded while a long prune
// of old ones runs go through between its batches, not after it.
func testPruneDeliveriesLetsWritersIn(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	const old = 5000
	ages := make([]time.Duration, old)
	for i := range ages {
		ages[i] = 40*24*time.Hour + time.Duration(i)*time.Second
	}
	seedDeliveries(t, s, time.Now(), ages...)

	done := make(chan error, 1)
	go func() {
		n, err := s.PruneDeliveries(ctx, time.Now().Add(-30*24*time.Hour), 10)
		if err == nil && n != old {
			err = fmt.Errorf("deleted %d, want %d", n, old)
		}
		done <- err
	}()
	var between int
	var recorded []string
	for i := 0; ; i++ {
		id := fmt.Sprint("during-prune-", i)
		if _, err := s.RecordDelivery(ctx, Delivery{ID: id, Event: "ping"}); err != nil {
			t.Fatalf("delivery during the prune: %v", err)
		}
		recorded = append(recorded, id)
		n, err := s.CountDeliveries(ctx)
		if err != nil {
			t.Fatalf("CountDeliveries: %v", err)
		}
		if left := n - len(recorded); left > 0 && left < old {
			between++
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("PruneDeliveries: %v", err)
			}
			if between == 0 {
				t.Errorf("no delivery got in while the prune was half done (%d recorded)", len(recorded))
			}
			if diff := cmp.Diff(deliveriesLeft(t, s, recorded), recorded); diff != "" {
				t.Errorf("deliveries recorded during the prune (-got +want):\n%s", diff)
			}
			if n, err := s.CountDeliveries(ctx); err != nil || n != len(recorded) {
				t.Errorf("CountDeliveries after the prune = %d, %v; want the %d recorded during it", n, err, len(recorded))
			}
			return
		default:
		}
	}
}
