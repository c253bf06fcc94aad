// Package basewatch rebuilds images whose base images changed: it checks
// the bases each project's default branch was last built on (the build
// result's bases) with registry HEAD requests, and when one has a new
// digest it queues one rebuild of that branch's newest built commit
// (trigger base_image) per affected project through the pipeline's queue.
// When that rebuild fails, it is queued again (a retry) at most once per
// project per interval until one on the new digest succeeds.
//
// The checks' state lives in the store (store.BaseCheck), so that any
// number of replicas sharing a PostgreSQL database check each base once per
// interval: a pass runs under the store's exclusive lock, and each due
// check is claimed before its request. A registry push notification or an
// upstream project's push makes a base's check due at once (CheckNow,
// Pushed). Each rebuild, first or retry, is claimed in the store too
// (ClaimBaseRetry), so that replicas queue it once.
package basewatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// lockName is the store lock a replica holds during a pass.
const lockName = "basewatch"

const (
	// checkTimeout bounds one HEAD request; a claimed check stays this
	// replica's for twice as long.
	checkTimeout = 30 * time.Second
	// maxTick caps the loop's sleep, so that bases added by new builds
	// are seen.
	maxTick = time.Minute
	// minTick is the shortest sleep of the loop.
	minTick = 50 * time.Millisecond
	// maxRetryBase caps the first wait after a failed check.
	maxRetryBase = time.Minute
	// never is how far off the periodic check of a base no project
	// watches lies: it is checked only when its upstream project pushes.
	never = 100 * 365 * 24 * time.Hour
)

// Store is what the watcher keeps in and reads from the store.
type Store interface {
	TryExclusive(ctx context.Context, name string) (release func(), ok bool, err error)
	LastBuild(ctx context.Context, project, ref string, statuses ...store.Status) (store.Build, error)
	ListBuilds(ctx context.Context, f store.Filter) ([]store.Build, error)
	WatchBases(ctx context.Context, due map[string]store.BaseDue) error
	BaseChecks(ctx context.Context) ([]store.BaseCheck, error)
	ClaimBaseCheck(ctx context.Context, ref string, due, until time.Time) (bool, error)
	RecordBaseCheck(ctx context.Context, ref, digest string, checkErr error, at, next time.Time) (store.BaseCheck, error)
	CheckBasesNow(ctx context.Context, refs []string) (int, error)
	BaseRetries(ctx context.Context) (map[string]time.Time, error)
	ClaimBaseRetry(ctx context.Context, project string, due, until time.Time) (bool, error)
}

// Queue takes the rebuilds: pipeline.Queue.
type Queue interface {
	Enqueue(ctx context.Context, req pipeline.Request) (pipeline.Queued, error)
}

// Resolver returns the digest a registry serves for ref now: a HEAD
// request (registry.Resolve with the push credentials).
type Resolver func(ctx context.Context, ref string) (string, error)

// Options are the watcher's collaborators. Store, Queue and Resolve are
// required.
type Options struct {
	Store   Store
	Queue   Queue
	Resolve Resolver
	// Logger gets one line per check that fails, change seen and rebuild
	// queued. Default: the zero Logger, which discards.
	Logger zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Jitter returns a number in [0, 1) (tests fix it). Default
	// math/rand/v2's Float64.
	Jitter func() float64
}

// Watcher checks base images and queues rebuilds. Build it with New and
// start it with Run; CheckNow, Pushed, Status and Collector may be called
// from any goroutine.
type Watcher struct {
	projects []config.Project
	opts     Options
	log      zerolog.Logger
	wake     chan struct{}
	m        *metrics

	mu      sync.Mutex
	watched int               // bases watched at the last pass, guarded by mu
	cycles  map[string]string // cycle reported per project, guarded by mu
}

// New returns a watcher of projects.
func New(projects []config.Project, opts Options) *Watcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	return &Watcher{projects: projects, opts: opts, log: opts.Logger, wake: make(chan struct{}, 1), m: newMetrics(), cycles: map[string]string{}}
}

// Enabled reports whether any project watches its bases or another
// project's image: without, Run has nothing to do.
func (w *Watcher) Enabled() bool {
	for i := range w.projects {
		if w.projects[i].BaseImages.Watch {
			return true
		}
	}
	return len(w.projects) > 1
}

