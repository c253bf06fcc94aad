package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipwayci/slipway/internal/redact"
)

// Advisory lock keys. The two-key form (class, key) never collides with the
// one-key form, whose key space is separate.
const (
	// migrateLockKey serialises migrations of one database.
	migrateLockKey int64 = 0x736c6970776179 // "slipway"
	// refLockClass is the class of the per project+ref transaction locks.
	refLockClass int32 = 0x534c5057 // "SLPW"
	// exclusiveLockClass is the class of the session locks of TryExclusive.
	exclusiveLockClass int32 = 0x534c5058 // "SLPX"
	// copyLockKey serialises `slipway migrate` runs into one database.
	copyLockKey int64 = 0x736c6970776174 // "slipwat"
)

// queueChannel is the LISTEN/NOTIFY channel of queue changes;
// cancelChannel carries the IDs of builds to cancel (RequestCancel).
const (
	queueChannel  = "slipway_queue"
	cancelChannel = "slipway_cancel"
)

// pgDB is the PostgreSQL backend: a pgx pool shared by every replica's
// transactions, with row locks, advisory locks and NOTIFY across replicas.
type pgDB struct {
	pool *pgxpool.Pool
}

// pgxQuerier is what *pgxpool.Pool, *pgxpool.Conn and pgx.Tx have in common.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgQuerier runs the store's ?-placeholder statements through pgx.
type pgQuerier struct{ q pgxQuerier }

func (p pgQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgQuerier) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return p.q.QueryRow(ctx, rebind(query), args...)
}

func (p pgQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	r, err := p.q.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// rebind numbers the ? placeholders of query as PostgreSQL's $1, $2, …
// The store's statements have no ? inside string literals.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (p *pgDB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return pgQuerier{p.pool}.exec(ctx, query, args...)
}

func (p *pgDB) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return pgQuerier{p.pool}.queryRow(ctx, query, args...)
}

func (p *pgDB) query(ctx context.Context, query string, args ...any) (rows, error) {
	return pgQuerier{p.pool}.query(ctx, query, args...)
}

func (p *pgDB) write(ctx context.Context, fn func(tx querier) error) error {
	return pgWrite(ctx, p.pool, fn)
}

// pgWrite runs fn in a READ COMMITTED transaction begun on b.
func pgWrite(ctx context.Context, b interface {
	BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
}, fn func(tx querier) error) error {
	tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(pgQuerier{tx}); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// migrating holds a session advisory lock on one connection while fn runs,
// so that replicas starting together migrate one after the other (the
// second finds every migration applied).
func (p *pgDB) migrating(ctx context.Context, fn func(write func(context.Context, func(querier) error) error) error) error {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey); err != nil {
			// A connection that cannot unlock must not go back to the pool
			// holding the lock.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return fn(func(ctx context.Context, f func(querier) error) error {
		return pgWrite(ctx, conn, f)
	})
}

// refKey is the advisory lock key of project and ref (text cannot hold
// NUL; a newline cannot be in a ref or a project name).
func refKey(project, ref string) string { return project + "\n" + ref }

func (p *pgDB) lockRef(ctx context.Context, tx querier, project, ref string) error {
	_, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock(?::int4, hashtext(?))`, refLockClass, refKey(project, ref))
	return err
}

func (p *pgDB) tryLockRef(ctx context.Context, tx querier, project, ref string) (bool, error) {
	var ok bool
	err := tx.queryRow(ctx, `SELECT pg_try_advisory_xact_lock(?::int4, hashtext(?))`, refLockClass, refKey(project, ref)).Scan(&ok)
	return ok, err
}

// tryExclusive holds a session advisory lock on one connection of the pool
// until release: a replica that dies loses it with its connection.
func (p *pgDB) tryExclusive(ctx context.Context, name string) (func(), bool, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, hashtext($2))`, exclusiveLockClass, name).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	release := func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1::int4, hashtext($2))`, exclusiveLockClass, name); err != nil {
			// A connection that cannot unlock must not go back to the pool
			// holding the lock.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}
	return release, true, nil
}

func (p *pgDB) notifyQueue(ctx context.Context, tx querier) error {
	_, err := tx.exec(ctx, `SELECT pg_notify(?, '')`, queueChannel)
	return err
}

func (p *pgDB) close() error {
	p.pool.Close()
	return nil
}

// listen delivers the queue's NOTIFYs to sig until ctx ends, on its own
// connection (LISTEN holds one), reconnecting after a second when it
// breaks. Every (re)connect fires sig too: what was missed meanwhile is
// found by the next claim. listening closes once the first LISTEN is in
// place.
func listen(ctx context.Context, cfg *pgx.ConnConfig, sig *signal, cancels func(id int64), listening chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+queueChannel+"; LISTEN "+cancelChannel); err == nil {
				sig.fire()
				if listening != nil {
					close(listening)
					listening = nil
				}
				for {
					n, err := conn.WaitForNotification(ctx)
					if err != nil {
						break
					}
					if n.Channel == cancelChannel {
						if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
							cancels(id)
						}
						continue
					}
					sig.fire()
				}
			}
			_ = conn.Close(context.WithoutCancel(ctx))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// IsPostgresURL reports whether database names a PostgreSQL database
// (postgres:// or postgresql://).
func IsPostgresURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// RedactURL is database with its credentials masked (redact.URL), fit for
// messages and logs.
func RedactURL(database string) string {
	if _, err := url.Parse(database); err != nil {
		return "(unparsable database URL)"
	}
	return redact.URL(database)
}

// secretFree returns err, or an error of the same chain whose text has the
// password of database masked (redact.Error).
func secretFree(err error, database string) error {
	if err == nil {
		return nil
	}
	u, perr := url.Parse(database)
	if perr != nil {
		return errors.New("invalid database URL (not shown: it may hold a password)")
	}
	pw, _ := u.User.Password()
	return redact.Error(err, pw)
}

// openPostgres connects a pool to database and checks that it answers.
func openPostgres(ctx context.Context, database string) (*pgDB, *pgx.ConnConfig, error) {
	cfg, err := pgxpool.ParseConfig(database)
	if err != nil {
		return nil, nil, fmt.Errorf("parse database URL %s: %w", RedactURL(database), secretFree(err, database))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", RedactURL(database), secretFree(err, database))
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("connect to %s: %w", RedactURL(database), secretFree(err, database))
	}
	return &pgDB{pool: pool}, cfg.ConnConfig.Copy(), nil
}
