package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// SeedBuild is one build of Seed with its log.
type SeedBuild struct {
	// Build is stored as it is (status, times, lists), with a new ID.
	Build Build
	// Log is the build's whole log; nil writes none.
	Log []byte
}

// Seed inserts n builds, those gen returns for 0…n-1 in order, with their
// logs, in one transaction with one prepared insert: a store with a long
// history in seconds, for benchmarks and load tests (100,000 builds and
// their logs take a few seconds on SQLite). It returns the first ID given.
// Seed is not for a store that serves: it holds the writer the whole time.
// On PostgreSQL it vacuums and analyzes builds afterwards.
func (s *Store) Seed(ctx context.Context, n int, gen func(i int) SeedBuild) (first int64, err error) {
	err = s.write(ctx, func(tx querier) error {
		insert, closeInsert, err := prepareInsertBuild(ctx, tx)
		if err != nil {
			return err
		}
		defer closeInsert()
		for i := range n {
			sb := gen(i)
			id, err := insert(ctx, sb.Build)
			if err != nil {
				return fmt.Errorf("build %d: %w", i, err)
			}
			if i == 0 {
				first = id
			}
			if sb.Log == nil {
				continue
			}
			if s.kind == BackendSQLite {
				if err := os.WriteFile(s.LogPath(id), sb.Log, 0o640); err != nil {
					return fmt.Errorf("log of build %d: %w", id, err)
				}
				continue
			}
			if _, err := appendLogChunks(ctx, tx, id, 0, sb.Log); err != nil {
				return fmt.Errorf("log of build %d: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seed %d builds: %w", n, err)
	}
	if s.kind == BackendPostgres {
		// What autovacuum would do a while later: planner statistics and
		// the visibility map that index-only scans need.
		if _, err := s.db.exec(ctx, `VACUUM ANALYZE builds`); err != nil {
			return 0, fmt.Errorf("seed %d builds: vacuum: %w", n, err)
		}
	}
	return first, nil
}

// prepareInsertBuild returns insertBuild on tx with the statement prepared
// once (SQLite; pgx caches its prepared statements itself).
func prepareInsertBuild(ctx context.Context, tx querier) (insert func(context.Context, Build) (int64, error), close func(), err error) {
	sq, ok := tx.(sqlQuerier)
	if !ok {
		return func(ctx context.Context, b Build) (int64, error) { return insertBuild(ctx, tx, b) }, func() {}, nil
	}
	sqlTx, ok := sq.q.(*sql.Tx)
	if !ok {
		return nil, nil, fmt.Errorf("seed: not in a transaction")
	}
	stmt, err := sqlTx.PrepareContext(ctx, insertBuildSQL(false))
	if err != nil {
		return nil, nil, fmt.Errorf("prepare: %w", err)
	}
	return func(ctx context.Context, b Build) (int64, error) {
		args, err := insertBuildArgs(b, false)
		if err != nil {
			return 0, err
		}
		var id int64
		err = stmt.QueryRowContext(ctx, args...).Scan(&id)
		return id, err
	}, func() { _ = stmt.Close() }, nil
}
