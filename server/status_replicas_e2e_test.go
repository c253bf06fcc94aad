package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// TestTakenOverBuildSendsNoStatusFromItsOldReplica runs a build on a
// replica on PostgreSQL, then hands its claim to another replica in the
// database (as a takeover after a lost lease does): the old replica stops
// the build, and neither its end nor any final commit status comes from it
// (the replica that holds the build reports its end).
func TestTakenOverBuildSendsNoStatusFromItsOldReplica(t *testing.T) {
	database := testenv.StartPostgresForTest(t, testenv.PostgresOptions{}).NewDatabase(t)
	gh, apiURL := startFakeGitHub(t)
	w := helloWorldWorld(t, setup{Concurrency: 1, Tokens: true, GitHubAPI: apiURL, Fixture: fixture.Options{TestCommand: heldTest}})
	removeTestContainers(t, w)
	c := serve(t, w, func(cfg *config.Config) { cfg.Database = config.Secret(database) })

	code, a := c.deliver(delivery{"push", "takeover-status", pushOf(t, w.Head), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("push: %d %+v, want 202 with one build", code, a)
	}
	b := c.build(a.Builds[0])
	waitFor(t, buildTimeout, "the build's test stage runs and its queued and running statuses are sent", func() (bool, string) {
		got := c.build(b.ID)
		sts, _ := gh.of(w.Head)
		return got.Status == store.StatusRunning && len(testContainers(t, w)) == 1 && len(sts) >= 2, describe(got) + " statuses: " + states(sts)
	})
	conn, err := pgx.Connect(t.Context(), database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `UPDATE builds SET claimed_by = 'replica-that-took-over' WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, buildTimeout, "the old replica stops the build and gives up its end", func() (bool, string) {
		return strings.Contains(c.logs.String(), "its end is not reported from here"), ""
	})
	// The commit statuses outlive the queue: once stopped, every status
	// the replica meant to send was sent.
	c.stop()
	sts, _ := gh.of(w.Head)
	for i, st := range sts {
		if st.State != "pending" {
			t.Errorf("status %d of %q is %s from the replica that lost the build, want only pending", i, states(sts), st.State)
		}
	}
	var status string
	if err := conn.QueryRow(t.Context(), `SELECT status FROM builds WHERE id = $1`, b.ID).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != string(store.StatusRunning) {
		t.Errorf("build %d is %s in the database, want still running (the old replica's end refused)", b.ID, status)
	}
}
