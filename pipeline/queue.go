package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/hub"
	"github.com/slipwayci/slipway/store"
)

// Notifier hears of every queued build and every final status (GitHub
// commit statuses). It must not block for long and its failures are its own:
// a notification never fails a build.
type Notifier interface {
	BuildChanged(ctx context.Context, b store.Build)
}

// Observer receives queue events for metrics. Every method must be cheap.
type Observer interface {
	BuildFinished(project string, status store.Status, stages []store.Stage)
	QueueDepth(n int)
}

// CacheObserver is an Observer that also counts the layer cache use of
// every finished BuildKit build (its build result's "cache").
type CacheObserver interface {
	BuildCache(project string, cached, total int)
}

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Concurrency is the number of builds run at once. Default 1.
	Concurrency int
	// Grace is how long Run lets running builds finish after its context
	// ends before canceling them (they are queued again for the next
	// start). Default 30s.
	Grace time.Duration
	// MaxAttempts bounds how often one build is started: a build that was
	// running when slipway died runs at most once more. Default 2.
	MaxAttempts int
	// Poll is how often idle workers look for work queued by another
	// process (a `slipway build` on the same data_dir). Default 1s.
	Poll     time.Duration
	Notifier Notifier
	Observer Observer
	// Finished, when set, is told of every build that ended on this
	// replica, after its final record (the base image watcher hears of
	// pushes there); it must not block for long.
	Finished func(ctx context.Context, b store.Build)
}

// Queue is the durable build queue: builds are rows in the store, so a
// queued build survives a crash; workers claim them one at a time, never two
// of the same project and ref at once.
type Queue struct {
	svc  *Service
	opts QueueOptions
	wake chan struct{}

	mu      sync.Mutex
	running map[int64]context.CancelCauseFunc
}

// NewQueue returns a Queue over svc's store and runner.
func NewQueue(svc *Service, opts QueueOptions) *Queue {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.Grace <= 0 {
		opts.Grace = 30 * time.Second
	}
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = 2
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	q := &Queue{svc: svc, opts: opts, wake: make(chan struct{}, 1), running: map[int64]context.CancelCauseFunc{}}
	svc.runner.queue = q
	return q
}

// ErrNotCancelable is returned by Cancel for a build that already ended.
var ErrNotCancelable = errors.New("build already finished")

// Cancel stops build id: a queued build is marked canceled at once, a
// running one has its engine work stopped and ends canceled; one running
// on another replica is canceled by that replica (store.RequestCancel).
// by is who asks (store.Build.CanceledBy); "" records nobody.
func (q *Queue) Cancel(ctx context.Context, id int64, by string) error {
	if by != "" {
		if err := q.svc.store.RecordCancel(ctx, id, by); err != nil {
			return err
		}
	}
	ok, err := q.svc.store.SetStatus(ctx, id, []store.Status{store.StatusQueued}, store.StatusCanceled, ErrCanceled.Error())
	if err != nil {
		return err
	}
	if ok {
		if b, err := q.svc.store.GetBuild(ctx, id); err == nil {
			q.notify(ctx, b)
		}
		return nil
	}
	q.mu.Lock()
	cancel, running := q.running[id]
	q.mu.Unlock()
	if running {
		cancel(ErrCanceled)
		return nil
	}
	// Running on another replica (PostgreSQL): that one cancels it.
	if requested, err := q.svc.store.RequestCancel(ctx, id); err != nil || requested {
		return err
	}
	b, err := q.svc.store.GetBuild(ctx, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("cancel build %d: %w (status %s)", id, ErrNotCancelable, b.Status)
}

// Run recovers builds interrupted by a crash, then runs workers until ctx
// ends. After that it lets running builds finish for up to Grace, cancels
// what is left (queued again for the next start) and returns.
func (q *Queue) Run(ctx context.Context) error {
	log := q.svc.logger
	// A stop that comes at once is no reason to fail: the short recovery
	// runs to its end regardless.
	requeued, failed, err := q.svc.store.Recover(context.WithoutCancel(ctx), q.opts.MaxAttempts)
	if err != nil {
		return fmt.Errorf("recover interrupted builds: %w", err)
	}
	if requeued+failed > 0 {
		log.Warn().Int("requeued", requeued).Int("failed", failed).Msg("recovered builds interrupted by a restart")
	}
	q.pruneAutotests(ctx)
	// Builds run under their own context so that ctx's end only stops
	// taking work; runCtx is canceled after the grace period.
	runCtx, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(ErrShutdown)

	var wg sync.WaitGroup
	// The builders' health checks run as long as builds may: until the
	// last build ended.
	healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	health := make(chan struct{})
	go func() {
		defer close(health)
		_ = q.svc.pool.Run(healthCtx)
	}()
	defer func() { stopHealth(); <-health }()
	// Cancels asked through other replicas, for as long as builds run.
	cancels := make(chan struct{})
	go func() {
		defer close(cancels)
		q.remoteCancels(healthCtx)
	}()
	defer func() { stopHealth(); <-cancels }()
	for range q.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.worker(ctx, runCtx)
		}()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(q.opts.Grace):
		log.Warn().Int64("grace_ms", q.opts.Grace.Milliseconds()).Msg("builds still running after the grace period: canceling them; they run again at the next start")
		cancelRuns(ErrShutdown)
		<-done
	}
	return nil
}

