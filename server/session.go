package server

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// sessionKeyName names the dashboard's session key in the store.
const sessionKeyName = "dashboard_session"

// sessionKey is the key of the dashboard's login cookies: derived from
// session_secret_file's content when set, else generated once and kept in
// the store, so that a login survives restarts and holds on every replica
// sharing the database.
func sessionKey(ctx context.Context, cfg *config.Config, st *store.Store) ([]byte, error) {
	if s := cfg.SessionSecret.Value(); s != "" {
		sum := sha256.Sum256([]byte("slipway-session-key\x00" + s))
		return sum[:], nil
	}
	key, err := st.Key(ctx, sessionKeyName, 32)
	if err != nil {
		return nil, fmt.Errorf("dashboard session key: %w", err)
	}
	return key, nil
}
