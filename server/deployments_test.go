package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayci/slipway/pipeline"
)

// countingDeployments stands in for the pipeline's reads of the swarms
// (TestDeploymentsUnreachableTargets and TestDeploymentsAPI run the real
// ones): it counts them, answers a state naming the read, and holds each
// read until release is closed when hold is set.
type countingDeployments struct {
	reads   atomic.Int64
	hold    chan struct{}
	fail    atomic.Bool
	rolled  atomic.Int64
	started chan struct{} // a read started (buffered)
	active  atomic.Int64  // reads that have not returned
}

func (d *countingDeployments) Deployments(ctx context.Context) ([]pipeline.ServiceState, error) {
	d.active.Add(1)
	defer d.active.Add(-1)
	n := d.reads.Add(1)
	d.started <- struct{}{}
	if d.hold != nil {
		select {
		case <-d.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if d.fail.Load() {
		return nil, errors.New("store down")
	}
	return []pipeline.ServiceState{{Service: "app", Build: n}}, nil
}

func (d *countingDeployments) Rollback(context.Context, string, string, int64) (pipeline.RollbackResult, error) {
	d.rolled.Add(1)
	return pipeline.RollbackResult{}, nil
}

// TestDeploymentsCache: callers at once share one read; its answer is
// kept for the fresh time and read again after; a rollback or forget
// drops it, and a read started before a forget is not kept; a caller
// that gives up does not end the read for the others; errors are not
// kept.
func TestDeploymentsCache(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	svc := &countingDeployments{hold: make(chan struct{}), started: make(chan struct{}, 100)}
	c := newDeploymentsCache(svc, 5*time.Second, clock)
	ctx := t.Context()

	build := func(t *testing.T) int64 {
		t.Helper()
		states, err := c.Deployments(ctx)
		if err != nil || len(states) != 1 {
			t.Fatalf("Deployments = %+v, %v", states, err)
		}
		return states[0].Build
	}

	// Eight callers at once, and one that gives up while the read runs.
	quitter, quit := context.WithCancel(ctx)
	quitErr := make(chan error, 1)
	go func() {
		_, err := c.Deployments(quitter)
		quitErr <- err
	}()
	<-svc.started
	got := make([]int64, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			states, err := c.Deployments(ctx)
			if err == nil && len(states) == 1 {
				got[i] = states[0].Build
			}
		})
	}
	quit()
	if err := <-quitErr; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that gave up got %v, want context.Canceled", err)
	}
	// A caller that joins after the read ended gets it from the cache
	// (the clock stands still), so each gets read 1 either way.
	close(svc.hold)
	wg.Wait()
	for i, b := range got {
		if b != 1 {
			t.Errorf("caller %d got read %d, want the shared read 1", i, b)
		}
	}
	if n := svc.reads.Load(); n != 1 {
		t.Fatalf("%d reads for 9 callers at once, want 1", n)
	}

	t.Run("kept while fresh", func(t *testing.T) {
		advance(4 * time.Second)
		if b := build(t); b != 1 {
			t.Errorf("after 4s: read %d, want the kept read 1", b)
		}
		advance(2 * time.Second)
		if b := build(t); b != 2 {
			t.Errorf("after 6s: read %d, want a new read 2", b)
		}
	})

	t.Run("a rollback reads afresh", func(t *testing.T) {
		if _, err := c.Rollback(ctx, "local", "app", 1); err != nil || svc.rolled.Load() != 1 {
			t.Fatalf("Rollback = %v, rolled %d times", err, svc.rolled.Load())
		}
		if b := build(t); b != 3 {
			t.Errorf("after a rollback: read %d, want a new read 3", b)
		}
	})

	t.Run("a read from before a forget is not kept", func(t *testing.T) {
		svc.hold = make(chan struct{})
		for len(svc.started) > 0 { // the signals of the reads before
			<-svc.started
		}
		c.forget()
		// Not build: a t.Fatalf in this goroutine would leave <-done
		// waiting until the test binary's timeout.
		type answer struct {
			states []pipeline.ServiceState
			err    error
		}
		done := make(chan answer, 1)
		go func() {
			states, err := c.Deployments(ctx)
			done <- answer{states, err}
		}()
		<-svc.started
		c.forget() // a build finished while the read ran
		close(svc.hold)
		if a := <-done; a.err != nil || len(a.states) != 1 || a.states[0].Build != 4 {
			t.Errorf("the read in flight: %+v, %v; want read 4", a.states, a.err)
		}
		if b := build(t); b != 5 {
			t.Errorf("after: read %d, want a new read 5 (4 began before the forget)", b)
		}
	})

	t.Run("errors are not kept", func(t *testing.T) {
		c.forget()
		svc.fail.Store(true)
		if _, err := c.Deployments(ctx); err == nil {
			t.Fatal("Deployments of a failing read = nil error")
		}
		svc.fail.Store(false)
		if b := build(t); b != 7 {
			t.Errorf("after an error: read %d, want a new read 7", b)
		}
	})
}

// TestDeploymentsCacheClose: a shared read that its callers gave up on
// (it outlives them) is ended by Close, which returns only once it has
// ended, so that no read uses the store or a deploy target the server
// closes next; Deployments fails after Close.
func TestDeploymentsCacheClose(t *testing.T) {
	svc := &countingDeployments{hold: make(chan struct{}), started: make(chan struct{}, 1)}
	c := newDeploymentsCache(svc, 5*time.Second, time.Now)
	ctx, quit := context.WithCancel(t.Context())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.Deployments(ctx)
		gaveUp <- err
	}()
	<-svc.started
	quit()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v, want context.Canceled", err)
	}
	if n := svc.active.Load(); n != 1 {
		t.Fatalf("%d reads running after the caller gave up, want 1 (the shared read goes on)", n)
	}
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return within 30s: the read in flight was not ended")
	}
	if n := svc.active.Load(); n != 0 {
		t.Errorf("%d reads still running after Close returned, want 0", n)
	}
	if _, err := c.Deployments(t.Context()); !errors.Is(err, errDeploymentsClosed) {
		t.Errorf("Deployments after Close = %v, want errDeploymentsClosed", err)
	}
	if n := svc.reads.Load(); n != 1 {
		t.Errorf("%d reads, want 1: none after Close", n)
	}
}
