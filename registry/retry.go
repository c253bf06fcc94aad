package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// IsTemporary reports whether err says that trying the same registry
// operation again may succeed: a 429 or 5xx answer, a dropped connection, a
// manifest the registry does not serve yet. As go-containerregistry's
// internal/retry does, it asks the error itself: the first error in err's
// chain with a Temporary() bool method decides, and an error without one is
// permanent. The package's retries use it; callers may too.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// opError is the failure of one registry operation with the package's
// verdict on retrying it, which hides the verdict of any error it wraps.
type opError struct {
	err       error
	temporary bool
}

func (e *opError) Error() string { return e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// Temporary reports whether trying again may succeed.
func (e *opError) Temporary() bool { return e.temporary }

// temporary marks err as worth a retry.
func temporary(err error) error { return &opError{err: err, temporary: true} }

// permanent marks err as not worth a retry, whatever it wraps says.
func permanent(err error) error { return &opError{err: err} }

// classify maps a go-containerregistry error of what ("read REF", "write",
// "resolve REF") to the package's errors: ErrNotFound for 404,
// ErrUnauthorized for 401 and 403, temporary for 429, 5xx and network
// failures, permanent otherwise. The message is "what: err".
func classify(what string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound:
			return permanent(fmt.Errorf("%s: %w: %w", what, err, ErrNotFound))
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return permanent(fmt.Errorf("%s: %w: %w", what, err, ErrUnauthorized))
		case te.StatusCode == http.StatusTooManyRequests || te.StatusCode >= 500:
			return temporary(fmt.Errorf("%s: %w", what, err))
		}
		return permanent(fmt.Errorf("%s: %w", what, err))
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return temporary(fmt.Errorf("%s: %w", what, err))
	}
	return permanent(fmt.Errorf("%s: %w", what, err))
}

// retry is the package's one retry loop: it runs f until it succeeds, fails
// with an error that is not temporary (IsTemporary), or the Pusher's
// Retries are spent, waiting Backoff before the first retry and doubling
// the wait up to MaxBackoff, with a log line per retry. Errors are "what:
// err"; when ctx ends, its cause, with the last error.
func (p *Pusher) retry(ctx context.Context, what string, log *lineWriter, f func() error) error {
	opts := p.opts
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, context.Cause(ctx))
		}
		if !IsTemporary(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if attempt == opts.Retries {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt+1, err)
		}
		wait := min(opts.Backoff<<attempt, opts.MaxBackoff)
		if wait <= 0 { // shifted past the int64 range
			wait = opts.MaxBackoff
		}
		log.printf("%s: %v; retry %d of %d in %s", what, err, attempt+1, opts.Retries, wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w (last error: %w)", what, context.Cause(ctx), err)
		case <-timer.C:
		}
	}
}
