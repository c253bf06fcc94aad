package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// stage is one step of a build, as alertmanager's notify.Stage: Exec does
// the step's work on the build's run; an error ends the build. A stage may
// also implement skipper.
type stage interface {
	Exec(ctx context.Context, r *run) error
}

// skipper is a stage that does not apply to every build.
type skipper interface {
	skip(r *run) bool
}

// errDone ends a build's stages early, successfully (--no-push).
var errDone = errors.New("done")

// multiStage runs stages in order, skipping those that do not apply, and
// stops at the first error.
type multiStage []stage

// Exec runs the stages.
func (ms multiStage) Exec(ctx context.Context, r *run) error {
	for _, s := range ms {
		if sk, ok := s.(skipper); ok && sk.skip(r) {
			continue
		}
		if err := s.Exec(ctx, r); err != nil {
			if errors.Is(err, errDone) {
				return nil
			}
			return err
		}
	}
	return nil
}

// named is a stage recorded in the build result under its name, with its
// start, duration and outcome.
type named struct {
	name string
	stage
}

// Exec runs the stage as the named stage of the build.
func (n named) Exec(ctx context.Context, r *run) error { return r.stage(ctx, n.name, n.stage.Exec) }

func (n named) skip(r *run) bool {
	sk, ok := n.stage.(skipper)
	return ok && sk.skip(r)
}

// run is one build in progress: its record, plan, checkout and what its
// stages made so far. Stages run one after another, so it needs no lock.
type run struct {
	*Runner
	b *store.Build
	p *config.Project
	// configured is the project as configured when p is the copy an
	// untrusted build sees (see untrusted); nil otherwise.
	configured *config.Project
	log        *Log
	record     Recorder
	co         *source.Checkout
	plan       BuildPlan
	// args and secrets are the build args; buildKey and canReuse say
	// whether an image pushed for the same inputs may be re-tagged.
	args, secrets map[string]string
	// bk are the secret mounts and SSH agent of the build.
	bk       buildKitInputs
	buildKey string
	canReuse bool
	// prev is the earlier build whose image is re-tagged; nil builds.
	prev *store.Build
	img  builder.Image
	// lease is the build's slot on its builder (nil without a pool);
	// exclude lists the builders of failed earlier attempts. builder,
	// pusher, engine and docker are that builder's and shadow the
	// Runner's.
	lease   *builders.Lease
	exclude []string
	// platforms are the platforms of a multi-platform build, in the
	// project's order, each on its own builder.
	platforms []*platformRun
	builder   *builder.Builder
	pusher    *registry.Pusher
	engine    builder.GCClient
	docker    HubClient
	// deployKind is how the run's deploys are recorded: "" (a build's
	// deploy stage) or store.DeploymentManual (a redeploy).
	deployKind string
	// hygiene is the build's engine cleaning (nil without one); it may
	// start before the stages end.
	hygiene *hygiene
	// cleanups run, last first, when the stages end.
	cleanups []func()
}

// reused reports whether the build re-tags an earlier image.
func (r *run) reused() bool { return r.prev != nil }

// onEnd registers fn to run when the build's stages end.
func (r *run) onEnd(fn func()) { r.cleanups = append(r.cleanups, fn) }

// end runs the cleanups, last registered first.
func (r *run) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// stage runs fn as the named stage of the build, recording its start,
// duration and outcome.
func (r *run) stage(ctx context.Context, name string, fn func(context.Context, *run) error) error {
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	b := r.b
	start := r.now().UTC()
	b.Stages = append(b.Stages, store.Stage{Name: name, Status: store.StatusRunning, StartedAt: &start})
	r.record(ctx, *b)
	r.log.Printf("==> %s", name)
	err := fn(ctx, r)
	st := &b.Stages[len(b.Stages)-1]
	st.DurationMS = r.now().Sub(start).Milliseconds()
	switch {
	case err == nil:
		st.Status = store.StatusSucceeded
	case ctx.Err() != nil && stoppedByUser(context.Cause(ctx)):
		st.Status = store.StatusCanceled
		st.Error = context.Cause(ctx).Error()
	default:
		st.Status = store.StatusFailed
		err = fmt.Errorf("%s: %w", name, err)
		st.Error = err.Error()
	}
	r.log.Printf("<== %s %s in %s", name, st.Status, time.Duration(st.DurationMS)*time.Millisecond)
	r.record(ctx, *b)
	return err
}

// stoppedByUser reports a cause that cancels a stage rather than failing
// it: a cancel, a newer commit or the shutdown.
func stoppedByUser(cause error) bool {
	return errors.Is(cause, ErrCanceled) || errors.Is(cause, ErrSuperseded) || errors.Is(cause, ErrShutdown)
}

// stagesFor is the ordered list of the stages of a build of p. A build
// either re-tags an image pushed for the same inputs (push as a re-tag) or
// builds, tests and pushes; both end with the schedule's retention and the
// deploys. Docker Hub's settings wrap the build, test and push steps.
func stagesFor(p *config.Project) multiStage {
	build, test, noPush, push := stage(buildStage{}), stage(testStage{}), stage(noPushStage{}), stage(pushStage{})
	ms := multiStage{named{StageSource, sourceStage{}}, lateStage{}, planStage{}}
	if len(p.Platforms) > 0 {
		build, test, push = platformsStages()
	}
	if hubProject(p) {
		// Hub's hooks learn their builder's engine when prepared.
		h := &hubState{}
		ms = append(ms, placeStage{}, hubPrepare{h})
		build, test, noPush, push = hubBuild{build, h}, hubTest{test, h}, hubNoPush{noPush, h}, hubPush{push, h}
	}
	return append(ms,
		reuseStage{},
		named{StagePush, retagStage{}},
		basesStage{},
		// A re-tag needs no engine; a build takes a builder from here on.
		placeStage{},
		hygieneStage{},
		named{StageBuild, build},
		named{StageTest, test},
		noPush,
		named{StagePush, push},
		retentionStage{},
		named{StageDeploy, deployStage{}},
	)
}
