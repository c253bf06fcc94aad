// Package progress shows a build's log on a terminal or in a CI log while
// `slipway build` and `slipway deploy` run.
package progress

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// Writer echoes the build log to w, each line prefixed with the time
// elapsed since start.
type Writer struct {
	w       io.Writer
	start   time.Time
	midLine bool
}

// New returns a Writer to w counting from start.
func New(w io.Writer, start time.Time) *Writer { return &Writer{w: w, start: start} }

// Write echoes b; it never fails (the display is best effort).
func (p *Writer) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if !p.midLine {
			fmt.Fprintf(p.w, "[%6.1fs] ", time.Since(p.start).Seconds())
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.w.Write(b)
			p.midLine = true
			break
		}
		p.w.Write(b[:i+1])
		p.midLine = false
		b = b[i+1:]
	}
	return n, nil
}
