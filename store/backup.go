package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrBackupPostgres is returned by Backup for a PostgreSQL database:
// pg_dump makes its backups.
var ErrBackupPostgres = errors.New("slipway backup copies the SQLite database; for PostgreSQL use pg_dump (pg_dump --format=custom --file=slipway.dump DATABASE_URL), which takes a consistent snapshot while slipway runs")

// Backup writes a consistent copy of the SQLite database of dataDir
// (database "") to dest while slipway may be running and writing: SQLite's
// VACUUM INTO reads one snapshot, so the copy holds exactly the
// transactions committed before it started. The copy is written next to
// dest and renamed into place, so dest is either complete or absent. dest
// must not exist. Backup migrates nothing and creates no database: it
// copies what is there. For a postgres:// database it returns
// ErrBackupPostgres.
func Backup(ctx context.Context, database, dataDir, dest string) error {
	if IsPostgresURL(database) {
		return ErrBackupPostgres
	}
	if database != "" {
		return fmt.Errorf("backup: database must be empty (SQLite in data_dir) or a postgres:// URL, not %s", RedactURL(database))
	}
	src := filepath.Join(dataDir, "slipway.db")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no database at %s (check data_dir): %w", src, err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("backup: %s exists: give a new file name or remove it first: %w", dest, fs.ErrExist)
	}
	db, err := sql.Open("sqlite", dsn(src))
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	return vacuumInto(ctx, db, dest)
}

// vacuumInto writes the database of db to dest through a temporary file
// in dest's directory.
func vacuumInto(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, dest string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	// VACUUM INTO wants a missing or empty file: the empty one reserves
	// the name.
	defer os.Remove(tmpName)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmpName); err != nil {
		return fmt.Errorf("backup: copy the database to %s: %w", dest, err)
	}
	// A link, not a rename: a dest that appeared meanwhile is kept.
	if err := os.Link(tmpName, dest); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// copyBeforeMigrating copies the SQLite database to preMigrationCopy when
// ms holds a migration it has not applied, unless it is new (no migration
// applied yet) or that copy exists (an earlier attempt made it).
func (s *Store) copyBeforeMigrating(ctx context.Context, ms []migration) error {
	lite, ok := s.db.(*sqliteDB)
	if !ok {
		return nil
	}
	rows, err := lite.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := make(map[int64]bool)
	var current int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
		current = max(current, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	pending := false
	for _, m := range ms {
		pending = pending || !applied[int64(m.version)]
	}
	if len(applied) == 0 || !pending {
		return nil
	}
	dest := preMigrationCopy(s.dataDir, current)
	if _, err := os.Lstat(dest); err == nil {
		return nil
	}
	if err := vacuumInto(ctx, lite.db, dest); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("copy the database before migrating it (free disk space in data_dir, or move %s away): %w", dest, err)
	}
	return nil
}

// preMigrationCopy is the copy of the SQLite database made before a
// migration: dataDir/slipway.db.bak-<version of the schema it holds>.
func preMigrationCopy(dataDir string, version int64) string {
	return filepath.Join(dataDir, fmt.Sprintf("slipway.db.bak-%04d", version))
}
