package pipeline_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// notes records what the queue's notifier hears, as "id status".
type notes struct {
	mu   sync.Mutex
	seen []string
}

func (n *notes) BuildChanged(_ context.Context, b store.Build) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seen = append(n.seen, string(b.Status)+" "+b.Commit[:min(len(b.Commit), 1)]+b.Schedule)
}

func (n *notes) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.seen
	n.seen = nil
	return out
}

// newQueue is a queue (never run: no worker takes the builds) over a
// fresh store.
func newQueue(t *testing.T) (*pipeline.Queue, *store.Store, *notes) {
	t.Helper()
	cfg := &config.Config{DataDir: t.TempDir(), Projects: []config.Project{{
		Name: "web", DefaultBranch: "main", Image: "registry.example/web",
		Schedules: []config.Schedule{{Name: "nightly", Cron: "@daily", Branch: "main"}},
	}}}
	svc, err := pipeline.Open(t.Context(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	n := &notes{}
	return pipeline.NewQueue(svc, pipeline.QueueOptions{Notifier: n}), svc.Store(), n
}

func push(commit string) pipeline.Trigger {
	return pipeline.Trigger{Kind: store.TriggerPush, Project: "web", Ref: "refs/heads/main", Commit: commit}
}

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// TestEnqueueRules: every producer's build goes through one Enqueue, which
// deduplicates, supersedes and notifies in one place.
func TestEnqueueRules(t *testing.T) {
	q, st, n := newQueue(t)
	ctx := t.Context()
	one := func(tr pipeline.Trigger) store.EnqueueResult {
		t.Helper()
		res, err := q.Enqueue(ctx, pipeline.Request{Triggers: []pipeline.Trigger{tr}})
		if err != nil || len(res.Builds) != 1 {
			t.Fatalf("Enqueue(%+v) = %+v, %v", tr, res, err)
		}
		return res.Builds[0]
	}
	a := one(push(commitA))
	if !a.Created || a.Build.Status != store.StatusQueued || a.Build.Image != "registry.example/web" {
		t.Fatalf("first push: %+v, want a queued build of the project's image", a)
	}
	if got := one(push(commitA)); got.Created || got.Build.ID != a.Build.ID {
		t.Errorf("the same push again: %+v, want build %d returned, nothing queued", got, a.Build.ID)
	}
	b := one(push(commitB))
	if !slices.Equal(b.Superseded, []int64{a.Build.ID}) {
		t.Errorf("a newer push superseded %v, want [%d]", b.Superseded, a.Build.ID)
	}
	if got, want := n.take(), []string{"queued a", "superseded a", "queued b"}; !slices.Equal(got, want) {
		t.Errorf("notifications %q, want %q", got, want)
	}
	late := push(commitA)
	late.Late = true
	requeued := one(late)
	if !requeued.Created || len(requeued.Superseded) != 0 {
		t.Errorf("the requeue after a late push: %+v, want queued, superseding nothing", requeued)
	}
	manual := one(pipeline.Trigger{Kind: store.TriggerManual, Project: "web"})
	if manual.Build.Ref != "refs/heads/main" {
		t.Errorf("a manual build without a ref stores ref %q, want the full ref of the default branch", manual.Build.Ref)
	}
	if want := []int64{b.Build.ID, requeued.Build.ID}; !slices.Equal(manual.Superseded, want) {
		t.Errorf("the manual build superseded %v, want %v", manual.Superseded, want)
	}
	if _, err := q.Enqueue(ctx, pipeline.Request{Triggers: []pipeline.Trigger{{Kind: store.TriggerPush, Project: "nope"}}}); err == nil {
		t.Error("a build of an unknown project was queued")
	}
	if got, err := st.QueueDepth(ctx); err != nil || got != 1 {
		t.Errorf("queue depth %d (%v), want 1: the manual build", got, err)
	}

	// A commit built before: a push of it is a duplicate, a manual build
	// of it (Rebuild) builds again.
	if _, err := st.SetStatus(ctx, requeued.Build.ID, nil, store.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	if got := one(push(commitA)); got.Created || got.Build.ID != requeued.Build.ID {
		t.Errorf("a push of a commit built: %+v, want build %d returned", got, requeued.Build.ID)
	}
	rebuild := one(pipeline.Trigger{Kind: store.TriggerManual, Project: "web", Ref: "refs/heads/main", Commit: commitA})
	if !rebuild.Created || rebuild.Build.Commit != commitA {
		t.Errorf("a manual build of a commit built: %+v, want a new build of %s", rebuild, commitA)
	}
}

// TestEnqueueWithRecords: a delivery and a schedule's mark are written with
// their builds, so that a redelivery never builds twice and a fired release
// is marked.
func TestEnqueueWithRecords(t *testing.T) {
	q, st, n := newQueue(t)
	ctx := t.Context()
	del := pipeline.Request{Delivery: &store.Delivery{ID: "d-1", Event: "push", Outcome: "queued"}, Triggers: []pipeline.Trigger{push(commitA)}}
	first, err := q.Enqueue(ctx, del)
	if err != nil || first.Seen || len(first.Builds) != 1 || !first.Builds[0].Created {
		t.Fatalf("delivery: %+v, %v", first, err)
	}
	again, err := q.Enqueue(ctx, del)
	if err != nil || !again.Seen || len(again.Builds) != 0 {
		t.Errorf("redelivery: %+v, %v; want seen, nothing queued", again, err)
	}
	if d, err := st.GetDelivery(ctx, "d-1"); err != nil || !slices.Equal(d.BuildIDs, []int64{first.First().ID}) {
		t.Errorf("recorded delivery %+v, %v; want build %d", d, err, first.First().ID)
	}

	due := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	rel := pipeline.Trigger{Kind: store.TriggerSchedule, Project: "web", Schedule: "nightly", Due: due}
	fired, err := q.Enqueue(ctx, pipeline.Request{Triggers: []pipeline.Trigger{rel}, Fired: true})
	if err != nil || fired.First().Ref != "refs/heads/main" || !fired.First().DueAt.Equal(due) {
		t.Fatalf("fired release: %+v, %v", fired, err)
	}
	if mark, ok, err := st.LastFired(ctx, "web", "nightly"); err != nil || !ok || !mark.Equal(due) {
		t.Errorf("mark %s %v %v, want %s", mark, ok, err, due)
	}
	if got, want := n.take(), []string{"queued a", "queued nightly"}; !slices.Equal(got, want) {
		t.Errorf("notifications %q, want %q", got, want)
	}
}
