package source_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the data flow one-way: source is a stage below
// pipeline and beside builder and registry, and never imports them. It may
// import the leaf internal/redact (which imports no slipway package), the
// one way slipway hides credentials.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/slipwayci/slipway/source").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(dep, "github.com/slipwayci/slipway/")
		if !ok || rest == "source" || rest == "internal/redact" {
			continue
		}
		t.Errorf("source imports %s; it may import no other slipway package", dep)
	}
}
