package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
)

// The dashboard's buttons (Rebuild, Cancel, Build ref, Run schedule now,
// Roll back) call the API with the browser's login session instead of a
// token typed in. Such a write must pass two checks against cross-site
// request forgery:
//
//   - http.CrossOriginProtection: Sec-Fetch-Site (else Origin against the
//     host or public_url) must say the request comes from this origin;
//   - a per-session token in the X-CSRF-Token header: an HMAC of the session
//     cookie under the session key, put into each page of that session
//     (<meta name="csrf-token">) for the dashboard's script. Another site can
//     neither read it nor send a custom header without a CORS preflight,
//     which slipway never grants.
//
// The cookie alone authorizes no write, and the API's Bearer tokens work as
// before (with neither check: they are no ambient credential).

// csrfHeader carries the session's CSRF token on API writes.
const csrfHeader = "X-CSRF-Token"

// errNoSession: the request has no valid session cookie or no CSRF token,
// so it is not a dashboard write (401 as any write without a token).
var errNoSession = errors.New("no dashboard session")

// errForged: a session write that failed the CSRF checks (403).
var errForged = errors.New("the request does not come from this dashboard's pages: reload the page and try again")

// csrfToken is the CSRF token of the session whose cookie value is session.
func (d *dashboard) csrfToken(session string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("slipway-csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionWriter returns the name of the token whose session makes the
// write r, after the cross-origin and CSRF checks: errNoSession without a
// valid session or a CSRF header, errForged when a check fails.
func (d *dashboard) sessionWriter(r *http.Request) (string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", errNoSession
	}
	tok, ok := d.validSession(c.Value)
	sent := r.Header.Get(csrfHeader)
	if !ok || sent == "" {
		return "", errNoSession
	}
	if d.origin.Check(r) != nil || !hmac.Equal([]byte(sent), []byte(d.csrfToken(c.Value))) {
		return "", errForged
	}
	return tok.name, nil
}
