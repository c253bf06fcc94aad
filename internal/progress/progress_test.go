package progress_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/progress"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// waitFor waits until out contains want.
func waitFor(t *testing.T, out *testenv.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the display never showed %q:\n%q", want, out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

const pushLog = `==> push
push reg/app:main-1a2b3c4: layer 8edd729509a5 pushing
push reg/app:main-1a2b3c4: layer 8edd729509a5 pushed
push reg/app:main-1a2b3c4: main-1a2b3c4: digest: sha256:3f6b size: 735
push reg/app:main-1a2b3c4: digest sha256:3f6b checked in the registry
push reg/app:main: layer 8edd729509a5 already exists
push reg/app:main: main: digest: sha256:3f6b size: 735
push reg/app:main: digest sha256:3f6b checked in the registry
pushed reg/app@sha256:3f6b as main-1a2b3c4, main
<== push succeeded in 1.2s
slipway: build succeeded after 3.5s
`

// TestPlain: off a terminal, every line with its elapsed time, one push
// line per tag, the log's closing line left to the summary, and a
// heartbeat after the silence (30 s by default; the clock is the test's).
func TestPlain(t *testing.T) {
	c := testenv.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	out := &testenv.Buffer{}
	d := progress.New(out, progress.Options{Refresh: time.Millisecond, Now: c.Now})
	io.WriteString(d, "==> test\nselftest: sta")
	c.Add(29 * time.Second)
	io.WriteString(d, "rting\n")
	c.Add(31 * time.Second)
	waitFor(t, out, "[  60.0s] still running: test for 1m0s\n")
	c.Add(time.Second)
	io.WriteString(d, "<== test succeeded in 1m1s\n"+pushLog)
	d.Close()
	want := "[   0.0s] ==> test\n" +
		"[  29.0s] selftest: starting\n" +
		"[  60.0s] still running: test for 1m0s\n" +
		"[  61.0s] <== test succeeded in 1m1s\n" +
		"[  61.0s] ==> push\n" +
		"[  61.0s] push reg/app:main-1a2b3c4: digest sha256:3f6b checked in the registry\n" +
		"[  61.0s] push reg/app:main: digest sha256:3f6b checked in the registry\n" +
		"[  61.0s] pushed reg/app@sha256:3f6b as main-1a2b3c4, main\n" +
		"[  61.0s] <== push succeeded in 1.2s\n"
	if got := out.String(); got != want {
		t.Errorf("display:\n%s\nwant:\n%s", got, want)
	}
}

func TestVerboseShowsEveryPushLine(t *testing.T) {
	out := &testenv.Buffer{}
	d := progress.New(out, progress.Options{Verbose: true})
	io.WriteString(d, pushLog)
	d.Close()
	if n := strings.Count(out.String(), "\n"); n != strings.Count(pushLog, "\n")-1 {
		t.Errorf("verbose display has %d lines, want every push line (%d):\n%s", n, strings.Count(pushLog, "\n")-1, out.String())
	}
}

// TestTTY: on a terminal the last line is the running stage with its
// elapsed time, redrawn in place; log lines print above it; Close erases it.
func TestTTY(t *testing.T) {
	c := testenv.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	out := &testenv.Buffer{}
	d := progress.New(out, progress.Options{TTY: true, Refresh: time.Millisecond, Now: c.Now})
	io.WriteString(d, "==> build\n")
	c.Add(2500 * time.Millisecond)
	waitFor(t, out, "\r\x1b[K=> build 2.5s (total 2.5s)")
	io.WriteString(d, "#1 DONE\n")
	waitFor(t, out, "\r\x1b[K[   2.5s] #1 DONE\n\r\x1b[K=> build 2.5s (total 2.5s)")
	io.WriteString(d, "<== build succeeded in 2.5s\n")
	d.Close()
	if got := out.String(); !strings.HasSuffix(got, "[   2.5s] <== build succeeded in 2.5s\n\r\x1b[K=> running (total 2.5s)\r\x1b[K") {
		t.Errorf("display ends %q, want the last line and the live line erased", got[max(0, len(got)-120):])
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		b    store.Build
		err  error
		want string
	}{
		{name: "pushed", b: store.Build{ID: 7, Image: "reg/app", Tags: []string{"main", "latest"}, Digest: "sha256:ab"},
			want: "slipway build: build 7 succeeded in 3.5s: reg/app [main latest] sha256:ab"},
		{name: "not pushed", b: store.Build{ID: 7, Image: "reg/app"},
			want: "slipway build: build 7 succeeded in 3.5s: reg/app built and tested, nothing pushed"},
		{name: "failed", b: store.Build{ID: 7, Status: store.StatusFailed}, err: errors.New("test: exited with code 3"),
			want: "slipway build: build 7 failed after 3.5s: test: exited with code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progress.Summary(tt.b, tt.err, 3500*time.Millisecond); got != tt.want {
				t.Errorf("Summary = %q, want %q", got, tt.want)
			}
		})
	}
}
