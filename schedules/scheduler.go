package schedules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// ErrUnknownSchedule is returned by RunNow for a schedule (or project) the
// scheduler does not know; the error names the known ones.
var ErrUnknownSchedule = errors.New("unknown schedule")

// errNoQueue fails the fires of a scheduler made without a queue.
var errNoQueue = errors.New("the scheduler has no build queue")

// Store is the subset of *store.Store the scheduler uses: the marks.
type Store interface {
	// LastFired returns the due time last marked fired; ok is false when
	// the schedule never fired.
	LastFired(ctx context.Context, project, schedule string) (due time.Time, ok bool, err error)
	// MarkFired moves the mark without queueing a build.
	MarkFired(ctx context.Context, project, schedule string, due time.Time) error
}

// Queue is where the scheduler's releases go: the build queue
// (pipeline.Queue, adapted by server), which decides how a release is
// deduplicated and wakes a worker.
type Queue interface {
	// Release queues r and returns the queued build.
	Release(ctx context.Context, r Release) (store.Build, error)
}

// Release is one release of a schedule: its branch's head, dated Due.
type Release struct {
	Project, Schedule, Branch string
	// Due dates the release's tags (read in the schedule's time zone).
	Due time.Time
	// Fired moves the schedule's mark to Due in the same store
	// transaction as the queueing, so that a crash can neither lose a
	// fired release nor fire it twice; a run by hand leaves the mark
	// alone.
	Fired bool
	// By is who runs the release by hand (RunNow); "" for a fire.
	By string
}

// Options are the scheduler's optional collaborators.
type Options struct {
	// Now is the clock due times are computed from. Default time.Now.
	Now func() time.Time
	// Logger gets one line per fire, start-up decision and failed fire.
	// Default: the zero Logger, which discards.
	Logger zerolog.Logger
}

// Entry is one schedule and its next due time, for the dashboard and the
// start-up log.
type Entry struct {
	// Project and Schedule name the schedule.
	Project, Schedule string
	// Cron is the spec as configured.
	Cron string
	// Timezone is the zone the spec is read in ("UTC" when unset).
	Timezone string
	// Next is the next due time, in Timezone.
	Next time.Time
}

const (
	// maxWait caps one sleep of the loop, so that a jump of the wall clock
	// (which timers, on the monotonic clock, do not see) is noticed.
	maxWait = time.Minute
	// fireTimeout bounds one fire's transaction, which runs to its end
	// even when Run's context ends meanwhile.
	fireTimeout = 30 * time.Second
	// defaultRetry is the first delay before a failed fire is retried; it
	// doubles per failure up to maxRetry.
	defaultRetry = 10 * time.Second
	maxRetry     = 5 * time.Minute
)

// Scheduler fires the schedules of a set of projects. Build it with New
// and start it with Run; RunNow and Entries may be called from any
// goroutine, also while Run runs.
type Scheduler struct {
	entries  []entry
	projects []string
	st       Store
	q        Queue
	now      func() time.Time
	log      zerolog.Logger
	// retry is the first retry delay of a failed fire (tests shorten it).
	retry time.Duration
	// idle, when set (tests), is called each time the loop goes to sleep:
	// every decision due until then has been written.
	idle func()

	running atomic.Bool

	mu   sync.Mutex
	next []time.Time // guarded by mu; next due time per entry
}

// entry is one schedule, resolved.
type entry struct {
	project, name, spec string
	branch              string
	catchUp             bool
	loc                 *time.Location
	plan                plan
}

