package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/store"
)

// serveLogged is serve that also returns the server's log (zerolog JSON
// lines). stop on the client ends the server and waits for Run to return.
func serveLogged(t *testing.T, w *fixture.World) (*apiClient, *logBuffer) {
	t.Helper()
	c := serve(t, w, nil)
	return c, c.logs
}

// catchUps returns the IDs of the builds the log says schedule fired as a
// start-up catch-up.
func catchUps(t *testing.T, logs *logBuffer, schedule string) []int64 {
	t.Helper()
	var ids []int64
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var rec struct {
			Schedule string `json:"schedule"`
			CatchUp  *bool  `json:"catch_up"`
			Build    int64  `json:"build"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if rec.Schedule == schedule && rec.CatchUp != nil && *rec.CatchUp {
			ids = append(ids, rec.Build)
		}
	}
	return ids
}

// scheduleBuilds returns the builds of schedule with an ID above after,
// newest first.
func scheduleBuilds(c *apiClient, schedule string, after int64) []store.Build {
	c.t.Helper()
	var out []store.Build
	for _, b := range c.builds() {
		if b.ID > after && b.Schedule == schedule {
			out = append(out, b)
		}
	}
	return out
}

// stopped is what the store holds while no server runs.
type stopped struct {
	maxID        int64
	nightlyMark  time.Time
	yearlyMark   time.Time
	yearlyBuilds int
}

// readStopped opens w's store while no server runs.
func readStopped(t *testing.T, w *fixture.World) stopped {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(w.Dir, "data"))
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer st.Close()
	var s stopped
	var ok bool
	if s.nightlyMark, ok, err = st.LastFired(ctx, "fixture", "nightly"); err != nil || !ok {
		t.Fatalf("nightly's mark: %v, %v (ok %t)", s.nightlyMark, err, ok)
	}
	if s.yearlyMark, ok, err = st.LastFired(ctx, "fixture", "yearly"); err != nil || !ok {
		t.Fatalf("yearly's mark: %v, %v (ok %t)", s.yearlyMark, err, ok)
	}
	bs, err := st.ListBuilds(ctx, store.Filter{Project: "fixture", Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		s.maxID = max(s.maxID, b.ID)
		if b.Schedule == "yearly" {
			s.yearlyBuilds++
		}
	}
	return s
}

// TestScheduleFiresAndCatchesUpOnce runs a server whose schedule nightly
// is due every 2s: a fire builds and pushes nightly-YYYYMMDD and nightly.
// The server is stopped across two due times and started again: nightly
// fires exactly one catch-up, for the latest missed time. The schedule
// yearly, armed at the first start, has missed nothing at the restart and
// fires nothing.
func TestScheduleFiresAndCatchesUpOnce(t *testing.T) {
	t.Parallel()
	// yearly comes first: the scheduler makes its start-up decisions in
	// config order, so nightly's catch-up shows that yearly's was made.
	w := newWorld(t, setup{
		Concurrency: 1, // serial: the first release builds, the next ones re-tag its image
		Fixture: fixture.Options{ProjectExtra: "    schedules:\n" +
			"      - {name: yearly, cron: \"0 0 1 1 *\"}\n" +
			"      - {name: nightly, cron: \"@every 2s\"}\n"},
	})
	removeTestContainers(t, w)
	c1, _ := serveLogged(t, w)

	var fired store.Build
	waitFor(t, 2*time.Minute, "a nightly release succeeds", func() (bool, string) {
		bs := scheduleBuilds(c1, "nightly", 0)
		for i := len(bs) - 1; i >= 0; i-- {
			switch b := bs[i]; b.Status {
			case store.StatusSucceeded:
				fired = b
				return true, ""
			case store.StatusFailed:
				t.Fatalf("a nightly release failed: %s", describe(b))
			}
		}
		return false, fmt.Sprintf("%d nightly builds", len(bs))
	})
	if fired.Trigger != store.TriggerSchedule || fired.DueAt == nil || fired.Ref != "refs/heads/main" || fired.Commit != w.Head {
		t.Fatalf("the fired release is %s due %v, want a schedule build of main at %s with a due time", describe(fired), fired.DueAt, w.Head)
	}
	if fired.StartedBy != "schedule" {
		t.Errorf("the fired release was started by %q, want schedule", fired.StartedBy)
	}
	dated := "nightly-" + fired.DueAt.UTC().Format("20060102")
	if !slices.Contains(fired.Tags, dated) || !slices.Contains(fired.Tags, "nightly") {
		t.Errorf("release tags = %v, want %s and nightly", fired.Tags, dated)
	}
	for _, tag := range []string{dated, "nightly"} {
		if got := w.Digest(tag); got != fired.Digest {
			t.Errorf("registry %s:%s = %q, want the release's digest %q", w.Image, tag, got, fired.Digest)
		}
	}

	c1.stop()
	first := readStopped(t, w)
	if first.yearlyBuilds != 0 {
		t.Errorf("yearly fired %d builds at its first start, want none", first.yearlyBuilds)
	}
	now := time.Now().UTC()
	if want := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC); !first.yearlyMark.Equal(want) {
		t.Errorf("yearly's mark after its first start = %v, want its latest due time %v", first.yearlyMark, want)
	}

	// Stay down across two due times of nightly (due times are the mark,
	// on the second, plus multiples of 2s).
	base := first.nightlyMark.Truncate(time.Second)
	missedFirst, missedSecond := base.Add(2*time.Second), base.Add(4*time.Second)
	waitFor(t, time.Minute, "two due times of nightly pass", func() (bool, string) {
		return time.Now().After(missedSecond.Add(100 * time.Millisecond)), "now " + time.Now().UTC().Format(time.RFC3339Nano)
	})
	restart := time.Now()
	latestMissed := base.Add(restart.Sub(base) / (2 * time.Second) * (2 * time.Second))

	c2, logs := serveLogged(t, w)
	var ids []int64
	waitFor(t, time.Minute, "nightly's catch-up at start", func() (bool, string) {
		ids = catchUps(t, logs, "nightly")
		return len(ids) > 0, "no catch-up in the log"
	})
	catchUp := c2.build(ids[0])
	if catchUp.Schedule != "nightly" || catchUp.Trigger != store.TriggerSchedule || catchUp.DueAt == nil {
		t.Fatalf("the catch-up is %s, want a nightly schedule build with a due time", describe(catchUp))
	}
	due := catchUp.DueAt.UTC()
	if due.Before(latestMissed) || due.Sub(base)%(2*time.Second) != 0 {
		t.Errorf("catch-up due %s, want the latest due time missed (%s, or a later one passed during start-up) on nightly's 2s grid from %s",
			due.Format(time.RFC3339Nano), latestMissed.UTC().Format(time.RFC3339Nano), base.UTC().Format(time.RFC3339Nano))
	}
	// Exactly one build for the due times missed: none for the earlier
	// ones, none twice; later builds are nightly's regular fires.
	seen := map[int64]int64{} // due time (Unix ns) to build
	for _, b := range scheduleBuilds(c2, "nightly", first.maxID) {
		if b.DueAt == nil {
			t.Errorf("%s has no due time", describe(b))
			continue
		}
		d := b.DueAt.UTC()
		if prev, dup := seen[d.UnixNano()]; dup {
			t.Errorf("builds %d and %d are both due %s", prev, b.ID, d.Format(time.RFC3339Nano))
		}
		seen[d.UnixNano()] = b.ID
		if d.Before(due) {
			t.Errorf("build %d fired the missed due time %s besides the catch-up for %s (missed: %s, %s ... %s)", b.ID,
				d.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano), missedFirst.Format(time.RFC3339Nano),
				missedSecond.Format(time.RFC3339Nano), latestMissed.UTC().Format(time.RFC3339Nano))
		}
	}
	if got := seen[due.UnixNano()]; got != catchUp.ID {
		t.Errorf("the build due %s is %d, want the catch-up %d", due, got, catchUp.ID)
	}
	if bs := scheduleBuilds(c2, "yearly", 0); len(bs) != 0 {
		t.Errorf("yearly, with no missed due time, fired at the restart: %s", describe(bs[0]))
	}

	c2.stop()
	if got := catchUps(t, logs, "nightly"); len(got) != 1 {
		t.Errorf("catch-ups logged by the restarted server: builds %v, want exactly one", got)
	}
	second := readStopped(t, w)
	if second.yearlyBuilds != 0 {
		t.Errorf("yearly has %d builds after a restart without a missed due time, want none", second.yearlyBuilds)
	}
	if !second.yearlyMark.Equal(first.yearlyMark) {
		t.Errorf("yearly's mark moved from %v to %v at a restart without a missed due time", first.yearlyMark, second.yearlyMark)
	}
}
