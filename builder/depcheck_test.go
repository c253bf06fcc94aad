package builder

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the data flow one way: the builder never imports
// the stages before or after it, nor the packages that drive it.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/slipwayci/slipway/"
	forbidden := []string{"pipeline", "server", "registry", "source", "store", "deploy", "webhook", "schedules", "cmd"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == module+f || strings.HasPrefix(dep, module+f+"/") {
				t.Errorf("builder imports %s", dep)
			}
		}
	}
}
