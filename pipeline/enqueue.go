package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// Request asks Enqueue to queue the builds of one event, with what must be
// written in the same store transaction so that a crash keeps both or
// neither.
type Request struct {
	// Triggers are the builds, in order.
	Triggers []Trigger
	// Delivery, when set, is the webhook delivery that asked for the
	// builds: it is recorded with them, and when its ID was recorded
	// before nothing is queued (a redelivery never builds twice).
	Delivery *store.Delivery
	// Fired marks the release of the only trigger fired: the schedule's
	// mark moves to its due time with the queueing, so that a crash can
	// neither lose a fired release nor fire it twice.
	Fired bool
	// StartedBy is who asks for the builds (store.Build.StartedBy): an API
	// token's name, "dashboard:<token name>"... "" means the trigger's
	// kind decides: "webhook" for pushes and tags, "schedule",
	// "reconcile", else the kind itself.
	StartedBy string
}

// Queued is what Enqueue did.
type Queued struct {
	// Seen is set when the delivery was recorded before: nothing was
	// queued.
	Seen bool
	// Builds are the outcome per trigger, in order: the queued build, or
	// the build already queued, running or succeeded for the same commit
	// (Created false).
	Builds []store.EnqueueResult
}

// First is the build of the first trigger; the zero Build when none.
func (q Queued) First() store.Build {
	if len(q.Builds) == 0 {
		return store.Build{}
	}
	return q.Builds[0].Build
}

// errFiredOne rejects a Fired request that is not one release.
var errFiredOne = errors.New("a fired release queues exactly one schedule build")

// Enqueue queues the builds of req: the one way builds get into the
// queue (webhook, API, schedules, run-now, the requeue after a late
// push). A build with a commit is not queued again while a build of the
// same project, ref and commit is queued, running or succeeded (the
// existing one is returned; for a base image rebuild only a queued
// rebuild), unless it is manual (a person asked for it: Rebuild); a push,
// tag or manual build supersedes the queued builds of its project and ref,
// a release, a requeue and a base image rebuild supersede nothing. A worker
// wakes and the notifier hears of every queued and
// superseded build.
func (q *Queue) Enqueue(ctx context.Context, req Request) (Queued, error) {
	builds := make([]store.Build, len(req.Triggers))
	for i, t := range req.Triggers {
		b, err := q.record(t)
		if err != nil {
			return Queued{}, fmt.Errorf("queue build: %w", err)
		}
		b.StartedBy = cmp.Or(req.StartedBy, startedBy(t.Kind))
		builds[i] = b
	}
	opts, err := enqueueOptions(req.Triggers)
	if err != nil {
		return Queued{}, fmt.Errorf("queue build: %w", err)
	}
	var res Queued
	switch {
	case req.Delivery != nil:
		res.Seen, res.Builds, err = q.svc.store.RecordDeliveryAndEnqueue(ctx, *req.Delivery, builds, opts)
	case req.Fired:
		res.Builds, err = q.fire(ctx, builds, opts)
	default:
		res.Builds, err = q.enqueueEach(ctx, builds, opts)
	}
	if err != nil {
		return Queued{}, fmt.Errorf("queue build: %w", err)
	}
	q.queued(ctx, res.Builds)
	return res, nil
}

// record is the build record of t, with the trigger's defaults filled in
// as Plan fills them.
func (q *Queue) record(t Trigger) (store.Build, error) { return newBuild(q.svc.Config, t, q.svc.now()) }

// startedBy is who starts a build of trigger kind when the request does
// not say.
func startedBy(kind string) string {
	switch kind {
	case store.TriggerPush, store.TriggerTag:
		return "webhook"
	}
	return kind
}

// enqueueOptions are the dedup and supersede rules of the triggers of one
// request, which must agree (one store call applies them to all).
func enqueueOptions(ts []Trigger) (store.EnqueueOptions, error) {
	var opts store.EnqueueOptions
	for i, t := range ts {
		// A manual build is asked for by a person (Rebuild): it builds
		// even a commit built before.
		o := store.EnqueueOptions{Dedup: t.Commit != "" && t.Kind != store.TriggerManual, Supersede: t.Kind != store.TriggerSchedule && !t.Late}
		if t.Kind == store.TriggerBaseImage {
			// A base image rebuild builds a commit that succeeded before
			// again, and leaves the builds of newer pushes alone.
			o.Supersede, o.Rebuild = false, true
		}
		if i > 0 && o != opts {
			return opts, errors.New("the builds of one request differ in deduplication or superseding: queue them apart")
		}
		opts = o
	}
	return opts, nil
}

