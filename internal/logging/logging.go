// Package logging builds the process logger of the slipway commands from
// the --log-level and --log-format flags.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Formats are the values --log-format accepts.
const (
	// FormatAuto is JSON, or console lines when the output is a terminal.
	FormatAuto = "auto"
	// FormatJSON is one JSON object per line.
	FormatJSON = "json"
	// FormatConsole is human-readable lines.
	FormatConsole = "console"
)

// Options shape the logger. The zero value is info level, auto format.
type Options struct {
	// Level is trace, debug, info, warn or error. Default "info".
	Level string
	// Format is auto, json or console. Default "auto".
	Format string
}

// New returns a logger writing to w, or an error naming a bad option.
func New(w io.Writer, o Options) (zerolog.Logger, error) {
	level := zerolog.InfoLevel
	if o.Level != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(o.Level))
		if err != nil || l == zerolog.NoLevel || l > zerolog.ErrorLevel {
			return zerolog.Nop(), fmt.Errorf("log level %q: want trace, debug, info, warn or error", o.Level)
		}
		level = l
	}
	f, ok := w.(*os.File)
	tty := ok && isatty.IsTerminal(f.Fd())
	console := false
	switch o.Format {
	case "", FormatAuto:
		console = tty
	case FormatJSON:
	case FormatConsole:
		console = true
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want json or console", o.Format)
	}
	if console {
		// Colors only on a terminal: a file or a pipe gets plain text.
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !tty}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}
