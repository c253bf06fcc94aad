package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrLeaseLost is returned by Heartbeat when the build is no longer running
// under this replica's claim: its lease expired and it was put back (or
// another replica runs it now), or it ended. The replica must stop working
// on it.
var ErrLeaseLost = errors.New("lease lost")

// leaseLostError is the error of a build whose replica stopped heartbeating
// at its last attempt.
const leaseLostError = "its replica stopped answering (lease expired); not retried again"

// signal is a broadcast: every channel handed out by wait closes at the
// next fire.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// QueueSignal returns a channel that closes at the next change of the queue
// that may let a claim succeed: a build enqueued or put back, or a running
// build ending. On PostgreSQL the change may come from any replica (LISTEN/
// NOTIFY on the channel slipway_queue); on SQLite from this process.
//
// Take the channel before ClaimNext, and when nothing could be claimed wait
// on it together with a poll timer (2 s is plenty): a notification sent
// while the listener reconnects is lost, and a claim that was skipped
// because another replica held the branch is not announced again.
func (s *Store) QueueSignal() <-chan struct{} { return s.queue.wait() }

// Wait blocks until the queue changes (QueueSignal), poll elapses or ctx
// ends, whichever is first; it returns ctx's cause in the last case.
func (s *Store) Wait(ctx context.Context, poll time.Duration) error {
	ch := s.queue.wait()
	t := time.NewTimer(poll)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return nil
}

