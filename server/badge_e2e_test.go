package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// TestBadge: GET /badge/{project}.svg answers an SVG badge without auth:
// "no builds" before any, "passing" after a successful build of the
// default branch, "no builds" for a ref never built, a 404 badge for an
// unknown project; nothing secret in it.
func TestBadge(t *testing.T) {
	w := newWorld(t, setup{Tokens: true})
	c := serve(t, w, func(cfg *config.Config) { cfg.DashboardAuth = "token" })
	badge := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(c.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), b.String()
	}
	if code, ct, svg := badge("/badge/fixture.svg"); code != http.StatusOK || ct != "image/svg+xml" || !strings.Contains(svg, "build: no builds") {
		t.Errorf("badge before any build: %d %s %s", code, ct, svg)
	}
	code, b, body := c.createBuild("main", apiToken)
	if code != http.StatusAccepted {
		t.Fatalf("create build: %d %s", code, body)
	}
	if b = c.waitFinished(b.ID, 3*time.Minute); b.Status != store.StatusSucceeded {
		t.Fatalf("build: %s", describe(b))
	}
	for _, path := range []string{"/badge/fixture.svg", "/badge/fixture.svg?ref=main", "/badge/fixture.svg?ref=refs/heads/main"} {
		code, _, svg := badge(path)
		if code != http.StatusOK || !strings.Contains(svg, "build: passing") || !strings.Contains(svg, "#4c1") || !strings.HasPrefix(svg, "<svg") {
			t.Errorf("GET %s: %d %s, want a green passing badge", path, code, svg)
		}
		if strings.Contains(svg, apiToken) || strings.Contains(svg, b.Commit) {
			t.Errorf("GET %s shows a token or the commit: %s", path, svg)
		}
	}
	if code, _, svg := badge("/badge/fixture.svg?ref=other"); code != http.StatusOK || !strings.Contains(svg, "build: no builds") {
		t.Errorf("badge of a ref never built: %d %s", code, svg)
	}
	if code, ct, svg := badge("/badge/nothing.svg"); code != http.StatusNotFound || ct != "image/svg+xml" || !strings.Contains(svg, "unknown project") {
		t.Errorf("badge of an unknown project: %d %s %s", code, ct, svg)
	}
}
