package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/source/gitfixture"
)

// TestValidateRefusesChainCycle: projects A and B whose Dockerfiles (in
// file:// repositories) build FROM each other's images are refused by
// validate with the cycle named; a chain without a cycle passes.
func TestValidateRefusesChainCycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := gitfixture.New(t), gitfixture.New(t)
	b.Commit(t, "main", map[string]string{"Dockerfile": "ARG UP=127.0.0.1:5000/acme/a:main\nFROM ${UP}\n"}, "b on a")
	cfgPath := filepath.Join(dir, "slipway.yaml")
	cfg := fmt.Sprintf(`data_dir: %q
projects:
  - {name: a, repo: %q, image: 127.0.0.1:5000/acme/a}
  - {name: b, repo: %q, image: 127.0.0.1:5000/acme/b}
`, filepath.Join(dir, "data"), a.URL(), b.URL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	validate := func() (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"validate", "--config", cfgPath}, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	a.Commit(t, "main", map[string]string{"Dockerfile": "FROM debian:bookworm\n"}, "a on debian")
	if code, out := validate(); code != 0 {
		t.Fatalf("validate of a chain a → b: exit %d:\n%s", code, out)
	}
	a.Commit(t, "main", map[string]string{"Dockerfile": "FROM 127.0.0.1:5000/acme/b:latest AS up\nFROM scratch\nCOPY --from=up / /\n"}, "a on b")
	code, out := validate()
	if code != 1 || !strings.Contains(out, "cycle, a → b → a") {
		t.Errorf("validate of a cycle: exit %d, want 1 naming a → b → a:\n%s", code, out)
	}
}
