package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotEmpty is returned by Copy when the target database already holds
// builds, deliveries, schedule marks or logs.
var ErrNotEmpty = errors.New("target database is not empty")

// CopyCounts says what Copy copied.
type CopyCounts struct {
	Builds        int
	Deliveries    int
	ScheduleMarks int
	Deployments   int
	// Logs counts the builds whose log was copied; LogBytes their size.
	Logs     int
	LogBytes int64
}

// copyPage is how many builds Copy reads at a time.
const copyPage = 500

// Copy copies every build (keeping its ID, status and times), delivery,
// schedule mark and build log of from into to, which must be a PostgreSQL
// store, in one transaction of to: a failed copy leaves to empty, ready for
// another try. to must hold nothing yet (ErrNotEmpty otherwise); two copies
// into one database run one after the other. Builds that were running in
// from arrive running without a lease: the first replica to start puts
// them back (Recover), as a restart would.
func Copy(ctx context.Context, from, to *Store) (CopyCounts, error) {
	var c CopyCounts
	if to.kind != BackendPostgres {
		return c, errors.New("copy: the target must be a PostgreSQL database")
	}
	err := to.write(ctx, func(tx querier) error {
		c = CopyCounts{}
		if _, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock(?)`, copyLockKey); err != nil {
			return err
		}
		var n int64
		if err := tx.queryRow(ctx, `SELECT (SELECT count(*) FROM builds) + (SELECT count(*) FROM deliveries)
			+ (SELECT count(*) FROM schedule_marks) + (SELECT count(*) FROM build_logs)`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: it holds %d rows of builds, deliveries, schedule marks or logs; copy into a new database", ErrNotEmpty, n)
		}
		if err := copyBuilds(ctx, from, tx, &c); err != nil {
			return err
		}
		if err := copyDeliveries(ctx, from, tx, &c); err != nil {
			return err
		}
		if err := copyMarks(ctx, from, tx, &c); err != nil {
			return err
		}
		return copyDeployments(ctx, from, tx, &c)
	})
	if err != nil {
		return CopyCounts{}, fmt.Errorf("copy: %w", err)
	}
	return c, nil
}

// copyBuilds copies the builds in ID order, each with its log, and moves
// the target's ID sequence past the last one.
func copyBuilds(ctx context.Context, from *Store, tx querier, c *CopyCounts) error {
	var last int64
	for {
		bs, err := queryBuilds(ctx, from.db, `SELECT `+buildColumns+` FROM builds WHERE id > ? ORDER BY id LIMIT ?`, last, copyPage)
		if err != nil {
			return fmt.Errorf("read builds: %w", err)
		}
		for _, b := range bs {
			if _, err := insertBuildAs(ctx, tx, b, true); err != nil {
				return fmt.Errorf("build %d: %w", b.ID, err)
			}
			c.Builds++
			n, err := copyLog(ctx, from, tx, b.ID)
			if err != nil {
				return fmt.Errorf("log of build %d: %w", b.ID, err)
			}
			if n > 0 {
				c.Logs++
				c.LogBytes += n
			}
			last = b.ID
		}
		if len(bs) < copyPage {
			break
		}
	}
	if last > 0 {
		if _, err := tx.exec(ctx, `SELECT setval(pg_get_serial_sequence('builds', 'id'), ?)`, last); err != nil {
			return fmt.Errorf("move the build ID sequence: %w", err)
		}
	}
	return nil
}

// copyLog streams build id's log from from into tx's build_logs and
// returns its size.
func copyLog(ctx context.Context, from *Store, tx querier, id int64) (int64, error) {
	if from.kind != BackendSQLite {
		p, err := from.ReadLog(ctx, id, 0, 0)
		if err != nil {
			return 0, err
		}
		return appendLogChunks(ctx, tx, id, 0, p)
	}
	f, err := os.Open(from.LogPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, logChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if off, err = appendLogChunks(ctx, tx, id, off, buf[:n]); err != nil {
				return 0, err
			}
		}
		switch {
		case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
			return off, nil
		case rerr != nil:
			return 0, rerr
		}
	}
}

// copyDeliveries copies every delivery as stored.
func copyDeliveries(ctx context.Context, from *Store, tx querier, c *CopyCounts) error {
	rs, err := from.db.query(ctx, `SELECT id, event, outcome, reason, build_ids, received_at FROM deliveries ORDER BY received_at, id`)
	if err != nil {
		return fmt.Errorf("read deliveries: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var (
			id, event, outcome, reason, ids string
			received                        int64
		)
		if err := rs.Scan(&id, &event, &outcome, &reason, &ids, &received); err != nil {
			return fmt.Errorf("read deliveries: %w", err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO deliveries (id, event, outcome, reason, build_ids, received_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, event, outcome, reason, ids, received); err != nil {
			return fmt.Errorf("delivery %s: %w", id, err)
		}
		c.Deliveries++
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read deliveries: %w", err)
	}
	return nil
}

// copyMarks copies every schedule mark.
func copyMarks(ctx context.Context, from *Store, tx querier, c *CopyCounts) error {
	rs, err := from.db.query(ctx, `SELECT project, schedule, due_at FROM schedule_marks ORDER BY project, schedule`)
	if err != nil {
		return fmt.Errorf("read schedule marks: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var (
			project, schedule string
			due               int64
		)
		if err := rs.Scan(&project, &schedule, &due); err != nil {
			return fmt.Errorf("read schedule marks: %w", err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO schedule_marks (project, schedule, due_at) VALUES (?, ?, ?)`, project, schedule, due); err != nil {
			return fmt.Errorf("schedule mark %s/%s: %w", project, schedule, err)
		}
		c.ScheduleMarks++
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read schedule marks: %w", err)
	}
	return nil
}

