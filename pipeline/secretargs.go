package pipeline

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/source"
)

// SecretArgsInRun reads project p's Dockerfile (context, dockerfile,
// target) at the head of its default branch and reports each of its
// secret_build_args that a RUN step would record, with its value, in the
// pushed image's history (builder.ArgsInRunHistory). It clones into a
// temporary directory that it removes, so it changes nothing on disk; the
// clone is bounded by cfg's git limits and ctx.
func SecretArgsInRun(ctx context.Context, cfg *config.Config, p *config.Project) ([]builder.ArgInRun, error) {
	if len(p.SecretBuildArgs) == 0 {
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "slipway-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cache, err := source.NewCache(source.Options{
		Dir: dir, FetchTimeout: cfg.Git.FetchTimeout.D(),
		MaxFiles: cfg.Git.MaxFiles, MaxBytes: int64(cfg.Git.MaxBytes), MaxDepth: cfg.Git.MaxDepth,
	})
	if err != nil {
		return nil, err
	}
	co, err := cache.Checkout(ctx, sourceRequest(cfg, p, p.DefaultBranch, ""))
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// os.Root: a symlinked Dockerfile cannot lead out of the checkout.
	root, err := os.OpenRoot(co.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	name := path.Join(p.Context, p.Dockerfile)
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s of %s: %w", name, co.Commit[:7], p.DefaultBranch, err)
	}
	defer f.Close()
	names := make([]string, 0, len(p.SecretBuildArgs))
	for k := range p.SecretBuildArgs {
		names = append(names, k)
	}
	slices.Sort(names)
	uses, err := builder.ArgsInRunHistory(f, p.Target, names)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", name, co.Commit[:7], err)
	}
	return uses, nil
}
