package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Statuses of a Notification.
const (
	NotificationPending = "pending"
	NotificationSent    = "sent"
	// NotificationFailed: its deadline passed before a send succeeded.
	NotificationFailed = "failed"
)

// Notification is a message queued for a notify target.
type Notification struct {
	ID     int64
	Target string
	Event  string
	Build  int64
	// Body is the message as sent (the target kind's JSON).
	Body      string
	Status    string
	Attempts  int
	NextAt    time.Time
	Deadline  time.Time
	LastError string
	CreatedAt time.Time
}

const notificationColumns = `id, target, event, build_id, body, status, attempts, next_at, deadline, last_error, created_at`

// QueueNotification stores n as pending, due at once (NextAt, CreatedAt
// default to now), and returns it with its ID.
func (s *Store) QueueNotification(ctx context.Context, n Notification) (Notification, error) {
	now := s.now()
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	if n.NextAt.IsZero() {
		n.NextAt = now
	}
	n.Status = NotificationPending
	err := s.write(ctx, func(tx querier) error {
		return tx.queryRow(ctx, `INSERT INTO notifications (target, event, build_id, body, status, attempts, next_at, deadline, created_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?) RETURNING id`,
			n.Target, n.Event, n.Build, n.Body, n.Status, nanos(n.NextAt), nanos(n.Deadline), nanos(n.CreatedAt)).Scan(&n.ID)
	})
	if err != nil {
		return Notification{}, fmt.Errorf("queue a notification for %s: %w", n.Target, err)
	}
	return n, nil
}

// ClaimNotifications takes up to limit pending notifications due at now,
// oldest first, and holds them until now+hold (their NextAt), so that no
// other replica sends them meanwhile; a sender that dies lets them come
// due again after hold.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, hold time.Duration, limit int) ([]Notification, error) {
	var out []Notification
	err := s.write(ctx, func(tx querier) error {
		out = nil
		// The outer next_at test is checked again on a row another
		// replica updated meanwhile (PostgreSQL), which then is skipped.
		rs, err := tx.query(ctx, `UPDATE notifications SET next_at = ?
			WHERE status = ? AND next_at <= ? AND id IN (
				SELECT id FROM notifications WHERE status = ? AND next_at <= ? ORDER BY id LIMIT ?)
			RETURNING `+notificationColumns,
			nanos(now.Add(hold)), NotificationPending, nanos(now), NotificationPending, nanos(now), limit)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			n, err := scanNotification(rs)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return out, nil
}

// FinishNotification records a send attempt of notification id: sent,
// failed for good, or (status pending) to be tried again at next.
func (s *Store) FinishNotification(ctx context.Context, id int64, status string, attempts int, next time.Time, lastErr string) error {
	var done any
	if status != NotificationPending {
		done = nanos(s.now())
	}
	err := s.write(ctx, func(tx querier) error {
		_, err := tx.exec(ctx, `UPDATE notifications SET status = ?, attempts = ?, next_at = ?, last_error = ?, done_at = ? WHERE id = ?`,
			status, attempts, nanos(next), lastErr, done, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("record notification %d: %w", id, err)
	}
	return nil
}

// GetNotification reads notification id.
func (s *Store) GetNotification(ctx context.Context, id int64) (Notification, error) {
	n, err := scanNotification(s.db.queryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("notification %d: %w", id, ErrNotFound)
	}
	return n, err
}

func scanNotification(r rowScanner) (Notification, error) {
	var n Notification
	var next, deadline, created int64
	if err := r.Scan(&n.ID, &n.Target, &n.Event, &n.Build, &n.Body, &n.Status, &n.Attempts, &next, &deadline, &n.LastError, &created); err != nil {
		return n, err
	}
	n.NextAt, n.Deadline, n.CreatedAt = fromNanos(next), fromNanos(deadline), fromNanos(created)
	return n, nil
}
