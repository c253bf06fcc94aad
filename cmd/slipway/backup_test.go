package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayci/slipway/store"
)

// TestBackupWhileBuildsAreWritten runs `slipway backup` while a goroutine
// keeps inserting builds through the store (as a running serve does): the
// copy opens, passes PRAGMA integrity_check, holds the builds committed
// before it started, and opens as a data_dir's database.
func TestBackupWhileBuildsAreWritten(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfgPath := writeConfig(t, "projects:\n  - {name: web, repo: \"https://github.com/acme/web.git\", image: docker.io/acme/web}\n")
	dataDir := filepath.Join(filepath.Dir(cfgPath), "data")
	st, err := store.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var inserted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b, _, _, err := st.Enqueue(ctx, store.Build{Project: "web", Trigger: store.TriggerPush,
				Ref: "refs/heads/main", Commit: fmt.Sprintf("%040x", i)}, store.EnqueueOptions{})
			if err == nil {
				_, err = st.SetStatus(ctx, b.ID, nil, store.StatusSucceeded, "")
			}
			if err != nil {
				writeErr = err
				return
			}
			inserted.Add(1)
		}
	}()
	waitInserted := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for inserted.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d builds inserted in a minute", inserted.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitInserted(50)
	dest := filepath.Join(t.TempDir(), "slipway-backup.db")
	before := inserted.Load()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"backup", "--config", cfgPath, dest}, &stdout, &stderr)
	after := inserted.Load()
	waitInserted(after + 10) // the writes went on after the copy
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("inserting builds during the backup: %v", writeErr)
	}
	if code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), dest) {
		t.Errorf("backup printed %q, want the file named", stdout.String())
	}

	db, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("PRAGMA integrity_check of the backup = %q, %v; want ok", check, err)
	}
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM builds WHERE status = 'succeeded'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// A build counted after its SetStatus returned: one may be committed
	// but not yet counted when after is read.
	if n < before || n > after+1 {
		t.Errorf("backup holds %d succeeded builds, want between %d (done before it) and %d (done by its end)", n, before, after)
	}

	// The copy is a database slipway opens as it is.
	restored := t.TempDir()
	b, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "slipway.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := store.Open(ctx, restored)
	if err != nil {
		t.Fatalf("open the backup as a data_dir's database: %v", err)
	}
	defer rs.Close()
	if bs, err := rs.ListBuilds(ctx, store.Filter{Status: store.StatusSucceeded, Limit: 1}); err != nil || len(bs) != 1 {
		t.Errorf("builds in the restored store: %v, %v", bs, err)
	}

	// Again to the same file: refused, the copy kept.
	if code := run(ctx, []string{"backup", "--config", cfgPath, dest}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "exists") {
		t.Errorf("backup over an existing file: exit %d, stderr %q; want 1 saying it exists", code, stderr.String())
	}
}

// TestBackupOfPostgresAdvisesPgDump: with database: postgres://..., backup
// says to use pg_dump, without the password.
func TestBackupOfPostgresAdvisesPgDump(t *testing.T) {
	t.Parallel()
	cfgPath := writeConfig(t, "database: \"postgres://slipway:Pw9-secret@db.example:5432/slipway\"\nprojects:\n  - {name: web, repo: \"https://github.com/acme/web.git\", image: docker.io/acme/web}\n")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"backup", "--config", cfgPath, filepath.Join(t.TempDir(), "x.db")}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "pg_dump") || strings.Contains(stderr.String(), "Pw9-secret") {
		t.Errorf("backup of PostgreSQL: exit %d, stderr %q; want 1 advising pg_dump, no password", code, stderr.String())
	}
}
