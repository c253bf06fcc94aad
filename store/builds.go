package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// interruptedError is the error of a build that was running at two crashes.
const interruptedError = "interrupted by a restart; not retried again"

// Filter limits ListBuilds. Empty fields match everything.
type Filter struct {
	Project string
	Status  Status
	// Ref is the full git ref, e.g. refs/heads/main.
	Ref string
	// Limit is the most builds returned; default 50, at most 500.
	Limit int
	// BeforeID, when > 0, returns only builds with a smaller ID (the next
	// page after a list whose last build had this ID).
	BeforeID int64
	// NewestPerRef keeps, of the Limit newest builds that match, only the
	// newest of each project's refs and, for schedule builds, of each of
	// its schedules (what a project's overview shows), still newest first:
	// the others are never read whole.
	NewestPerRef bool
}

// Filter limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// EnqueueOptions decide how Enqueue treats the builds already there.
type EnqueueOptions struct {
	// Dedup: when a build of the same project, ref and non-empty commit is
	// queued, running or succeeded, nothing is inserted and that build is
	// returned (created false).
	Dedup bool
	// Supersede: the queued builds of the same project and ref whose
	// trigger is push, tag, manual, reconcile or base_image (never
	// schedule builds) become superseded, in the same transaction as the
	// insert.
	Supersede bool
	// Rebuild narrows Dedup to builds that build the commit again: only a
	// queued build of the same project, ref, commit and trigger counts
	// (a base image rebuild of a commit that succeeded before).
	Rebuild bool
}

// EnqueueResult is the outcome of one build of RecordDeliveryAndEnqueue,
// as Enqueue returns it.
type EnqueueResult struct {
	// Build is the inserted build, or the existing one when deduplicated.
	Build Build
	// Created is false when Dedup found an existing build.
	Created bool
	// Superseded lists the IDs of the builds superseded by this one.
	Superseded []int64
}

// buildColumns are the columns scanBuild reads, in its order.
const buildColumns = `id, project, trigger_kind, ref, commit_sha, schedule, due_at, status,
	image, digest, build_key, tags, stages, deploys, error,
	created_at, started_at, finished_at, attempts, no_push, no_deploy, builder, builder_reason, platforms,
	started_by, canceled_by, reason, bases, untrusted, cached_steps, total_steps`

// scanBuild reads one row of buildColumns.
func scanBuild(r rowScanner) (Build, error) {
	var (
		b                      Build
		dueAt, started, finish sql.NullInt64
		created                int64
		tags, stages, deploys  string
		platforms, bases       string
		cache                  CacheUse
	)
	err := r.Scan(&b.ID, &b.Project, &b.Trigger, &b.Ref, &b.Commit, &b.Schedule, &dueAt, &b.Status,
		&b.Image, &b.Digest, &b.BuildKey, &tags, &stages, &deploys, &b.Error,
		&created, &started, &finish, &b.Attempts, &b.NoPush, &b.NoDeploy, &b.Builder, &b.BuilderReason, &platforms,
		&b.StartedBy, &b.CanceledBy, &b.Reason, &bases, &b.Untrusted, &cache.CachedSteps, &cache.TotalSteps)
	if err != nil {
		return Build{}, err
	}
	if cache.TotalSteps > 0 {
		b.Cache = &cache
	}
	b.DueAt = fromNullNanos(dueAt)
	b.CreatedAt = fromNanos(created)
	b.StartedAt = fromNullNanos(started)
	b.FinishedAt = fromNullNanos(finish)
	b.Tags = []string{}
	b.Stages = []Stage{}
	b.Deploys = []Deploy{}
	if err := json.Unmarshal([]byte(tags), &b.Tags); err != nil {
		return Build{}, fmt.Errorf("build %d tags: %w", b.ID, err)
	}
	if err := json.Unmarshal([]byte(stages), &b.Stages); err != nil {
		return Build{}, fmt.Errorf("build %d stages: %w", b.ID, err)
	}
	if err := json.Unmarshal([]byte(deploys), &b.Deploys); err != nil {
		return Build{}, fmt.Errorf("build %d deploys: %w", b.ID, err)
	}
	if err := json.Unmarshal([]byte(platforms), &b.Platforms); err != nil {
		return Build{}, fmt.Errorf("build %d platforms: %w", b.ID, err)
	}
	if err := json.Unmarshal([]byte(bases), &b.Bases); err != nil {
		return Build{}, fmt.Errorf("build %d bases: %w", b.ID, err)
	}
	normalizeBuild(&b)
	return b, nil
}

