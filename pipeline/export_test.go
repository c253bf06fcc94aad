package pipeline

import "github.com/slipwayci/slipway/config"

// AutotestPrefix exposes autotestPrefix to the external tests, which list
// what their autotests left in the shared engine.
func AutotestPrefix(cfg *config.Config) string { return autotestPrefix(cfg) }
