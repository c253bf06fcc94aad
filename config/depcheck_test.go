package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps config near the bottom of the module: it may use
// the leaves hub (Docker Hub's build rules, which it validates) and
// internal/redact, never registry or pipeline, which import config; checks
// that live there reach Load as a Check.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/slipwayci/slipway/config").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{"config": true, "hub": true, "internal/redact": true}
	for _, dep := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(dep, "github.com/slipwayci/slipway/")
		if ok && !allowed[rest] {
			t.Errorf("config imports %s; it may import only hub and internal/redact of slipway", dep)
		}
	}
}