// normalizeBuild makes b's slices non-nil and its times UTC.
func normalizeBuild(b *Build) {
	if b.Tags == nil {
		b.Tags = []string{}
	}
	if b.Stages == nil {
		b.Stages = []Stage{}
	}
	if b.Deploys == nil {
		b.Deploys = []Deploy{}
	}
	if len(b.Platforms) == 0 {
		b.Platforms = nil
	}
	if len(b.Bases) == 0 {
		b.Bases = nil
	}
	for i := range b.Stages {
		if t := b.Stages[i].StartedAt; t != nil {
			u := t.UTC()
			b.Stages[i].StartedAt = &u
		}
	}
}

// jsonList is v as a JSON array, [] for a nil slice.
func jsonList[T any](v []T) (string, error) {
	if v == nil {
		return "[]", nil
	}
	p, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// buildLists is b's tags, stages and deploys as stored.
func buildLists(b Build) (tags, stages, deploys string, err error) {
	if tags, err = jsonList(b.Tags); err != nil {
		return "", "", "", fmt.Errorf("encode tags: %w", err)
	}
	if stages, err = jsonList(b.Stages); err != nil {
		return "", "", "", fmt.Errorf("encode stages: %w", err)
	}
	if deploys, err = jsonList(b.Deploys); err != nil {
		return "", "", "", fmt.Errorf("encode deploys: %w", err)
	}
	return tags, stages, deploys, nil
}

// validTrigger reports whether t is one of the Trigger constants.
func validTrigger(t string) bool {
	switch t {
	case TriggerPush, TriggerTag, TriggerSchedule, TriggerManual, TriggerReconcile, TriggerBaseImage, TriggerPullRequest:
		return true
	}
	return false
}

// getBuild reads build id through q (the database or a transaction).
func getBuild(ctx context.Context, q querier, id int64) (Build, error) {
	b, err := scanBuild(q.queryRow(ctx, `SELECT `+buildColumns+` FROM builds WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, fmt.Errorf("build %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Build{}, fmt.Errorf("get build %d: %w", id, err)
	}
	return b, nil
}

// insertBuild inserts b as it is (ID ignored) and returns its ID.
func insertBuild(ctx context.Context, tx querier, b Build) (int64, error) {
	return insertBuildAs(ctx, tx, b, false)
}

// insertBuildAs is insertBuild that keeps b.ID when keepID is set (Copy).
func insertBuildAs(ctx context.Context, tx querier, b Build, keepID bool) (int64, error) {
	args, err := insertBuildArgs(b, keepID)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := tx.queryRow(ctx, insertBuildSQL(keepID), args...).Scan(&id); err != nil {
		return 0, fmt.Errorf("insert build: %w", err)
	}
	return id, nil
}

// insertBuildSQL is the INSERT of one build, returning its ID; with keepID
// its first argument is the ID.
func insertBuildSQL(keepID bool) string {
	cols, marks := ``, ``
	if keepID {
		cols, marks = `id, `, `?, `
	}
	return `INSERT INTO builds (` + cols + `project, trigger_kind, ref, commit_sha, schedule, due_at, status,
		image, digest, build_key, tags, stages, deploys, error,
		created_at, started_at, finished_at, attempts, no_push, no_deploy, builder, builder_reason, platforms,
		started_by, canceled_by, reason, bases, untrusted, cached_steps, total_steps)
		VALUES (` + marks + `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
}

// insertBuildArgs are the arguments of insertBuildSQL for b.
func insertBuildArgs(b Build, keepID bool) ([]any, error) {
	tags, stages, deploys, err := buildLists(b)
	if err != nil {
		return nil, err
	}
	platforms, err := jsonList(b.Platforms)
	if err != nil {
		return nil, fmt.Errorf("encode platforms: %w", err)
	}
	bases, err := jsonList(b.Bases)
	if err != nil {
		return nil, fmt.Errorf("encode bases: %w", err)
	}
	args := []any{b.Project, b.Trigger, b.Ref, b.Commit, b.Schedule, nullNanos(b.DueAt), b.Status,
		b.Image, b.Digest, b.BuildKey, tags, stages, deploys, b.Error,
		nanos(b.CreatedAt), nullNanos(b.StartedAt), nullNanos(b.FinishedAt), b.Attempts, b.NoPush, b.NoDeploy,
		b.Builder, b.BuilderReason, platforms, b.StartedBy, b.CanceledBy, b.Reason, bases, b.Untrusted}
	cached, total := b.Cache.counts()
	args = append(args, cached, total)
	if keepID {
		args = append([]any{b.ID}, args...)
	}
	return args, nil
}

// Enqueue inserts b as a queued build (Status queued, CreatedAt now,
// StartedAt, FinishedAt and Attempts cleared, b.ID ignored) in one
// transaction and returns it as stored, with its ID. Project must be set and
// Trigger be one of the Trigger constants.
//
// With opts.Dedup, when a build of the same project, ref and commit (commit
// not empty) is already queued, running or succeeded, nothing changes and
// the newest such build is returned with created false. With
// opts.Supersede, the queued push, tag and manual builds of the same project
// and ref are marked superseded (FinishedAt now, Error naming the new build)
// in the same transaction; superseded lists their IDs.
//
// Concurrent Enqueue and RecordDeliveryAndEnqueue calls share one
// transaction (group commit): Enqueue returns once the one holding b
// committed.
func (s *Store) Enqueue(ctx context.Context, b Build, opts EnqueueOptions) (got Build, created bool, superseded []int64, err error) {
	err = s.writeGroup(ctx, []string{refKey(b.Project, b.Ref)}, func(ctx context.Context, tx querier) error {
		r, err := s.enqueue(ctx, tx, b, opts)
		got, created, superseded = r.Build, r.Created, r.Superseded
		return err
	})
	if err != nil {
		return Build{}, false, nil, fmt.Errorf("enqueue build of %s %s: %w", b.Project, b.Ref, err)
	}
	if created {
		s.queue.fire()
	}
	return got, created, superseded, nil
}

// enqueue is Enqueue inside tx. It holds b's project and ref (lockRef)
// until tx ends, so that the duplicate check, the insert and the supersede
// see every other replica's enqueues and claims of that branch.
func (s *Store) enqueue(ctx context.Context, tx querier, b Build, opts EnqueueOptions) (EnqueueResult, error) {
	if b.Project == "" {
		return EnqueueResult{}, errors.New("project is empty")
	}
	if !validTrigger(b.Trigger) {
		return EnqueueResult{}, fmt.Errorf("unknown trigger %q", b.Trigger)
	}
	if err := s.db.lockRef(ctx, tx, b.Project, b.Ref); err != nil {
		return EnqueueResult{}, fmt.Errorf("lock %s %s: %w", b.Project, b.Ref, err)
	}
	if opts.Dedup && b.Commit != "" {
		query, args := `SELECT `+buildColumns+` FROM builds
			WHERE project = ? AND ref = ? AND commit_sha = ? AND status IN (?, ?, ?)
			ORDER BY id DESC LIMIT 1`, []any{b.Project, b.Ref, b.Commit, StatusQueued, StatusRunning, StatusSucceeded}
		if opts.Rebuild {
			query, args = `SELECT `+buildColumns+` FROM builds
			WHERE project = ? AND ref = ? AND commit_sha = ? AND status = ? AND trigger_kind = ?
			ORDER BY id DESC LIMIT 1`, []any{b.Project, b.Ref, b.Commit, StatusQueued, b.Trigger}
		}
		existing, err := scanBuild(tx.queryRow(ctx, query, args...))
		switch {
		case err == nil:
			return EnqueueResult{Build: existing, Created: false, Superseded: []int64{}}, nil
		case !errors.Is(err, sql.ErrNoRows):
			return EnqueueResult{}, fmt.Errorf("find duplicate: %w", err)
		}
	}
	now := s.now().UTC()
	b.Status = StatusQueued
	b.CreatedAt = now
	b.StartedAt, b.FinishedAt, b.Attempts, b.CanceledBy = nil, nil, 0, ""
	id, err := insertBuild(ctx, tx, b)
	if err != nil {
		return EnqueueResult{}, err
	}
	superseded := []int64{}
	if opts.Supersede {
		rows, err := tx.query(ctx, `UPDATE builds SET status = ?, finished_at = ?, error = ?
			WHERE project = ? AND ref = ? AND status = ? AND trigger_kind IN (?, ?, ?, ?, ?, ?) AND id != ?
			RETURNING id`,
			StatusSuperseded, nanos(now), fmt.Sprintf("superseded by build %d", id),
			b.Project, b.Ref, StatusQueued, TriggerPush, TriggerTag, TriggerManual, TriggerReconcile, TriggerBaseImage, TriggerPullRequest, id)
		if err != nil {
			return EnqueueResult{}, fmt.Errorf("supersede: %w", err)
		}
		if superseded, err = scanIDs(rows); err != nil {
			return EnqueueResult{}, fmt.Errorf("supersede: %w", err)
		}
	}
	if err := s.db.notifyQueue(ctx, tx); err != nil {
		return EnqueueResult{}, err
	}
	got, err := getBuild(ctx, tx, id)
	if err != nil {
		return EnqueueResult{}, err
	}
	return EnqueueResult{Build: got, Created: true, Superseded: superseded}, nil
}

// scanIDs reads and closes rows of one integer column, in ascending order.
func scanIDs(rows rows) ([]int64, error) {
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING gives no order guarantee.
	slices.Sort(ids)
	return ids, nil
}

// Insert records a build that the caller runs at once itself, outside the
// queue (`slipway build`): it is stored running (CreatedAt and StartedAt
// now, Attempts 1) so that no worker claims it, and returned with its ID.
// Project must be set and Trigger be one of the Trigger constants.
func (s *Store) Insert(ctx context.Context, b Build) (Build, error) {
	if b.Project == "" {
		return Build{}, errors.New("insert build: project is empty")
	}
	if !validTrigger(b.Trigger) {
		return Build{}, fmt.Errorf("insert build: unknown trigger %q", b.Trigger)
	}
	var got Build
	err := s.write(ctx, func(tx querier) error {
		now := s.now().UTC()
		b.Status = StatusRunning
		b.CreatedAt = now
		b.StartedAt, b.FinishedAt, b.Attempts = &now, nil, 1
		id, err := insertBuild(ctx, tx, b)
		if err != nil {
			return err
		}
		got, err = getBuild(ctx, tx, id)
		return err
	})
	if err != nil {
		return Build{}, fmt.Errorf("insert build of %s %s: %w", b.Project, b.Ref, err)
	}
	return got, nil
}

// ClaimNext atomically takes the oldest queued build whose project and ref
// have no running build, except the builds whose IDs are in exclude, marks
// it running (StartedAt now, Attempts+1) under this replica's lease and
// returns it. ok is false when no build can be claimed.
//
// On PostgreSQL, claimers on any number of replicas never take one build
// twice nor run two builds of one project and ref: each candidate branch is
// held with a transaction advisory lock (a branch held by another claimer
// is skipped, not waited for), checked again under it, and its oldest
// queued build is locked with SELECT … FOR UPDATE SKIP LOCKED.
func (s *Store) ClaimNext(ctx context.Context, exclude ...int64) (b Build, ok bool, err error) {
	notIn, excl := idsNotIn("q.id", exclude)
	candidates := `SELECT q.id, q.project, q.ref FROM builds AS q
		WHERE q.status = ? AND NOT EXISTS (
			SELECT 1 FROM builds AS r WHERE r.project = q.project AND r.ref = q.ref AND r.status = ?)` + notIn + `
		ORDER BY q.id LIMIT ?`
	err = s.write(ctx, func(tx querier) error {
		type cand struct {
			id           int64
			project, ref string
		}
		var cs []cand
		rs, err := tx.query(ctx, candidates, append(append([]any{StatusQueued, StatusRunning}, excl...), claimCandidates)...)
		if err != nil {
			return err
		}
		for rs.Next() {
			var c cand
			if err := rs.Scan(&c.id, &c.project, &c.ref); err != nil {
				rs.Close()
				return err
			}
			cs = append(cs, c)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		tried := map[string]bool{}
		for _, c := range cs {
			key := refKey(c.project, c.ref)
			if tried[key] {
				continue
			}
			tried[key] = true
			got, err := s.db.tryLockRef(ctx, tx, c.project, c.ref)
			if err != nil {
				return err
			}
			if !got {
				continue // another replica is claiming or enqueuing on it
			}
			var id int64
			err = tx.queryRow(ctx, `SELECT q.id FROM builds AS q
				WHERE q.status = ? AND q.project = ? AND q.ref = ? AND NOT EXISTS (
					SELECT 1 FROM builds AS r WHERE r.project = q.project AND r.ref = q.ref AND r.status = ?)`+notIn+`
				ORDER BY q.id LIMIT 1`+s.skipLocked(),
				append([]any{StatusQueued, c.project, c.ref, StatusRunning}, excl...)...).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			now := s.now()
			if _, err := tx.exec(ctx, `UPDATE builds SET status = ?, started_at = ?, attempts = attempts + 1,
				claimed_by = ?, lease_until = ?, cancel_requested = false WHERE id = ?`,
				StatusRunning, nanos(now), s.replica, nanos(now.Add(s.lease)), id); err != nil {
				return err
			}
			b, err = getBuild(ctx, tx, id)
			ok = err == nil
			return err
		}
		return nil
	})
	if err != nil {
		return Build{}, false, fmt.Errorf("claim next build: %w", err)
	}
	if ok && s.keeping {
		s.claims.track(b.ID, b.Attempts)
	}
	return b, ok, nil
}

// claimCandidates bounds the branches one ClaimNext looks at.
const claimCandidates = 64

// skipLocked is the row-locking clause of a claim: FOR UPDATE SKIP LOCKED
// on PostgreSQL; nothing on SQLite, whose write transactions are serial.
func (s *Store) skipLocked() string {
	if s.kind == BackendPostgres {
		return ` FOR UPDATE SKIP LOCKED`
	}
	return ``
}

// idsNotIn is the condition "AND col NOT IN (ids)" and its arguments, or
// nothing for no ids.
func idsNotIn(col string, ids []int64) (string, []any) {
	if len(ids) == 0 {
		return "", nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return ` AND ` + col + ` NOT IN (?` + strings.Repeat(`, ?`, len(ids)-1) + `)`, args
}

// UpdateBuild writes b's status, commit, image, digest, build key, tags,
// stages, deploys, error, started and finished times, attempts, builder,
// platforms and bases to the build with b's ID. Project, trigger, ref,
// schedule, reason and CreatedAt never change. ErrNotFound when no build has b's ID. Only the replica that
// claimed a build (or anyone, for a build no replica claimed: queued, or
// inserted by `slipway build`) writes it: a replica whose build was taken
// over by another after its lease expired gets ErrLeaseLost and changes
// nothing.
func (s *Store) UpdateBuild(ctx context.Context, b Build) error {
	tags, stages, deploys, err := buildLists(b)
	if err != nil {
		return fmt.Errorf("update build %d: %w", b.ID, err)
	}
	platforms, err := jsonList(b.Platforms)
	if err != nil {
		return fmt.Errorf("update build %d: encode platforms: %w", b.ID, err)
	}
	bases, err := jsonList(b.Bases)
	if err != nil {
		return fmt.Errorf("update build %d: encode bases: %w", b.ID, err)
	}
	cached, total := b.Cache.counts()
	err = s.write(ctx, func(tx querier) error {
		n, err := tx.exec(ctx, `UPDATE builds SET status = ?, commit_sha = ?, image = ?, digest = ?, build_key = ?,
			tags = ?, stages = ?, deploys = ?, error = ?, started_at = ?, finished_at = ?, attempts = ?,
			builder = ?, builder_reason = ?, platforms = ?, bases = ?, cached_steps = ?, total_steps = ?
			WHERE id = ? AND (claimed_by = '' OR claimed_by = ?)`,
			b.Status, b.Commit, b.Image, b.Digest, b.BuildKey, tags, stages, deploys, b.Error,
			nullNanos(b.StartedAt), nullNanos(b.FinishedAt), b.Attempts, b.Builder, b.BuilderReason, platforms, bases,
			cached, total, b.ID, s.replica)
		if err != nil {
			return err
		}
		if n == 0 {
			var by string
			err := tx.queryRow(ctx, `SELECT claimed_by FROM builds WHERE id = ?`, b.ID).Scan(&by)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("build %d: %w", b.ID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("build %d is replica %s's now: %w", b.ID, by, ErrLeaseLost)
		}
		return s.notifyIfFinished(ctx, tx, b.Status)
	})
	if err != nil {
		return fmt.Errorf("update build %d: %w", b.ID, err)
	}
	if Finished(b.Status) {
		s.queue.fire()
	}
	return nil
}

// notifyIfFinished wakes the claimers of every replica when a build ends:
// the next build of its branch may run now.
func (s *Store) notifyIfFinished(ctx context.Context, tx querier, status Status) error {
	if !Finished(status) {
		return nil
	}
	return s.db.notifyQueue(ctx, tx)
}

// SetStatus moves build id to status to when its status is one of from (any
// status when from is empty), and reports whether it did. errMsg, when not
// empty, replaces the build's error; FinishedAt is set to now when to is
// final. ErrNotFound when the build does not exist.
func (s *Store) SetStatus(ctx context.Context, id int64, from []Status, to Status, errMsg string) (bool, error) {
	query := `UPDATE builds SET status = ?`
	args := []any{to}
	if errMsg != "" {
		query, args = query+`, error = ?`, append(args, errMsg)
	}
	if Finished(to) {
		query, args = query+`, finished_at = ?`, append(args, nanos(s.now()))
	}
	query, args = query+` WHERE id = ?`, append(args, id)
	if len(from) > 0 {
		query += ` AND status IN (?` + strings.Repeat(`, ?`, len(from)-1) + `)`
		for _, st := range from {
			args = append(args, st)
		}
	}
	var changed bool
	err := s.write(ctx, func(tx querier) error {
		n, err := tx.exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if n > 0 {
			changed = true
			return s.notifyIfFinished(ctx, tx, to)
		}
		return buildExists(ctx, tx, id)
	})
	if err != nil {
		return false, fmt.Errorf("set status of build %d to %s: %w", id, to, err)
	}
	if changed && Finished(to) {
		s.queue.fire()
	}
	return changed, nil
}

// RecordCancel notes by as who asked to cancel build id (Build.CanceledBy),
// unless the build has ended or someone asked before: the first asker is
// kept. ErrNotFound when the build does not exist.
func (s *Store) RecordCancel(ctx context.Context, id int64, by string) error {
	err := s.write(ctx, func(tx querier) error {
		n, err := tx.exec(ctx, `UPDATE builds SET canceled_by = ? WHERE id = ? AND canceled_by = '' AND status IN (?, ?)`,
			by, id, StatusQueued, StatusRunning)
		if err != nil || n > 0 {
			return err
		}
		return buildExists(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("record cancel of build %d: %w", id, err)
	}
	return nil
}

// buildExists returns ErrNotFound when there is no build id.
func buildExists(ctx context.Context, tx querier, id int64) error {
	var exists int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM builds WHERE id = ?`, id).Scan(&exists); err != nil {
		return err
	}
	if exists == 0 {
		return fmt.Errorf("build %d: %w", id, ErrNotFound)
	}
	return nil
}

// GetBuild returns build id; ErrNotFound when there is none.
func (s *Store) GetBuild(ctx context.Context, id int64) (Build, error) {
	return getBuild(ctx, s.db, id)
}

// ListBuilds returns the builds that match f, newest (highest ID) first.
func (s *Store) ListBuilds(ctx context.Context, f Filter) ([]Build, error) {
	query, args := listQuery(f)
	bs, err := queryBuilds(ctx, s.db, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list builds: %w", err)
	}
	return bs, nil
}

// listQuery is the query of ListBuilds(f) and its arguments. Every filter
// reads an index in ID order (builds_project_id, builds_project_status,
// builds_project_ref, builds_status): a page costs its rows, not the
// history.
func listQuery(f Filter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.Project != "" {
		where, args = append(where, `project = ?`), append(args, f.Project)
	}
	if f.Status != "" {
		where, args = append(where, `status = ?`), append(args, f.Status)
	}
	if f.Ref != "" {
		where, args = append(where, `ref = ?`), append(args, f.Ref)
	}
	if f.BeforeID > 0 {
		where, args = append(where, `id < ?`), append(args, f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	cond := ``
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	if !f.NewestPerRef {
		return `SELECT ` + buildColumns + ` FROM builds` + cond + ` ORDER BY id DESC LIMIT ?`, append(args, limit)
	}
	return `SELECT ` + buildColumns + ` FROM builds WHERE id IN (
		SELECT max(id) FROM (SELECT id, project, ref, trigger_kind, schedule FROM builds` + cond + ` ORDER BY id DESC LIMIT ?) recent
		GROUP BY project, trigger_kind = ?, CASE WHEN trigger_kind = ? THEN schedule ELSE ref END)
		ORDER BY id DESC`, append(args, limit, TriggerSchedule, TriggerSchedule)
}

// queryBuilds runs a query of buildColumns and reads every row.
func queryBuilds(ctx context.Context, q querier, query string, args ...any) ([]Build, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	bs := []Build{}
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return bs, nil
}

// Recover is called at start-up, before any worker runs: the builds left
// running by a crash go back to queued (StartedAt, stages, deploys and error
// cleared) when their Attempts < maxAttempts, so they run at most once more;
// the others become failed with the error "interrupted by a restart; not
// retried again". It returns how many builds went each way.
//
// On SQLite (one replica) every running build is recovered. On PostgreSQL
// only those claimed by this replica, with no lease (`slipway build`) or
// whose lease has expired: the other replicas' builds are theirs until
// their lease ends (RequeueExpired).
func (s *Store) Recover(ctx context.Context, maxAttempts int) (requeued, failed int, err error) {
	cond, args := ``, []any(nil)
	if s.kind == BackendPostgres {
		cond = ` AND (lease_until IS NULL OR lease_until < ? OR claimed_by = ?)`
		args = []any{nanos(s.now()), s.replica}
	}
	requeued, failed, err = s.requeue(ctx, maxAttempts, cond, args, interruptedError)
	if err != nil {
		return 0, 0, fmt.Errorf("recover builds: %w", err)
	}
	return requeued, failed, nil
}

// requeue puts the running builds that match cond back to queued (Attempts
// < maxAttempts) or fails them with errMsg, in one transaction.
func (s *Store) requeue(ctx context.Context, maxAttempts int, cond string, args []any, errMsg string) (requeued, failed int, err error) {
	err = s.write(ctx, func(tx querier) error {
		n, err := tx.exec(ctx, `UPDATE builds SET status = ?, started_at = NULL, stages = '[]', deploys = '[]', error = '',
			claimed_by = '', lease_until = NULL, cancel_requested = false
			WHERE status = ? AND attempts < ?`+cond, append([]any{StatusQueued, StatusRunning, maxAttempts}, args...)...)
		if err != nil {
			return err
		}
		requeued = int(n)
		n, err = tx.exec(ctx, `UPDATE builds SET status = ?, error = ?, finished_at = ?, lease_until = NULL WHERE status = ?`+cond,
			append([]any{StatusFailed, errMsg, nanos(s.now()), StatusRunning}, args...)...)
		if err != nil {
			return err
		}
		failed = int(n)
		if requeued+failed > 0 {
			return s.db.notifyQueue(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if requeued+failed > 0 {
		s.queue.fire()
	}
	return requeued, failed, nil
}

// QueueDepth counts the queued builds.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM builds WHERE status = ?`, StatusQueued).Scan(&n); err != nil {
		return 0, fmt.Errorf("queue depth: %w", err)
	}
	return n, nil
}

// LastBuild returns the newest build of project and ref whose status is one
// of statuses (any status when none is given); ErrNotFound when there is
// none.
func (s *Store) LastBuild(ctx context.Context, project, ref string, statuses ...Status) (Build, error) {
	query := `SELECT ` + buildColumns + ` FROM builds WHERE project = ? AND ref = ?`
	args := []any{project, ref}
	if len(statuses) > 0 {
		query += ` AND status IN (?` + strings.Repeat(`, ?`, len(statuses)-1) + `)`
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	query += ` ORDER BY id DESC LIMIT 1`
	b, err := scanBuild(s.db.queryRow(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, fmt.Errorf("last build of %s %s: %w", project, ref, ErrNotFound)
	}
	if err != nil {
		return Build{}, fmt.Errorf("last build of %s %s: %w", project, ref, err)
	}
	return b, nil
}

// FindPushed returns the newest succeeded build of project with this commit
// and build key and a digest: its image can be re-tagged instead of rebuilt.
// ErrNotFound when there is none (always for an empty commit).
func (s *Store) FindPushed(ctx context.Context, project, commit, buildKey string) (Build, error) {
	if commit == "" {
		return Build{}, fmt.Errorf("pushed build of %s: empty commit: %w", project, ErrNotFound)
	}
	b, err := scanBuild(s.db.queryRow(ctx, `SELECT `+buildColumns+` FROM builds
		WHERE project = ? AND commit_sha = ? AND build_key = ? AND status = ? AND digest != ''
		ORDER BY id DESC LIMIT 1`, project, commit, buildKey, StatusSucceeded))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, fmt.Errorf("pushed build of %s at %s: %w", project, commit, ErrNotFound)
	}
	if err != nil {
		return Build{}, fmt.Errorf("pushed build of %s at %s: %w", project, commit, err)
	}
	return b, nil
}
