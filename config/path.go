package config

import "os"

// DefaultPath is the config file used when neither --config nor
// $SLIPWAY_CONFIG names one.
const DefaultPath = "slipway.yaml"

// ResolvePath is the config file a command reads: flagValue (--config) when
// set, else $SLIPWAY_CONFIG, else DefaultPath in the working directory.
func ResolvePath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("SLIPWAY_CONFIG"); env != "" {
		return env
	}
	return DefaultPath
}
