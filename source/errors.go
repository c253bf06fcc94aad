package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
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
	// ErrRemoteFailed: the remote answered, with an error of its own (an
	// HTTP 5xx, an ERR line, git-upload-pack exiting with a message). The
	// error quotes what it said.
	ErrRemoteFailed = errors.New("remote failed")
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
	if re := saidByRemote(err); re != nil {
		return errorKind(ErrRemoteFailed, "%s %s: %s (the remote failed on its side: retry later, and check the git server if it persists)", op, safeURL, redact.Text(re.Error(), secrets...))
	}
	msg := printable(redact.Text(err.Error(), secrets...), 2*maxSaid)
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
	case unreachable(err):
		return errorKind(ErrRepoUnreachable, "%s %s: cannot reach the repository (check projects[].repo and the network): %s", op, safeURL, msg)
	}
	return errorKind(ErrRemoteFailed, "%s %s: %s", op, safeURL, msg)
}

// saidByRemote returns what the remote said when err is a failure the remote
// reported itself: an HTTP error status, an ERR line, or git-upload-pack's
// message (RemoteError).
func saidByRemote(err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return re
	}
	var line *pktline.ErrorLine
	if errors.As(err, &line) {
		return &RemoteError{Said: line.Text}
	}
	var ue *plumbing.UnexpectedError
	if errors.As(err, &ue) {
		var he *githttp.Err
		if errors.As(ue.Err, &he) && he.Response != nil {
			return &RemoteError{Status: he.Response.Status, Said: he.Reason}
		}
		// go-git quotes the first line an ssh remote wrote on stderr as
		// "unknown error: <line>".
		if said, ok := strings.CutPrefix(ue.Err.Error(), "unknown error: "); ok {
			return &RemoteError{Said: said}
		}
	}
	if said, ok := strings.CutPrefix(err.Error(), "unknown error: "); ok {
		return &RemoteError{Said: said}
	}
	return nil
}

// unreachable reports whether err means the remote could not be reached at
// all: no route, no such host, a refused or reset connection, a TLS
// handshake that failed.
func unreachable(err error) bool {
	for _, e := range []error{err, unexpected(err)} {
		if e == nil {
			continue
		}
		var netErr net.Error
		var opErr *net.OpError
		var dnsErr *net.DNSError
		var certErr *tls.CertificateVerificationError
		var unknownAuth x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		if errors.As(e, &netErr) || errors.As(e, &opErr) || errors.As(e, &dnsErr) ||
			errors.As(e, &certErr) || errors.As(e, &unknownAuth) || errors.As(e, &hostErr) ||
			errors.Is(e, syscall.ECONNREFUSED) || errors.Is(e, syscall.ECONNRESET) ||
			errors.Is(e, syscall.EHOSTUNREACH) || errors.Is(e, syscall.ENETUNREACH) {
			return true
		}
	}
	return false
}

// unexpected returns the error go-git wrapped in a plumbing.UnexpectedError
// (which has no Unwrap), or nil.
func unexpected(err error) error {
	var ue *plumbing.UnexpectedError
	if errors.As(err, &ue) {
		return ue.Err
	}
	return nil
}

// RemoteError is what a remote said when it failed on its own side: an HTTP
// status and body, an ERR line of the git protocol, or what git-upload-pack
// wrote on stderr. Error() shows it with control characters escaped and cut
// to a readable length.
type RemoteError struct {
	// Status is the HTTP status line ("500 Internal Server Error"), or ""
	// for other transports.
	Status string
	// Said is the remote's own text, as received.
	Said string
}

func (e *RemoteError) Error() string {
	said := printable(e.Said, maxSaid)
	switch {
	case e.Status != "" && said != "":
		return fmt.Sprintf("the remote answered %s: %s", printable(e.Status, 80), said)
	case e.Status != "":
		return "the remote answered " + printable(e.Status, 80)
	case said == "":
		return "the remote failed without saying why"
	}
	return "the remote said: " + said
}

// maxSaid bounds how much of a remote's text an error quotes.
const maxSaid = 512

// printable returns s on one line with every control character, and every
// byte that is not UTF-8, escaped as \xNN, cut to about limit bytes: text a
// remote sent can be shown in a log, a terminal or the dashboard as it is.
func printable(s string, limit int) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); {
		if b.Len() >= limit {
			b.WriteString("…")
			break
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == ' ':
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			i += w
			continue
		case r == utf8.RuneError && w == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		case (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
		space = false
		i += w
	}
	return strings.TrimSpace(b.String())
}

// errFetchDeadline is the cause of a fetch context that ran out of time.
var errFetchDeadline = errors.New("fetch deadline exceeded")
