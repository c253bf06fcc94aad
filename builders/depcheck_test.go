package builders

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the pool below the pipeline: it may use config,
// builder (to dial) and internal/redact of slipway, nothing that drives it.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := map[string]bool{"builders": true, "builder": true, "config": true, "hub": true, "internal/redact": true}
	for _, dep := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(dep, "github.com/slipwayci/slipway/"); ok && !allowed[rest] {
			t.Errorf("builders imports %s", dep)
		}
	}
}
