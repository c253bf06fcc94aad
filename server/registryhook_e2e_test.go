package server_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// TestRegistryHookChecksAtOnce: a project watches its base every hour; the
// base's registry notifies slipway of pushes (its notification endpoint
// with a Bearer token). A new digest pushed for the base is rebuilt at
// once, without waiting for the interval. Forged notifications (a wrong
// token, a wrong HMAC) are refused with 401 and check nothing; a Docker
// Hub style webhook signed with the HMAC key checks the base at once.
func TestRegistryHookChecksAtOnce(t *testing.T) {
	t.Parallel()
	const (
		hookToken  = "hook-token-Rq5-test-only"
		hookSecret = "hook-hmac-Vt9-test-only"
	)
	w := newWorld(t, setup{Tokens: true, Fixture: fixture.Options{
		Extra:        fmt.Sprintf("registry_hooks: {token: %q, secret: %q}\n", hookToken, hookSecret),
		ProjectExtra: "    base_images: {watch: true, interval: 1h}\n",
	}})
	c := serve(t, w, nil)
	baseReg := testenv.StartRegistry(t, testenv.RegistryOptions{
		NotifyURL: c.base + "/hooks/registry", NotifyHeaders: map[string]string{"Authorization": "Bearer " + hookToken},
	})
	repo := testenv.Name(t, "base")
	base := baseReg.Host + "/" + repo + ":1"
	v1 := fixture.PushBase(t, w.Docker, base, map[string]string{"base-version": "1\n"})
	w.Repo.Commit(t, "main", map[string]string{
		"Dockerfile": "ARG BASE=" + base + "\nFROM $BASE\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n",
	}, "build on a base")
	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST builds: %d %s", code, body)
	}
	if b = c.waitFinished(b.ID, 2*time.Minute); b.Status != store.StatusSucceeded {
		t.Fatalf("first build: %s", describe(b))
	}

	st, err := store.Open(t.Context(), filepath.Join(w.Dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var first store.BaseCheck
	waitFor(t, 30*time.Second, "the first check of the base", func() (bool, string) {
		first, err = st.BaseCheckOf(t.Context(), base)
		return err == nil && first.Digest == v1.Digest, fmt.Sprintf("%+v %v", first, err)
	})
	if first.NextAt.Before(time.Now().Add(50 * time.Minute)) {
		t.Fatalf("the next check is due at %v, want in about an hour", first.NextAt)
	}

	post := func(body []byte, hdr http.Header) (int, string) {
		t.Helper()
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
		code, answer := c.do(http.MethodPost, "/hooks/registry", "", bytes.NewReader(body), hdr)
		return code, string(answer)
	}
	envelope := fmt.Appendf(nil, `{"events":[{"action":"push","target":{"repository":%q,"tag":"1","url":"http://%s/v2/%s/manifests/sha256:00"},"request":{"host":%q}}]}`,
		repo, baseReg.Host, repo, baseReg.Host)
	hub := fmt.Appendf(nil, `{"push_data":{"tag":"1"},"repository":{"repo_name":%q}}`, repo)
	sign := func(body []byte, key string) string {
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		return "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	for name, hdr := range map[string]http.Header{
		"no credentials":  nil,
		"wrong token":     {"Authorization": {"Bearer not-" + hookToken}},
		"token as HMAC":   {"X-Slipway-Signature-256": {sign(envelope, hookToken)}},
		"HMAC of another": {"X-Slipway-Signature-256": {sign(hub, hookSecret)}},
	} {
		if code, answer := post(envelope, hdr); code != http.StatusUnauthorized {
			t.Errorf("forged notification (%s): %d %s, want 401", name, code, answer)
		}
	}
	if code, answer := post(hub, http.Header{"Authorization": {"Bearer " + hookToken + "x"}}); code != http.StatusUnauthorized {
		t.Errorf("Hub webhook with a wrong token: %d %s, want 401", code, answer)
	}
	if got, err := st.BaseCheckOf(t.Context(), base); err != nil || !got.NextAt.Equal(first.NextAt) || !got.CheckedAt.Equal(first.CheckedAt) {
		t.Errorf("after forged notifications the check is %+v (%v), want unchanged %+v", got, err, first)
	}

	// A Docker Hub webhook signed with the key checks the base at once.
	code, answer := post(hub, http.Header{"X-Slipway-Signature-256": {sign(hub, hookSecret)}})
	var got struct {
		Checks []string `json:"checks"`
	}
	if code != http.StatusAccepted || json.Unmarshal([]byte(answer), &got) != nil || len(got.Checks) != 1 || got.Checks[0] != base {
		t.Fatalf("signed Hub webhook: %d %s, want 202 checking %s", code, answer, base)
	}
	waitFor(t, 30*time.Second, "the check asked for by the webhook", func() (bool, string) {
		c, err := st.BaseCheckOf(t.Context(), base)
		return err == nil && c.CheckedAt.After(first.CheckedAt), fmt.Sprintf("%+v %v", c, err)
	})
	if code, answer := post([]byte(`{"zen":"not a notification"}`), http.Header{"Authorization": {"Bearer " + hookToken}}); code != http.StatusBadRequest {
		t.Errorf("a body that is no notification: %d %s, want 400", code, answer)
	}

	// The registry's own notification of a new digest rebuilds at once.
	v2 := fixture.PushBase(t, w.Docker, base, map[string]string{"base-version": "2\n"})
	var rebuild store.Build
	waitFor(t, 2*time.Minute, "a base_image rebuild", func() (bool, string) {
		for _, b := range c.builds() {
			if b.Trigger == store.TriggerBaseImage {
				rebuild = b
				return true, ""
			}
		}
		return false, c.logs.String()
	})
	if rebuild = c.waitFinished(rebuild.ID, 2*time.Minute); rebuild.Status != store.StatusSucceeded {
		t.Fatalf("rebuild: %s", describe(rebuild))
	}
	if !strings.Contains(rebuild.Reason, v1.Digest[:19]) || !strings.Contains(rebuild.Reason, v2.Digest[:19]) {
		t.Errorf("reason %q does not name %s and %s", rebuild.Reason, v1.Digest, v2.Digest)
	}
	if got := w.Digest("latest"); got != rebuild.Digest {
		t.Errorf("latest = %s, want the rebuild's %s", got, rebuild.Digest)
	}
	code, metrics := c.get("/metrics")
	for _, want := range []string{"slipway_base_images_watched 1\n", "slipway_base_image_changes_total 1\n", "slipway_base_image_rebuilds_total 1\n", `slipway_base_image_checks_total{result="ok"} `} {
		if code != http.StatusOK || !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	for _, secret := range []string{hookToken, hookSecret} {
		if strings.Contains(c.logs.String(), secret) {
			t.Errorf("the server log holds a registry hook secret")
		}
	}
}
