package schedules

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// deadline bounds every wait of these tests.
const deadline = 30 * time.Second

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// clock is a settable fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// waker records the builds queued.
type waker struct {
	mu    sync.Mutex
	added []store.Build
}

func (w *waker) Queued(_ context.Context, _ []int64, added ...store.Build) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.added = append(w.added, added...)
}

// releaseStore is the part of *store.Store that storeQueue writes to.
type releaseStore interface {
	MarkFiredAndEnqueue(ctx context.Context, project, schedule string, due time.Time, b store.Build, opts store.EnqueueOptions) (store.EnqueueResult, error)
	Enqueue(ctx context.Context, b store.Build, opts store.EnqueueOptions) (got store.Build, created bool, superseded []int64, err error)
}

// storeQueue queues releases straight into the store as the build queue
// does (a release deduplicates and supersedes nothing) and tells w (may
// be nil) of each.
type storeQueue struct {
	st releaseStore
	w  *waker
}

func (q storeQueue) Release(ctx context.Context, r Release) (store.Build, error) {
	due := r.Due.UTC()
	b := store.Build{Project: r.Project, Trigger: store.TriggerSchedule, Ref: "refs/heads/" + r.Branch, Schedule: r.Schedule, DueAt: &due}
	var res store.EnqueueResult
	var err error
	if r.Fired {
		res, err = q.st.MarkFiredAndEnqueue(ctx, r.Project, r.Schedule, r.Due, b, store.EnqueueOptions{})
	} else {
		res.Build, res.Created, res.Superseded, err = q.st.Enqueue(ctx, b, store.EnqueueOptions{})
	}
	if err != nil {
		return store.Build{}, err
	}
	if q.w != nil {
		q.w.Queued(ctx, res.Superseded, res.Build)
	}
	return res.Build, nil
}

func (w *waker) IDs() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := []int64{}
	for _, b := range w.added {
		ids = append(ids, b.ID)
	}
	return ids
}

func project(schedules ...config.Schedule) config.Project {
	return config.Project{Name: "web", DefaultBranch: "main", Schedules: schedules}
}

func boolPtr(b bool) *bool { return &b }

