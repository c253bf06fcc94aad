package server

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// pruneEvery is how often serve applies the history: retention.
const pruneEvery = time.Hour

// retentionLock names the lock that lets one replica at a time prune.
const retentionLock = "history-retention"

// runRetention deletes the builds that h no longer keeps (store.Prune)
// and the webhook delivery records older than h.KeepDays
// (store.PruneDeliveries), once at start and then every pruneEvery, until ctx ends. On PostgreSQL
// one replica at a time prunes; the others skip that round.
func runRetention(ctx context.Context, st *store.Store, h config.History, now func() time.Time, logger zerolog.Logger) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		pruneHistory(ctx, st, h, now(), logger)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneHistory is one round of runRetention.
func pruneHistory(ctx context.Context, st *store.Store, h config.History, now time.Time, logger zerolog.Logger) {
	release, ok, err := st.TryExclusive(ctx, retentionLock)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn().Err(err).Msg("history retention: try again in an hour")
		}
		return
	}
	if !ok {
		return
	}
	defer release()
	r := store.Retention{KeepPerProject: h.KeepBuilds}
	if h.KeepDays > 0 {
		r.Before = now.AddDate(0, 0, -h.KeepDays)
	}
	start := time.Now()
	n, err := st.Prune(ctx, r)
	if err != nil && ctx.Err() == nil {
		logger.Error().Err(err).Int("deleted", n).Msg("history retention: try again in an hour")
		return
	}
	if n > 0 {
		logger.Info().Int("deleted", n).Int("keep_days", h.KeepDays).Int("keep_builds", h.KeepBuilds).
			Dur("took", time.Since(start)).Msg("history retention: deleted old builds and their logs")
	}
	if r.Before.IsZero() {
		return
	}
	start = time.Now()
	n, err = st.PruneDeliveries(ctx, r.Before, 0)
	if err != nil && ctx.Err() == nil {
		logger.Error().Err(err).Int("deleted", n).Msg("history retention of webhook deliveries: try again in an hour")
		return
	}
	if n > 0 {
		logger.Info().Int("deleted", n).Int("keep_days", h.KeepDays).Dur("took", time.Since(start)).
			Msg("history retention: deleted old webhook delivery records")
	}
}
