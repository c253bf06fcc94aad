package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LastFired returns the due time last marked fired for project's schedule;
// ok is false when it never fired.
func (s *Store) LastFired(ctx context.Context, project, schedule string) (due time.Time, ok bool, err error) {
	var n int64
	err = s.db.queryRow(ctx, `SELECT due_at FROM schedule_marks WHERE project = ? AND schedule = ?`, project, schedule).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last fired %s/%s: %w", project, schedule, err)
	}
	return fromNanos(n), true, nil
}

// MarkFired records due as the last fired due time of project's schedule,
// replacing the previous mark.
func (s *Store) MarkFired(ctx context.Context, project, schedule string, due time.Time) error {
	err := s.write(ctx, func(tx querier) error {
		_, err := tx.exec(ctx, `INSERT INTO schedule_marks (project, schedule, due_at) VALUES (?, ?, ?)
			ON CONFLICT (project, schedule) DO UPDATE SET due_at = excluded.due_at`,
			project, schedule, nanos(due))
		return err
	})
	if err != nil {
		return fmt.Errorf("mark fired %s/%s: %w", project, schedule, err)
	}
	return nil
}

// MarkFiredAndEnqueue enqueues b (with opts, as Enqueue) and marks due
// fired for project's schedule in one transaction, so that a crash can
// neither lose a fired schedule's build nor fire it twice.
//
// Each due time fires once across all replicas: when the mark is already
// at due or later (another replica fired it), nothing changes and the
// result has Created false and the build queued for due, if it still
// exists (else a zero Build).
func (s *Store) MarkFiredAndEnqueue(ctx context.Context, project, schedule string, due time.Time, b Build, opts EnqueueOptions) (EnqueueResult, error) {
	var r EnqueueResult
	err := s.write(ctx, func(tx querier) error {
		r = EnqueueResult{Superseded: []int64{}}
		// The upsert moves the mark forward only; on PostgreSQL a replica
		// firing the same due time waits for this one's row lock and then
		// moves nothing.
		var moved int64
		err := tx.queryRow(ctx, `INSERT INTO schedule_marks (project, schedule, due_at) VALUES (?, ?, ?)
			ON CONFLICT (project, schedule) DO UPDATE SET due_at = excluded.due_at
			WHERE schedule_marks.due_at < excluded.due_at
			RETURNING due_at`, project, schedule, nanos(due)).Scan(&moved)
		if errors.Is(err, sql.ErrNoRows) {
			existing, err := scanBuild(tx.queryRow(ctx, `SELECT `+buildColumns+` FROM builds
				WHERE project = ? AND schedule = ? AND due_at = ? ORDER BY id DESC LIMIT 1`,
				project, schedule, nanos(due)))
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("find the fired build: %w", err)
			}
			r.Build = existing
			return nil
		}
		if err != nil {
			return err
		}
		r, err = s.enqueue(ctx, tx, b, opts)
		return err
	})
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("fire %s/%s: %w", project, schedule, err)
	}
	if r.Created {
		s.queue.fire()
	}
	return r, nil
}
