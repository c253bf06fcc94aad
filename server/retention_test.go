package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// TestPruneHistoryAppliesTheConfig: one round of retention deletes what
// history: keep_days and keep_builds select, and no more; keep_days also
// deletes the older webhook delivery records.
func TestPruneHistoryAppliesTheConfig(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	ages := []time.Duration{40 * 24 * time.Hour, 20 * 24 * time.Hour, 2 * 24 * time.Hour, time.Hour, 0}
	first, err := st.Seed(t.Context(), len(ages), func(i int) store.SeedBuild {
		return store.SeedBuild{Build: store.Build{Project: "web", Trigger: store.TriggerPush, Ref: "refs/heads/main",
			Status: store.StatusSucceeded, CreatedAt: now.Add(-ages[i])}, Log: []byte("log\n")}
	})
	if err != nil {
		t.Fatal(err)
	}
	exists := func(i int) bool {
		_, err := st.GetBuild(t.Context(), first+int64(i))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	for i, age := range ages[:2] {
		if _, err := st.RecordDelivery(t.Context(), store.Delivery{ID: fmt.Sprint("d", i), Event: "push", ReceivedAt: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	pruneHistory(t.Context(), st, config.History{KeepDays: 30}, now, zerolog.Nop())
	if exists(0) || !exists(1) {
		t.Errorf("keep_days 30: 40 days old kept %v, 20 days old kept %v; want false, true", exists(0), exists(1))
	}
	if n, err := st.CountDeliveries(t.Context()); err != nil || n != 1 {
		t.Errorf("keep_days 30: %d deliveries left (%v), want the one 20 days old", n, err)
	}
	if _, err := st.GetDelivery(t.Context(), "d1"); err != nil {
		t.Errorf("keep_days 30: delivery of 20 days ago: %v", err)
	}
	pruneHistory(t.Context(), st, config.History{KeepDays: 30, KeepBuilds: 2}, now, zerolog.Nop())
	for i, want := range []bool{false, false, false, true, true} {
		if got := exists(i); got != want {
			t.Errorf("keep_builds 2: build %d (%v old) kept %v, want %v", i, ages[i], got, want)
		}
	}
}
