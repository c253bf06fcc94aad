package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/config"
)

// maxRegistryHook bounds the body of a registry notification; a registry
// batches events, Docker Hub sends one small object.
const maxRegistryHook = 1 << 20

// registrySignatureHeader carries the HMAC-SHA256 of a registry
// notification's body: "sha256=HEX".
const registrySignatureHeader = "X-Slipway-Signature-256"

// mountRegistryHook serves POST /hooks/registry when registry_hooks has a
// token or a secret; otherwise the route answers 404 saying how to turn it
// on.
func (h *handler) mountRegistryHook(mux *http.ServeMux) {
	hooks := h.cfg.RegistryHooks
	if !hooks.On() || h.Bases == nil {
		mux.HandleFunc("POST /hooks/registry", func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "registry notifications are off: set registry_hooks.token or registry_hooks.secret")
		})
		return
	}
	mux.HandleFunc("POST /hooks/registry", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistryHook))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, "notification body is larger than 1 MiB")
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, "read the body: "+err.Error())
			return
		}
		if !registryHookAuthorized(hooks, r, body) {
			h.Logger.Warn().Str("remote", r.RemoteAddr).Msg("registry notification refused: no valid token or signature")
			writeError(w, http.StatusUnauthorized, "no valid token (Authorization: Bearer, or ?token=) or "+registrySignatureHeader+" signature")
			return
		}
		pushes, err := basewatch.ParseNotification(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		refs, err := h.Bases.Notified(r.Context(), pushes)
		if err != nil {
			h.Logger.Error().Err(err).Msg("registry notification")
			writeError(w, http.StatusInternalServerError, "could not schedule the checks: "+err.Error())
			return
		}
		if refs == nil {
			refs = []string{}
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"pushes": len(pushes), "checks": refs})
	})
}

// registryHookAuthorized reports whether r carries the configured token
// (Bearer or ?token=) or a valid HMAC of body; either admits it.
func registryHookAuthorized(hooks config.RegistryHooks, r *http.Request, body []byte) bool {
	if tok := hooks.Token.Value(); tok != "" {
		for _, got := range []string{bearer(r), r.URL.Query().Get("token")} {
			if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(tok)) == 1 {
				return true
			}
		}
	}
	if key := hooks.Secret.Value(); key != "" {
		sig, ok := strings.CutPrefix(r.Header.Get(registrySignatureHeader), "sha256=")
		got, err := hex.DecodeString(sig)
		if ok && err == nil {
			mac := hmac.New(sha256.New, []byte(key))
			mac.Write(body)
			return hmac.Equal(got, mac.Sum(nil))
		}
	}
	return false
}

// bearer is r's Bearer token, "" without one.
func bearer(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}
