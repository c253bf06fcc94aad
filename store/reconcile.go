package store

import (
	"context"
	"fmt"
)

// TryExclusive takes the lock name unless another replica holds it, for
// work that one replica at a time must do (reconcile). ok false means
// another holds it; otherwise release must be called when done. On
// PostgreSQL it is a session advisory lock, lost with its connection when
// the replica dies; on SQLite (one replica) it always succeeds.
func (s *Store) TryExclusive(ctx context.Context, name string) (release func(), ok bool, err error) {
	release, ok, err = s.db.tryExclusive(ctx, name)
	if err != nil {
		return nil, false, fmt.Errorf("take the lock %s: %w", name, err)
	}
	return release, ok, nil
}

// BuiltBranches lists the refs under refs/heads/ of project that have a
// push, manual or reconcile build, sorted.
func (s *Store) BuiltBranches(ctx context.Context, project string) ([]string, error) {
	rs, err := s.db.query(ctx, `SELECT DISTINCT ref FROM builds
		WHERE project = ? AND trigger_kind IN (?, ?, ?) AND ref LIKE 'refs/heads/%'
		ORDER BY ref`, project, TriggerPush, TriggerManual, TriggerReconcile)
	if err != nil {
		return nil, fmt.Errorf("list built branches of %s: %w", project, err)
	}
	defer rs.Close()
	var refs []string
	for rs.Next() {
		var r string
		if err := rs.Scan(&r); err != nil {
			return nil, fmt.Errorf("list built branches of %s: %w", project, err)
		}
		refs = append(refs, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list built branches of %s: %w", project, err)
	}
	return refs, nil
}
