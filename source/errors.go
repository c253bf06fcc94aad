package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/slipwayci/slipway/internal/redact"
)

// Conditions a caller can tell apart with errors.Is. The error messages
// themselves name the repository (credentials redacted), the ref or path, and
// what to do; these sentinels only classify them.
var (
	// ErrRepoUnreachable: the remote did not answer, refused the connection
	// or does not exist at that URL.
	ErrRepoUnreachable = errors.New("repository unreachable")
	// ErrAuthFailed: the remote refused the credentials (HTTP 401/403, SSH
	// key or host key rejected).
	ErrAuthFailed = errors.New("authentication failed")
	// ErrRefNotFound: the branch or tag does not exist on the remote.
	ErrRefNotFound = errors.New("ref not found")
	// ErrCommitNotFound: the commit asked for is neither the ref's head nor
	// in its history.
	ErrCommitNotFound = errors.New("commit not found")
	// ErrFetchTimeout: a clone or fetch ran longer than Options.FetchTimeout.
	ErrFetchTimeout = errors.New("fetch timed out")
	// ErrTooLarge: the commit's tree exceeds MaxFiles, MaxBytes or MaxDepth
	// (a git bomb, or a repository that needs higher git.max_* limits).
	ErrTooLarge = errors.New("checkout too large")
	// ErrUnsafePath: a tree entry's name is absolute, "..", ".git" or
	// otherwise cannot be written safely.
	ErrUnsafePath = errors.New("unsafe path in tree")
	// ErrOutsideCheckout: a configured path (context, dockerfile) or a
	// symlink it goes through ends outside the checkout.
	ErrOutsideCheckout = errors.New("path outside the checkout")
)

// kindError is an error with a message of its own that still matches one of
// the sentinels above with errors.Is, so messages read naturally instead of
// ending in the sentinel's text.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorKind(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// corruptError marks a failure of the local object store (missing objects, an
// unreadable config); Checkout answers it by re-cloning once.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return "git cache is corrupt: " + e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

func corrupt(err error) error {
	if err == nil {
		return nil
	}
	return &corruptError{err: err}
}

// isMissingObject reports whether err means the object store lacks an object
// its refs or trees point to.
func isMissingObject(err error) bool {
	return errors.Is(err, plumbing.ErrObjectNotFound)
}

// remoteError turns a transport or fetch error into one of the package's
// conditions with a message that names the repository and says what to do.
// fetchCtx is the context the fetch ran under (with the FetchTimeout), parent
// the caller's context: a canceled build is reported as such, not as a
// timeout.
func remoteError(parent, fetchCtx context.Context, op, safeURL string, timeout time.Duration, err error, secrets ...string) error {
	if parent.Err() != nil {
		return fmt.Errorf("%s %s: %w", op, safeURL, context.Cause(parent))
	}
	if errors.Is(context.Cause(fetchCtx), errFetchDeadline) {
		return errorKind(ErrFetchTimeout, "%s %s: no answer within %s (the remote stalled or is too slow; raise git.fetch_timeout if the repository is that big)", op, safeURL, timeout)
	}
	if isMissingObject(err) {
		return corrupt(err)
	}
	msg := redact.Text(err.Error(), secrets...)
	var keyErr *knownhosts.KeyError
	var revokedErr *knownhosts.RevokedError
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		errors.As(err, &keyErr), errors.As(err, &revokedErr),
		// x/crypto/ssh reports a rejected key only as text (no type).
		strings.Contains(msg, "ssh: unable to authenticate"):
		return errorKind(ErrAuthFailed, "%s %s: the remote refused the credentials (check the project's git token or SSH key, and known_hosts for ssh): %s", op, safeURL, msg)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errorKind(ErrRepoUnreachable, "%s %s: repository not found (check projects[].repo, and that the credentials can see it): %s", op, safeURL, msg)
	}
	return errorKind(ErrRepoUnreachable, "%s %s: cannot reach the repository (check projects[].repo and the network): %s", op, safeURL, msg)
}

// errFetchDeadline is the cause of a fetch context that ran out of time.
var errFetchDeadline = errors.New("fetch deadline exceeded")
