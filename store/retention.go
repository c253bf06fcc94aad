package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Retention says which finished builds Prune deletes. The zero value
// deletes nothing.
type Retention struct {
	// Before: a finished build created before it is deleted. Zero: no age
	// limit.
	Before time.Time
	// KeepPerProject: of each project's builds, counted newest first
	// whatever their status, the finished ones after the first
	// KeepPerProject are deleted. 0: no count limit.
	KeepPerProject int
	// Batch is how many builds one transaction deletes. Default 500.
	Batch int
}

// DefaultPruneBatch is Retention.Batch's default.
const DefaultPruneBatch = 500

// finishedStatuses are the statuses of builds that Prune may delete.
var finishedStatuses = []any{StatusSucceeded, StatusFailed, StatusCanceled, StatusSuperseded}

// Prune deletes the finished builds that r selects, with their logs, and
// returns how many it deleted. Queued and running builds are never
// deleted, nor the newest build of each project (its badge and overview).
// It deletes in transactions of r.Batch builds, oldest first: the writer
// is free between two of them, so webhook deliveries and builds are
// never held for long. A canceled ctx stops it between two batches, with
// what was deleted so far deleted for good.
func (s *Store) Prune(ctx context.Context, r Retention) (deleted int, err error) {
	if r.Before.IsZero() && r.KeepPerProject <= 0 {
		return 0, nil
	}
	if r.Batch <= 0 {
		r.Batch = DefaultPruneBatch
	}
	newest, err := s.newestPerProject(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune builds: %w", err)
	}
	notNewest, notNewestArgs := idsNotIn("id", newest)
	finished := `status IN (?` + strings.Repeat(`, ?`, len(finishedStatuses)-1) + `)`

	var selects []func() (string, []any)
	if !r.Before.IsZero() {
		selects = append(selects, func() (string, []any) {
			args := append([]any{nanos(r.Before)}, finishedStatuses...)
			return `SELECT id FROM builds WHERE created_at < ? AND ` + finished + notNewest + ` ORDER BY id LIMIT ?`,
				append(append(args, notNewestArgs...), r.Batch)
		})
	}
	if r.KeepPerProject > 0 {
		cutoffs, err := s.countCutoffs(ctx, r.KeepPerProject)
		if err != nil {
			return 0, fmt.Errorf("prune builds: %w", err)
		}
		for _, c := range cutoffs {
			selects = append(selects, func() (string, []any) {
				args := append([]any{c.project, c.id}, finishedStatuses...)
				return `SELECT id FROM builds WHERE project = ? AND id <= ? AND ` + finished + ` ORDER BY id LIMIT ?`,
					append(args, r.Batch)
			})
		}
	}
	for _, sel := range selects {
		for {
			if err := context.Cause(ctx); err != nil {
				return deleted, fmt.Errorf("prune builds: %w", err)
			}
			query, args := sel()
			n, err := s.pruneBatch(ctx, query, args)
			deleted += n
			if err != nil {
				return deleted, fmt.Errorf("prune builds: %w", err)
			}
			if n < r.Batch {
				break
			}
		}
	}
	return deleted, nil
}

// newestPerProject lists the newest build of each project.
func (s *Store) newestPerProject(ctx context.Context) ([]int64, error) {
	rows, err := s.db.query(ctx, `SELECT max(id) FROM builds GROUP BY project`)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// cutoff is the newest build of a project beyond the ones it keeps: it
// and older ones go.
type cutoff struct {
	project string
	id      int64
}

// countCutoffs lists the cutoff of each project with more than keep
// builds.
func (s *Store) countCutoffs(ctx context.Context, keep int) ([]cutoff, error) {
	rows, err := s.db.query(ctx, `SELECT DISTINCT project FROM builds`)
	if err != nil {
		return nil, err
	}
	var projects []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, err
		}
		projects = append(projects, p)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	var out []cutoff
	for _, p := range projects {
		c := cutoff{project: p}
		err := s.db.queryRow(ctx, `SELECT id FROM builds WHERE project = ? ORDER BY id DESC LIMIT 1 OFFSET ?`, p, keep).Scan(&c.id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", p, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// pruneBatch deletes the builds query selects, and their logs, in one
// transaction, and returns how many.
func (s *Store) pruneBatch(ctx context.Context, query string, args []any) (int, error) {
	var ids []int64
	err := s.write(ctx, func(tx querier) error {
		rows, err := tx.query(ctx, query, args...)
		if err != nil {
			return err
		}
		if ids, err = scanIDs(rows); err != nil || len(ids) == 0 {
			return err
		}
		in := `(?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
		idArgs := make([]any, len(ids))
		for i, id := range ids {
			idArgs[i] = id
		}
		if _, err := tx.exec(ctx, `DELETE FROM builds WHERE id IN `+in, idArgs...); err != nil {
			return err
		}
		if s.kind == BackendPostgres {
			_, err = tx.exec(ctx, `DELETE FROM build_logs WHERE build_id IN `+in, idArgs...)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if s.kind == BackendSQLite {
		for _, id := range ids {
			if err := os.Remove(s.LogPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return len(ids), fmt.Errorf("remove log of build %d: %w", id, err)
			}
		}
	}
	return len(ids), nil
}

// RedeliveryWindow is how long a webhook delivery record is kept at the
// least, whatever PruneDeliveries is asked: GitHub Enterprise Server lets a
// delivery be redelivered for 7 days (github.com for 3), and a redelivery
// must still find its record so that it never builds twice.
const RedeliveryWindow = 7 * 24 * time.Hour

// PruneDeliveries deletes the webhook delivery records received before
// before (but never one younger than RedeliveryWindow) and returns how many
// it deleted. Like Prune it deletes in transactions of batch records
// (default DefaultPruneBatch), oldest first, so that deliveries being
// recorded are never held for long; a canceled ctx stops it between two
// batches.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, batch int) (deleted int, err error) {
	if before.IsZero() {
		return 0, nil
	}
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	if floor := s.now().Add(-RedeliveryWindow); before.After(floor) {
		before = floor
	}
	for {
		if err := context.Cause(ctx); err != nil {
			return deleted, fmt.Errorf("prune deliveries: %w", err)
		}
		var n int64
		err := s.write(ctx, func(tx querier) error {
			var err error
			n, err = tx.exec(ctx, `DELETE FROM deliveries WHERE id IN
				(SELECT id FROM deliveries WHERE received_at < ? ORDER BY received_at LIMIT ?)`, nanos(before), batch)
			return err
		})
		deleted += int(n)
		if err != nil {
			return deleted, fmt.Errorf("prune deliveries: %w", err)
		}
		if n < int64(batch) {
			return deleted, nil
		}
	}
}
