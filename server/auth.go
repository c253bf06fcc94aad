package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/slipwayci/slipway/config"
)

// apiToken is a configured API token as the handler keeps it: its name and
// the SHA-256 of its text (compared in constant time, never the text).
type apiToken struct {
	name string
	sum  [32]byte
}

func hashTokens(tokens []config.APIToken) []apiToken {
	out := make([]apiToken, len(tokens))
	for i, t := range tokens {
		out[i] = apiToken{name: t.Name, sum: sha256.Sum256([]byte(t.Token.Value()))}
	}
	return out
}

// matchToken returns the configured token whose text is raw (blanks
// around it trimmed), compared in constant time with every token.
func matchToken(tokens []apiToken, raw string) (apiToken, bool) {
	raw = strings.TrimSpace(raw)
	sum := sha256.Sum256([]byte(raw))
	var found apiToken
	match := 0
	for _, t := range tokens {
		eq := subtle.ConstantTimeCompare(sum[:], t.sum[:])
		if eq == 1 {
			found = t
		}
		match |= eq
	}
	return found, raw != "" && match == 1
}

// bearer returns the token of r's "Authorization: Bearer" header.
func (h *handler) bearer(r *http.Request) (apiToken, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || len(h.tokens) == 0 {
		return apiToken{}, false
	}
	return matchToken(h.tokens, raw)
}

// authorized reports whether r carries one of the API tokens.
func (h *handler) authorized(r *http.Request) bool {
	_, ok := h.bearer(r)
	return ok
}

// callerKey keys who made a write request in its context.
type callerKey struct{}

// withCaller returns ctx carrying the name of who makes the request: an API
// token's name, or "dashboard:<token name>" for a dashboard session.
func withCaller(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, callerKey{}, who)
}

// callerOf is who made the request of ctx (withCaller); "" when unknown.
// Builds record it as started_by or canceled_by.
func callerOf(ctx context.Context) string {
	who, _ := ctx.Value(callerKey{}).(string)
	return who
}
