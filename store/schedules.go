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
	err = s.db.QueryRowContext(ctx, `SELECT due_at FROM schedule_marks WHERE project = ? AND schedule = ?`, project, schedule).Scan(&n)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		return markFired(ctx, tx, project, schedule, due)
	})
	if err != nil {
		return fmt.Errorf("mark fired %s/%s: %w", project, schedule, err)
	}
	return nil
}

// markFired is MarkFired inside tx.
func markFired(ctx context.Context, tx *sql.Tx, project, schedule string, due time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO schedule_marks (project, schedule, due_at) VALUES (?, ?, ?)
		ON CONFLICT (project, schedule) DO UPDATE SET due_at = excluded.due_at`,
		project, schedule, nanos(due))
	return err
}

// MarkFiredAndEnqueue enqueues b (with opts, as Enqueue) and marks due
// fired for project's schedule in one transaction, so that a crash can
// neither lose a fired schedule's build nor fire it twice.
func (s *Store) MarkFiredAndEnqueue(ctx context.Context, project, schedule string, due time.Time, b Build, opts EnqueueOptions) (EnqueueResult, error) {
	var r EnqueueResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = s.enqueue(ctx, tx, b, opts); err != nil {
			return err
		}
		return markFired(ctx, tx, project, schedule, due)
	})
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("fire %s/%s: %w", project, schedule, err)
	}
	return r, nil
}
