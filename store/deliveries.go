package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Delivery is one GitHub webhook delivery as slipway answered it.
type Delivery struct {
	// ID is the X-GitHub-Delivery header: a delivery is recorded once.
	ID string
	// Event is the X-GitHub-Event header.
	Event string
	// Outcome and Reason say what slipway did (e.g. "queued", "ignored"
	// and why); their values belong to the webhook handler.
	Outcome string
	Reason  string
	// BuildIDs are the builds the delivery started (or deduplicated to).
	BuildIDs []int64
	// ReceivedAt is when the delivery arrived; now when zero.
	ReceivedAt time.Time
}

// RecordDelivery records d unless a delivery with its ID was recorded
// before, in which case it changes nothing and returns seen true.
func (s *Store) RecordDelivery(ctx context.Context, d Delivery) (seen bool, err error) {
	err = s.write(ctx, func(tx querier) error {
		seen, err = s.insertDelivery(ctx, tx, d)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", d.ID, err)
	}
	return seen, nil
}

// insertDelivery inserts d unless its ID is there; seen reports that it
// was. On PostgreSQL a replica inserting the same ID at the same time waits
// for this transaction and then finds it seen.
func (s *Store) insertDelivery(ctx context.Context, tx querier, d Delivery) (seen bool, err error) {
	if d.ID == "" {
		return false, errors.New("delivery id is empty")
	}
	ids, err := jsonList(d.BuildIDs)
	if err != nil {
		return false, fmt.Errorf("encode build ids: %w", err)
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = s.now()
	}
	n, err := tx.exec(ctx, `INSERT INTO deliveries (id, event, outcome, reason, build_ids, received_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.Event, d.Outcome, d.Reason, ids, nanos(d.ReceivedAt))
	if err != nil {
		return false, err
	}
	return n == 0, nil
}

// RecordDeliveryAndEnqueue records d and enqueues builds (each with opts,
// in order) in one transaction, so that a crash keeps both or neither. When
// delivery d.ID was recorded before, it enqueues nothing and returns seen
// true. The recorded delivery's BuildIDs are those of results (the existing
// build's ID for a deduplicated one), replacing d.BuildIDs. One build that
// cannot be enqueued fails the whole call and records nothing.
//
// The delivery is inserted first: of replicas receiving the same delivery
// at once, one records and enqueues, the others wait for it and find it
// seen.
//
// Concurrent calls (and Enqueue calls) share one transaction and one
// fsync (group commit, see writeGroup): each returns once the transaction
// holding its own delivery committed, and one call's failure fails no
// other.
func (s *Store) RecordDeliveryAndEnqueue(ctx context.Context, d Delivery, builds []Build, opts EnqueueOptions) (seen bool, results []EnqueueResult, err error) {
	// Branches locked in one order (writeGroup sorts them): two deliveries
	// of the same branches cannot deadlock.
	d.BuildIDs = nil // replaced by those of results
	refs := make([]string, 0, len(builds))
	for _, b := range builds {
		refs = append(refs, refKey(b.Project, b.Ref))
	}
	err = s.writeGroup(ctx, refs, func(ctx context.Context, tx querier) error {
		results = nil
		var err error
		if seen, err = s.insertDelivery(ctx, tx, d); err != nil || seen {
			return err
		}
		results = make([]EnqueueResult, 0, len(builds))
		buildIDs := make([]int64, 0, len(builds))
		for _, b := range builds {
			r, err := s.enqueue(ctx, tx, b, opts)
			if err != nil {
				return fmt.Errorf("enqueue build of %s %s: %w", b.Project, b.Ref, err)
			}
			results = append(results, r)
			buildIDs = append(buildIDs, r.Build.ID)
		}
		if len(buildIDs) == 0 {
			return nil
		}
		ids, err := jsonList(buildIDs)
		if err != nil {
			return fmt.Errorf("encode build ids: %w", err)
		}
		_, err = tx.exec(ctx, `UPDATE deliveries SET build_ids = ? WHERE id = ?`, ids, d.ID)
		return err
	})
	if err != nil {
		return false, nil, fmt.Errorf("record delivery %s: %w", d.ID, err)
	}
	if !seen && len(results) > 0 {
		s.queue.fire()
	}
	return seen, results, nil
}

// GetDelivery returns delivery id; ErrNotFound when it was never recorded.
func (s *Store) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	var (
		d        Delivery
		ids      string
		received int64
	)
	err := s.db.queryRow(ctx, `SELECT id, event, outcome, reason, build_ids, received_at FROM deliveries WHERE id = ?`, id).
		Scan(&d.ID, &d.Event, &d.Outcome, &d.Reason, &ids, &received)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, fmt.Errorf("delivery %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
	}
	d.BuildIDs = []int64{}
	if err := json.Unmarshal([]byte(ids), &d.BuildIDs); err != nil {
		return Delivery{}, fmt.Errorf("delivery %s build ids: %w", id, err)
	}
	if d.BuildIDs == nil {
		d.BuildIDs = []int64{}
	}
	d.ReceivedAt = fromNanos(received)
	return d, nil
}

// CountDeliveries counts the recorded deliveries.
func (s *Store) CountDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}