// Heartbeat extends the lease of running build id claimed by replica to now
// plus the store's lease (Options.Lease). Call it every lease/3 while the
// build runs. ErrLeaseLost when the build is not running under replica's
// claim any more; ErrNotFound when it does not exist.
func (s *Store) Heartbeat(ctx context.Context, id int64, replica string) error {
	err := s.write(ctx, func(tx querier) error {
		n, err := tx.exec(ctx, `UPDATE builds SET lease_until = ? WHERE id = ? AND status = ? AND claimed_by = ?`,
			nanos(s.now().Add(s.lease)), id, StatusRunning, replica)
		if err != nil || n > 0 {
			return err
		}
		if err := buildExists(ctx, tx, id); err != nil {
			return err
		}
		return fmt.Errorf("build %d of %s: %w", id, replica, ErrLeaseLost)
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Lease returns the replica holding running build id and until when; ok is
// false when the build is not running under a lease.
func (s *Store) Lease(ctx context.Context, id int64) (replica string, until time.Time, ok bool, err error) {
	var (
		status Status
		lease  sql.NullInt64
	)
	err = s.db.queryRow(ctx, `SELECT status, claimed_by, lease_until FROM builds WHERE id = ?`, id).Scan(&status, &replica, &lease)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, fmt.Errorf("build %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("lease of build %d: %w", id, err)
	}
	if status != StatusRunning || !lease.Valid {
		return "", time.Time{}, false, nil
	}
	return replica, fromNanos(lease.Int64), true, nil
}

// RequeueExpired puts back the running builds whose lease has expired (their
// replica died or hangs): queued again when Attempts < maxAttempts, so that
// they run at most once more, else failed. Any replica may call it at any
// time (every lease/3 is enough); builds without a lease (`slipway build`)
// are left alone. It returns how many builds went each way.
func (s *Store) RequeueExpired(ctx context.Context, maxAttempts int) (requeued, failed int, err error) {
	requeued, failed, err = s.requeue(ctx, maxAttempts, ` AND lease_until IS NOT NULL AND lease_until < ?`,
		[]any{nanos(s.now())}, leaseLostError)
	if err != nil {
		return 0, 0, fmt.Errorf("requeue expired builds: %w", err)
	}
	s.takeovers.Add(int64(requeued + failed))
	return requeued, failed, nil
}

// Takeovers counts the builds this store found with an expired lease and
// put back or failed (RequeueExpired, the lease keeper's included) since
// it was opened.
func (s *Store) Takeovers() int64 { return s.takeovers.Load() }

// RunningHere counts the running builds claimed by this store's replica.
func (s *Store) RunningHere(ctx context.Context) (int, error) {
	var n int
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM builds WHERE status = ? AND claimed_by = ?`, StatusRunning, s.replica).Scan(&n); err != nil {
		return 0, fmt.Errorf("count running builds: %w", err)
	}
	return n, nil
}

// reapEvery bounds how long an expired lease waits for a lease keeper to
// put its build back: takeover comes within lease + reapEvery (+ a poll).
const reapEvery = 2 * time.Second

// keepLeases extends this replica's leases every interval and puts back
// expired builds every reapEvery (or interval, when shorter) until ctx
// ends. It reaps only after the database has answered it for a whole
// interval: after an outage every live replica first gets the chance to
// extend its own leases, so that a build is not taken from a replica that
// was only cut off like everyone else. A failed round is retried at the
// next tick.
func (s *Store) keepLeases(ctx context.Context, interval time.Duration, maxAttempts int) {
	t := time.NewTicker(min(interval, reapEvery))
	defer t.Stop()
	var extended, upSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if now.Sub(extended) >= interval {
			_, err := s.db.exec(ctx, `UPDATE builds SET lease_until = ? WHERE status = ? AND claimed_by = ? AND lease_until IS NOT NULL`,
				nanos(s.now().Add(s.lease)), StatusRunning, s.replica)
			if err != nil {
				upSince, extended = time.Time{}, time.Time{}
				continue
			}
			extended = now
		}
		if upSince.IsZero() {
			upSince = now
		}
		s.pollCancels(ctx)
		s.checkClaims(ctx)
		if now.Sub(upSince) < interval {
			continue
		}
		if _, _, err := s.RequeueExpired(ctx, maxAttempts); err != nil {
			upSince, extended = time.Time{}, time.Time{}
		}
	}
}

// RequestCancel asks the replica running build id to cancel it, on
// PostgreSQL: the request is stored with the build and announced (NOTIFY
// slipway_cancel); the replica holding the build gets the ID from
// CancelRequests at once, or from its lease keeper's poll within 2 s. It
// reports false, changing nothing, when the build is not running, and on
// SQLite, whose one replica cancels its builds itself.
func (s *Store) RequestCancel(ctx context.Context, id int64) (bool, error) {
	if s.kind != BackendPostgres {
		return false, nil
	}
	var requested bool
	err := s.write(ctx, func(tx querier) error {
		n, err := tx.exec(ctx, `UPDATE builds SET cancel_requested = true WHERE id = ? AND status = ?`, id, StatusRunning)
		if err != nil || n == 0 {
			return err
		}
		requested = true
		_, err = tx.exec(ctx, `SELECT pg_notify(?, ?)`, cancelChannel, strconv.FormatInt(id, 10))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("request cancel of build %d: %w", id, err)
	}
	return requested, nil
}

// CancelRequests delivers the IDs of builds whose cancel was requested
// through any replica (RequestCancel). Every replica gets every ID (the
// receiver cancels the builds it runs and ignores the others); an ID may
// come more than once. Read it for as long as builds run.
func (s *Store) CancelRequests() <-chan int64 { return s.cancels }

// deliverCancel passes id to CancelRequests without blocking: when the
// reader lags, the lease keeper's poll delivers it again.
func (s *Store) deliverCancel(id int64) {
	select {
	case s.cancels <- id:
	default:
	}
}

// pollCancels delivers the cancel requests of the builds this replica runs:
// the fallback of a lost notification.
func (s *Store) pollCancels(ctx context.Context) {
	rs, err := s.db.query(ctx, `SELECT id FROM builds WHERE status = ? AND claimed_by = ? AND cancel_requested`, StatusRunning, s.replica)
	if err != nil {
		return
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		if rs.Scan(&id) == nil {
			s.deliverCancel(id)
		}
	}
}

// claims are the builds this store claimed, by ID, with their attempt: the
// lease keeper tells the pipeline (CancelRequests) when one of them was
// taken over.
type claims struct {
	mu  sync.Mutex
	ids map[int64]int
}

func (c *claims) track(id int64, attempt int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids = map[int64]int{}
	}
	c.ids[id] = attempt
}

func (c *claims) snapshot() map[int64]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int64]int, len(c.ids))
	for id, a := range c.ids {
		out[id] = a
	}
	return out
}

func (c *claims) forget(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ids, id)
}

// checkClaims forgets the builds this store claimed that have ended, and
// delivers on CancelRequests those that were taken away from it (put back
// after its lease expired, or running again at a later attempt, on this
// replica or another): it must stop working on them. Their last writes are
// fenced anyway (UpdateBuild refuses an older attempt).
func (s *Store) checkClaims(ctx context.Context) {
	mine := s.claims.snapshot()
	if len(mine) == 0 {
		return
	}
	ids := make([]int64, 0, len(mine))
	for id := range mine {
		ids = append(ids, id)
	}
	in, args := idsNotIn("id", ids)
	in = strings.Replace(in, "NOT IN", "IN", 1)
	rs, err := s.db.query(ctx, `SELECT id, status, claimed_by, attempts FROM builds WHERE true`+in, args...)
	if err != nil {
		return
	}
	defer rs.Close()
	for rs.Next() {
		var (
			id       int64
			status   string
			by       string
			attempts int
		)
		if rs.Scan(&id, &status, &by, &attempts) != nil {
			return
		}
		switch {
		case Finished(Status(status)):
			s.claims.forget(id)
		case status == string(StatusRunning) && by == s.replica && attempts == mine[id]:
			// still ours
		default:
			s.claims.forget(id)
			s.deliverCancel(id)
		}
	}
}