// fire queues the one release of a fired schedule and moves its mark.
func (q *Queue) fire(ctx context.Context, builds []store.Build, opts store.EnqueueOptions) ([]store.EnqueueResult, error) {
	if len(builds) != 1 || builds[0].DueAt == nil {
		return nil, errFiredOne
	}
	b := builds[0]
	r, err := q.svc.store.MarkFiredAndEnqueue(ctx, b.Project, b.Schedule, *b.DueAt, b, opts)
	if err != nil {
		return nil, err
	}
	return []store.EnqueueResult{r}, nil
}

// enqueueEach queues builds one by one.
func (q *Queue) enqueueEach(ctx context.Context, builds []store.Build, opts store.EnqueueOptions) ([]store.EnqueueResult, error) {
	var out []store.EnqueueResult
	for _, b := range builds {
		got, created, superseded, err := q.svc.store.Enqueue(ctx, b, opts)
		if err != nil {
			return out, err
		}
		out = append(out, store.EnqueueResult{Build: got, Created: created, Superseded: superseded})
	}
	return out, nil
}

// queued notifies of the builds queued and superseded and wakes a worker
// when a build was queued (a delivery that queued nothing must not cost a
// claim: its transaction would wait for the writer with the deliveries'
// own).
func (q *Queue) queued(ctx context.Context, results []store.EnqueueResult) {
	wake := false
	for _, r := range results {
		for _, id := range r.Superseded {
			if b, err := q.svc.store.GetBuild(ctx, id); err == nil {
				q.notify(ctx, b)
			}
		}
		if r.Created && r.Build.Status == store.StatusQueued {
			q.notify(ctx, r.Build)
			wake = true
		}
	}
	if wake {
		q.wakeUp()
	}
}

// wakeUp wakes an idle worker, if any.
func (q *Queue) wakeUp() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// GetBuild returns build id; store.ErrNotFound when there is none.
func (q *Queue) GetBuild(ctx context.Context, id int64) (store.Build, error) {
	return q.svc.store.GetBuild(ctx, id)
}

// ListBuilds lists builds newest first (store.Filter).
func (q *Queue) ListBuilds(ctx context.Context, f store.Filter) ([]store.Build, error) {
	return q.svc.store.ListBuilds(ctx, f)
}

// LogPath is the file of build id's log.
func (q *Queue) LogPath(id int64) string { return q.svc.store.LogPath(id) }

// ReadLog returns at most max bytes of build id's log from offset on, from
// whichever replica ran it (store.ReadLog).
func (q *Queue) ReadLog(ctx context.Context, id, offset int64, max int) ([]byte, error) {
	return q.svc.store.ReadLog(ctx, id, offset, max)
}

// Ready checks the engine and the store (for /readyz).
func (q *Queue) Ready(ctx context.Context) error { return q.svc.Ready(ctx) }

// ChangedFiles lists the files a push of ref from before to after changed
// in project's repository, in the clone cache builds use (which the fetch
// warms for the build that may follow): see source.Cache.ChangedFiles for
// what a new branch or a force-push is compared with. ctx bounds it.
func (q *Queue) ChangedFiles(ctx context.Context, project, ref, before, after string, forced bool) ([]string, error) {
	cfg := q.svc.Config
	p, err := cfg.Project(project)
	if err != nil {
		return nil, err
	}
	ch, err := q.svc.runner.sources.ChangedFiles(ctx, source.ChangesRequest{
		Project: p.Name, URL: p.Repo, Auth: gitAuth(cfg, p),
		Ref: ref, Before: before, After: after, Forced: forced,
		DefaultBranch: gitref.Branch(p.DefaultBranch).String(),
	})
	return ch.Files, err
}
