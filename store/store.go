// Package store is slipway's persistence: builds (with their stages, tags
// and deploy records), webhook deliveries and schedule marks in SQLite
// (modernc.org/sqlite, no cgo) at data_dir/slipway.db, and the build logs as
// files under data_dir/logs/.
//
// The database runs in WAL mode with synchronous=FULL: a call that returned
// without error has been committed to disk and survives a kill -9. Writers
// are serialised inside the Store (one write transaction at a time, taken
// with BEGIN IMMEDIATE), readers run concurrently; a Store is safe for use by
// many goroutines. Concurrent webhook deliveries and enqueues share
// transactions (group commit, see group.go): one fsync for all of them,
// each call returning once its own transaction committed. The schema is migrated at Open from the embedded
// migrations/NNNN_name.sql files, each applied once in its own transaction
// and recorded in the schema_migrations table.
//
// Every Build, Delivery and time the store returns is in UTC, and the slices
// it returns (Tags, Stages, Deploys, BuildIDs) are never nil, so that their
// JSON form is [] rather than null.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned when the build, delivery or schedule mark asked
// for does not exist.
var ErrNotFound = errors.New("not found")

// busyTimeout is how long a connection waits for a lock held by another
// process (a `slipway build` next to `slipway serve`) before SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// maxOpenConns bounds the connection pool: one writer plus concurrent readers.
const maxOpenConns = 8

// DefaultLease is how long a claimed build stays its replica's without a
// Heartbeat (Options.Lease).
const DefaultLease = 30 * time.Second

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// Backend names, as Store.Backend returns them.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Options tune a Store; the zero value is the default.
type Options struct {
	// Replica names this process in the claims it makes (claimed_by).
	// Default: hostname-pid-random, unique per Store.
	Replica string
	// Lease is how long a claimed build stays this replica's without a
	// Heartbeat. Default DefaultLease (30s).
	Lease time.Duration
	// KeepLeases is how often, on PostgreSQL, the store itself extends the
	// leases of the running builds this replica claimed; every 2 s (or
	// KeepLeases, when shorter) it also puts back the builds of every
	// replica whose lease expired (RequeueExpired with MaxAttempts): a
	// replica that dies (kill -9, node down) loses its builds to the others
	// within its lease + 2 s. After a database outage it reaps only once
	// the database has answered for KeepLeases, so that live replicas
	// extend their leases first. Default Lease/3; < 0 turns it off (the caller
	// then calls Heartbeat and RequeueExpired). SQLite has one replica and
	// needs none of it.
	KeepLeases time.Duration
	// MaxAttempts bounds how often the lease keeper lets one build start:
	// a build whose lease expired at its last attempt fails. Default 2 (at
	// most one more attempt, as after a restart).
	MaxAttempts int
}

// Store is the persistence of one data directory (SQLite) or one shared
// PostgreSQL database. Open it once per process; it is safe for concurrent
// use.
type Store struct {
	db      backend
	kind    string
	dataDir string
	logDir  string
	replica string
	lease   time.Duration
	now     func() time.Time
	// queue fires when the queue may have changed (see QueueSignal).
	queue *signal
	// group batches the enqueues of concurrent callers into shared
	// transactions (writeGroup).
	group groupCommitter
	// stopListen ends the PostgreSQL listener and lease keeper; bg waits
	// for them.
	stopListen context.CancelFunc
	bg         sync.WaitGroup
	// listening closes when the listener first listens (for tests).
	listening chan struct{}
	// takeovers counts the builds put back for an expired lease.
	takeovers atomic.Int64
	// cancels delivers RequestCancel's build IDs (CancelRequests).
	cancels chan int64
	// claims are the builds this store claimed (checkClaims), tracked
	// while keeping is set: the lease keeper runs and forgets ended ones.
	claims  claims
	keeping bool
}

// Open creates dataDir and dataDir/logs when missing, opens (or creates)
// the SQLite database dataDir/slipway.db and applies the migrations it has
// not seen yet.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	return OpenDatabase(ctx, "", dataDir, Options{})
}

// OpenDatabase opens the store that database names: "" is SQLite in
// dataDir (as Open); a postgres:// or postgresql:// URL is a PostgreSQL
// database that any number of replicas share. dataDir and dataDir/logs
// are created either way. Migrations not applied yet are applied (on
// PostgreSQL under an advisory lock, so replicas starting together migrate
// once); a database migrated by a newer slipway is refused. Errors never
// show the URL's password.
func OpenDatabase(ctx context.Context, database, dataDir string, opts Options) (*Store, error) {
	if dataDir == "" {
		return nil, errors.New("open store: data_dir is empty")
	}
	if database != "" && !IsPostgresURL(database) {
		return nil, fmt.Errorf("open store: database must be empty (SQLite in data_dir) or a postgres:// URL, not %s", RedactURL(database))
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("open store: data_dir %s: %w", dataDir, err)
	}
	logDir := filepath.Join(abs, "logs")
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		return nil, fmt.Errorf("open store: create %s: %w", logDir, err)
	}
	if opts.Replica == "" {
		opts.Replica = defaultReplica()
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	s := &Store{
		dataDir: abs,
		logDir:  logDir,
		replica: opts.Replica,
		lease:   opts.Lease,
		now:     time.Now,
		queue:   newSignal(),
		cancels: make(chan int64, 64),
	}
	where := abs
	if database == "" {
		db, err := sql.Open("sqlite", dsn(filepath.Join(abs, "slipway.db")))
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		db.SetMaxOpenConns(maxOpenConns)
		db.SetMaxIdleConns(maxOpenConns)
		s.db, s.kind = &sqliteDB{db: db, writeSem: make(chan struct{}, 1)}, BackendSQLite
	} else {
		pg, connCfg, err := openPostgres(ctx, database)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		s.db, s.kind, where = pg, BackendPostgres, RedactURL(database)
		s.group.maxInFlight = pgGroupsInFlight
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopListen, s.listening = cancel, make(chan struct{})
		s.bg.Go(func() { listen(lctx, connCfg, s.queue, s.deliverCancel, s.listening) })
		if opts.KeepLeases == 0 {
			opts.KeepLeases = opts.Lease / 3
		}
		if opts.MaxAttempts < 1 {
			opts.MaxAttempts = 2
		}
		if opts.KeepLeases > 0 {
			s.keeping = true
			s.bg.Go(func() { s.keepLeases(lctx, opts.KeepLeases, opts.MaxAttempts) })
		}
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", where, secretFree(err, database))
	}
	return s, nil
}

