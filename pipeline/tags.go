package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/source"
)

// Preview plans the build of t as a build would (`slipway tags`): for a
// git tag it first lists the repository's tags, so that latest is shown
// only when the tag is the highest release.
func Preview(ctx context.Context, cfg *config.Config, t Trigger, now time.Time) (BuildPlan, error) {
	p, err := cfg.Project(t.Project)
	if err != nil {
		return BuildPlan{}, err
	}
	if err := withRepoTags(ctx, cfg, p, &t); err != nil {
		return BuildPlan{}, err
	}
	return Plan(cfg, t, now)
}

// withRepoTags lists the repository's git tags into t when t builds a git
// tag (and is no release), for Plan.
func withRepoTags(ctx context.Context, cfg *config.Config, p *config.Project, t *Trigger) error {
	if !gitref.IsTag(t.Ref) || t.Schedule != "" || t.RepoTags != nil {
		return nil
	}
	tags, err := source.ListTags(ctx, p.Repo, gitAuth(cfg, p))
	if err != nil {
		return fmt.Errorf("list the repository's tags (to keep latest on the highest release): %w", err)
	}
	t.RepoTags = tags
	return nil
}
