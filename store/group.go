package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit: writes that arrive while another group's transaction is in
// flight wait for it and then share the next transaction, so that N
// concurrent webhook deliveries (or API enqueues) cost one commit and one
// fsync instead of N. Each caller returns only after the transaction that
// holds its write has committed: what it reports done is as durable as with
// a transaction of its own.
//
// A member that fails rolls the shared transaction back; the others run
// again without it, in a new one, and it runs again alone, in a transaction
// of its own, so that it gets the answer it would have had without group
// commit (and a PostgreSQL deadlock between two replicas' groups costs a
// retry, not an error). Every member of a transaction that fails by itself
// (at its commit, say) runs again alone too. Failures are rare; a
// savepoint per member would cost every member two more statements.

const (
	// maxGroup bounds the members of one group transaction.
	maxGroup = 256
	// groupTimeout bounds one group transaction: its members' own contexts
	// do not cancel it (one caller giving up must not fail the others).
	groupTimeout = 30 * time.Second
)

// groupMember is one write waiting for a group transaction.
type groupMember struct {
	ctx context.Context
	// refs are the refKeys the member locks (lockRef); the group locks
	// them all, sorted, before any member runs, so that two replicas'
	// groups cannot deadlock on them.
	refs []string
	fn   func(ctx context.Context, tx querier) error
	// done receives the member's outcome once its transaction ended.
	done chan error
	// lead tells the member that it runs the next group.
	lead chan struct{}
	// leads is set (under the committer's mutex) once the member runs a
	// group or was told to: it is told at most once.
	leads bool
}

// groupCommitter batches the writes of writeGroup. At most maxInFlight
// group transactions are in flight per Store (a slot each): a caller whose
// write arrives while a slot is free runs a group itself (the leader) with
// every write waiting then, and hands its slot to the first waiting member
// when it is done. No goroutine of its own.
type groupCommitter struct {
	mu      sync.Mutex
	pending []*groupMember
	// inFlight counts the slots held; maxInFlight bounds them: 1 on SQLite,
	// whose writes are serial anyway, more on PostgreSQL, which commits
	// concurrent transactions at once (its own group commit).
	inFlight, maxInFlight int
	// commits counts the group transactions committed (for tests).
	commits atomic.Int64
}

// pgGroupsInFlight is maxInFlight on PostgreSQL.
const pgGroupsInFlight = 4

// writeGroup runs fn in a write transaction shared with the writeGroup
// calls of other goroutines that wait at the same time, and returns once
// that transaction committed (nil) or fn's or the commit's error. fn may run
// more than once (again alone after a failure next to others): it must
// reset what it reports on each run. refs are the refKeys of the branches fn
// locks with lockRef. fn's context carries ctx's values but not its
// cancellation.
func (s *Store) writeGroup(ctx context.Context, refs []string, fn func(ctx context.Context, tx querier) error) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	g := &s.group
	m := &groupMember{ctx: ctx, refs: refs, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, m)
	lead := g.inFlight < max(g.maxInFlight, 1)
	if lead {
		g.inFlight++
		m.leads = true
	}
	g.mu.Unlock()
	if lead {
		s.runGroups()
	}
	for {
		select {
		case err := <-m.done:
			return err
		case <-m.lead:
			s.runGroups()
		}
	}
}

// runGroups, holding a slot, commits the waiting members as one group,
// then hands the slot to the first member waiting since that is not told
// to lead yet, or frees it.
func (s *Store) runGroups() {
	g := &s.group
	g.mu.Lock()
	n := min(len(g.pending), maxGroup)
	batch := slices.Clone(g.pending[:n])
	g.pending = slices.Delete(g.pending, 0, n)
	g.mu.Unlock()

	if len(batch) > 0 {
		s.commitGroup(batch)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.pending {
		if !m.leads {
			m.leads = true
			m.lead <- struct{}{}
			return
		}
	}
	g.inFlight--
}

// commitGroup commits the members of batch in one transaction and answers
// each. When a member fails, the transaction rolls back and the others run
// again without it; it runs again alone, after them, for its own answer.
// When the transaction fails by itself (begin, lock, commit), each member
// runs again alone.
func (s *Store) commitGroup(batch []*groupMember) {
	var alone []*groupMember
	for len(batch) > 0 {
		batch = slices.DeleteFunc(batch, func(m *groupMember) bool {
			err := context.Cause(m.ctx)
			if err != nil {
				m.done <- err
			}
			return err != nil
		})
		if len(batch) == 0 {
			break
		}
		failed, err := s.tryGroup(batch)
		switch {
		case err == nil:
			for _, m := range batch {
				m.done <- nil
			}
			batch = nil
		case len(batch) == 1:
			batch[0].done <- err
			batch = nil
		case failed < 0:
			alone = append(alone, batch...)
			batch = nil
		default:
			alone = append(alone, batch[failed])
			batch = slices.Delete(batch, failed, failed+1)
		}
	}
	for _, m := range alone {
		err := context.Cause(m.ctx)
		if err == nil {
			_, err = s.tryGroup([]*groupMember{m})
		}
		m.done <- err
	}
}

// tryGroup runs the members of batch, in order, in one transaction. On
// error it rolls back and reports the index of the member that failed, or
// -1 when the transaction itself did.
func (s *Store) tryGroup(batch []*groupMember) (failed int, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), groupTimeout)
	defer cancel()
	var refs []string
	for _, m := range batch {
		refs = append(refs, m.refs...)
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	failed = -1
	err = s.write(ctx, func(tx querier) error {
		for _, r := range refs {
			project, ref, _ := strings.Cut(r, "\n")
			if err := s.db.lockRef(ctx, tx, project, ref); err != nil {
				return fmt.Errorf("lock %s %s: %w", project, ref, err)
			}
		}
		for i, m := range batch {
			if err := m.fn(context.WithoutCancel(m.ctx), tx); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.group.commits.Add(1)
		failed = -1
	}
	return failed, err
}
