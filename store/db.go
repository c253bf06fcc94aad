package store

import (
	"context"
	"database/sql"
	"fmt"
)

// querier runs the store's statements: the database outside a transaction,
// or a transaction. Statements use ? placeholders; the PostgreSQL backend
// numbers them.
type querier interface {
	// exec runs a statement and returns the number of rows it changed.
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// queryRow runs a query of at most one row; Scan of a missing row
	// returns an error that errors.Is sql.ErrNoRows.
	queryRow(ctx context.Context, query string, args ...any) rowScanner
	query(ctx context.Context, query string, args ...any) (rows, error)
}

// rowScanner is one row of a query.
type rowScanner interface {
	Scan(dest ...any) error
}

// rows is the result of a query, read with Next and Scan and then closed.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// backend is one database engine under the Store: SQLite or PostgreSQL.
type backend interface {
	querier
	// write runs fn in one read-write transaction, committed when fn
	// returns nil and rolled back otherwise.
	write(ctx context.Context, fn func(tx querier) error) error
	// migrating runs fn so that no other process migrates the same
	// database meanwhile; fn writes through the given write function.
	migrating(ctx context.Context, fn func(write func(context.Context, func(querier) error) error) error) error
	// lockRef, inside a write transaction, holds project and ref against
	// every other transaction that locks them until tx ends: enqueues,
	// supersedes and claims of one branch happen one at a time. SQLite
	// serialises every write transaction already and does nothing here.
	lockRef(ctx context.Context, tx querier, project, ref string) error
	// tryLockRef is lockRef that gives up at once when another
	// transaction holds project and ref, reporting false.
	tryLockRef(ctx context.Context, tx querier, project, ref string) (bool, error)
	// tryExclusive takes the lock name for this process unless another
	// process holds it (ok false); release gives it back. SQLite has one
	// replica: it always succeeds.
	tryExclusive(ctx context.Context, name string) (release func(), ok bool, err error)
	// notifyQueue, inside a write transaction, wakes the Wait of every
	// replica once tx commits.
	notifyQueue(ctx context.Context, tx querier) error
	close() error
}

// sqliteDB is the SQLite backend: one database file, one write transaction
// at a time.
type sqliteDB struct {
	db *sql.DB
	// writeSem holds one token while a write transaction runs; a channel
	// rather than a mutex so that waiting honours the context.
	writeSem chan struct{}
}

// sqlQuerier runs statements on a *sql.DB or *sql.Tx.
type sqlQuerier struct {
	q interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	}
}

func (s sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQuerier) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return s.q.QueryRowContext(ctx, query, args...)
}

func (s sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	r, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

// sqlRows adapts *sql.Rows, whose Close error is the same as Err's.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

func (s *sqliteDB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return sqlQuerier{s.db}.exec(ctx, query, args...)
}

func (s *sqliteDB) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return sqlQuerier{s.db}.queryRow(ctx, query, args...)
}

func (s *sqliteDB) query(ctx context.Context, query string, args ...any) (rows, error) {
	return sqlQuerier{s.db}.query(ctx, query, args...)
}

func (s *sqliteDB) write(ctx context.Context, fn func(tx querier) error) error {
	select {
	case s.writeSem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-s.writeSem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(sqlQuerier{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// migrating needs no lock: each migration's transaction (BEGIN IMMEDIATE)
// checks schema_migrations itself.
func (s *sqliteDB) migrating(ctx context.Context, fn func(write func(context.Context, func(querier) error) error) error) error {
	return fn(s.write)
}

func (s *sqliteDB) lockRef(context.Context, querier, string, string) error { return nil }

func (s *sqliteDB) tryLockRef(context.Context, querier, string, string) (bool, error) {
	return true, nil
}

func (s *sqliteDB) tryExclusive(context.Context, string) (func(), bool, error) {
	return func() {}, true, nil
}

func (s *sqliteDB) notifyQueue(context.Context, querier) error { return nil }

func (s *sqliteDB) close() error { return s.db.Close() }
