package pipeline

import (
	"bytes"
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
	data, where, err := headDockerfile(ctx, cfg, p)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(p.SecretBuildArgs))
	for k := range p.SecretBuildArgs {
		names = append(names, k)
	}
	slices.Sort(names)
	uses, err := builder.ArgsInRunHistory(bytes.NewReader(data), p.Target, names)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return uses, nil
}

// headDockerfile reads project p's Dockerfile at the head of its default
// branch, cloned into a temporary directory that it removes (so it changes
// nothing on disk; the clone is bounded by cfg's git limits and ctx), and
// says where it was read ("build/Dockerfile at 1a2b3c4").
func headDockerfile(ctx context.Context, cfg *config.Config, p *config.Project) ([]byte, string, error) {
	dir, err := os.MkdirTemp("", "slipway-check-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	cache, err := source.NewCache(source.Options{
		Dir: dir, FetchTimeout: cfg.Git.FetchTimeout.D(),
		MaxFiles: cfg.Git.MaxFiles, MaxBytes: int64(cfg.Git.MaxBytes), MaxDepth: cfg.Git.MaxDepth,
	})
	if err != nil {
		return nil, "", err
	}
	co, err := cache.Checkout(ctx, sourceRequest(cfg, p, p.DefaultBranch, ""))
	if err != nil {
		return nil, "", err
	}
	defer co.Close()
	// os.Root: a symlinked Dockerfile cannot lead out of the checkout.
	root, err := os.OpenRoot(co.Dir)
	if err != nil {
		return nil, "", err
	}
	defer root.Close()
	name := path.Join(p.Context, p.Dockerfile)
	data, err := root.ReadFile(name)
	if err != nil {
		return nil, "", fmt.Errorf("read %s at %s of %s: %w", name, co.Commit[:7], p.DefaultBranch, err)
	}
	return data, name + " at " + co.Commit[:7], nil
}

// HeadBases are the images project p's Dockerfile, at the head of its
// default branch, builds FROM (builder.Bases with the project's target and
// build_args), for `slipway validate`'s upstream chain check.
func HeadBases(ctx context.Context, cfg *config.Config, p *config.Project) ([]string, error) {
	data, where, err := headDockerfile(ctx, cfg, p)
	if err != nil {
		return nil, err
	}
	bases, err := builder.Bases(bytes.NewReader(data), builder.BasesOptions{Target: p.Target, BuildArgs: p.BuildArgs})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	refs := make([]string, len(bases))
	for i, b := range bases {
		refs[i] = b.Ref
	}
	return refs, nil
}

// SecretArgWarnings is what `slipway validate` warns about: for every
// project with secret_build_args, each arg whose value a RUN step would
// record in the pushed image's history (SecretArgsInRun), or why its
// Dockerfile could not be checked. Each warning is one line naming the
// config file and key path; none fails validation.
func SecretArgWarnings(ctx context.Context, cfg *config.Config) []string {
	var out []string
	for i := range cfg.Projects {
		p := &cfg.Projects[i]
		if len(p.SecretBuildArgs) == 0 {
			continue
		}
		key := fmt.Sprintf("projects[%d].secret_build_args", i)
		uses, err := SecretArgsInRun(ctx, cfg, p)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: warning: %s: cannot check the Dockerfile for RUN steps that record these args in the image history: %v", cfg.Path, key, err))
			continue
		}
		for _, u := range uses {
			out = append(out, fmt.Sprintf("%s: warning: %s.%s: %s of %s, so the value is in the pushed image's history (docker history --no-trunc shows it): declare the ARG only in a builder stage the image does not build FROM, and COPY --from that stage what it made",
				cfg.Path, key, u.Name, u, path.Join(p.Context, p.Dockerfile)))
		}
	}
	return out
}