// Migrate copies the SQLite store named by from ("sqlite:PATH", PATH being
// a data_dir or its slipway.db) into the PostgreSQL database to (a
// postgres:// URL), migrating to's schema first: `slipway migrate`. It
// refuses a missing source (it never creates one) and a non-empty target
// (ErrNotEmpty). Errors never show to's password.
func Migrate(ctx context.Context, from, to string) (CopyCounts, error) {
	path, ok := strings.CutPrefix(from, "sqlite:")
	if !ok || path == "" {
		return CopyCounts{}, fmt.Errorf("--from must be sqlite:PATH (a data_dir or its slipway.db), not %q", from)
	}
	if !IsPostgresURL(to) {
		return CopyCounts{}, fmt.Errorf("--to must be a postgres:// or postgresql:// URL, not %s", RedactURL(to))
	}
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
		if filepath.Base(path) != "slipway.db" {
			return CopyCounts{}, fmt.Errorf("%s: the SQLite database of a data_dir is named slipway.db", path)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "slipway.db")); err != nil {
		return CopyCounts{}, fmt.Errorf("no slipway database to copy: %w", err)
	}
	src, err := Open(ctx, dir)
	if err != nil {
		return CopyCounts{}, err
	}
	defer src.Close()
	dst, err := OpenDatabase(ctx, to, dir, Options{})
	if err != nil {
		return CopyCounts{}, err
	}
	defer dst.Close()
	c, err := Copy(ctx, src, dst)
	return c, secretFree(err, to)
}

// copyDeployments copies the deployment records with their IDs and moves
// the target's ID sequence past the last one.
func copyDeployments(ctx context.Context, from *Store, tx querier, c *CopyCounts) error {
	ds, err := from.Deployments(ctx, "", "", 1<<30)
	if err != nil {
		return err
	}
	var last int64
	for i := len(ds) - 1; i >= 0; i-- { // oldest first
		d := ds[i]
		if _, err := tx.exec(ctx, `INSERT INTO deployments (`+deploymentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.Project, d.Target, d.Stack, d.Service, d.Image, d.PreviousDigest, d.Digest, d.Build, d.Commit, d.Kind, d.Status, d.Error, nanos(d.At)); err != nil {
			return fmt.Errorf("deployment %d: %w", d.ID, err)
		}
		c.Deployments++
		last = max(last, d.ID)
	}
	if last > 0 {
		if _, err := tx.exec(ctx, `SELECT setval(pg_get_serial_sequence('deployments', 'id'), ?)`, last); err != nil {
			return fmt.Errorf("move the deployment ID sequence: %w", err)
		}
	}
	return nil
}