// defaultReplica is hostname-pid-random: unique per Store, also for
// several stores in one process (tests run replicas in-process).
func defaultReplica() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// dsn is the modernc.org/sqlite data source name of the database at path:
// a file: URI (so that any character in the path is safe) with the pragmas
// every connection runs when it opens.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + q.Encode()
}

// Close closes the database (and stops the PostgreSQL listener). Calls
// after Close fail.
func (s *Store) Close() error {
	if s.stopListen != nil {
		s.stopListen()
		s.bg.Wait()
	}
	if err := s.db.close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Backend is BackendSQLite or BackendPostgres.
func (s *Store) Backend() string { return s.kind }

// Replica is the name this store's claims carry (Options.Replica).
func (s *Store) Replica() string { return s.replica }

// probeSize is how much free space Ping asks of data_dir: a delivery, a
// build's rows and the first lines of its log fit in it.
const probeSize = 64 << 10

// Ping checks that the store can take what a delivery or a build writes
// (for /readyz): a file of probeSize bytes is written, synced and removed in
// data_dir, and a committed write goes through the database. A full or
// read-only data_dir fails it, where a read would still pass.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.probeFile(); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	// Rewriting a row with its own value is a real write that changes
	// nothing: SQLite commits the page to its WAL, PostgreSQL a new row
	// version.
	err := s.write(ctx, func(tx querier) error {
		_, err := tx.exec(ctx, `UPDATE schema_migrations SET applied_at = applied_at
			WHERE version = (SELECT max(version) FROM schema_migrations)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("ping store: write to the database: %w", err)
	}
	return nil
}

// probeFile writes probeSize bytes to a file in the log directory, syncs
// and removes it.
func (s *Store) probeFile() (err error) {
	f, err := os.CreateTemp(s.logDir, ".probe-*")
	if err != nil {
		return fmt.Errorf("write to data_dir: %w", err)
	}
	defer func() {
		f.Close()
		if rmErr := os.Remove(f.Name()); rmErr != nil && err == nil {
			err = fmt.Errorf("write to data_dir: %w", rmErr)
		}
	}()
	if _, err := f.Write(make([]byte, probeSize)); err != nil {
		return fmt.Errorf("write to data_dir: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write to data_dir: %w", err)
	}
	return nil
}

// LogPath is the file of build id's log: dataDir/logs/<id>.log. The store
// creates the directory at Open, not the file.
func (s *Store) LogPath(id int64) string {
	return filepath.Join(s.logDir, strconv.FormatInt(id, 10)+".log")
}

// DataDir is the absolute data directory the store was opened on.
func (s *Store) DataDir() string { return s.dataDir }

// write runs fn in one write transaction, committed when fn returns nil and
// rolled back otherwise. On SQLite write transactions run one at a time.
func (s *Store) write(ctx context.Context, fn func(tx querier) error) error {
	return s.db.write(ctx, fn)
}

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations in version order.
func migrations(kind string) ([]migration, error) {
	dir := "migrations/" + kind
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version", other, name)
		}
		seen[v] = name
		body, err := fs.ReadFile(migrationFiles, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies each migration the database has not recorded, each in its
// own transaction together with its schema_migrations row.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(s.kind)
	if err != nil {
		return err
	}
	return s.db.migrating(ctx, func(write func(context.Context, func(querier) error) error) error {
		err := write(ctx, func(tx querier) error {
			_, err := tx.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    INTEGER PRIMARY KEY,
				name       TEXT    NOT NULL,
				applied_at BIGINT  NOT NULL
			)`)
			return err
		})
		if err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		if err := s.copyBeforeMigrating(ctx, ms); err != nil {
			return err
		}
		latest := ms[len(ms)-1].version
		for _, m := range ms {
			err := write(ctx, func(tx querier) error {
				// Checked inside the transaction: another process opening
				// the same SQLite database may have applied it meanwhile.
				var n int
				if err := tx.queryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					return nil
				}
				if _, err := tx.exec(ctx, m.sql); err != nil {
					return err
				}
				_, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
					m.version, m.name, s.now().UnixNano())
				return err
			})
			if err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		var newest sql.NullInt64
		if err := s.db.queryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if newest.Int64 > int64(latest) {
			return fmt.Errorf("database schema version %d is newer than this slipway knows (%d): run a newer slipway", newest.Int64, latest)
		}
		return nil
	})
}

// nanos is t as stored: unix nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

// nullNanos is t as stored, NULL when t is nil.
func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNanos is the UTC time of stored unix nanoseconds.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// fromNullNanos is the UTC time of a nullable stored time, nil for NULL.
func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}
