package hub

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps hub a leaf of the module: the pipeline and the
// command use it, it uses none of slipway's packages (so that config may
// hold hub's BuildRule type if it wants to) but the leaf internal/redact,
// which imports nothing of slipway either.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/slipwayci/slipway/"
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, module) && dep != module+"hub" && dep != module+"internal/redact" {
			t.Errorf("hub imports %s", dep)
		}
	}
}
