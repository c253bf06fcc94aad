// Package storetest fills stores for tests and benchmarks.
package storetest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/store"
)

// History shapes the builds SeedHistory inserts. The zero value is 100,000
// builds of one project "web", 10 log lines each (1,000,000 lines).
type History struct {
	// Builds is how many builds to insert. Default 100,000.
	Builds int
	// Projects take the builds round-robin. Default ["web"].
	Projects []string
	// LogLines is the number of lines of each build's log (about 70 bytes
	// each). Default 10; < 0 writes no logs.
	LogLines int
	// Every is the time between two builds' creation; the newest is
	// created Every before Now. Default 1 minute (100,000 builds span 69
	// days).
	Every time.Duration
	// Now dates the history. Default time.Now().
	Now time.Time
}

// Build is the i-th build (0 the oldest) of a history of n builds of h:
// finished (mostly succeeded, some failed, canceled or superseded), three
// stages, two tags; 70% on main, 25% on one of 30 feature branches, 5%
// releases of the schedule "nightly". Nothing is queued or running, so a
// serving store's workers leave the history alone.
func (h History) Build(i, n int) store.SeedBuild {
	h = h.withDefaults()
	project := h.Projects[i%len(h.Projects)]
	created := h.Now.Add(-time.Duration(n-i) * h.Every).UTC()
	started, finished := created.Add(time.Second), created.Add(40*time.Second)
	b := store.Build{
		Project:    project,
		Trigger:    store.TriggerPush,
		Ref:        "refs/heads/main",
		Commit:     fmt.Sprintf("%040x", i),
		Status:     store.StatusSucceeded,
		Image:      "registry.example/acme/" + project,
		Digest:     fmt.Sprintf("sha256:%064x", i),
		CreatedAt:  created,
		StartedAt:  &started,
		FinishedAt: &finished,
		Attempts:   1,
		Builder:    "local",
	}
	// The shape repeats per project: every project gets every kind.
	j := i / len(h.Projects)
	switch r := j % 20; {
	case r == 0:
		b.Trigger, b.Schedule, b.DueAt = store.TriggerSchedule, "nightly", &created
	case r < 6:
		b.Ref = fmt.Sprintf("refs/heads/feature-%d", j%30)
	}
	b.Tags = []string{b.Image + ":" + b.Commit[:12], b.Image + ":latest"}
	switch j % 50 {
	case 7, 19, 33:
		b.Status, b.Error = store.StatusFailed, "test: exit status 3"
	case 41:
		b.Status = store.StatusCanceled
	case 44:
		b.Status = store.StatusSuperseded
	}
	for k, name := range []string{"source", "build", "test"} {
		at := started.Add(time.Duration(k) * 10 * time.Second)
		b.Stages = append(b.Stages, store.Stage{Name: name, Status: store.StatusSucceeded, StartedAt: &at, DurationMS: 9000})
	}
	sb := store.SeedBuild{Build: b}
	if h.LogLines > 0 {
		var log strings.Builder
		for l := range h.LogLines {
			fmt.Fprintf(&log, "%s step %d/%d of build %d of %s: ok\n", created.Format(time.RFC3339), l+1, h.LogLines, i, project)
		}
		sb.Log = []byte(log.String())
	}
	return sb
}

func (h History) withDefaults() History {
	if h.Builds <= 0 {
		h.Builds = 100_000
	}
	if len(h.Projects) == 0 {
		h.Projects = []string{"web"}
	}
	if h.LogLines == 0 {
		h.LogLines = 10
	}
	if h.Every <= 0 {
		h.Every = time.Minute
	}
	if h.Now.IsZero() {
		h.Now = time.Now()
	}
	return h
}

// SeedHistory inserts the builds of h into s (store.Seed: one
// transaction) and returns the ID of the oldest.
func SeedHistory(ctx context.Context, s *store.Store, h History) (first int64, err error) {
	h = h.withDefaults()
	return s.Seed(ctx, h.Builds, func(i int) store.SeedBuild { return h.Build(i, h.Builds) })
}
