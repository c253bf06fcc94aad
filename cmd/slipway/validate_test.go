package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestServeRefusesWhatValidateRefuses runs `slipway validate` and `slipway
// serve` on a config whose only problem is a tags: rule that renders an
// invalid tag: both refuse it, naming the same file:line and key path, and
// serve starts nothing (it returns at once, with no store in data_dir).
func TestServeRefusesWhatValidateRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "slipway.yaml")
	write := func(pattern string) {
		t.Helper()
		cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
data_dir: %q
github:
  webhook_secret: not-so-secret
projects:
  - name: web
    repo: https://github.com/acme/web.git
    image: docker.io/acme/web
    tags:
      - {type: raw, value: stable, enable_on: "branch:main"}
      - type: branch
        pattern: %q
`, filepath.Join(dir, "data"), pattern)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(cmd string) (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{cmd, "--config", cfgPath}, &stdout, &stderr)
		return code, stderr.String()
	}

	write("{{.Branch}}/x")
	want := cfgPath + `:11: projects[0].tags[1]: on a push to branch main renders "main/x": not a valid docker tag`

	code, validateOut := run("validate")
	if code != 1 {
		t.Fatalf("validate exit %d, want 1; stderr:\n%s", code, validateOut)
	}
	if !strings.HasPrefix(validateOut, want) {
		t.Errorf("validate says:\n%s\nwant it to start with:\n%s", validateOut, want)
	}
	code, serveOut := run("serve")
	if code != 1 {
		t.Fatalf("serve exit %d, want 1; stderr:\n%s", code, serveOut)
	}
	if diff := cmp.Diff(strings.TrimPrefix(serveOut, "slipway serve: "), validateOut); diff != "" {
		t.Errorf("serve's problems differ from validate's (-serve +validate):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("serve made data_dir for a config it refuses (stat: %v)", err)
	}

	// The rule was the only problem: fixed, validate accepts the file.
	write("{{.Branch}}-x")
	if code, out := run("validate"); code != 0 {
		t.Errorf("validate of the fixed config: exit %d, stderr:\n%s", code, out)
	}
}
