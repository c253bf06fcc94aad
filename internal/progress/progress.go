// Package progress shows a build's log while `slipway build` and `slipway
// deploy` run: each line with the time elapsed; on a terminal a live last
// line naming the running stage and its elapsed time; elsewhere (a CI log)
// a heartbeat line after a stretch of silence, so a long test does not
// look hung. The build's stored log keeps every line; the display leaves
// out the per-layer push lines (unless Verbose) and the log's own closing
// line, which the caller's Summary replaces.
package progress

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slipwayci/slipway/store"
)

// Options shape a Display. The zero value is a plain (non-terminal)
// display with a heartbeat after 30 s of silence.
type Options struct {
	// TTY draws the live stage line (the output is a terminal).
	TTY bool
	// Verbose shows every push line (each layer's progress) too.
	Verbose bool
	// Heartbeat is the silence after which a plain display says what
	// still runs. Default 30s.
	Heartbeat time.Duration
	// Refresh is how often the display looks at the clock: it redraws the
	// live line, or checks for silence. Default 200ms on a terminal, 1s
	// elsewhere.
	Refresh time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Display echoes a build log to a writer. Write may be called from one
// goroutine while the display redraws from its own; Close stops it.
type Display struct {
	w    io.Writer
	o    Options
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	start      time.Time
	partial    []byte
	stage      string
	stageStart time.Time
	lastOut    time.Time
	live       bool // the live line is on screen
	closed     bool
}

// New starts a display of a build log on w, counting from now.
func New(w io.Writer, o Options) *Display {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 30 * time.Second
	}
	if o.Refresh <= 0 {
		o.Refresh = time.Second
		if o.TTY {
			o.Refresh = 200 * time.Millisecond
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now()
	d := &Display{w: w, o: o, stop: make(chan struct{}), done: make(chan struct{}), start: now, lastOut: now}
	go d.loop()
	return d
}

// Write takes bytes of the build log; it never fails (the display is
// best effort).
func (d *Display) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.partial = append(d.partial, p...)
	for {
		i := bytes.IndexByte(d.partial, '\n')
		if i < 0 {
			break
		}
		d.line(string(d.partial[:i]))
		d.partial = d.partial[i+1:]
	}
	return len(p), nil
}

// Close prints what is left of an unfinished line, clears the live line
// and stops the display's goroutine.
func (d *Display) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	if len(d.partial) > 0 {
		d.line(string(d.partial))
		d.partial = nil
	}
	d.clearLive()
	d.mu.Unlock()
	close(d.stop)
	<-d.done
}

// Elapsed is the time since the display started.
func (d *Display) Elapsed() time.Duration { return d.o.Now().Sub(d.start) }

// pushDetail matches the push lines a non-verbose display leaves out: a
// layer's progress and the engine's own digest line; the line saying the
// tag's digest was checked in the registry stays, one per tag.
var pushDetail = regexp.MustCompile(`^push \S+: (layer \S+ |\S+: digest: )`)

// line shows one complete log line. d.mu is held.
func (d *Display) line(l string) {
	now := d.o.Now()
	switch {
	case strings.HasPrefix(l, "==> "):
		d.stage, d.stageStart = strings.TrimPrefix(l, "==> "), now
	case strings.HasPrefix(l, "<== "):
		d.stage = ""
	}
	if !d.o.Verbose && pushDetail.MatchString(l) || strings.HasPrefix(l, "slipway: build ") {
		return
	}
	d.clearLive()
	fmt.Fprintf(d.w, "[%6.1fs] %s\n", now.Sub(d.start).Seconds(), l)
	d.lastOut = now
	d.drawLive(now)
}

// loop redraws the live line on a terminal, or prints the heartbeat
// elsewhere, until Close.
func (d *Display) loop() {
	defer close(d.done)
	t := time.NewTicker(d.o.Refresh)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		d.mu.Lock()
		now := d.o.Now()
		switch {
		case d.closed:
		case d.o.TTY:
			d.drawLive(now)
		case now.Sub(d.lastOut) >= d.o.Heartbeat:
			fmt.Fprintf(d.w, "[%6.1fs] %s\n", now.Sub(d.start).Seconds(), d.status(now))
			d.lastOut = now
		}
		d.mu.Unlock()
	}
}

// status says what runs: "still running: test for 1m2s".
func (d *Display) status(now time.Time) string {
	if d.stage == "" {
		return "still running"
	}
	return fmt.Sprintf("still running: %s for %s", d.stage, now.Sub(d.stageStart).Round(time.Second))
}

// drawLive draws the live line on a terminal. d.mu is held.
func (d *Display) drawLive(now time.Time) {
	if !d.o.TTY || d.closed {
		return
	}
	stage := d.stage
	switch {
	case stage == "" && d.stageStart.IsZero():
		stage = "starting"
	case stage == "":
		stage = "running"
	default:
		stage += " " + now.Sub(d.stageStart).Truncate(100*time.Millisecond).String()
	}
	fmt.Fprintf(d.w, "\r\x1b[K=> %s (total %s)", stage, now.Sub(d.start).Truncate(100*time.Millisecond))
	d.live = true
}

// clearLive erases the live line. d.mu is held.
func (d *Display) clearLive() {
	if d.live {
		io.WriteString(d.w, "\r\x1b[K")
		d.live = false
	}
}

// Summary is the one line `slipway build` ends with: what was pushed, or
// why the build failed.
func Summary(b store.Build, err error, elapsed time.Duration) string {
	took := elapsed.Round(time.Millisecond)
	switch {
	case err != nil && b.ID != 0:
		return fmt.Sprintf("slipway build: build %d %s after %s: %v", b.ID, b.Status, took, err)
	case err != nil:
		return fmt.Sprintf("slipway build: %v", err)
	case len(b.Tags) == 0:
		return fmt.Sprintf("slipway build: build %d succeeded in %s: %s built and tested, nothing pushed", b.ID, took, b.Image)
	default:
		return fmt.Sprintf("slipway build: build %d succeeded in %s: %s [%s] %s", b.ID, took, b.Image, strings.Join(b.Tags, " "), b.Digest)
	}
}
