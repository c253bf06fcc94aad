// Package probe is the HTTP check a deploy runs after a service converged:
// GET a URL until it answers the expected status or a timeout passes. It
// runs inside a short-lived container attached to the stack's network (so
// it reaches http://web_app:8080/healthz by the service's name); the
// container runs slipway's own executable (`slipway probe`) or the small
// `slipway-probe` command, both of which call Main. It depends on the
// standard library only, so that command stays small.
package probe

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of Check.
const (
	// DefaultStatus is the status a probe waits for.
	DefaultStatus = http.StatusOK
	// DefaultTimeout bounds all attempts together.
	DefaultTimeout = 30 * time.Second
	// attemptTimeout bounds one request.
	attemptTimeout = 5 * time.Second
	// interval is the pause between attempts.
	interval = time.Second
)

// Check is one probe: GET URL until it answers Status, for up to Timeout.
type Check struct {
	// URL is an http:// URL (the probe runs on the stack's internal
	// network). Required.
	URL string
	// Status is the expected status code. Default DefaultStatus (200).
	Status int
	// Timeout bounds the attempts together. Default DefaultTimeout (30s).
	Timeout time.Duration
}

// Validate checks the URL and the status.
func (c Check) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("probe url %q: %w", c.URL, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("probe url %q: want http://SERVICE:PORT/PATH (the probe runs on the stack's network; https is not supported)", c.URL)
	}
	if u.User != nil {
		return fmt.Errorf("probe url: credentials in the URL are not supported")
	}
	if c.Status != 0 && (c.Status < 100 || c.Status > 599) {
		return fmt.Errorf("probe status %d: want an HTTP status code (100-599)", c.Status)
	}
	return nil
}

func (c Check) withDefaults() Check {
	if c.Status == 0 {
		c.Status = DefaultStatus
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Run GETs c.URL until it answers c.Status or c.Timeout passes, writing one
// line per attempt to out. Redirects are not followed: a 301 is the status
// compared. The error says what the last attempt got.
func Run(ctx context.Context, c Check, out io.Writer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var last string
	for attempt := 1; ; attempt++ {
		got, err := get(ctx, client, c.URL)
		if err == nil && got.status == c.Status {
			fmt.Fprintf(out, "GET %s: %s (attempt %d)\n", c.URL, got.line, attempt)
			return nil
		}
		if err != nil && ctx.Err() != nil && last != "" {
			// The time ran out during this attempt: the answer before it
			// says more than the deadline does.
			return fmt.Errorf("GET %s did not answer %d within %s: %s", c.URL, c.Status, c.Timeout, last)
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%s, want %d", got.line, c.Status)
			if got.body != "" {
				last += ": " + got.body
			}
		}
		fmt.Fprintf(out, "GET %s: %s (attempt %d)\n", c.URL, last, attempt)
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s did not answer %d within %s: %s", c.URL, c.Status, c.Timeout, last)
		case <-time.After(interval):
		}
	}
}

type answer struct {
	status     int
	line, body string
}

func get(ctx context.Context, client *http.Client, u string) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("User-Agent", "slipway-probe")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	body := strings.Join(strings.Fields(string(b)), " ")
	return answer{status: resp.StatusCode, line: resp.Status, body: body}, nil
}

// Main is the probe command: `probe URL [-status N] [-timeout D]`. It
// returns the process exit code: 0 when the URL answered the status, 1 when
// it did not, 2 for bad arguments.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	status := fs.Int("status", DefaultStatus, "expected HTTP status")
	timeout := fs.Duration("timeout", DefaultTimeout, "how long to retry")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: probe URL [-status N] [-timeout D]")
		return 2
	}
	if err := Run(ctx, Check{URL: pos[0], Status: *status, Timeout: *timeout}, stdout); err != nil {
		fmt.Fprintln(stdout, "probe failed:", err)
		return 1
	}
	return 0
}