// remoteCancels cancels the builds of this replica whose cancel was asked
// through another replica, until ctx ends.
func (q *Queue) remoteCancels(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-q.svc.store.CancelRequests():
			q.mu.Lock()
			cancel, running := q.running[id]
			q.mu.Unlock()
			if running {
				q.svc.logger.Info().Int64("build", id).Msg("build stopped: canceled through another replica, or taken over by one after this replica's lease expired")
				cancel(ErrCanceled)
			}
		}
	}
}

// pruneAutotests removes what Docker Hub autotests of builds interrupted by
// a crash left in the engine (containers, networks, volumes); a failure is
// logged, never fatal.
func (q *Queue) pruneAutotests(ctx context.Context) {
	if q.svc.pool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	// Autotests run on the builder of their build: each may hold some. A
	// builder that is down costs its own wait only.
	var wg sync.WaitGroup
	for _, name := range q.svc.pool.Names() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hub.PruneAutotests(ctx, q.svc.pool.Client(name), autotestPrefix(q.svc.Config)); err != nil {
				q.svc.logger.Warn().Err(err).Str("builder", name).Msg("remove the leftovers of interrupted autotests")
			}
		}()
	}
	wg.Wait()
}

// worker claims and runs builds until stop ends.
func (q *Queue) worker(stop, runCtx context.Context) {
	t := time.NewTicker(q.opts.Poll)
	defer t.Stop()
	for stop.Err() == nil {
		// Taken before the claim, so that a build queued by any replica
		// after it (NOTIFY on PostgreSQL) wakes this worker at once.
		signal := q.svc.store.QueueSignal()
		if b, ctx, cancel, ok := q.claim(stop, runCtx); ok {
			q.runOne(ctx, cancel, b)
			continue
		}
		q.observeDepth(stop)
		select {
		case <-stop.Done():
		case <-q.wake:
		case <-signal:
		case <-t.C:
		}
	}
}

// claim takes the next build and makes it cancelable in one step under
// q.mu: Cancel, which takes q.mu too, thus never finds a build that the
// store says is running but that has no cancel function yet.
func (q *Queue) claim(stop, runCtx context.Context) (store.Build, context.Context, context.CancelCauseFunc, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, ok, err := q.svc.store.ClaimNext(stop)
	if err != nil && stop.Err() == nil {
		q.svc.logger.Error().Err(err).Msg("claim next build")
	}
	if !ok {
		return store.Build{}, nil, nil, false
	}
	ctx, cancel := context.WithCancelCause(runCtx)
	q.running[b.ID] = cancel
	return b, ctx, cancel, true
}

// runOne runs a claimed build to its end; ctx and cancel are the build's
// own, registered by claim.
func (q *Queue) runOne(ctx context.Context, cancel context.CancelCauseFunc, b store.Build) {
	defer cancel(nil)
	defer func() {
		q.mu.Lock()
		delete(q.running, b.ID)
		q.mu.Unlock()
		// A build may wait for this one's project and ref.
		q.wakeUp()
	}()

	// The runner adds the commit to the logger as soon as it is known.
	zl := q.svc.logger.With().Int64("build", b.ID).Str("project", b.Project).Str("ref", b.Ref).Logger()
	ctx = zl.WithContext(ctx)
	zl.Info().Str("commit", b.Commit).Str("trigger", b.Trigger).Int("attempt", b.Attempts).Msg("build started")
	q.notify(ctx, b)

	log, err := q.svc.openLog(ctx, b.ID, nil)
	if err != nil {
		zl.Error().Err(err).Msg("open build log")
		now := q.svc.now().UTC()
		b.Status, b.Error, b.FinishedAt = store.StatusFailed, err.Error(), &now
		q.svc.record(ctx, b)
		q.finished(ctx, b)
		return
	}
	if b.Attempts > 1 {
		log.Printf("slipway: attempt %d: the previous run was interrupted by a restart", b.Attempts)
	}
	rec := &runRecorder{svc: q.svc, build: ctx, log: log, zl: zl, lease: &leaseState{}}
	_ = q.svc.runner.Run(withLease(ctx, rec.lease), &b, log, rec.record)
	rec.closeLog()
	switch {
	case rec.requeued:
		zl.Info().Msg("build stopped by the shutdown: queued again for the next start")
	case rec.lease.lost.Load():
		// Another replica runs it now: that one reports its end.
		zl.Warn().Msg("build taken over by another replica: its end is not reported from here")
	default:
		q.finished(ctx, b)
	}
}

