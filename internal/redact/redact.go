// Package redact is slipway's one way of hiding secrets: in the build log,
// hook and autotest output, error messages, printed credentials and URLs.
// Every hidden value shows as Mask, so a user learns one sign for "a secret
// was here" and a test can look for one string.
//
// Credentials in a URL are masked as a whole user-info part
// ("https://***@github.com/acme/web.git"): a user name may itself be a
// token (https://TOKEN@github.com, TOKEN:x-oauth-basic). An ssh URL's user
// without a password ("ssh://git@github.com") is an account name, kept.
package redact

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces a secret value.
const Mask = "***"

// Values returns the strings to hide for the given secrets, longest first so
// that a secret containing another is replaced whole. A multi-line value
// also gives each of its lines, since logs are redacted line by line. Blank
// values are dropped: hiding them would mangle every line.
func Values(secrets map[string]string) []string {
	list := make([]string, 0, len(secrets))
	for _, v := range secrets {
		list = append(list, v)
	}
	return values(list)
}

// values is Values of a list.
func values(secrets []string) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(s string) {
		if strings.TrimSpace(s) != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, v := range secrets {
		add(v)
		for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			add(l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// Replacer returns a replacer of values (as Values orders them) by Mask,
// nil when there is nothing to hide. It is safe for concurrent use.
func Replacer(values []string) *strings.Replacer {
	if len(values) == 0 {
		return nil
	}
	pairs := make([]string, 0, 2*len(values))
	for _, s := range values {
		pairs = append(pairs, s, Mask)
	}
	return strings.NewReplacer(pairs...)
}

// Secret is how a secret value prints: Mask, or "" for an empty one, so
// that an unset secret still reads as unset.
func Secret(s string) string {
	if s == "" {
		return ""
	}
	return Mask
}

// userinfoRE finds "scheme://userinfo@" in free text such as a transport
// error that quotes the URL it failed on.
var userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^/@\s"']+)@`)

// isSSH reports whether a URL scheme is ssh (ssh, git+ssh, ssh+git).
func isSSH(scheme string) bool {
	return strings.Contains(strings.ToLower(scheme), "ssh")
}

// URL returns raw with the credentials of its user info replaced by Mask
// (see the package documentation); raw unchanged when it has none. It is
// safe on any string: text that does not parse as a URL has the user info
// of every scheme://user@ in it masked.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return maskUserinfo(raw)
	}
	if u.User == nil {
		return raw
	}
	if _, hasPassword := u.User.Password(); !hasPassword && isSSH(u.Scheme) {
		return raw
	}
	// url.User would escape the mask ("%2A%2A%2A"); write it in place.
	u.User = nil
	return strings.Replace(u.String(), "://", "://"+Mask+"@", 1)
}

// StripURL returns raw without user info, for places that need a usable
// URL rather than a masked one (an image's source label): an ssh URL keeps
// a user name without a password (git@). Text that is not a scheme://
// URL (scp-like git@github.com:acme/web.git) is returned as it is.
func StripURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.User == nil {
		return raw
	}
	if _, hasPassword := u.User.Password(); !hasPassword && isSSH(u.Scheme) {
		return raw
	}
	if isSSH(u.Scheme) {
		u.User = url.User(u.User.Username())
	} else {
		u.User = nil
	}
	return u.String()
}

// maskUserinfo masks the user info of every scheme://user@ in s but an ssh
// account name.
func maskUserinfo(s string) string {
	return userinfoRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfoRE.FindStringSubmatch(m)
		if isSSH(sub[1]) && !strings.Contains(sub[2], ":") {
			return m
		}
		return sub[1] + Mask + "@"
	})
}

// Text returns s with the credentials of every URL it quotes masked and
// every one of secrets (as Values treats them) replaced by Mask.
func Text(s string, secrets ...string) string {
	s = maskUserinfo(s)
	if r := Replacer(values(secrets)); r != nil {
		s = r.Replace(s)
	}
	return s
}

// Error returns err with its message passed through Text; errors.Is and
// errors.As still see err. A nil err gives nil.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, msg: Text(err.Error(), secrets...)}
}

// redactedError is an error whose message has been redacted.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