// Run makes passes (Pass) until ctx ends: at once, then whenever a check
// is due (at least every minute), or CheckNow or Pushed asks. A failed pass
// is logged; the next one comes at its time.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		next, err := w.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("base images: a pass failed; the next one comes at its time")
		}
		wait := min(max(next.Sub(w.opts.Now()), minTick), maxTick)
		if next.IsZero() {
			wait = maxTick
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// CheckNow makes the checks of refs (image references, as builds record
// them) due now and wakes the loop; it returns how many are watched.
func (w *Watcher) CheckNow(ctx context.Context, refs []string) (int, error) {
	n, err := w.opts.Store.CheckBasesNow(ctx, refs)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		w.poke()
	}
	return n, nil
}

// Pushed is told of a build that ended: after a successful push, the
// checks of its image's tags are due at once, so that the projects built
// FROM them (upstream chains) are rebuilt on the new digest, and the bases
// it recorded are watched from now on. A failed or unpushed build changes
// nothing.
func (w *Watcher) Pushed(ctx context.Context, b store.Build) {
	if b.Status != store.StatusSucceeded || b.Digest == "" || len(b.Tags) == 0 {
		return
	}
	defer w.poke()
	refs := make([]string, 0, len(b.Tags))
	for _, t := range b.Tags {
		if r, err := familiar(b.Image + ":" + t); err == nil {
			refs = append(refs, r)
		}
	}
	if n, err := w.CheckNow(ctx, refs); err != nil {
		w.log.Warn().Err(err).Str("project", b.Project).Msg("base images: checking the images built on this push failed")
	} else if n > 0 {
		w.log.Info().Str("project", b.Project).Int("bases", n).Msg("base images: a pushed image is a base of other projects: checking it now")
	}
}

