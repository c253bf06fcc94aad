package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// BaseCheck is the base-image watcher's state of one image reference,
// shared by every replica: what the registry served at the last check and
// when the next check is due.
type BaseCheck struct {
	// Ref is the image reference in the docker CLI's short form
	// ("debian:bookworm"), as builds record it.
	Ref string `json:"ref"`
	// Digest is the digest the registry served at the last successful
	// check; "" before the first.
	Digest string `json:"digest"`
	// SeenAt is when Digest was first served (the change was seen); zero
	// before the first successful check.
	SeenAt time.Time `json:"seen_at"`
	// CheckedAt is the last check, successful or not; zero when never.
	CheckedAt time.Time `json:"checked_at"`
	// NextAt is when the next check is due.
	NextAt time.Time `json:"next_at"`
	// Failures counts the checks that failed since the last success;
	// LastError is the last one's error.
	Failures  int    `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

// BaseDue is when a watched reference's check is due: First for a
// reference not watched yet, and at the latest Latest (an earlier due
// time stays).
type BaseDue struct {
	First, Latest time.Time
}

// WatchBases adds the references of due that have no check yet, each
// first due at its First time, and brings the check of those watched
// already forward to their Latest time when it is due later.
func (s *Store) WatchBases(ctx context.Context, due map[string]BaseDue) error {
	if len(due) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx querier) error {
		for ref, d := range due {
			if _, err := tx.exec(ctx, `INSERT INTO base_checks (ref, next_at) VALUES (?, ?)
				ON CONFLICT (ref) DO UPDATE SET next_at = ? WHERE base_checks.next_at > ?`,
				ref, nanos(d.First), nanos(d.Latest), nanos(d.Latest)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch base images: %w", err)
	}
	return nil
}

// BaseChecks returns the state of every watched reference, by reference.
func (s *Store) BaseChecks(ctx context.Context) ([]BaseCheck, error) {
	rs, err := s.db.query(ctx, `SELECT ref, digest, seen_at, checked_at, next_at, failures, last_error
		FROM base_checks ORDER BY ref`)
	if err != nil {
		return nil, fmt.Errorf("list base image checks: %w", err)
	}
	defer rs.Close()
	out := []BaseCheck{}
	for rs.Next() {
		c, err := scanBaseCheck(rs)
		if err != nil {
			return nil, fmt.Errorf("list base image checks: %w", err)
		}
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list base image checks: %w", err)
	}
	return out, nil
}

// BaseCheckOf returns the state of ref; ErrNotFound when it is not
// watched.
func (s *Store) BaseCheckOf(ctx context.Context, ref string) (BaseCheck, error) {
	c, err := scanBaseCheck(s.db.queryRow(ctx, `SELECT ref, digest, seen_at, checked_at, next_at, failures, last_error
		FROM base_checks WHERE ref = ?`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return BaseCheck{}, fmt.Errorf("base image %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return BaseCheck{}, fmt.Errorf("base image %s: %w", ref, err)
	}
	return c, nil
}

func scanBaseCheck(r rowScanner) (BaseCheck, error) {
	var (
		c                     BaseCheck
		seen, checked, nextAt int64
	)
	if err := r.Scan(&c.Ref, &c.Digest, &seen, &checked, &nextAt, &c.Failures, &c.LastError); err != nil {
		return BaseCheck{}, err
	}
	if seen != 0 {
		c.SeenAt = fromNanos(seen)
	}
	if checked != 0 {
		c.CheckedAt = fromNanos(checked)
	}
	c.NextAt = fromNanos(nextAt)
	return c, nil
}

// ClaimBaseCheck takes the check of ref that was due at due for this
// replica by moving its next due time to until; false when another
// replica took it first (its next due time is no longer due). Replicas
// that list the same due check so check it once.
func (s *Store) ClaimBaseCheck(ctx context.Context, ref string, due, until time.Time) (bool, error) {
	var n int64
	err := s.write(ctx, func(tx querier) error {
		var err error
		n, err = tx.exec(ctx, `UPDATE base_checks SET next_at = ? WHERE ref = ? AND next_at = ?`,
			nanos(until), ref, nanos(due))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim the check of base image %s: %w", ref, err)
	}
	return n == 1, nil
}

// RecordBaseCheck records a check of ref made at at: the digest served
// (checkErr nil) or the failure, and the next due time. A digest other
// than the one recorded before moves SeenAt to at. It returns the state
// before the check.
func (s *Store) RecordBaseCheck(ctx context.Context, ref, digest string, checkErr error, at, next time.Time) (BaseCheck, error) {
	var prev BaseCheck
	err := s.write(ctx, func(tx querier) error {
		var err error
		prev, err = scanBaseCheck(tx.queryRow(ctx, `SELECT ref, digest, seen_at, checked_at, next_at, failures, last_error
			FROM base_checks WHERE ref = ?`, ref))
		if errors.Is(err, sql.ErrNoRows) {
			prev = BaseCheck{Ref: ref}
			if _, err := tx.exec(ctx, `INSERT INTO base_checks (ref, next_at) VALUES (?, ?)`, ref, nanos(next)); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if checkErr != nil {
			_, err := tx.exec(ctx, `UPDATE base_checks SET checked_at = ?, next_at = ?, failures = failures + 1, last_error = ?
				WHERE ref = ?`, nanos(at), nanos(next), checkErr.Error(), ref)
			return err
		}
		seen := prev.SeenAt
		if digest != prev.Digest || seen.IsZero() {
			seen = at
		}
		_, err = tx.exec(ctx, `UPDATE base_checks SET digest = ?, seen_at = ?, checked_at = ?, next_at = ?, failures = 0, last_error = ''
			WHERE ref = ?`, digest, nanos(seen), nanos(at), nanos(next), ref)
		return err
	})
	if err != nil {
		return BaseCheck{}, fmt.Errorf("record the check of base image %s: %w", ref, err)
	}
	return prev, nil
}

// CheckBasesNow makes the checks of refs due at now (a registry's push
// notification, an upstream project's push) and returns how many of them
// are watched.
func (s *Store) CheckBasesNow(ctx context.Context, refs []string) (int, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	args := []any{nanos(s.now())}
	for _, r := range refs {
		args = append(args, r)
	}
	var n int64
	err := s.write(ctx, func(tx querier) error {
		var err error
		n, err = tx.exec(ctx, `UPDATE base_checks SET next_at = ? WHERE ref IN (?`+strings.Repeat(`, ?`, len(refs)-1)+`)`, args...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("check base images now: %w", err)
	}
	return int(n), nil
}

// BaseRetries returns, by project, when the watcher may queue the
// project's next rebuild on a new base (the time ClaimBaseRetry last set);
// a project it never queued one for is absent.
func (s *Store) BaseRetries(ctx context.Context) (map[string]time.Time, error) {
	rs, err := s.db.query(ctx, `SELECT project, retry_at FROM base_retries`)
	if err != nil {
		return nil, fmt.Errorf("list base image retries: %w", err)
	}
	defer rs.Close()
	out := map[string]time.Time{}
	for rs.Next() {
		var (
			project string
			at      int64
		)
		if err := rs.Scan(&project, &at); err != nil {
			return nil, fmt.Errorf("list base image retries: %w", err)
		}
		out[project] = fromNanos(at)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list base image retries: %w", err)
	}
	return out, nil
}

// ClaimBaseRetry takes the queueing of project's rebuild on a new base for
// this replica by moving the project's retry time from due (as
// BaseRetries returned it; the zero time when it was absent) to until;
// false when another replica moved it first. Replicas that decide on the
// same rebuild so queue it once, as ClaimBaseCheck makes them check a base
// once.
func (s *Store) ClaimBaseRetry(ctx context.Context, project string, due, until time.Time) (bool, error) {
	var n int64
	err := s.write(ctx, func(tx querier) error {
		var err error
		if due.IsZero() {
			n, err = tx.exec(ctx, `INSERT INTO base_retries (project, retry_at) VALUES (?, ?) ON CONFLICT (project) DO NOTHING`,
				project, nanos(until))
			return err
		}
		n, err = tx.exec(ctx, `UPDATE base_retries SET retry_at = ? WHERE project = ? AND retry_at = ?`,
			nanos(until), project, nanos(due))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim the base image rebuild of %s: %w", project, err)
	}
	return n == 1, nil
}
