package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/logging"
)

func TestLevelAndFormat(t *testing.T) {
	tests := []struct {
		name      string
		opts      logging.Options
		wantLines int  // of the debug, info and warn lines written
		wantJSON  bool // each line a JSON object
	}{
		{name: "default is info, json off a terminal", opts: logging.Options{}, wantLines: 2, wantJSON: true},
		{name: "debug", opts: logging.Options{Level: "debug", Format: "json"}, wantLines: 3, wantJSON: true},
		{name: "warn, upper case", opts: logging.Options{Level: "WARN"}, wantLines: 1, wantJSON: true},
		{name: "console", opts: logging.Options{Format: "console"}, wantLines: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := logging.New(&buf, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug().Msg("debug line")
			log.Info().Int64("duration_ms", 1500).Msg("info line")
			log.Warn().Msg("warn line")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != tt.wantLines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), tt.wantLines, buf.String())
			}
			for _, l := range lines {
				if got := json.Valid([]byte(l)); got != tt.wantJSON {
					t.Errorf("line %q: JSON %t, want %t", l, got, tt.wantJSON)
				}
			}
		})
	}
}

func TestBadOptionsAreNamed(t *testing.T) {
	for _, o := range []logging.Options{{Level: "loud"}, {Level: "panic"}, {Format: "xml"}} {
		_, err := logging.New(&bytes.Buffer{}, o)
		if err == nil {
			t.Errorf("New(%+v) succeeded, want an error", o)
			continue
		}
		if !strings.Contains(err.Error(), "want") {
			t.Errorf("New(%+v): %v, want the accepted values named", o, err)
		}
	}
}
