package pipeline_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// idleSignal closes idle the first time the queue reports its depth, which
// its workers do right before they wait for work.
type idleSignal struct {
	once sync.Once
	idle chan struct{}
}

func (i *idleSignal) BuildFinished(string, store.Status, []store.Stage) {}
func (i *idleSignal) QueueDepth(int)                                    { i.once.Do(func() { close(i.idle) }) }

// TestIdleReplicaWakesOnAnotherReplicasEnqueue: a queue whose poll is an
// hour claims, at once, a build another replica queued in the shared
// PostgreSQL database (LISTEN/NOTIFY through the store's QueueSignal).
func TestIdleReplicaWakesOnAnotherReplicasEnqueue(t *testing.T) {
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	open := func(name string) *pipeline.Service {
		cfg := &config.Config{DataDir: filepath.Join(t.TempDir(), name), Database: config.Secret(database), Projects: []config.Project{{
			Name: "web", DefaultBranch: "main", Image: "registry.example/web", Repo: filepath.Join(t.TempDir(), "no-such-repo"),
		}}}
		svc, err := pipeline.Open(t.Context(), cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		return svc
	}
	a, b := open("a"), open("b")
	heard := &notes{}
	idle := &idleSignal{idle: make(chan struct{})}
	qb := pipeline.NewQueue(b, pipeline.QueueOptions{Poll: time.Hour, Grace: time.Second, Notifier: heard, Observer: idle})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- qb.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-idle.idle:
	case <-time.After(time.Minute):
		t.Fatal("replica b's worker did not go idle within a minute")
	}

	qa := pipeline.NewQueue(a, pipeline.QueueOptions{})
	got, err := qa.Enqueue(t.Context(), pipeline.Request{Triggers: []pipeline.Trigger{push(commitA)}})
	if err != nil {
		t.Fatal(err)
	}
	id := got.First().ID
	deadline := time.Now().Add(30 * time.Second)
	for {
		bd, err := a.Store().GetBuild(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if bd.Status != store.StatusQueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %d still queued 30s after replica a queued it: idle replica b (poll 1h) was not woken", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
