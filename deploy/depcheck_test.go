package deploy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the data flow one way: deploy is the last stage
// and never imports the stages before it nor the packages that drive it.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/slipwayci/slipway/"
	forbidden := []string{"pipeline", "server", "builder", "source", "registry", "webhook", "schedules", "cmd", "internal/testenv", "deploy/swarmtest"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == module+f || strings.HasPrefix(dep, module+f+"/") {
				t.Errorf("deploy imports %s", dep)
			}
		}
	}
}
