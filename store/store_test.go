package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/internal/testenv"
)

// pgCluster is the PostgreSQL cluster of this test binary, started by the
// first PostgreSQL test and stopped by TestMain.
var pgCluster testenv.PostgresShared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pgCluster.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// testBackend is one database engine the behaviours run on.
type testBackend struct {
	name string
	// newDB returns the database argument of OpenDatabase for a new, empty
	// database of this test ("" for SQLite) and a new data directory.
	newDB func(t *testing.T) (database, dataDir string)
}

// testBackends are SQLite and PostgreSQL. PostgreSQL that cannot start
// fails its tests, never skips them.
var testBackends = []testBackend{
	{BackendSQLite, func(t *testing.T) (string, string) {
		return "", filepath.Join(t.TempDir(), "data")
	}},
	{BackendPostgres, func(t *testing.T) (string, string) {
		return pgCluster.Get(t).NewDatabase(t), filepath.Join(t.TempDir(), "data")
	}},
}

// open opens a store on a new empty database, closed at the end of the
// test.
func (be testBackend) open(t *testing.T) *Store {
	t.Helper()
	database, dir := be.newDB(t)
	return openAt(t, database, dir, Options{})
}

// openAt opens the store of database and dir, closed at the end of the
// test, without a lease keeper unless opts asks for one.
func openAt(t *testing.T, database, dir string, opts Options) *Store {
	t.Helper()
	if opts.KeepLeases == 0 {
		// The lease keeper reads the clock that tests fix (fixClock);
		// TestPostgresLeaseKeeper turns it on.
		opts.KeepLeases = -1
	}
	s, err := OpenDatabase(t.Context(), database, dir, opts)
	if err != nil {
		t.Fatalf("OpenDatabase: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// behaviours are the store's tests that every backend passes.
var behaviours = []struct {
	name string
	run  func(t *testing.T, be testBackend)
}{
	{"OpenMigratesOnceAndKeepsData", testOpenMigratesOnceAndKeepsData},
	{"OpenRejectsNewerSchema", testOpenRejectsNewerSchema},
	{"EnqueueGetUpdateRoundTrip", testEnqueueGetUpdateRoundTrip},
	{"EnqueueRejectsBadBuilds", testEnqueueRejectsBadBuilds},
	{"ListBuilds", testListBuilds},
	{"ListBuildsLimits", testListBuildsLimits},
	{"ListBuildsNewestPerRef", testListBuildsNewestPerRef},
	{"EnqueueDedup", testEnqueueDedup},
	{"EnqueueSupersede", testEnqueueSupersede},
	{"ClaimNext", testClaimNext},
	{"ClaimNextConcurrent", testClaimNextConcurrent},
	{"EnqueueConcurrent", testEnqueueConcurrent},
	{"Recover", testRecover},
	{"SetStatus", testSetStatus},
	{"LastBuildAndFindPushed", testLastBuildAndFindPushed},
	{"RecordDelivery", testRecordDelivery},
	{"RecordDeliveryAndEnqueue", testRecordDeliveryAndEnqueue},
	{"GroupCommit", testGroupCommit},
	{"Prune", testPrune},
	{"PruneLetsWritersIn", testPruneLetsWritersIn},
	{"PruneDeliveries", testPruneDeliveries},
	{"PruneDeliveriesLetsWritersIn", testPruneDeliveriesLetsWritersIn},
	{"ScheduleMarks", testScheduleMarks},
	{"Insert", testInsert},
	{"LogPath", testLogPath},
	{"CanceledContext", testCanceledContext},
	{"Leases", testLeases},
	{"QueueSignal", testQueueSignal},
	{"Logs", testLogs},
	{"CreateLog", testCreateLog},
	{"Key", testKey},
	{"Deployments", testDeployments},
	{"Notifications", testNotifications},
	{"BaseImages", testBaseImages},
}

// TestBackends runs every behaviour on every backend:
// go test -run 'TestBackends/postgres/ClaimNext' ./store
func TestBackends(t *testing.T) {
	for _, be := range testBackends {
		t.Run(be.name, func(t *testing.T) {
			for _, bh := range behaviours {
				t.Run(bh.name, func(t *testing.T) { bh.run(t, be) })
			}
		})
	}
}

// fixClock makes s's clock return at.
func fixClock(s *Store, at time.Time) {
	s.now = func() time.Time { return at }
}

// enqueue enqueues b without options, failing the test on error.
func enqueue(t *testing.T, s *Store, b Build) Build {
	t.Helper()
	got, created, _, err := s.Enqueue(t.Context(), b, EnqueueOptions{})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if !created {
		t.Fatalf("Enqueue(%+v) created = false, want true", b)
	}
	return got
}

// setStatus forces build id's status, failing the test on error.
func setStatus(t *testing.T, s *Store, id int64, status Status) {
	t.Helper()
	if _, err := s.SetStatus(t.Context(), id, nil, status, ""); err != nil {
		t.Fatalf("SetStatus(%d, %s): %v", id, status, err)
	}
}

// mustGet reads build id, failing the test on error.
func mustGet(t *testing.T, s *Store, id int64) Build {
	t.Helper()
	b, err := s.GetBuild(t.Context(), id)
	if err != nil {
		t.Fatalf("GetBuild(%d): %v", id, err)
	}
	return b
}

// push is a push build of project and branch at commit.
func push(project, branch, commit string) Build {
	return Build{Project: project, Trigger: TriggerPush, Ref: "refs/heads/" + branch, Commit: commit}
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

func testOpenMigratesOnceAndKeepsData(t *testing.T, be testBackend) {
	database, _ := be.newDB(t)
	dir := filepath.Join(t.TempDir(), "nested", "data")
	ctx := t.Context()
	s, err := OpenDatabase(ctx, database, dir, Options{})
	if err != nil {
		t.Fatalf("Open new: %v", err)
	}
	ms, err := migrations(be.name)
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	want := appliedVersions(t, s)
	if len(want) != len(ms) || len(ms) == 0 {
		t.Fatalf("applied %v, want one row per embedded migration (%d)", want, len(ms))
	}
	b := enqueue(t, s, push("web", "main", "abc"))
	if _, err := os.Stat(filepath.Join(dir, "logs")); err != nil {
		t.Errorf("after Open: %v", err)
	}
	if be.name == BackendSQLite {
		if _, err := os.Stat(filepath.Join(dir, "slipway.db")); err != nil {
			t.Errorf("after Open: %v", err)
		}
		var mode string
		if err := s.db.queryRow(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		var fk, sync int
		if err := s.db.queryRow(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
		}
		if err := s.db.queryRow(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
			t.Errorf("synchronous = %d, %v; want 2 (FULL)", sync, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for i := range 2 {
		s, err = OpenDatabase(ctx, database, dir, Options{})
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if diff := cmp.Diff(appliedVersions(t, s), want); diff != "" {
			t.Errorf("reopen %d: schema_migrations changed (-got +want):\n%s", i, diff)
		}
		if diff := cmp.Diff(mustGet(t, s, b.ID), b); diff != "" {
			t.Errorf("reopen %d: build changed (-got +want):\n%s", i, diff)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

// appliedVersions lists the schema_migrations rows (version and name).
func appliedVersions(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.db.query(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			v       int
			name    string
			applied int64
		)
		if err := rows.Scan(&v, &name, &applied); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got = append(got, name+"@"+time.Unix(0, applied).UTC().Format(time.RFC3339Nano))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	return got
}

func testOpenRejectsNewerSchema(t *testing.T, be testBackend) {
	database, dir := be.newDB(t)
	s, err := OpenDatabase(t.Context(), database, dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.db.exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	s.Close()
	s, err = OpenDatabase(t.Context(), database, dir, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer slipway succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open error = %v, want it to say the schema is newer", err)
	}
}

func testEnqueueGetUpdateRoundTrip(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 20, 3, 0, 0, 123456789, time.UTC)
	fixClock(s, at)
	due := time.Date(2026, 11, 16, 3, 0, 0, 0, time.FixedZone("CET", 3600))

	in := Build{
		ID:         999, // ignored
		Project:    "web",
		Trigger:    TriggerSchedule,
		Ref:        "refs/heads/main",
		Commit:     strings.Repeat("a", 40),
		Schedule:   "weekly",
		DueAt:      &due,
		Status:     StatusFailed, // replaced by queued
		Image:      "docker.io/acme/web",
		BuildKey:   "key-1",
		StartedAt:  &at, // cleared
		Attempts:   3,   // cleared
		NoPush:     true,
		NoDeploy:   true,
		FinishedAt: nil,
	}
	got, created, superseded, err := s.Enqueue(ctx, in, EnqueueOptions{Dedup: true, Supersede: true})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if !created || len(superseded) != 0 {
		t.Errorf("Enqueue created, superseded = %v, %v; want true, []", created, superseded)
	}
	want := Build{
		ID:        1,
		Project:   "web",
		Trigger:   TriggerSchedule,
		Ref:       "refs/heads/main",
		Commit:    strings.Repeat("a", 40),
		Schedule:  "weekly",
		DueAt:     ptr(due.UTC()),
		Status:    StatusQueued,
		Image:     "docker.io/acme/web",
		Tags:      []string{},
		Stages:    []Stage{},
		Deploys:   []Deploy{},
		CreatedAt: at,
		BuildKey:  "key-1",
		NoPush:    true,
		NoDeploy:  true,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Enqueue returned (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(mustGet(t, s, got.ID), want); diff != "" {
		t.Errorf("GetBuild (-got +want):\n%s", diff)
	}
	if got.CreatedAt.Location() != time.UTC || got.DueAt.Location() != time.UTC {
		t.Errorf("times not in UTC: created %v, due %v", got.CreatedAt, got.DueAt)
	}
	j, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	for _, frag := range []string{`"tags":[]`, `"stages":[]`, `"deploys":[]`, `"finished_at":null`, `"builder":""`} {
		if !strings.Contains(string(j), frag) {
			t.Errorf("JSON %s lacks %s", j, frag)
		}
	}

	started := at.Add(time.Second)
	stageStart := time.Date(2026, 11, 20, 4, 0, 1, 5, time.FixedZone("X", -7200))
	finished := at.Add(time.Minute)
	upd := got
	upd.Status = StatusSucceeded
	upd.Commit = strings.Repeat("b", 40)
	upd.Digest = "sha256:" + strings.Repeat("c", 64)
	upd.BuildKey = "key-2"
	upd.Tags = []string{"2026-W47", "weekly"}
	upd.Stages = []Stage{
		{Name: "source", Status: StatusSucceeded, StartedAt: &stageStart, DurationMS: 1234},
		{Name: "test", Status: StatusFailed, Error: "exit 1"},
	}
	upd.Deploys = []Deploy{{Target: "production", Service: "web_app", Status: "rolled_back", Error: "task failed"}}
	upd.Error = "some error"
	upd.StartedAt = &started
	upd.FinishedAt = &finished
	upd.Attempts = 2
	upd.Builder, upd.BuilderReason = "amd64-2", "least loaded (0/2 builds): sticky builder amd64-1 is draining"
	upd.Platforms = []PlatformImage{{Platform: "linux/arm64", Digest: "sha256:" + strings.Repeat("d", 64), Builder: "arm64-1"}}
	// Immutable fields are not written.
	upd.Project, upd.Ref = "other", "refs/heads/other"
	if err := s.UpdateBuild(ctx, upd); err != nil {
		t.Fatalf("UpdateBuild: %v", err)
	}
	want = upd
	want.Project, want.Ref = "web", "refs/heads/main"
	want.Stages = []Stage{
		{Name: "source", Status: StatusSucceeded, StartedAt: ptr(stageStart.UTC()), DurationMS: 1234},
		{Name: "test", Status: StatusFailed, Error: "exit 1"},
	}
	if diff := cmp.Diff(mustGet(t, s, got.ID), want); diff != "" {
		t.Errorf("GetBuild after UpdateBuild (-got +want):\n%s", diff)
	}

	if err := s.UpdateBuild(ctx, Build{ID: 12345, Status: StatusFailed}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateBuild of a missing build = %v, want ErrNotFound", err)
	}
	if _, err := s.GetBuild(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetBuild of a missing build = %v, want ErrNotFound", err)
	}
}

func testEnqueueRejectsBadBuilds(t *testing.T, be testBackend) {
	s := be.open(t)
	for name, b := range map[string]Build{
		"no project":      {Trigger: TriggerPush, Ref: "refs/heads/main"},
		"unknown trigger": {Project: "web", Trigger: "cron", Ref: "refs/heads/main"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := s.Enqueue(t.Context(), b, EnqueueOptions{}); err == nil {
				t.Error("Enqueue succeeded, want an error")
			}
		})
	}
	if n, err := s.QueueDepth(t.Context()); err != nil || n != 0 {
		t.Errorf("QueueDepth = %d, %v; want 0", n, err)
	}
}

func testListBuilds(t *testing.T, be testBackend) {
	s := be.open(t)
	// IDs 1..6.
	specs := []struct {
		b      Build
		status Status
	}{
		{push("web", "main", "c1"), StatusSucceeded},
		{push("web", "dev", "c2"), StatusFailed},
		{push("api", "main", "c3"), StatusSucceeded},
		{push("web", "main", "c4"), StatusQueued},
		{push("api", "dev", "c5"), StatusQueued},
		{push("web", "main", "c6"), StatusSucceeded},
	}
	for _, sp := range specs {
		b := enqueue(t, s, sp.b)
		setStatus(t, s, b.ID, sp.status)
	}
	tests := []struct {
		name string
		f    Filter
		want []int64
	}{
		{"all newest first", Filter{}, []int64{6, 5, 4, 3, 2, 1}},
		{"project", Filter{Project: "web"}, []int64{6, 4, 2, 1}},
		{"status", Filter{Status: StatusQueued}, []int64{5, 4}},
		{"ref", Filter{Ref: "refs/heads/dev"}, []int64{5, 2}},
		{"project status ref", Filter{Project: "web", Status: StatusSucceeded, Ref: "refs/heads/main"}, []int64{6, 1}},
		{"limit", Filter{Limit: 2}, []int64{6, 5}},
		{"before id", Filter{BeforeID: 4, Limit: 2}, []int64{3, 2}},
		{"before id with project", Filter{Project: "web", BeforeID: 4}, []int64{2, 1}},
		{"no match", Filter{Project: "nope"}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, err := s.ListBuilds(t.Context(), tt.f)
			if err != nil {
				t.Fatalf("ListBuilds: %v", err)
			}
			got := []int64{}
			for _, b := range bs {
				got = append(got, b.ID)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("IDs (-got +want):\n%s", diff)
			}
		})
	}
	t.Run("whole builds", func(t *testing.T) {
		bs, err := s.ListBuilds(t.Context(), Filter{Limit: 1})
		if err != nil {
			t.Fatalf("ListBuilds: %v", err)
		}
		if diff := cmp.Diff(bs, []Build{mustGet(t, s, 6)}); diff != "" {
			t.Errorf("ListBuilds (-got +want):\n%s", diff)
		}
	})
}

func testListBuildsLimits(t *testing.T, be testBackend) {
	s := be.open(t)
	// 520 builds in one transaction: one commit instead of 520 fsyncs.
	err := s.write(t.Context(), func(tx querier) error {
		for range 520 {
			b := push("web", "main", "")
			b.Status, b.CreatedAt = StatusQueued, time.Now()
			if _, err := insertBuild(t.Context(), tx, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"default", 0, DefaultLimit},
		{"negative", -1, DefaultLimit},
		{"asked", 7, 7},
		{"max", MaxLimit, MaxLimit},
		{"above max", 10000, MaxLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, err := s.ListBuilds(t.Context(), Filter{Limit: tt.limit})
			if err != nil {
				t.Fatalf("ListBuilds: %v", err)
			}
			if len(bs) != tt.want {
				t.Errorf("ListBuilds(Limit %d) returned %d builds, want %d", tt.limit, len(bs), tt.want)
			}
			if len(bs) > 0 && bs[0].ID != 520 {
				t.Errorf("first ID = %d, want 520", bs[0].ID)
			}
		})
	}
}

func testEnqueueDedup(t *testing.T, be testBackend) {
	tests := []struct {
		name        string
		existing    Build
		status      Status
		next        Build
		dedup       bool
		wantCreated bool
	}{
		{"queued same commit", push("web", "main", "c1"), StatusQueued, push("web", "main", "c1"), true, false},
		{"running same commit", push("web", "main", "c1"), StatusRunning, push("web", "main", "c1"), true, false},
		{"succeeded same commit", push("web", "main", "c1"), StatusSucceeded, push("web", "main", "c1"), true, false},
		{"failed same commit builds again", push("web", "main", "c1"), StatusFailed, push("web", "main", "c1"), true, true},
		{"canceled same commit builds again", push("web", "main", "c1"), StatusCanceled, push("web", "main", "c1"), true, true},
		{"superseded same commit builds again", push("web", "main", "c1"), StatusSuperseded, push("web", "main", "c1"), true, true},
		{"other commit", push("web", "main", "c1"), StatusQueued, push("web", "main", "c2"), true, true},
		{"other ref", push("web", "main", "c1"), StatusQueued, push("web", "dev", "c1"), true, true},
		{"other project", push("web", "main", "c1"), StatusQueued, push("api", "main", "c1"), true, true},
		{"empty commit", push("web", "main", ""), StatusQueued, push("web", "main", ""), true, true},
		{"dedup off", push("web", "main", "c1"), StatusQueued, push("web", "main", "c1"), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := be.open(t)
			old := enqueue(t, s, tt.existing)
			setStatus(t, s, old.ID, tt.status)
			old = mustGet(t, s, old.ID)

			got, created, superseded, err := s.Enqueue(t.Context(), tt.next, EnqueueOptions{Dedup: tt.dedup, Supersede: true})
			if err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			if created != tt.wantCreated {
				t.Errorf("created = %v, want %v", created, tt.wantCreated)
			}
			n, err := s.ListBuilds(t.Context(), Filter{})
			if err != nil {
				t.Fatalf("ListBuilds: %v", err)
			}
			if created {
				if got.ID == old.ID || len(n) != 2 {
					t.Errorf("got build %d and %d builds, want a new build", got.ID, len(n))
				}
				return
			}
			// Nothing changes: the old build is returned as it is and is not
			// superseded.
			if diff := cmp.Diff(got, old); diff != "" {
				t.Errorf("returned build (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(mustGet(t, s, old.ID), old); diff != "" {
				t.Errorf("existing build changed (-got +want):\n%s", diff)
			}
			if len(n) != 1 || len(superseded) != 0 {
				t.Errorf("%d builds, superseded %v; want 1, none", len(n), superseded)
			}
		})
	}
	t.Run("newest duplicate", func(t *testing.T) {
		s := be.open(t)
		enqueue(t, s, push("web", "main", "c1"))
		second := enqueue(t, s, push("web", "main", "c1"))
		got, created, _, err := s.Enqueue(t.Context(), push("web", "main", "c1"), EnqueueOptions{Dedup: true})
		if err != nil || created || got.ID != second.ID {
			t.Errorf("Enqueue = build %d, created %v, %v; want build %d, false", got.ID, created, err, second.ID)
		}
	})
}

func testEnqueueSupersede(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	main := "refs/heads/main"
	queuedPush := enqueue(t, s, push("web", "main", "c1"))
	queuedManual := enqueue(t, s, Build{Project: "web", Trigger: TriggerManual, Ref: main})
	queuedTag := enqueue(t, s, Build{Project: "web", Trigger: TriggerTag, Ref: main})
	queuedSchedule := enqueue(t, s, Build{Project: "web", Trigger: TriggerSchedule, Ref: main, Schedule: "weekly"})
	running := enqueue(t, s, push("web", "main", "c2"))
	setStatus(t, s, running.ID, StatusRunning)
	otherBranch := enqueue(t, s, push("web", "dev", "c3"))
	otherProject := enqueue(t, s, push("api", "main", "c4"))
	failed := enqueue(t, s, push("web", "main", "c5"))
	setStatus(t, s, failed.ID, StatusFailed)

	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	fixClock(s, at)
	got, created, superseded, err := s.Enqueue(ctx, push("web", "main", "c6"), EnqueueOptions{Supersede: true})
	if err != nil || !created {
		t.Fatalf("Enqueue = created %v, %v", created, err)
	}
	if diff := cmp.Diff(superseded, []int64{queuedPush.ID, queuedManual.ID, queuedTag.ID}); diff != "" {
		t.Errorf("superseded (-got +want):\n%s", diff)
	}
	for _, id := range superseded {
		b := mustGet(t, s, id)
		if b.Status != StatusSuperseded || b.FinishedAt == nil || !b.FinishedAt.Equal(at) {
			t.Errorf("build %d: status %s, finished %v; want superseded at %v", id, b.Status, b.FinishedAt, at)
		}
		if want := "superseded by build " + itoa(got.ID); b.Error != want {
			t.Errorf("build %d error = %q, want %q", id, b.Error, want)
		}
	}
	for _, b := range []Build{queuedSchedule, otherBranch, otherProject, got} {
		if st := mustGet(t, s, b.ID).Status; st != StatusQueued {
			t.Errorf("build %d (%s %s %s) status = %s, want queued", b.ID, b.Trigger, b.Project, b.Ref, st)
		}
	}
	if st := mustGet(t, s, running.ID).Status; st != StatusRunning {
		t.Errorf("running build status = %s, want running", st)
	}
	if st := mustGet(t, s, failed.ID).Status; st != StatusFailed {
		t.Errorf("failed build status = %s, want failed", st)
	}
}

// itoa formats id in decimal.
func itoa(id int64) string { return strconv.FormatInt(id, 10) }

func testClaimNext(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	claim := func(t *testing.T) (Build, bool) {
		t.Helper()
		b, ok, err := s.ClaimNext(ctx)
		if err != nil {
			t.Fatalf("ClaimNext: %v", err)
		}
		return b, ok
	}
	if _, ok := claim(t); ok {
		t.Fatal("ClaimNext on an empty queue: ok = true")
	}
	main1 := enqueue(t, s, push("web", "main", "c1"))
	main2 := enqueue(t, s, push("web", "main", "c2"))
	dev := enqueue(t, s, push("web", "dev", "c3"))
	api := enqueue(t, s, push("api", "main", "c4"))

	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	fixClock(s, at)
	got, ok := claim(t)
	want := main1
	want.Status, want.StartedAt, want.Attempts = StatusRunning, &at, 1
	if !ok {
		t.Fatal("ClaimNext: ok = false")
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("first claim (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(mustGet(t, s, main1.ID), want); diff != "" {
		t.Errorf("stored after claim (-got +want):\n%s", diff)
	}
	// web main is running: main2 waits, the others go in order.
	for _, wantID := range []int64{dev.ID, api.ID} {
		if got, ok := claim(t); !ok || got.ID != wantID {
			t.Errorf("claim = %d, %v; want %d", got.ID, ok, wantID)
		}
	}
	if got, ok := claim(t); ok {
		t.Errorf("claim = %d while web main runs; want none", got.ID)
	}
	if changed, err := s.SetStatus(ctx, main1.ID, []Status{StatusRunning}, StatusSucceeded, ""); err != nil || !changed {
		t.Fatalf("SetStatus = %v, %v", changed, err)
	}
	if got, ok := claim(t); !ok || got.ID != main2.ID {
		t.Errorf("claim after main1 finished = %d, %v; want %d", got.ID, ok, main2.ID)
	}
	if n, err := s.QueueDepth(ctx); err != nil || n != 0 {
		t.Errorf("QueueDepth = %d, %v; want 0", n, err)
	}

	t.Run("exclude", func(t *testing.T) {
		s := be.open(t)
		a := enqueue(t, s, push("web", "a", ""))
		b := enqueue(t, s, push("web", "b", ""))
		c := enqueue(t, s, push("web", "c", ""))
		got, ok, err := s.ClaimNext(t.Context(), a.ID, b.ID)
		if err != nil || !ok || got.ID != c.ID {
			t.Errorf("ClaimNext(exclude %d, %d) = %d, %v, %v; want %d", a.ID, b.ID, got.ID, ok, err, c.ID)
		}
		if got, ok, err := s.ClaimNext(t.Context(), a.ID, b.ID); err != nil || ok {
			t.Errorf("ClaimNext(exclude all) = %d, %v, %v; want none", got.ID, ok, err)
		}
	})
}

func testClaimNextConcurrent(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	// Two builds on each of 10 refs: only the first of each can be claimed
	// while it runs.
	want := map[int64]bool{}
	for i := range 20 {
		b := enqueue(t, s, push("web", "branch-"+itoa(int64(i%10)), ""))
		if i < 10 {
			want[b.ID] = true
		}
	}
	const workers = 30
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  = map[int64]int{}
		errs []error
	)
	for range workers {
		wg.Go(func() {
			b, ok, err := s.ClaimNext(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				got[b.ID]++
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("ClaimNext: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("claimed %d builds, want %d: %v", len(got), len(want), got)
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Errorf("build %d claimed %d times (claimable %v)", id, n, want[id])
		}
	}
}

func testEnqueueConcurrent(t *testing.T, be testBackend) {
	s := be.open(t)
	const n = 50
	var (
		wg   sync.WaitGroup
		ids  [n]int64
		errs [n]error
	)
	for i := range n {
		wg.Go(func() {
			// Same project and ref with dedup and supersede: every call
			// contends on the same rows.
			b, _, _, err := s.Enqueue(t.Context(), push("web", "main", "c"+itoa(int64(i))), EnqueueOptions{Dedup: true, Supersede: true})
			ids[i], errs[i] = b.ID, err
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Enqueue %d: %v", i, errs[i])
			continue
		}
		if seen[ids[i]] || ids[i] == 0 {
			t.Errorf("Enqueue %d: ID %d not distinct", i, ids[i])
		}
		seen[ids[i]] = true
	}
	bs, err := s.ListBuilds(t.Context(), Filter{Limit: MaxLimit})
	if err != nil {
		t.Fatalf("ListBuilds: %v", err)
	}
	if len(bs) != n {
		t.Errorf("%d builds stored, want %d", len(bs), n)
	}
	// Each supersedes the queued ones before it: exactly one stays queued.
	if depth, err := s.QueueDepth(t.Context()); err != nil || depth != 1 {
		t.Errorf("QueueDepth = %d, %v; want 1", depth, err)
	}
}

func testRecover(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	const maxAttempts = 2
	b := enqueue(t, s, push("web", "main", "c1"))
	idle := enqueue(t, s, push("web", "dev", "c2"))
	done := enqueue(t, s, push("api", "main", "c3"))
	setStatus(t, s, done.ID, StatusSucceeded)

	claimed, ok, err := s.ClaimNext(ctx, idle.ID)
	if err != nil || !ok || claimed.ID != b.ID {
		t.Fatalf("ClaimNext = %d, %v, %v", claimed.ID, ok, err)
	}
	claimed.Stages = []Stage{{Name: "source", Status: StatusRunning}}
	if err := s.UpdateBuild(ctx, claimed); err != nil {
		t.Fatalf("UpdateBuild: %v", err)
	}

	// First crash: requeued, to run once more.
	requeued, failed, err := s.Recover(ctx, maxAttempts)
	if err != nil || requeued != 1 || failed != 0 {
		t.Fatalf("Recover = %d, %d, %v; want 1, 0", requeued, failed, err)
	}
	got := mustGet(t, s, b.ID)
	want := b
	want.Attempts = 1
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("requeued build (-got +want):\n%s", diff)
	}

	claimed, ok, err = s.ClaimNext(ctx, idle.ID)
	if err != nil || !ok || claimed.ID != b.ID || claimed.Attempts != 2 {
		t.Fatalf("second ClaimNext = %d (attempts %d), %v, %v", claimed.ID, claimed.Attempts, ok, err)
	}

	// Second crash: failed for good.
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	fixClock(s, at)
	requeued, failed, err = s.Recover(ctx, maxAttempts)
	if err != nil || requeued != 0 || failed != 1 {
		t.Fatalf("second Recover = %d, %d, %v; want 0, 1", requeued, failed, err)
	}
	got = mustGet(t, s, b.ID)
	if got.Status != StatusFailed || got.Error != "interrupted by a restart; not retried again" ||
		got.FinishedAt == nil || !got.FinishedAt.Equal(at) || got.Attempts != 2 {
		t.Errorf("after second Recover: %+v", got)
	}
	for id, want := range map[int64]Status{idle.ID: StatusQueued, done.ID: StatusSucceeded} {
		if st := mustGet(t, s, id).Status; st != want {
			t.Errorf("build %d status = %s, want %s", id, st, want)
		}
	}
	if requeued, failed, err = s.Recover(ctx, maxAttempts); err != nil || requeued != 0 || failed != 0 {
		t.Errorf("Recover with nothing running = %d, %d, %v; want 0, 0", requeued, failed, err)
	}
}

func testSetStatus(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	at := time.Date(2026, 7, 8, 9, 10, 11, 0, time.UTC)
	fixClock(s, at)
	b := enqueue(t, s, push("web", "main", "c1"))

	changed, err := s.SetStatus(ctx, b.ID, []Status{StatusQueued}, StatusCanceled, "canceled by the API")
	if err != nil || !changed {
		t.Fatalf("SetStatus queued->canceled = %v, %v; want true", changed, err)
	}
	want := b
	want.Status, want.Error, want.FinishedAt = StatusCanceled, "canceled by the API", &at
	if diff := cmp.Diff(mustGet(t, s, b.ID), want); diff != "" {
		t.Errorf("after cancel (-got +want):\n%s", diff)
	}
	changed, err = s.SetStatus(ctx, b.ID, []Status{StatusQueued, StatusRunning}, StatusCanceled, "again")
	if err != nil || changed {
		t.Errorf("SetStatus of a canceled build = %v, %v; want false, nil", changed, err)
	}
	if diff := cmp.Diff(mustGet(t, s, b.ID), want); diff != "" {
		t.Errorf("refused transition changed the build (-got +want):\n%s", diff)
	}
	if _, err := s.SetStatus(ctx, 4242, []Status{StatusQueued}, StatusCanceled, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetStatus of a missing build = %v, want ErrNotFound", err)
	}

	// A non-final status keeps FinishedAt unset and an empty errMsg keeps
	// the error.
	c := enqueue(t, s, push("web", "dev", "c2"))
	if changed, err := s.SetStatus(ctx, c.ID, nil, StatusRunning, ""); err != nil || !changed {
		t.Fatalf("SetStatus -> running = %v, %v", changed, err)
	}
	if got := mustGet(t, s, c.ID); got.FinishedAt != nil || got.Error != "" || got.Status != StatusRunning {
		t.Errorf("after -> running: %+v", got)
	}
}

func testLastBuildAndFindPushed(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	commit := strings.Repeat("a", 40)
	digest := "sha256:" + strings.Repeat("d", 64)
	mk := func(branch, c string, status Status, key, digest string) Build {
		b := enqueue(t, s, push("web", branch, c))
		b.Status, b.BuildKey, b.Digest = status, key, digest
		if err := s.UpdateBuild(ctx, b); err != nil {
			t.Fatalf("UpdateBuild: %v", err)
		}
		return mustGet(t, s, b.ID)
	}
	pushed := mk("main", commit, StatusSucceeded, "k1", digest)
	mk("main", commit, StatusSucceeded, "k2", digest)         // other key
	mk("main", commit, StatusFailed, "k1", digest)            // not succeeded
	mk("main", commit, StatusSucceeded, "k1", "")             // no digest
	lastFailed := mk("main", "b", StatusFailed, "k1", "")     // newest on main
	otherRef := mk("dev", commit, StatusQueued, "k1", "")     // other ref
	mk("dev", strings.Repeat("e", 40), StatusRunning, "", "") // newest on dev

	t.Run("FindPushed", func(t *testing.T) {
		got, err := s.FindPushed(ctx, "web", commit, "k1")
		if err != nil {
			t.Fatalf("FindPushed: %v", err)
		}
		if diff := cmp.Diff(got, pushed); diff != "" {
			t.Errorf("FindPushed (-got +want):\n%s", diff)
		}
		for _, args := range [][3]string{{"web", commit, "k3"}, {"api", commit, "k1"}, {"web", "", ""}, {"web", "f", "k1"}} {
			if _, err := s.FindPushed(ctx, args[0], args[1], args[2]); !errors.Is(err, ErrNotFound) {
				t.Errorf("FindPushed%v = %v, want ErrNotFound", args, err)
			}
		}
	})
	tests := []struct {
		name     string
		ref      string
		statuses []Status
		want     int64
	}{
		{"any status", "refs/heads/main", nil, lastFailed.ID},
		{"succeeded", "refs/heads/main", []Status{StatusSucceeded}, lastFailed.ID - 1},
		{"several statuses", "refs/heads/dev", []Status{StatusQueued, StatusSucceeded}, otherRef.ID},
		{"none", "refs/heads/dev", []Status{StatusCanceled}, 0},
	}
	for _, tt := range tests {
		t.Run("LastBuild "+tt.name, func(t *testing.T) {
			got, err := s.LastBuild(ctx, "web", tt.ref, tt.statuses...)
			if tt.want == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("LastBuild = %d, %v; want ErrNotFound", got.ID, err)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Errorf("LastBuild = %d, %v; want %d", got.ID, err, tt.want)
			}
		})
	}
}

func testRecordDelivery(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	at := time.Date(2026, 2, 3, 4, 5, 6, 7, time.FixedZone("Y", 3600))
	d := Delivery{ID: "d-1", Event: "push", Outcome: "queued", Reason: "", BuildIDs: []int64{3, 4}, ReceivedAt: at}
	seen, err := s.RecordDelivery(ctx, d)
	if err != nil || seen {
		t.Fatalf("first RecordDelivery = %v, %v; want false", seen, err)
	}
	again := d
	again.Outcome, again.BuildIDs = "ignored", nil
	seen, err = s.RecordDelivery(ctx, again)
	if err != nil || !seen {
		t.Fatalf("second RecordDelivery = %v, %v; want true", seen, err)
	}
	got, err := s.GetDelivery(ctx, "d-1")
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	want := d
	want.ReceivedAt = at.UTC()
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("GetDelivery (-got +want):\n%s", diff)
	}

	fixClock(s, at)
	if _, err := s.RecordDelivery(ctx, Delivery{ID: "d-2", Event: "ping", Outcome: "ignored", Reason: "ping"}); err != nil {
		t.Fatalf("RecordDelivery: %v", err)
	}
	got, err = s.GetDelivery(ctx, "d-2")
	want = Delivery{ID: "d-2", Event: "ping", Outcome: "ignored", Reason: "ping", BuildIDs: []int64{}, ReceivedAt: at.UTC()}
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("GetDelivery defaults (-got +want):\n%s", diff)
	}
	if n, err := s.CountDeliveries(ctx); err != nil || n != 2 {
		t.Errorf("CountDeliveries = %d, %v; want 2", n, err)
	}
	if _, err := s.GetDelivery(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetDelivery(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.RecordDelivery(ctx, Delivery{Event: "push"}); err == nil {
		t.Error("RecordDelivery without an ID succeeded, want an error")
	}
}

func testRecordDeliveryAndEnqueue(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	queued := enqueue(t, s, push("web", "main", "c0"))
	builds := []Build{push("web", "main", "c1"), push("web", "dev", "c2"), push("web", "dev", "c2")}
	d := Delivery{ID: "d-1", Event: "push", Outcome: "queued", BuildIDs: []int64{99}}

	seen, results, err := s.RecordDeliveryAndEnqueue(ctx, d, builds, EnqueueOptions{Dedup: true, Supersede: true})
	if err != nil || seen {
		t.Fatalf("RecordDeliveryAndEnqueue = %v, %v; want false", seen, err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results, want 3", len(results))
	}
	main, dev := results[0].Build, results[1].Build
	want := []EnqueueResult{
		{Build: mustGet(t, s, main.ID), Created: true, Superseded: []int64{queued.ID}},
		{Build: mustGet(t, s, dev.ID), Created: true, Superseded: []int64{}},
		// The third is a duplicate of the second within one delivery.
		{Build: mustGet(t, s, dev.ID), Created: false, Superseded: []int64{}},
	}
	if diff := cmp.Diff(results, want); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
	got, err := s.GetDelivery(ctx, "d-1")
	if err != nil {
		t.Fatalf("GetDelivery: %v", err)
	}
	if diff := cmp.Diff(got.BuildIDs, []int64{main.ID, dev.ID, dev.ID}); diff != "" {
		t.Errorf("delivery BuildIDs (-got +want):\n%s", diff)
	}

	t.Run("seen delivery enqueues nothing", func(t *testing.T) {
		before, err := s.ListBuilds(ctx, Filter{})
		if err != nil {
			t.Fatalf("ListBuilds: %v", err)
		}
		seen, results, err := s.RecordDeliveryAndEnqueue(ctx, d, []Build{push("web", "other", "c9")}, EnqueueOptions{Supersede: true})
		if err != nil || !seen || len(results) != 0 {
			t.Fatalf("redelivery = %v, %v, %v; want true, no results", seen, results, err)
		}
		after, err := s.ListBuilds(ctx, Filter{})
		if err != nil {
			t.Fatalf("ListBuilds: %v", err)
		}
		if diff := cmp.Diff(after, before); diff != "" {
			t.Errorf("builds changed (-got +want):\n%s", diff)
		}
	})
	t.Run("a failing build records nothing", func(t *testing.T) {
		before, err := s.ListBuilds(ctx, Filter{})
		if err != nil {
			t.Fatalf("ListBuilds: %v", err)
		}
		bad := []Build{push("web", "main", "c7"), {Project: "web", Trigger: "bogus"}}
		if _, _, err := s.RecordDeliveryAndEnqueue(ctx, Delivery{ID: "d-2", Event: "push"}, bad, EnqueueOptions{Supersede: true}); err == nil {
			t.Fatal("RecordDeliveryAndEnqueue with a bad build succeeded, want an error")
		}
		after, err := s.ListBuilds(ctx, Filter{})
		if err != nil {
			t.Fatalf("ListBuilds: %v", err)
		}
		if diff := cmp.Diff(after, before); diff != "" {
			t.Errorf("builds changed (-got +want):\n%s", diff)
		}
		if _, err := s.GetDelivery(ctx, "d-2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetDelivery(d-2) = %v, want ErrNotFound", err)
		}
	})
	t.Run("no builds", func(t *testing.T) {
		seen, results, err := s.RecordDeliveryAndEnqueue(ctx, Delivery{ID: "d-3", Event: "ping", Outcome: "ignored"}, nil, EnqueueOptions{})
		if err != nil || seen || len(results) != 0 {
			t.Fatalf("= %v, %v, %v", seen, results, err)
		}
		got, err := s.GetDelivery(ctx, "d-3")
		if err != nil || got.Outcome != "ignored" || len(got.BuildIDs) != 0 {
			t.Errorf("GetDelivery = %+v, %v", got, err)
		}
	})
}

func testScheduleMarks(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx := t.Context()
	if _, ok, err := s.LastFired(ctx, "web", "weekly"); err != nil || ok {
		t.Fatalf("LastFired before any mark = %v, %v; want false", ok, err)
	}
	first := time.Date(2026, 11, 16, 3, 0, 0, 0, time.FixedZone("CET", 3600))
	second := first.AddDate(0, 0, 7)
	for _, due := range []time.Time{first, second} {
		if err := s.MarkFired(ctx, "web", "weekly", due); err != nil {
			t.Fatalf("MarkFired: %v", err)
		}
		got, ok, err := s.LastFired(ctx, "web", "weekly")
		if err != nil || !ok {
			t.Fatalf("LastFired = %v, %v", ok, err)
		}
		if !got.Equal(due) || got.Location() != time.UTC {
			t.Errorf("LastFired = %v, want %v in UTC", got, due)
		}
	}
	for _, key := range [][2]string{{"web", "monthly"}, {"api", "weekly"}} {
		if _, ok, err := s.LastFired(ctx, key[0], key[1]); err != nil || ok {
			t.Errorf("LastFired%v = %v, %v; want false", key, ok, err)
		}
	}

	t.Run("MarkFiredAndEnqueue", func(t *testing.T) {
		due := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
		b := Build{Project: "web", Trigger: TriggerSchedule, Ref: "refs/heads/main", Schedule: "monthly", DueAt: &due}
		r, err := s.MarkFiredAndEnqueue(ctx, "web", "monthly", due, b, EnqueueOptions{})
		if err != nil || !r.Created {
			t.Fatalf("MarkFiredAndEnqueue = %+v, %v", r, err)
		}
		if diff := cmp.Diff(mustGet(t, s, r.Build.ID), r.Build); diff != "" {
			t.Errorf("build (-got +want):\n%s", diff)
		}
		got, ok, err := s.LastFired(ctx, "web", "monthly")
		if err != nil || !ok || !got.Equal(due) {
			t.Errorf("LastFired = %v, %v, %v; want %v", got, ok, err, due)
		}
		// A bad build marks nothing.
		later := due.AddDate(0, 1, 0)
		if _, err := s.MarkFiredAndEnqueue(ctx, "web", "monthly", later, Build{Trigger: TriggerSchedule}, EnqueueOptions{}); err == nil {
			t.Fatal("MarkFiredAndEnqueue of a bad build succeeded")
		}
		if got, _, _ := s.LastFired(ctx, "web", "monthly"); !got.Equal(due) {
			t.Errorf("LastFired after a failed fire = %v, want %v", got, due)
		}
	})
}

func testInsert(t *testing.T, be testBackend) {
	s := be.open(t)
	at := time.Date(2026, 4, 5, 6, 7, 8, 9, time.UTC)
	fixClock(s, at)
	got, err := s.Insert(t.Context(), Build{Project: "web", Trigger: TriggerManual, Ref: "refs/heads/main", NoPush: true})
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	want := Build{ID: got.ID, Project: "web", Trigger: TriggerManual, Ref: "refs/heads/main", Status: StatusRunning,
		Tags: []string{}, Stages: []Stage{}, Deploys: []Deploy{}, CreatedAt: at, StartedAt: &at, Attempts: 1, NoPush: true}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Insert (-got +want):\n%s", diff)
	}
	if b, ok, err := s.ClaimNext(t.Context()); err != nil || ok {
		t.Errorf("ClaimNext claimed inserted build %d (%v, %v)", b.ID, ok, err)
	}
}

func testLogPath(t *testing.T, be testBackend) {
	s := be.open(t)
	got := s.LogPath(42)
	if want := filepath.Join(s.DataDir(), "logs", "42.log"); got != want {
		t.Errorf("LogPath(42) = %q, want %q", got, want)
	}
	if err := os.WriteFile(got, []byte("hello\n"), 0o600); err != nil {
		t.Errorf("write log: %v", err)
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, "slipway.db")); err != nil {
		t.Errorf("database not at the data dir: %v", err)
	}
}

func testCanceledContext(t *testing.T, be testBackend) {
	s := be.open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, _, err := s.Enqueue(ctx, push("web", "main", ""), EnqueueOptions{}); err == nil {
		t.Error("Enqueue with a canceled context succeeded")
	}
	if n, err := s.QueueDepth(t.Context()); err != nil || n != 0 {
		t.Errorf("QueueDepth = %d, %v; want 0", n, err)
	}
}
