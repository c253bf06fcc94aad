package basewatch

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/pipeline"
)

// CheckChains is `slipway validate`'s check of upstream chains: it reads
// the Dockerfile (at the head of the default branch) of every project
// whose repo is on this machine (a file:// URL or a path: reading it costs
// no network) and fails when their images are built FROM each other in a
// cycle, naming it. A Dockerfile it cannot read is a warning. Remote
// repositories are left to the watcher, which refuses a cycle at run time
// from the bases builds recorded.
func CheckChains(ctx context.Context, cfg *config.Config) (warnings []string, err error) {
	if len(cfg.Projects) < 2 {
		return nil, nil
	}
	bases := map[string][]string{}
	for i := range cfg.Projects {
		p := &cfg.Projects[i]
		if !localRepo(p.Repo) {
			continue
		}
		refs, err := pipeline.HeadBases(ctx, cfg, p)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: warning: projects[%d]: cannot read the Dockerfile to check upstream chains: %v", cfg.Path, i, err))
			continue
		}
		bases[p.Name] = refs
	}
	if cycle := Cycle(cfg.Projects, bases); cycle != nil {
		return warnings, fmt.Errorf("%s: projects build FROM each other's images in a cycle, %s: a push of one would rebuild the others without end; break the cycle in one of their Dockerfiles",
			cfg.Path, strings.Join(cycle, " → "))
	}
	return warnings, nil
}

// localRepo reports whether repo is a file:// URL or a local path.
func localRepo(repo string) bool {
	return strings.HasPrefix(repo, "file://") || strings.HasPrefix(repo, "/") || strings.HasPrefix(repo, ".")
}