// New returns a scheduler of the projects' schedules. It checks again
// what config validation checked (spec, time zone, unique names) and that
// each spec has a due time at all; every problem is reported. A schedule
// without a branch releases the project's DefaultBranch. st is required;
// q may be nil for a scheduler that only lists its entries: a fire then
// fails.
func New(projects []config.Project, st Store, q Queue, opts Options) (*Scheduler, error) {
	if st == nil {
		return nil, errors.New("new scheduler: store is nil")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Scheduler{st: st, q: q, now: opts.Now, log: opts.Logger, retry: defaultRetry}
	now := s.now()
	var errs []error
	for _, p := range projects {
		s.projects = append(s.projects, p.Name)
		seen := map[string]bool{}
		for _, sc := range p.Schedules {
			e, err := newEntry(p, sc, seen)
			if err != nil {
				errs = append(errs, fmt.Errorf("project %s: schedule %q: %w", p.Name, sc.Name, err))
				continue
			}
			next, err := Next(sc, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("project %s: schedule %q: %w", p.Name, sc.Name, err))
				continue
			}
			s.entries = append(s.entries, e)
			s.next = append(s.next, next)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new scheduler: %w", err)
	}
	return s, nil
}

// newEntry resolves one schedule of p; seen holds the names taken so far.
func newEntry(p config.Project, sc config.Schedule, seen map[string]bool) (entry, error) {
	if sc.Name == "" {
		return entry{}, errors.New("name is empty")
	}
	if seen[sc.Name] {
		return entry{}, errors.New("duplicate name")
	}
	seen[sc.Name] = true
	pl, loc, err := compile(sc)
	if err != nil {
		return entry{}, err
	}
	branch := sc.Branch
	if branch == "" {
		branch = p.DefaultBranch
	}
	if branch == "" {
		return entry{}, errors.New("no branch: set its branch or the project's default_branch")
	}
	return entry{
		project: p.Name, name: sc.Name, spec: sc.Cron,
		branch: branch, catchUp: sc.CatchesUp(), loc: loc, plan: pl,
	}, nil
}

// Entries returns every schedule with its next due time, in configuration
// order. Before Run has started, Next is the next due time after New's
// clock reading.
func (s *Scheduler) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, len(s.entries))
	for i, e := range s.entries {
		out[i] = Entry{Project: e.project, Schedule: e.name, Cron: e.spec, Timezone: e.loc.String(), Next: s.next[i].In(e.loc)}
	}
	return out
}

// state is the loop's view of one schedule.
type state struct {
	// mark is the due time last fired (or skipped): nothing at or before
	// it fires.
	mark time.Time
	// next is the first due time after mark; zero when there is none.
	next time.Time
	// retryAt delays the next attempt after a failed fire.
	retryAt  time.Time
	failures int
	// catchUp is set while the pending fire is the start-up catch-up.
	catchUp bool
}

// wake is when the loop should next look at the schedule; zero for never.
func (st *state) wake() time.Time {
	if st.retryAt.After(st.next) {
		return st.retryAt
	}
	return st.next
}

// Run catches up every schedule (see the package documentation), then
// fires each due time as it comes until ctx ends. It returns nil once ctx
// has ended and a fire in progress has been written, or an error when the
// store fails while reading or setting a mark at start. A fire that fails
// is logged and retried (after 10s, doubling up to 5m); it fires the latest
// due time at the retry, once. Run may not be called again while it runs.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("run scheduler: already running")
	}
	defer s.running.Store(false)
	states := make([]state, len(s.entries))
	for i := range s.entries {
		st, err := s.start(ctx, &s.entries[i])
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("start schedules: %w", err)
		}
		states[i] = st
	}
	s.loop(ctx, states)
	return nil
}

// start makes the start-up decision of e and returns its loop state.
func (s *Scheduler) start(ctx context.Context, e *entry) (state, error) {
	last, ok, err := s.st.LastFired(ctx, e.project, e.name)
	if err != nil {
		return state{}, err
	}
	now := s.now()
	log := s.log.With().Str("project", e.project).Str("schedule", e.name).Logger()
	if !ok {
		mark, found := e.plan.latest(time.Time{}, now)
		if !found {
			mark = now
		}
		if err := s.st.MarkFired(ctx, e.project, e.name, mark); err != nil {
			return state{}, err
		}
		next := e.plan.next(mark)
		log.Info().Time("mark", mark.In(e.loc)).Time("next", next.In(e.loc)).Msg("schedule armed for the first time; nothing fired")
		return state{mark: mark, next: next}, nil
	}
	due, missed := e.plan.latest(last, now)
	switch {
	case !missed:
		next := e.plan.next(last)
		log.Info().Time("next", next.In(e.loc)).Msg("schedule armed")
		return state{mark: last, next: next}, nil
	case !e.catchUp:
		if err := s.st.MarkFired(ctx, e.project, e.name, due); err != nil {
			return state{}, err
		}
		next := e.plan.next(due)
		log.Info().Time("missed", due.In(e.loc)).Time("next", next.In(e.loc)).Msg("missed due time skipped (catch_up: false)")
		return state{mark: due, next: next}, nil
	}
	st := state{mark: last, next: due, catchUp: true}
	s.fireDue(ctx, e, &st, now)
	return st, nil
}