// runRecorder records a queued build's changes; at the end of a build
// stopped by the shutdown it puts the build back in the queue instead.
type runRecorder struct {
	svc *Service
	// build is the build's context, whose cause tells a shutdown.
	build context.Context
	log   *Log
	zl    zerolog.Logger
	// requeued is set when the run ended because of the shutdown rather
	// than by its own doing (decided once, at the final record).
	requeued bool
	closed   bool
	// lease is set lost when the store refused a write: another replica
	// took the build over.
	lease *leaseState
}

// leaseState tells whether this replica lost a running build's lease.
type leaseState struct{ lost atomic.Bool }

type leaseKey struct{}

// withLease carries l in ctx, for the runner's end-of-build notices.
func withLease(ctx context.Context, l *leaseState) context.Context {
	return context.WithValue(ctx, leaseKey{}, l)
}

// leaseLost reports whether the build of ctx was taken over by another
// replica (its writes were refused): its notices are that replica's to
// send.
func leaseLost(ctx context.Context) bool {
	l, _ := ctx.Value(leaseKey{}).(*leaseState)
	return l != nil && l.lost.Load()
}

func (rr *runRecorder) record(ctx context.Context, cur store.Build) {
	if store.Finished(cur.Status) {
		rr.requeued = cur.Status != store.StatusSucceeded && errors.Is(context.Cause(rr.build), ErrShutdown)
		if rr.requeued {
			// It runs again at the next start. It is never recorded as
			// ended in between, so a crash right now loses nothing, and
			// the interrupted run does not count against the restart
			// retries.
			cur.Status, cur.Error, cur.Stages = store.StatusQueued, "", nil
			cur.StartedAt, cur.FinishedAt = nil, nil
			cur.Attempts = max(cur.Attempts-1, 0)
		} else {
			// The kept tail of a long log is written by Close: it must
			// be in the file before a follower sees the end.
			rr.closeLog()
		}
	}
	if err := rr.svc.save(ctx, cur); errors.Is(err, store.ErrLeaseLost) {
		rr.lease.lost.Store(true)
	}
}

// closeLog closes the build log once.
func (rr *runRecorder) closeLog() {
	if rr.closed {
		return
	}
	rr.closed = true
	if err := rr.log.Close(); err != nil {
		rr.zl.Error().Err(err).Msg("close build log")
	}
}

// finished reports a build's end to the notifier and the observer.
func (q *Queue) finished(ctx context.Context, b store.Build) {
	q.notify(ctx, b)
	if q.opts.Observer != nil {
		q.opts.Observer.BuildFinished(b.Project, b.Status, b.Stages)
	}
	if q.opts.Finished != nil {
		q.opts.Finished(context.WithoutCancel(ctx), b)
	}
	if co, ok := q.opts.Observer.(CacheObserver); ok && b.Cache != nil {
		co.BuildCache(b.Project, b.Cache.CachedSteps, b.Cache.TotalSteps)
	}
}

func (q *Queue) notify(ctx context.Context, b store.Build) {
	if q.opts.Notifier != nil {
		q.opts.Notifier.BuildChanged(context.WithoutCancel(ctx), b)
	}
}

func (q *Queue) observeDepth(ctx context.Context) {
	if q.opts.Observer == nil {
		return
	}
	if n, err := q.svc.store.QueueDepth(ctx); err == nil {
		q.opts.Observer.QueueDepth(n)
	}
}

// Logger returns the service's logger, for callers that log at the
// boundary.
func (s *Service) Logger() zerolog.Logger { return s.logger }

// CancelRef cancels the queued and running builds of ref of project (a
// closed pull request's) as Cancel does (by is who asks), and returns their
// IDs. A build that ended meanwhile is left as it is.
func (q *Queue) CancelRef(ctx context.Context, project, ref, by string) ([]int64, error) {
	var ids []int64
	for _, st := range []store.Status{store.StatusQueued, store.StatusRunning} {
		builds, err := q.svc.store.ListBuilds(ctx, store.Filter{Project: project, Ref: ref, Status: st, Limit: store.MaxLimit})
		if err != nil {
			return ids, fmt.Errorf("cancel builds of %s: %w", ref, err)
		}
		for _, b := range builds {
			err := q.Cancel(ctx, b.ID, by)
			switch {
			case err == nil:
				ids = append(ids, b.ID)
			case !errors.Is(err, ErrNotCancelable):
				return ids, err
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}
