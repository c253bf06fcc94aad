package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/store/storetest"
)

// historyProjects is how many projects share the benchmark's history.
const historyProjects = 10

// BenchmarkHistory measures reads of a long history over HTTP: 100,000
// builds of 10 projects with 1,000,000 log lines in the store (storetest),
// then GET /api/v1/builds?project=p0&limit=50 (also with &status=failed),
// the dashboard's projects page (the newest 500 builds of each of the 10
// projects) and its builds page, one request at a time, p50/p99 of each.
// The handler runs over the store without an engine (no worker claims
// anything). Seeding takes seconds (one transaction): -v logs how long.
//
//	go test -run '^$' -bench History -benchtime 200x ./server
func BenchmarkHistory(b *testing.B) {
	for _, backend := range []string{store.BackendSQLite, store.BackendPostgres} {
		b.Run(backend, func(b *testing.B) {
			database := ""
			if backend == store.BackendPostgres {
				database = testenv.StartPostgresForTest(b, testenv.PostgresOptions{Durable: true}).NewDatabase(b)
			}
			base := historyServer(b, database, storetest.History{Builds: 100_000})
			for _, r := range []struct{ name, path string }{
				{"api", "/api/v1/builds?project=p0&limit=50"},
				{"api-failed", "/api/v1/builds?project=p0&status=failed&limit=50"},
				{"projects-page", "/"},
				{"builds-page", "/builds?project=p0"},
			} {
				b.Run(r.name, func(b *testing.B) { benchmarkGet(b, base+r.path) })
			}
		})
	}
}

// historyServer seeds h into a new data_dir (and database) with
// historyProjects projects p0… and serves the handler over it.
func historyServer(b *testing.B, database string, h storetest.History) string {
	b.Helper()
	dir := b.TempDir()
	var projects strings.Builder
	for i := range historyProjects {
		h.Projects = append(h.Projects, fmt.Sprint("p", i))
		fmt.Fprintf(&projects, "  - name: p%d\n    repo: https://github.com/acme/p%d.git\n    image: registry.example/acme/p%d\n"+
			"    schedules:\n      - {name: nightly, cron: \"30 1 * * *\"}\n", i, i, i)
	}
	yaml := fmt.Sprintf("data_dir: %q\ndashboard_auth: public\nprojects:\n%s", filepath.Join(dir, "data"), projects.String())
	path := filepath.Join(dir, "slipway.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Database = config.Secret(database)

	ctx := context.Background()
	st, err := store.OpenDatabase(ctx, database, cfg.DataDir, store.Options{KeepLeases: -1})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := storetest.SeedHistory(ctx, st, h); err != nil {
		b.Fatal(err)
	}
	seeded := time.Since(start)
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d builds with their logs in %v", h.Builds, seeded.Round(time.Millisecond))

	srv, _ := serveHandler(b, cfg)
	return srv.URL
}

// benchmarkGet gets url b.N times, one at a time, and reports the p50 and
// p99 latency of the whole answer.
func benchmarkGet(b *testing.B, url string) {
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
		lat = append(lat, time.Since(t0))
	}
	testenv.ReportLatencies(b, lat)
}