// loop fires due times until ctx ends.
func (s *Scheduler) loop(ctx context.Context, states []state) {
	for {
		if ctx.Err() != nil {
			return
		}
		now := s.now()
		for i := range states {
			if w := states[i].wake(); w.IsZero() || w.After(now) {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			s.fireDue(ctx, &s.entries[i], &states[i], now)
		}
		s.publish(states)
		wait := maxWait
		now = s.now()
		for i := range states {
			if w := states[i].wake(); !w.IsZero() {
				wait = min(wait, w.Sub(now))
			}
		}
		if s.idle != nil {
			s.idle()
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// publish copies the next due times for Entries.
func (s *Scheduler) publish(states []state) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range states {
		s.next[i] = states[i].next
	}
}

// fireDue fires the latest due time of e at or before now that is after the
// mark, and advances st; on failure it schedules a retry.
func (s *Scheduler) fireDue(ctx context.Context, e *entry, st *state, now time.Time) {
	due, ok := e.plan.latest(st.mark, now)
	if !ok {
		// The clock went back since next was computed.
		st.next, st.retryAt = e.plan.next(st.mark), time.Time{}
		return
	}
	b, err := s.fire(ctx, e, due)
	if err != nil {
		st.failures++
		delay := s.retry << min(st.failures-1, 16)
		if delay <= 0 || delay > maxRetry {
			delay = maxRetry
		}
		st.next, st.retryAt = due, now.Add(delay)
		s.log.Error().Err(err).Str("project", e.project).Str("schedule", e.name).
			Time("due", due.In(e.loc)).Int64("retry_in_ms", delay.Milliseconds()).Msg("schedule fire failed")
		return
	}
	s.log.Info().Str("project", e.project).Str("schedule", e.name).Time("due", due.In(e.loc)).
		Int64("build", b.ID).Bool("catch_up", st.catchUp).Msg("schedule fired")
	*st = state{mark: due, next: e.plan.next(due)}
}

// fire queues e's release due at due and marks due fired in one
// transaction. A fire that has started is written even when ctx ends
// meanwhile, so that shutdown waits for it instead of failing it.
func (s *Scheduler) fire(ctx context.Context, e *entry, due time.Time) (store.Build, error) {
	if s.q == nil {
		return store.Build{}, errNoQueue
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fireTimeout)
	defer cancel()
	return s.q.Release(ctx, Release{Project: e.project, Schedule: e.name, Branch: e.branch, Due: due, Fired: true})
}

// RunNow queues project's schedule by hand: the same release as a fire,
// dated now (its date is read in the schedule's time zone), without
// deduplication. The mark is left alone, so the next due time still fires.
// An unknown project or schedule is an ErrUnknownSchedule (for an unknown
// project also config.ErrUnknownProject) naming the known ones. by is who
// runs it (Release.By).
func (s *Scheduler) RunNow(ctx context.Context, project, schedule, by string) (store.Build, error) {
	e, err := s.lookup(project, schedule)
	if err != nil {
		return store.Build{}, err
	}
	if s.q == nil {
		return store.Build{}, errNoQueue
	}
	got, err := s.q.Release(ctx, Release{Project: e.project, Schedule: e.name, Branch: e.branch, Due: s.now().UTC(), By: by})
	if err != nil {
		return store.Build{}, fmt.Errorf("run schedule %s of %s: %w", schedule, project, err)
	}
	s.log.Info().Str("project", e.project).Str("schedule", e.name).Time("due", got.DueAt.In(e.loc)).
		Int64("build", got.ID).Msg("schedule run by hand")
	return got, nil
}

// lookup finds the entry of project's schedule.
func (s *Scheduler) lookup(project, schedule string) (*entry, error) {
	var known []string
	for i := range s.entries {
		e := &s.entries[i]
		if e.project != project {
			continue
		}
		if e.name == schedule {
			return e, nil
		}
		known = append(known, e.name)
	}
	for _, p := range s.projects {
		if p != project {
			continue
		}
		if len(known) == 0 {
			return nil, fmt.Errorf("%w %q: project %s has no schedules", ErrUnknownSchedule, schedule, project)
		}
		return nil, fmt.Errorf("%w %q of project %s (known: %s)", ErrUnknownSchedule, schedule, project, strings.Join(known, ", "))
	}
	return nil, fmt.Errorf("%w %q: %w %q (known: %s)", ErrUnknownSchedule, schedule, config.ErrUnknownProject, project, strings.Join(s.projects, ", "))
}
