package store

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// integrity opens the SQLite file at path and returns PRAGMA
// integrity_check's answer, its schema version and its number of builds.
func integrity(t *testing.T, path string) (check string, version int64, builds int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
		t.Fatalf("integrity_check of %s: %v", path, err)
	}
	if err := db.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM builds`).Scan(&builds); err != nil {
		t.Fatal(err)
	}
	return check, version, builds
}

// TestCopyBeforeMigrating: a database an older slipway left (all
// migrations but the newest) is copied to slipway.db.bak-<its version>
// before the newest is applied; a new database and an up-to-date one get
// no copy.
func TestCopyBeforeMigrating(t *testing.T) {
	ms, err := migrations(BackendSQLite)
	if err != nil {
		t.Fatal(err)
	}
	old := ms[len(ms)-2].version
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, "slipway.db")))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`)
	for _, m := range ms[:len(ms)-1] {
		exec(m.sql)
		exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 1)`, m.version, m.name)
	}
	exec(`INSERT INTO builds (project, trigger_kind, status, created_at) VALUES ('web', 'push', 'succeeded', 1)`)
	db.Close()

	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	copyPath := filepath.Join(dir, fmt.Sprintf("slipway.db.bak-%04d", old))
	check, version, builds := integrity(t, copyPath)
	if check != "ok" || version != int64(old) || builds != 1 {
		t.Errorf("%s: integrity %q, schema version %d, %d builds; want ok, %d, 1", copyPath, check, version, builds, old)
	}
	if _, version, _ := integrity(t, filepath.Join(dir, "slipway.db")); version != int64(ms[len(ms)-1].version) {
		t.Errorf("slipway.db at schema version %d after Open, want %d", version, ms[len(ms)-1].version)
	}

	// Opened again (nothing to migrate), and a new database: no copy.
	if s, err := Open(t.Context(), dir); err != nil {
		t.Fatal(err)
	} else {
		s.Close()
	}
	fresh := t.TempDir()
	if s, err := Open(t.Context(), fresh); err != nil {
		t.Fatal(err)
	} else {
		s.Close()
	}
	for d, want := range map[string]int{dir: 1, fresh: 0} {
		copies, _ := filepath.Glob(filepath.Join(d, "slipway.db.bak-*"))
		if len(copies) != want {
			t.Errorf("%s holds copies %v, want %d", d, copies, want)
		}
	}
}

func TestBackupRefusals(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	if err := Backup(ctx, "postgres://slipway@db/slipway", dir, filepath.Join(dir, "x.db")); !errors.Is(err, ErrBackupPostgres) {
		t.Errorf("Backup of PostgreSQL: %v, want ErrBackupPostgres", err)
	}
	if err := Backup(ctx, "", dir, filepath.Join(dir, "x.db")); err == nil {
		t.Errorf("Backup of a data_dir without a database succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "slipway.db")); !os.IsNotExist(err) {
		t.Errorf("Backup created a database in an empty data_dir (stat: %v)", err)
	}
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	exists := filepath.Join(dir, "exists.db")
	if err := os.WriteFile(exists, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Backup(ctx, "", dir, exists); err == nil {
		t.Errorf("Backup over an existing file succeeded")
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Errorf("Backup changed an existing file")
	}
}