func (w *Watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// use is one project's use of a base: the digest its newest build on its
// default branch recorded.
type use struct {
	project *config.Project
	build   store.Build
	digest  string
}

// base is one watched reference and its users.
type base struct {
	ref      string
	interval time.Duration // 0: only upstream pushes check it
	uses     []use
}

// Pass checks the bases that are due and queues the rebuilds their
// changes call for. It returns when the next check is due (zero when none
// is watched). When another replica is making a pass, it does nothing.
func (w *Watcher) Pass(ctx context.Context) (time.Time, error) {
	release, ok, err := w.opts.Store.TryExclusive(ctx, lockName)
	if err != nil || !ok {
		return w.opts.Now().Add(time.Second), err
	}
	defer release()
	bases, graph, err := w.bases(ctx)
	if err != nil {
		return time.Time{}, err
	}
	w.mu.Lock()
	w.watched = len(bases)
	w.mu.Unlock()
	if len(bases) == 0 {
		return time.Time{}, nil
	}
	now := w.opts.Now()
	due := make(map[string]store.BaseDue, len(bases))
	for ref, b := range bases {
		if b.interval == 0 {
			due[ref] = store.BaseDue{First: now.Add(never), Latest: now.Add(never)}
			continue
		}
		first := now.Add(time.Duration(w.opts.Jitter() * float64(min(b.interval, maxTick)) / 10))
		due[ref] = store.BaseDue{First: first, Latest: now.Add(b.interval + b.interval/10)}
	}
	if err := w.opts.Store.WatchBases(ctx, due); err != nil {
		return time.Time{}, err
	}
	checks, err := w.opts.Store.BaseChecks(ctx)
	if err != nil {
		return time.Time{}, err
	}
	state := map[string]store.BaseCheck{}
	var errs []error
	for _, c := range checks {
		b, ok := bases[c.Ref]
		if !ok {
			continue
		}
		if !c.NextAt.After(now) {
			got, err := w.check(ctx, c, b)
			if err != nil {
				errs = append(errs, err)
			} else {
				c = got
			}
		}
		state[c.Ref] = c
	}
	next, err := w.rebuild(ctx, bases, state, graph)
	if err != nil {
		errs = append(errs, err)
	}
	for ref, c := range state {
		if _, ok := bases[ref]; ok {
			next = earliest(next, c.NextAt)
		}
	}
	return next, errors.Join(errs...)
}

// check claims and makes the due check c of b and records its outcome;
// it returns the state after it.
func (w *Watcher) check(ctx context.Context, c store.BaseCheck, b base) (store.BaseCheck, error) {
	now := w.opts.Now()
	ok, err := w.opts.Store.ClaimBaseCheck(ctx, c.Ref, c.NextAt, now.Add(2*checkTimeout))
	if err != nil || !ok {
		return c, err
	}
	rctx, cancel := context.WithTimeout(ctx, checkTimeout)
	digest, checkErr := w.opts.Resolve(rctx, c.Ref)
	cancel()
	at := w.opts.Now()
	var next time.Time
	switch {
	case checkErr != nil:
		next = at.Add(w.retryAfter(b.interval, c.Failures+1))
	case b.interval == 0:
		next = at.Add(never)
	default:
		next = at.Add(b.interval - b.interval/10 + time.Duration(w.opts.Jitter()*float64(b.interval/5)))
	}
	w.m.checked(checkErr)
	prev, err := w.opts.Store.RecordBaseCheck(ctx, c.Ref, digest, checkErr, at, next)
	if err != nil {
		return c, err
	}
	if checkErr != nil {
		w.log.Warn().Err(checkErr).Str("base", c.Ref).Int("failures", prev.Failures+1).Dur("retry_in", next.Sub(at)).
			Msg("base images: check failed; backing off")
		c.Failures, c.LastError, c.CheckedAt, c.NextAt = prev.Failures+1, checkErr.Error(), at, next
		return c, nil
	}
	if prev.Digest != "" && prev.Digest != digest {
		w.m.changes.Inc()
		w.log.Info().Str("base", c.Ref).Str("from", prev.Digest).Str("to", digest).Msg("base images: new digest")
	}
	seen := prev.SeenAt
	if digest != prev.Digest || seen.IsZero() {
		seen = at
	}
	return store.BaseCheck{Ref: c.Ref, Digest: digest, SeenAt: seen, CheckedAt: at, NextAt: next}, nil
}

// retryAfter is the wait after the failures-th failed check in a row of a
// base checked every interval: a quarter of it (at most a minute),
// doubling with each failure, up to the interval.
func (w *Watcher) retryAfter(interval time.Duration, failures int) time.Duration {
	if interval == 0 {
		interval = time.Hour
	}
	d := min(interval/4, maxRetryBase)
	for i := 1; i < failures && d < interval; i++ {
		d *= 2
	}
	return min(d, interval)
}

// bases lists the watched references: the bases recorded by each project's
// newest succeeded build of its default branch, of projects that watch
// their bases, and the bases that are another project's image (upstream
// chains, checked when that project pushes). It also returns the upstream
// graph.
func (w *Watcher) bases(ctx context.Context) (map[string]base, *graph, error) {
	out := map[string]base{}
	g := newGraph(w.projects)
	for i := range w.projects {
		p := &w.projects[i]
		b, err := w.opts.Store.LastBuild(ctx, p.Name, gitref.Branch(p.DefaultBranch).String(), store.StatusSucceeded)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, bi := range b.Bases {
			if bi.Digest == "" || strings.Contains(bi.Ref, "@") {
				continue
			}
			up := g.upstreamOf(bi.Ref)
			if up != "" {
				g.link(up, p.Name)
			}
			if !p.BaseImages.Watch && up == "" {
				continue
			}
			e := out[bi.Ref]
			e.ref = bi.Ref
			if p.BaseImages.Watch && (e.interval == 0 || p.BaseImages.Interval.D() < e.interval) {
				e.interval = p.BaseImages.Interval.D()
			}
			if !slices.ContainsFunc(e.uses, func(u use) bool { return u.project.Name == p.Name }) {
				e.uses = append(e.uses, use{project: p, build: b, digest: bi.Digest})
			}
			out[bi.Ref] = e
		}
	}
	return out, g, nil
}

// change is one base of a project with a digest newer than its build's.
type change struct {
	ref, from, to string
	since         time.Time
	upstream      string // the project whose image the base is, if any
}

// rebuild queues one rebuild per project whose build is on an older digest
// of a base than the registry serves (nextTry decides between a first
// rebuild, a retry and nothing), unless a build of its default branch is
// queued or running, or one of its upstream projects is being rebuilt: its
// push rebuilds it. A retry waits for the project's retry time; rebuild
// returns the earliest of those still ahead (zero when none waits).
func (w *Watcher) rebuild(ctx context.Context, bases map[string]base, state map[string]store.BaseCheck, g *graph) (time.Time, error) {
	byProject := map[string][]change{}
	builds := map[string]store.Build{}
	projects := map[string]*config.Project{}
	for ref, b := range bases {
		c, ok := state[ref]
		if !ok || c.Digest == "" {
			continue
		}
		for _, u := range b.uses {
			if u.digest == c.Digest {
				continue
			}
			byProject[u.project.Name] = append(byProject[u.project.Name],
				change{ref: ref, from: u.digest, to: c.Digest, since: c.SeenAt, upstream: g.upstreamOf(ref)})
			builds[u.project.Name], projects[u.project.Name] = u.build, u.project
		}
	}
	if len(byProject) == 0 {
		return time.Time{}, nil
	}
	retryAt, err := w.opts.Store.BaseRetries(ctx)
	if err != nil {
		return time.Time{}, err
	}
	names := slices.Sorted(maps.Keys(byProject))
	// The projects to rebuild now; a project waits for an upstream one
	// among them (or already queued or running): its push rebuilds it.
	want, tries := map[string]bool{}, map[string]try{}
	var (
		next time.Time
		errs []error
	)
	now := w.opts.Now()
	for _, name := range names {
		if cycle := g.cycleThrough(name); cycle != nil {
			w.refuseCycle(name, cycle)
			continue
		}
		t, err := w.nextTry(ctx, projects[name], builds[name], byProject[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case t.kind == tryNone:
			continue
		case w.active(ctx, name):
			// Decided once that build ends, by what it was built on: a
			// retry running when the base changes again may pull the
			// newest digest, and a push build builds a newer commit.
			continue
		case t.kind == tryRetry && retryAt[name].After(now):
			next = earliest(next, retryAt[name])
			continue
		}
		want[name], tries[name] = true, t
	}
	for _, name := range names {
		t, ok := tries[name]
		if !ok {
			continue
		}
		if up := g.busyUpstream(ctx, name, want, w.active); up != "" {
			w.log.Info().Str("project", name).Str("upstream", up).Msg("base images: waiting for the upstream project's rebuild")
			continue
		}
		// The claim makes this replica the one that queues it, and puts
		// the next retry an interval away.
		ok, err := w.opts.Store.ClaimBaseRetry(ctx, name, retryAt[name], now.Add(retryInterval(projects[name])))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		changes := byProject[name]
		slices.SortFunc(changes, func(a, b change) int { return strings.Compare(a.ref, b.ref) })
		if err := w.queue(ctx, projects[name], builds[name], changes, t); err != nil {
			errs = append(errs, err)
		}
	}
	return next, errors.Join(errs...)
}

// retryInterval is the least time between two rebuilds of p on its bases:
// its base_images.interval (an hour when unset).
func retryInterval(p *config.Project) time.Duration {
	if d := p.BaseImages.Interval.D(); d > 0 {
		return d
	}
	return time.Hour
}

// earliest is the earlier of a and b, a zero time being none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// refuseCycle logs, once per cycle, that project name is not rebuilt on
// its bases because its upstream chain is a cycle.
func (w *Watcher) refuseCycle(name string, cycle []string) {
	text := strings.Join(cycle, " → ")
	w.mu.Lock()
	seen := w.cycles[name] == text
	w.cycles[name] = text
	w.mu.Unlock()
	if !seen {
		err := fmt.Errorf("project %s: upstream chain cycle %s: not rebuilding it on a new base; break the cycle in one of the Dockerfiles", name, text)
		w.log.Error().Err(err).Msg("base images: refused")
	}
}

// tryKind is what a project's builds since its bases changed call for.
type tryKind int

const (
	// tryNone: a build since is queued or running, or was canceled.
	tryNone tryKind = iota
	// tryFirst: no build since: the first rebuild.
	tryFirst
	// tryRetry: the builds since ended without one on the new digests.
	tryRetry
)

// try is the rebuild nextTry decides on.
type try struct {
	kind tryKind
	// n is the retry's number: the builds since the change that ended
	// without one on the new digests.
	n int
	// last is the newest of them.
	last store.Build
}

// nextTry decides on p's rebuild for changes, which compare the bases of
// its build built with the registry's, from its default branch's newest
// builds.
func (w *Watcher) nextTry(ctx context.Context, p *config.Project, built store.Build, changes []change) (try, error) {
	latest := changes[0].since
	for _, c := range changes {
		if c.since.After(latest) {
			latest = c.since
		}
	}
	recent, err := w.opts.Store.ListBuilds(ctx, store.Filter{Project: p.Name, Ref: gitref.Branch(p.DefaultBranch).String()})
	if err != nil {
		return try{}, err
	}
	return decide(recent, latest, built.ID), nil
}

// decide is the rebuild that recent, a default branch's builds newest
// first, call for when the newest change of its bases was first seen at
// since. Superseded builds never ran and do not count. The newest build
// since decides: none calls for the first rebuild; one queued or running
// for nothing yet; one canceled for nothing (a person stopped it; a push,
// a build by hand or the next change tries again); one failed, or one
// succeeded that was still built on the old digests (a push build that
// used the engine's older copy of a base), for a retry. built is the
// newest succeeded build when the changes were found: one succeeded after
// it (the rebuild, ending meanwhile) makes them stale, and nothing is
// decided until the next pass compares its bases.
func decide(recent []store.Build, since time.Time, built int64) try {
	var t try
	for _, b := range recent {
		if b.Status == store.StatusSucceeded && b.ID > built {
			return try{kind: tryNone}
		}
	}
	for _, b := range recent {
		if b.CreatedAt.Before(since) {
			break
		}
		switch b.Status {
		case store.StatusSuperseded:
			continue
		case store.StatusQueued, store.StatusRunning, store.StatusCanceled:
			if t.n == 0 {
				return try{kind: tryNone}
			}
			continue
		}
		if t.n == 0 {
			t.last = b
		}
		t.n++
	}
	if t.n == 0 {
		return try{kind: tryFirst}
	}
	t.kind = tryRetry
	return t
}

// active reports whether project has a queued or running build of its
// default branch.
func (w *Watcher) active(ctx context.Context, project string) bool {
	for i := range w.projects {
		p := &w.projects[i]
		if p.Name != project {
			continue
		}
		for _, st := range []store.Status{store.StatusQueued, store.StatusRunning} {
			bs, err := w.opts.Store.ListBuilds(ctx, store.Filter{Project: p.Name, Ref: gitref.Branch(p.DefaultBranch).String(), Status: st, Limit: 1})
			if err == nil && len(bs) > 0 {
				return true
			}
		}
	}
	return false
}

// queue queues the rebuild of b's commit for changes, the first or a
// retry as t says.
func (w *Watcher) queue(ctx context.Context, p *config.Project, b store.Build, changes []change, t try) error {
	reasons := make([]string, len(changes))
	for i, c := range changes {
		reasons[i] = Reason(c.ref, c.from, c.to)
	}
	reason := strings.Join(reasons, "; ")
	if t.kind == tryRetry {
		reason += retrySuffix(t)
	}
	tr := pipeline.Trigger{Kind: store.TriggerBaseImage, Project: p.Name, Ref: gitref.Branch(p.DefaultBranch), Commit: b.Commit, Reason: reason}
	res, err := w.opts.Queue.Enqueue(ctx, pipeline.Request{Triggers: []pipeline.Trigger{tr}})
	if err != nil {
		return fmt.Errorf("queue the base image rebuild of %s: %w", p.Name, err)
	}
	if r := res.Builds[0]; r.Created {
		w.m.rebuilds.Inc()
		ev := w.log.Info().Str("project", p.Name).Int64("build", r.Build.ID).Str("commit", b.Commit).Str("reason", tr.Reason)
		if t.kind == tryRetry {
			w.m.retries.Inc()
			ev = ev.Int("retry", t.n).Int64("last", t.last.ID)
		}
		ev.Msg("base images: rebuild queued")
	}
	return nil
}

// retrySuffix ends a retry's reason: " (retry 2, last failed in #41)", or
// for a build that succeeded on the old digest " (retry 1, #41 was built
// on the old digest)".
func retrySuffix(t try) string {
	if t.last.Status == store.StatusSucceeded {
		return fmt.Sprintf(" (retry %d, #%d was built on the old digest)", t.n, t.last.ID)
	}
	return fmt.Sprintf(" (retry %d, last failed in #%d)", t.n, t.last.ID)
}

// Reason is the build result's reason of a rebuild for ref's new digest:
// "base_image debian:bookworm sha256:ab12cd34ef56… → sha256:…".
func Reason(ref, from, to string) string {
	return fmt.Sprintf("base_image %s %s → %s", ref, short(from), short(to))
}

// short is a digest's algorithm and first 12 hex digits, then "…".
func short(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12] + "…"
}

// familiar is ref in the docker CLI's short form, as builds record bases.
func familiar(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	return reference.FamiliarString(reference.TagNameOnly(named)), nil
}
