package server_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// TestMigratedHistoryServedOnPostgres fills a SQLite data_dir with 50
// finished builds and their logs, runs `slipway migrate` to PostgreSQL,
// then starts `slipway serve` on that database (with a fresh data_dir):
// the API and the dashboard's builds page list the same 50 builds (IDs,
// statuses, commits) and a build's log reads the same.
func TestMigratedHistoryServedOnPostgres(t *testing.T) {
	const builds = 50
	bin := slipwayBinary(t)
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	w := newWorld(t, setup{Tokens: true, Listen: "${SLIPWAY_TEST_LISTEN}"})
	cfg, err := config.Load(w.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}

	ctx := t.Context()
	src, err := store.Open(ctx, cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	statuses := []store.Status{store.StatusSucceeded, store.StatusFailed, store.StatusCanceled, store.StatusSucceeded}
	logs := map[int64]string{}
	for i := range builds {
		b, _, _, err := src.Enqueue(ctx, store.Build{Project: "fixture", Trigger: store.TriggerPush,
			Ref: fmt.Sprint("refs/heads/b", i%3), Commit: fmt.Sprintf("%040x", 7919*(i+1))}, store.EnqueueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.SetStatus(ctx, b.ID, nil, statuses[i%len(statuses)], ""); err != nil {
			t.Fatal(err)
		}
		logs[b.ID] = fmt.Sprintf("step 1 of build %d\nslipway: build %s\n", b.ID, statuses[i%len(statuses)])
		if err := os.WriteFile(src.LogPath(b.ID), []byte(logs[b.ID]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := src.ListBuilds(ctx, store.Filter{Limit: store.MaxLimit})
	src.Close()
	if err != nil || len(want) != builds {
		t.Fatalf("SQLite lists %d builds, %v; want %d", len(want), err, builds)
	}

	out, err := exec.CommandContext(ctx, bin, "migrate", "--from", "sqlite:"+cfg.DataDir, "--to", database).CombinedOutput()
	if err != nil {
		t.Fatalf("slipway migrate: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), fmt.Sprintf("copied %d builds,", builds)) {
		t.Errorf("slipway migrate printed %q, want it to report %d builds", out, builds)
	}

	_, c := startServeConfig(t, bin, replicaConfigs(t, w, database, 1)[0])
	type row struct {
		ID     int64
		Status store.Status
		Commit string
	}
	rows := func(bs []store.Build) []row {
		var rs []row
		for _, b := range bs {
			rs = append(rs, row{b.ID, b.Status, b.Commit})
		}
		return rs
	}
	if diff := cmp.Diff(rows(want), rows(c.builds())); diff != "" {
		t.Errorf("GET /api/v1/builds on PostgreSQL (-SQLite +PostgreSQL):\n%s", diff)
	}

	code, page := c.get("/builds")
	if code != http.StatusOK {
		t.Fatalf("GET /builds: %d %s", code, page)
	}
	var shown, listed []string
	for _, m := range regexp.MustCompile(`data-build="(\d+)" data-status="(\w+)"`).FindAllStringSubmatch(string(page), -1) {
		shown = append(shown, m[1]+" "+m[2])
	}
	for _, b := range want {
		listed = append(listed, fmt.Sprint(b.ID, " ", b.Status))
		if !strings.Contains(string(page), b.Commit[:7]) {
			t.Errorf("the builds page does not show build %d's commit %.7s", b.ID, b.Commit)
		}
	}
	if diff := cmp.Diff(listed, shown); diff != "" {
		t.Errorf("the dashboard's builds page on PostgreSQL (-SQLite +page):\n%s", diff)
	}

	for _, id := range []int64{1, 27, builds} {
		if code, body := c.get(fmt.Sprintf("/api/v1/builds/%d/log", id)); code != http.StatusOK || string(body) != logs[id] {
			t.Errorf("GET build %d's log: %d %q, want %q", id, code, body, logs[id])
		}
		if code, page := c.get(fmt.Sprintf("/builds/%d", id)); code != http.StatusOK || !strings.Contains(string(page), want[builds-int(id)].Commit[:7]) {
			t.Errorf("GET /builds/%d: %d, want the page of commit %.7s", id, code, want[builds-int(id)].Commit)
		}
	}
}
