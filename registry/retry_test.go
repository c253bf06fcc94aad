package registry

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipwayci/slipway/internal/testenv"
)

// TestClassify checks the one mapping of go-containerregistry's errors to
// the package's: what is temporary, what is ErrNotFound or ErrUnauthorized.
func TestClassify(t *testing.T) {
	t.Parallel()
	_, dialErr := net.Dial("tcp", testenv.ClosedAddr(t))
	if dialErr == nil {
		t.Fatal("dial of a closed port succeeded")
	}
	status := func(code int) error { return &transport.Error{StatusCode: code} }
	tests := []struct {
		name          string
		err           error
		wantTemporary bool
		wantIs        error
	}{
		{"404", status(http.StatusNotFound), false, ErrNotFound},
		{"401", status(http.StatusUnauthorized), false, ErrUnauthorized},
		{"403", status(http.StatusForbidden), false, ErrUnauthorized},
		{"429", status(http.StatusTooManyRequests), true, nil},
		{"502", status(http.StatusBadGateway), true, nil},
		{"400", status(http.StatusBadRequest), false, nil},
		// transport.Error says 408 is temporary; the package's verdict
		// (permanent, as before) is the one that counts.
		{"408", status(http.StatusRequestTimeout), false, nil},
		{"connection refused", dialErr, true, nil},
		{"wrapped network error", fmt.Errorf("get manifest: %w", dialErr), true, nil},
		{"other", errors.New("unsupported media type"), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify("read example.test/acme/web:1", tt.err)
			if IsTemporary(got) != tt.wantTemporary {
				t.Errorf("IsTemporary(classify(%v)) = %v, want %v", tt.err, !tt.wantTemporary, tt.wantTemporary)
			}
			if tt.wantIs != nil && !errors.Is(got, tt.wantIs) {
				t.Errorf("classify(%v) = %v, want it to match %v", tt.err, got, tt.wantIs)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("classify(%v) = %v, which no longer wraps the error", tt.err, got)
			}
			if !strings.HasPrefix(got.Error(), "read example.test/acme/web:1: ") {
				t.Errorf("classify message %q does not name the operation", got)
			}
		})
	}
}

func TestIsTemporary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"temporary", temporary(errors.New("x")), true},
		{"wrapped temporary", fmt.Errorf("push: %w", temporary(errors.New("x"))), true},
		{"permanent over a temporary one", permanent(temporary(errors.New("x"))), false},
		{"go-containerregistry's own verdict", &transport.Error{StatusCode: http.StatusServiceUnavailable}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTemporary(tt.err); got != tt.want {
				t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestRetry checks the package's one retry loop: temporary errors are
// retried with a log line each, a permanent one stops at once, and the
// retries run out.
func TestRetry(t *testing.T) {
	t.Parallel()
	p := NewPusher(nil, nil, PushOptions{Retries: 2, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	tests := []struct {
		name      string
		errs      []error // f's results, in order; nil succeeds
		wantCalls int
		wantErr   string
		wantLog   int
	}{
		{"temporary then success", []error{temporary(errors.New("503")), nil}, 2, "", 1},
		{"permanent", []error{permanent(errors.New("denied")), nil}, 1, "tag x: denied", 0},
		{"retries spent", []error{temporary(errors.New("503")), temporary(errors.New("503")), temporary(errors.New("503 again"))}, 3,
			"tag x: gave up after 3 attempts: 503 again", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			calls := 0
			err := p.retry(t.Context(), "tag x", &lineWriter{w: &log}, func() error {
				calls++
				return tt.errs[calls-1]
			})
			if calls != tt.wantCalls {
				t.Errorf("f ran %d times, want %d", calls, tt.wantCalls)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("retry = %v, want success", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("retry = %v, want %q", err, tt.wantErr)
			}
			if got := strings.Count(log.String(), "; retry "); got != tt.wantLog {
				t.Errorf("log has %d retry lines, want %d:\n%s", got, tt.wantLog, log.String())
			}
		})
	}
}
