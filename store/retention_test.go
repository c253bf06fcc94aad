package store

import (
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
