package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/store"
)

// engine is what a build attempt runs on its builder's Docker engine: the
// image build and test, the push, engine hygiene and Docker Hub's
// autotests. The run's own fields shadow the Runner's (the single engine of
// a Runner without a pool).
type engine struct {
	builder *builder.Builder
	pusher  *registry.Pusher
	gc      builder.GCClient
	docker  HubClient
}

// engineOf is the engine set of a builder's client.
func (r *Runner) engineOf(l *builders.Lease) engine {
	return engine{
		builder: builder.New(l.Client, builder.Mode(r.cfg.Builder)),
		pusher:  registry.NewPusher(l.Client, r.keys, registry.PushOptions{}),
		gc:      l.Client,
		docker:  l.Client,
	}
}

// placeStage takes a slot on a builder for the build: the pool places it
// (sticky per project, else the least loaded matching builder; see
// builders.Place) and the rest of the build runs on that builder's engine.
// The slot is freed when the build's stages end. A re-tag takes none, nor
// does a multi-platform build (one slot per platform, at its build).
type placeStage struct{}

func (placeStage) skip(r *run) bool {
	return r.pool == nil || r.lease != nil || r.reused() || r.multiPlatform()
}

func (placeStage) Exec(ctx context.Context, r *run) error {
	lease, err := r.pool.Acquire(ctx, builders.Request{Build: r.b.ID, Project: r.p.Name, Labels: wantLabels(r.p), Exclude: r.exclude})
	if err != nil {
		return fmt.Errorf("place the build on a builder: %w", err)
	}
	r.onEnd(lease.Release)
	r.lease = lease
	e := r.engineOf(lease)
	r.builder, r.pusher, r.engine, r.docker = e.builder, e.pusher, e.gc, e.docker
	r.b.Builder, r.b.BuilderReason = lease.Builder, lease.Reason
	r.record(ctx, *r.b)
	r.log.Printf("builder %s (%s): %s", lease.Builder, lease.Host, lease.Reason)
	zerolog.Ctx(ctx).Info().Str("builder", lease.Builder).Str("reason", lease.Reason).Msg("build placed")
	return nil
}

// wantLabels are the labels a builder of p's builds must have.
func wantLabels(p *config.Project) map[string]string {
	return maps.Clone(p.BuilderLabels)
}

// engineStages are the stages that run on the builder's engine: when one
// fails because the engine is gone, the build runs again elsewhere.
var engineStages = []string{StageBuild, StageTest, StagePush}

// lostBuilder returns the builder of a failed attempt, and why, when the
// attempt failed in an engine stage and that engine no longer answers:
// the builder is marked down and the build may run again on another one.
func (r *run) lostBuilder(ctx context.Context, err error) (string, error) {
	if err == nil || ctx.Err() != nil || errors.Is(err, builder.ErrSecretInLabels) {
		return "", nil
	}
	st := r.b.Stages
	if len(st) == 0 || st[len(st)-1].Status != store.StatusFailed || !slices.Contains(engineStages, st[len(st)-1].Name) {
		return "", nil
	}
	// A multi-platform build is not retried, but its builders that went
	// away get no more builds until they answer again.
	for _, pr := range r.platforms {
		if perr := r.pool.Ping(ctx, pr.lease.Builder); perr != nil {
			r.pool.MarkDown(pr.lease.Builder, perr)
		}
	}
	if r.lease == nil {
		return "", nil
	}
	name := r.lease.Builder
	perr := r.pool.Ping(ctx, name)
	if perr == nil {
		return "", nil
	}
	r.pool.MarkDown(name, perr)
	return name, perr
}

// dockerHost is the engine of the build's builder for the docker CLI in
// hooks: the builder's host when builders: lists it, else docker_host as
// the Runner has it.
func (r *run) dockerHost() string {
	if r.lease != nil {
		for _, b := range r.cfg.Builders {
			if b.Name == r.lease.Builder && b.Host != "" {
				return b.Host
			}
		}
	}
	return r.Runner.dockerHost()
}

// recordOnBuilders counts the attempt on the builders it ran on, with
// the steps of its images, for the builders' metrics.
func (r *run) recordOnBuilders(ctx context.Context, err error) {
	result := store.StatusSucceeded
	switch {
	case err != nil && ctx.Err() != nil:
		result = store.StatusCanceled
	case err != nil:
		result = store.StatusFailed
	}
	if r.lease != nil {
		r.pool.Record(r.lease.Builder, result, r.img.Steps, r.img.CachedSteps)
	}
	for _, pr := range r.platforms {
		r.pool.Record(pr.lease.Builder, result, pr.img.Steps, pr.img.CachedSteps)
	}
}