// runUntilIdle runs s until its loop first sleeps (every start-up decision
// written), then stops it and checks that Run returned nil.
func runUntilIdle(t *testing.T, s *Scheduler) {
	t.Helper()
	idle := make(chan struct{}, 1)
	s.idle = func() {
		select {
		case idle <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-idle:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before its loop slept: %v", err)
	case <-time.After(deadline):
		cancel()
		t.Fatal("the scheduler did not go idle")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not return after its context ended")
	}
}

func listBuilds(t *testing.T, st *store.Store) []store.Build {
	t.Helper()
	bs, err := st.ListBuilds(t.Context(), store.Filter{Project: "web"})
	if err != nil {
		t.Fatalf("list builds: %v", err)
	}
	return bs
}

func lastFired(t *testing.T, st *store.Store, schedule string) time.Time {
	t.Helper()
	due, ok, err := st.LastFired(t.Context(), "web", schedule)
	if err != nil || !ok {
		t.Fatalf("LastFired(%s) = %s, %v, %v; want a mark", schedule, due, ok, err)
	}
	return due
}

// buildFields are the fields a scheduler decides.
type buildFields struct {
	Project, Trigger, Ref, Commit, Schedule string
	Status                                  store.Status
	DueAt                                   time.Time
}

func fieldsOf(bs []store.Build) []buildFields {
	out := []buildFields{}
	for _, b := range bs {
		f := buildFields{Project: b.Project, Trigger: b.Trigger, Ref: b.Ref, Commit: b.Commit, Schedule: b.Schedule, Status: b.Status}
		if b.DueAt != nil {
			f.DueAt = *b.DueAt
		}
		out = append(out, f)
	}
	return out
}

// TestRestart walks one data directory through starts of a scheduler on a
// fake clock: each step is a restart of slipway.
func TestRestart(t *testing.T) {
	st := openStore(t)
	clk := &clock{now: utc("2026-03-02T10:02:00Z")}
	w := &waker{}
	proj := project(
		config.Schedule{Name: "five", Cron: "*/5 * * * *", Branch: "release"},
		config.Schedule{Name: "quiet", Cron: "*/5 * * * *", CatchUp: boolPtr(false)},
	)
	start := func(t *testing.T) {
		t.Helper()
		s, err := New([]config.Project{proj}, st, storeQueue{st, w}, Options{Now: clk.Now, Logger: zerolog.New(zerolog.NewTestWriter(t))})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		runUntilIdle(t, s)
	}
	catchUp := buildFields{
		Project: "web", Trigger: store.TriggerSchedule, Ref: "refs/heads/release", Commit: "",
		Schedule: "five", Status: store.StatusQueued, DueAt: utc("2026-03-02T10:15:00Z"),
	}

	t.Run("first start fires nothing and sets the mark", func(t *testing.T) {
		start(t)
		if got := listBuilds(t, st); len(got) != 0 {
			t.Errorf("builds = %v, want none", fieldsOf(got))
		}
		for _, name := range []string{"five", "quiet"} {
			if got, want := lastFired(t, st, name), utc("2026-03-02T10:00:00Z"); !got.Equal(want) {
				t.Errorf("mark of %s = %s, want %s", name, got, want)
			}
		}
		if got := w.IDs(); len(got) != 0 {
			t.Errorf("waker got %v, want nothing", got)
		}
	})

	t.Run("three missed due times fire one catch-up", func(t *testing.T) {
		clk.Set(utc("2026-03-02T10:17:30Z")) // 10:05, 10:10, 10:15 missed
		start(t)
		got := listBuilds(t, st)
		if diff := cmp.Diff([]buildFields{catchUp}, fieldsOf(got)); diff != "" {
			t.Errorf("builds (-want +got):\n%s", diff)
		}
		if got, want := lastFired(t, st, "five"), utc("2026-03-02T10:15:00Z"); !got.Equal(want) {
			t.Errorf("mark = %s, want %s", got, want)
		}
		if len(got) == 1 {
			if diff := cmp.Diff([]int64{got[0].ID}, w.IDs()); diff != "" {
				t.Errorf("waker (-want +got):\n%s", diff)
			}
		}
	})

	t.Run("catch_up false moves the mark without a build", func(t *testing.T) {
		// Checked after the step above: quiet missed the same due times.
		if got, want := lastFired(t, st, "quiet"), utc("2026-03-02T10:15:00Z"); !got.Equal(want) {
			t.Errorf("mark of quiet = %s, want %s", got, want)
		}
		for _, b := range listBuilds(t, st) {
			if b.Schedule == "quiet" {
				t.Errorf("build %d of quiet queued", b.ID)
			}
		}
	})

	t.Run("restart without a missed due time fires nothing", func(t *testing.T) {
		clk.Set(utc("2026-03-02T10:19:59Z"))
		start(t)
		if diff := cmp.Diff([]buildFields{catchUp}, fieldsOf(listBuilds(t, st))); diff != "" {
			t.Errorf("builds (-want +got):\n%s", diff)
		}
		if got, want := lastFired(t, st, "five"), utc("2026-03-02T10:15:00Z"); !got.Equal(want) {
			t.Errorf("mark = %s, want %s", got, want)
		}
	})

	t.Run("a later downtime catches up again", func(t *testing.T) {
		clk.Set(utc("2026-03-02T10:31:00Z"))
		start(t)
		bs := listBuilds(t, st)
		if len(bs) != 2 {
			t.Fatalf("builds = %v, want 2", fieldsOf(bs))
		}
		if got, want := *bs[0].DueAt, utc("2026-03-02T10:30:00Z"); !got.Equal(want) {
			t.Errorf("due = %s, want %s", got, want)
		}
	})
}

// TestRunFires runs a scheduler on the real clock and waits for an @every
// schedule to fire.
func TestRunFires(t *testing.T) {
	st := openStore(t)
	w := &waker{}
	s, err := New([]config.Project{project(
		config.Schedule{Name: "tick", Cron: "@every 1s", Branch: "dev"},
		config.Schedule{Name: "weekly", Cron: "0 3 * * MON", Timezone: "Europe/Berlin"},
	)}, st, storeQueue{st, w}, Options{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(deadline):
			t.Error("Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)

	var bs []store.Build
	for end := time.Now().Add(deadline); len(bs) == 0; {
		if time.Now().After(end) {
			t.Fatal("no schedule build queued")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
		bs = listBuilds(t, st)
	}
	stop()
	b := bs[len(bs)-1]
	if b.DueAt == nil {
		t.Fatalf("build %d has no due time", b.ID)
	}
	want := buildFields{Project: "web", Trigger: store.TriggerSchedule, Ref: "refs/heads/dev", Schedule: "tick", Status: store.StatusQueued, DueAt: *b.DueAt}
	if diff := cmp.Diff(want, fieldsOf([]store.Build{b})[0]); diff != "" {
		t.Errorf("build (-want +got):\n%s", diff)
	}
	if got := b.DueAt.Nanosecond(); got != 0 {
		t.Errorf("due time %s is not on the second", b.DueAt)
	}
	if got := lastFired(t, st, "tick"); got.Before(*b.DueAt) {
		t.Errorf("mark %s is before the fired due time %s", got, b.DueAt)
	}
	ids := w.IDs()
	if len(ids) == 0 || ids[0] != b.ID {
		t.Errorf("waker got %v, want first %d", ids, b.ID)
	}
	for _, b := range bs {
		if b.Schedule != "tick" {
			t.Errorf("build %d of schedule %s fired", b.ID, b.Schedule)
		}
	}

	entries := s.Entries()
	if len(entries) != 2 {
		t.Fatalf("Entries() = %v, want 2", entries)
	}
	if got, want := entries[1].Next.Weekday(), time.Monday; got != want {
		t.Errorf("weekly next %s is a %s, want %s", entries[1].Next, got, want)
	}
	if got, want := entries[1].Next.Location().String(), "Europe/Berlin"; got != want {
		t.Errorf("weekly next is in %s, want %s", got, want)
	}
	if !entries[0].Next.After(*bs[0].DueAt) {
		t.Errorf("tick next %s is not after the last fire %s", entries[0].Next, bs[0].DueAt)
	}
}

// failingStore fails MarkFiredAndEnqueue a number of times.
type failingStore struct {
	*store.Store
	mu    sync.Mutex
	fails int
}

var errInjected = errors.New("injected failure")

func (f *failingStore) MarkFiredAndEnqueue(ctx context.Context, project, schedule string, due time.Time, b store.Build, opts store.EnqueueOptions) (store.EnqueueResult, error) {
	f.mu.Lock()
	fail := f.fails > 0
	if fail {
		f.fails--
	}
	f.mu.Unlock()
	if fail {
		return store.EnqueueResult{}, errInjected
	}
	return f.Store.MarkFiredAndEnqueue(ctx, project, schedule, due, b, opts)
}

// TestCatchUpRetried checks that a catch-up whose write fails is retried
// and fires once.
func TestCatchUpRetried(t *testing.T) {
	st := openStore(t)
	if err := st.MarkFired(t.Context(), "web", "five", utc("2026-03-02T10:00:00Z")); err != nil {
		t.Fatalf("mark: %v", err)
	}
	fs := &failingStore{Store: st, fails: 2}
	// A clock that runs, from a fixed start, so that retries come due.
	base, t0 := utc("2026-03-02T10:12:00Z"), time.Now()
	now := func() time.Time { return base.Add(time.Since(t0)) }
	s, err := New([]config.Project{project(config.Schedule{Name: "five", Cron: "*/5 * * * *"})}, fs, storeQueue{fs, nil}, Options{Now: now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.retry = time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var bs []store.Build
	for end := time.Now().Add(deadline); len(bs) == 0; {
		if time.Now().After(end) {
			t.Fatal("the catch-up was not retried")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
		bs = listBuilds(t, st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []buildFields{{Project: "web", Trigger: store.TriggerSchedule, Ref: "refs/heads/main", Schedule: "five", Status: store.StatusQueued, DueAt: utc("2026-03-02T10:10:00Z")}}
	if diff := cmp.Diff(want, fieldsOf(listBuilds(t, st))); diff != "" {
		t.Errorf("builds (-want +got):\n%s", diff)
	}
}

func TestRunNow(t *testing.T) {
	st := openStore(t)
	w := &waker{}
	now := utc("2026-03-04T15:04:05.5Z")
	s, err := New([]config.Project{
		project(
			config.Schedule{Name: "weekly", Cron: "0 3 * * MON", Timezone: "Europe/Berlin"},
			config.Schedule{Name: "monthly", Cron: "@monthly", Branch: "stable"},
		),
		{Name: "api", DefaultBranch: "main"},
	}, st, storeQueue{st, w}, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mark := utc("2026-03-02T02:00:00Z")
	if err := st.MarkFired(t.Context(), "web", "weekly", mark); err != nil {
		t.Fatalf("mark: %v", err)
	}

	got, err := s.RunNow(t.Context(), "web", "weekly", "")
	if err != nil {
		t.Fatalf("RunNow: %v", err)
	}
	want := buildFields{Project: "web", Trigger: store.TriggerSchedule, Ref: "refs/heads/main", Schedule: "weekly", Status: store.StatusQueued, DueAt: now}
	if diff := cmp.Diff(want, fieldsOf([]store.Build{got})[0]); diff != "" {
		t.Errorf("build (-want +got):\n%s", diff)
	}
	stored, err := st.GetBuild(t.Context(), got.ID)
	if err != nil {
		t.Fatalf("get build: %v", err)
	}
	if diff := cmp.Diff(got, stored, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("stored build (-returned +stored):\n%s", diff)
	}
	if got := lastFired(t, st, "weekly"); !got.Equal(mark) {
		t.Errorf("mark = %s, want it unmoved at %s", got, mark)
	}
	if _, ok, err := st.LastFired(t.Context(), "web", "monthly"); err != nil || ok {
		t.Errorf("LastFired(monthly) = %v, %v; want no mark", ok, err)
	}
	if diff := cmp.Diff([]int64{got.ID}, w.IDs()); diff != "" {
		t.Errorf("waker (-want +got):\n%s", diff)
	}

	// A second run is not deduplicated: it is another release.
	again, err := s.RunNow(t.Context(), "web", "weekly", "")
	if err != nil {
		t.Fatalf("RunNow again: %v", err)
	}
	if again.ID == got.ID {
		t.Errorf("second RunNow returned build %d again", got.ID)
	}

	tests := []struct {
		name, project, schedule string
		unknownProject          bool
		mentions                []string
	}{
		{"unknown schedule", "web", "daily", false, []string{`"daily"`, "weekly, monthly"}},
		{"project without schedules", "api", "weekly", false, []string{`"weekly"`, "no schedules"}},
		{"unknown project", "nope", "weekly", true, []string{`"nope"`, "web, api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(listBuilds(t, st))
			_, err := s.RunNow(t.Context(), tt.project, tt.schedule, "")
			if !errors.Is(err, ErrUnknownSchedule) {
				t.Fatalf("RunNow = %v, want ErrUnknownSchedule", err)
			}
			if got := errors.Is(err, config.ErrUnknownProject); got != tt.unknownProject {
				t.Errorf("errors.Is(%v, config.ErrUnknownProject) = %v, want %v", err, got, tt.unknownProject)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
			if got := len(listBuilds(t, st)); got != before {
				t.Errorf("%d builds after a failed RunNow, want %d", got, before)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	st := openStore(t)
	tests := []struct {
		name     string
		schedule config.Schedule
		mention  string
	}{
		{"bad spec", config.Schedule{Name: "x", Cron: "every day"}, "invalid cron spec"},
		{"empty spec", config.Schedule{Name: "x"}, "invalid cron spec"},
		{"unknown time zone", config.Schedule{Name: "x", Cron: "@daily", Timezone: "Mars/Olympus"}, "Mars/Olympus"},
		{"no due time", config.Schedule{Name: "x", Cron: "0 0 30 2 *"}, "no due time"},
		{"empty name", config.Schedule{Cron: "@daily"}, "name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]config.Project{project(tt.schedule)}, st, nil, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("New = %v, want an error mentioning %q", err, tt.mention)
			}
		})
	}
	t.Run("duplicate name", func(t *testing.T) {
		_, err := New([]config.Project{project(
			config.Schedule{Name: "x", Cron: "@daily"}, config.Schedule{Name: "x", Cron: "@weekly"},
		)}, st, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "duplicate") {
			t.Errorf("New = %v, want a duplicate error", err)
		}
	})
	t.Run("no branch", func(t *testing.T) {
		_, err := New([]config.Project{{Name: "web", Schedules: []config.Schedule{{Name: "x", Cron: "@daily"}}}}, st, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "branch") {
			t.Errorf("New = %v, want a branch error", err)
		}
	})
	t.Run("no store", func(t *testing.T) {
		if _, err := New(nil, nil, nil, Options{}); err == nil {
			t.Error("New with a nil store: no error")
		}
	})
}

func TestEntries(t *testing.T) {
	st := openStore(t)
	now := utc("2026-12-31T23:30:00Z")
	s, err := New([]config.Project{project(
		config.Schedule{Name: "monthly", Cron: "@monthly"},
		config.Schedule{Name: "weekly", Cron: "0 3 * * MON", Timezone: "America/New_York"},
	)}, st, nil, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	got := s.Entries()
	want := []Entry{
		{Project: "web", Schedule: "monthly", Cron: "@monthly", Timezone: "UTC", Next: utc("2027-01-01T00:00:00Z")},
		{Project: "web", Schedule: "weekly", Cron: "0 3 * * MON", Timezone: "America/New_York", Next: utc("2027-01-04T08:00:00Z")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Entries (-want +got):\n%s", diff)
	}
	if got[1].Next.Location().String() != "America/New_York" {
		t.Errorf("weekly next %s is not in its time zone", got[1].Next)
	}
}

// TestRunTwice checks that a second concurrent Run is refused.
func TestRunTwice(t *testing.T) {
	st := openStore(t)
	s, err := New([]config.Project{project(config.Schedule{Name: "x", Cron: "@daily"})}, st, nil, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	idle := make(chan struct{}, 1)
	s.idle = func() {
		select {
		case idle <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-idle:
	case <-time.After(deadline):
		t.Fatal("the scheduler did not go idle")
	}
	if err := s.Run(ctx); err == nil {
		t.Error("second Run: no error")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestDependencies keeps the data flow one way: schedules queues builds
// through a Queue (and keeps its marks in the store), never through the
// packages after it.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/slipwayci/slipway/"
	forbidden := []string{"pipeline", "server", "builder", "registry", "deploy", "source", "webhook", "cmd"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == module+f || strings.HasPrefix(dep, module+f+"/") {
				t.Errorf("schedules imports %s", dep)
			}
		}
	}
}
