package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

func TestMigrateCommand(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	src, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		b, _, _, err := src.Enqueue(ctx, store.Build{Project: "web", Trigger: store.TriggerPush,
			Ref: "refs/heads/main", Commit: fmt.Sprintf("%040d", i)}, store.EnqueueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.SetStatus(ctx, b.ID, nil, store.StatusSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(src.LogPath(b.ID), []byte("built\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.RecordDelivery(ctx, store.Delivery{ID: "d-1", Event: "push"}); err != nil {
		t.Fatal(err)
	}
	src.Close()

	pg := testenv.StartPostgresForTest(t, testenv.PostgresOptions{})
	database := strings.Replace(pg.NewDatabase(t), "slipway@", "slipway:Hunter2-pw@", 1)
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"migrate", "--from", "sqlite:" + dir, "--to", database}, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate exit %d, stderr:\n%s", code, stderr.String())
	}
	if want := "copied 50 builds, 1 deliveries, 0 schedule marks and 50 build logs (300 bytes) to postgres://***@"; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("stdout = %q, want it to start with %q", stdout.String(), want)
	}
	dst, err := store.OpenDatabase(ctx, database, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	bs, err := dst.ListBuilds(ctx, store.Filter{Status: store.StatusSucceeded, Limit: store.MaxLimit})
	if err != nil || len(bs) != 50 || bs[0].ID != 50 {
		t.Errorf("builds on PostgreSQL: %d (newest %v), %v; want 50 succeeded", len(bs), bs, err)
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(ctx, []string{"migrate", "--from", "sqlite:" + dir, "--to", database}, &stdout, &stderr); code != 1 {
		t.Errorf("second migrate exit %d, want 1", code)
	}
	if msg := stderr.String(); !strings.Contains(msg, "not empty") || strings.Contains(msg, "Hunter2-pw") {
		t.Errorf("second migrate stderr = %q, want a not-empty error without the password", msg)
	}
	if code := run(ctx, []string{"migrate", "--from", "sqlite:" + dir}, &stdout, &stderr); code != 2 {
		t.Errorf("migrate without --to exit %d, want 2 (usage)", code)
	}
}
