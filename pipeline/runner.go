package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/hub"
	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// Stage names, as in the build result of DESIGN.md.
const (
	StageSource = "source"
	StageBuild  = "build"
	StageTest   = "test"
	StagePush   = "push"
	StageDeploy = "deploy"
)

// Runner runs one build's stages in order. It holds no per-build state, so
// one Runner serves every worker at once.
type Runner struct {
	cfg     *config.Config
	sources *source.Cache
	builder *builder.Builder
	pusher  *registry.Pusher
	keys    *registry.Keychain
	history History
	engine  builder.GCClient
	docker  HubClient
	now     func() time.Time
}

// History is what the runner reads of earlier builds: an image already
// pushed for the same inputs (re-tagging without a rebuild) and a
// schedule's earlier releases (retention). The store implements it.
type History interface {
	FindPushed(ctx context.Context, project, commit, buildKey string) (store.Build, error)
	ListBuilds(ctx context.Context, f store.Filter) ([]store.Build, error)
	Enqueue(ctx context.Context, b store.Build, opts store.EnqueueOptions) (store.Build, bool, []int64, error)
}

// RunnerDeps are the collaborators of a Runner. Now defaults to time.Now.
type RunnerDeps struct {
	Config  *config.Config
	Sources *source.Cache
	Builder *builder.Builder
	Pusher  *registry.Pusher
	Keys    *registry.Keychain
	History History
	// Engine, when set, gets a hygiene pass after every build.
	Engine builder.GCClient
	// Docker runs Docker Hub's autotests and finds the image a hooks/build
	// made; builds that need it fail without it.
	Docker HubClient
	Now    func() time.Time
}

// NewRunner returns a Runner of the given collaborators.
func NewRunner(d RunnerDeps) *Runner {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Runner{cfg: d.Config, sources: d.Sources, builder: d.Builder, pusher: d.Pusher, keys: d.Keys,
		history: d.History, engine: d.Engine, docker: d.Docker, now: d.Now}
}

// Recorder saves a build record after each change; the store implements it.
// A recording failure is logged by the caller's logger, never fails a build.
type Recorder func(ctx context.Context, b store.Build)

// Run executes b's stages: it sets b's status to running, then runs source,
// build, test and push (unless b.NoPush), and leaves b in its final status
// (succeeded, failed, canceled or superseded, following context.Cause of
// ctx) with FinishedAt set. It returns the error that ended the build, nil on
// success. build_timeout is applied here. record (may be nil) is called after
// every change of b.
func (r *Runner) Run(ctx context.Context, b *store.Build, log *Log, record Recorder) error {
	if record == nil {
		record = func(context.Context, store.Build) {}
	}
	timeout := r.cfg.BuildTimeout.D()
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	zl := zerolog.Ctx(ctx)

	started := r.now().UTC()
	b.Status = store.StatusRunning
	b.StartedAt = &started
	b.FinishedAt = nil
	b.Error = ""
	b.Stages = nil
	record(ctx, *b)

	// Every log line of a build carries its commit: from the start when it
	// is known, else from the moment the source stage resolved it.
	resolve := b.Commit == ""
	if !resolve {
		ctx = zerolog.Ctx(ctx).With().Str("commit", b.Commit).Logger().WithContext(ctx)
	}
	err := r.stages(ctx, b, log, record, resolve)
	finished := r.now().UTC()
	b.FinishedAt = &finished
	switch {
	case err == nil:
		b.Status = store.StatusSucceeded
	default:
		b.Status, err = finalStatus(ctx, err, timeout)
		b.Error = err.Error()
	}
	log.Printf("slipway: build %s after %s", b.Status, finished.Sub(started).Round(time.Millisecond))
	if b.Error != "" {
		log.Printf("slipway: error: %s", b.Error)
	}
	// zl predates the commit field: name the commit here.
	zl.Info().Str("commit", b.Commit).Str("status", b.Status).Str("digest", b.Digest).Dur("duration", finished.Sub(started)).Msg("build finished")
	record(context.WithoutCancel(ctx), *b)
	return err
}

// finalStatus maps the error that ended a build to its status, naming the
// cause when the context ended it.
func finalStatus(ctx context.Context, err error, timeout time.Duration) (string, error) {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(err, ErrOlderCommit):
		return store.StatusSuperseded, err
	case errors.Is(cause, ErrSuperseded):
		return store.StatusSuperseded, cause
	case errors.Is(cause, ErrCanceled), errors.Is(cause, ErrShutdown):
		return store.StatusCanceled, cause
	case errors.Is(cause, ErrTimeout):
		return store.StatusFailed, fmt.Errorf("build_timeout (%s) passed: raise build_timeout or make the build faster: %w", timeout, err)
	}
	return store.StatusFailed, err
}

// stages runs the stages in order and returns the first failure.
func (r *Runner) stages(ctx context.Context, b *store.Build, log *Log, record Recorder, resolveCommit bool) error {
	p, err := r.cfg.Project(b.Project)
	if err != nil {
		return err
	}
	b.Image = p.Image

	var co *source.Checkout
	err = r.stage(ctx, b, StageSource, log, record, func(ctx context.Context) error {
		var err error
		co, err = r.sources.Checkout(ctx, sourceRequest(r.cfg, p, b.Ref, b.Commit))
		if err != nil {
			return err
		}
		b.Commit, b.Ref = co.Commit, co.Ref
		how := "fetched"
		if co.Cloned {
			how = "cloned"
		}
		log.Printf("%s %s at %s: %s", how, co.Ref, co.Commit, firstLine(co.Message))
		return nil
	})
	if err != nil {
		return err
	}
	defer co.Close()
	if resolveCommit {
		ctx = zerolog.Ctx(ctx).With().Str("commit", b.Commit).Logger().WithContext(ctx)
	}
	if newer, ok := r.olderThanBuilt(ctx, b); ok {
		return fmt.Errorf("%w: %s is an ancestor of %s, pushed to %s after it", ErrOlderCommit, b.Commit, newer, b.Ref)
	}

	sched := p.ScheduleNamed(b.Schedule)
	ev, err := r.event(ctx, p, b, sched)
	if err != nil {
		return err
	}
	tags, plan, err := buildTags(p, b, ev)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return fmt.Errorf("no tags for %s: the project's tags: rules that apply render nothing (check projects[].tags)", ev)
	}
	// b.Tags lists only what the registry holds: set once pushed.
	planned := displayOrder(tags)
	refs := make([]string, len(tags))
	for i, t := range tags {
		refs[i] = p.Image + ":" + t.Name
	}
	logPlan(plan, ev.Kind, refShortName(b.Ref), log)
	hb, err := r.prepareHub(p, b, co, plan, log)
	if err != nil {
		return err
	}
	defer hb.close()
	key, reuse := hb.buildKey(p)
	b.BuildKey = key

	rebuild := sched != nil && sched.Rebuild
	if reuse && !rebuild && !b.NoPush && (ev.Kind == registry.KindSchedule || ev.Kind == registry.KindTag) {
		if prev, ok := r.reusable(ctx, p, b, log); ok {
			err := r.stage(ctx, b, StagePush, log, record, func(ctx context.Context) error {
				log.Printf("%s@%s was built from the same commit and inputs by build %d: adding tags without a rebuild", p.Image, prev.Digest, prev.ID)
				if err := r.pusher.Retag(ctx, p.Image, prev.Digest, tags, log); err != nil {
					notePushed(b, err)
					return err
				}
				b.Digest, b.Tags = prev.Digest, planned
				return nil
			})
			if err != nil {
				return err
			}
			return r.afterPush(ctx, p, b, sched, tags, co.Dir, log, record)
		}
	}
	defer r.clean(ctx, p, log)

	// Docker Hub's hooks (hb, nil for other projects) run at their phases
	// inside the stages; hooks/build, hooks/test and hooks/push replace
	// what the stage would do.
	var img builder.Image
	err = r.stage(ctx, b, StageBuild, log, record, func(ctx context.Context) error {
		if err := hb.runHooks(ctx, hub.HookPostCheckout, hub.HookPreBuild); err != nil {
			return err
		}
		var err error
		if hb.has(hub.HookBuild) {
			img, err = hb.hookBuild(ctx, refs)
		} else {
			img, err = r.build(ctx, p, b, co, hb, plan, refs, planned[0], rebuild, log)
		}
		if err != nil {
			return err
		}
		log.Printf("built image %s", img.ID)
		return hb.runHooks(ctx, hub.HookPostBuild)
	})
	if err != nil {
		return err
	}

	projectTest := p.Test != nil && len(p.Test.Command) > 0
	if projectTest || hb.testing() {
		err = r.stage(ctx, b, StageTest, log, record, func(ctx context.Context) error {
			if err := hb.runHooks(ctx, hub.HookPreTest); err != nil {
				return err
			}
			ran, err := hb.hook(ctx, hub.HookTest)
			switch {
			case err != nil:
				return err
			case ran:
				log.Printf("hooks/test replaced the test phase: neither test nor autotest ran")
			default:
				if projectTest {
					err := r.builder.Test(ctx, builder.TestOptions{
						Image:   img.ID,
						Command: p.Test.Command,
						Timeout: p.Test.Timeout.D(),
					}, log)
					if err != nil {
						return err
					}
				}
				if p.Autotest {
					if err := hb.autotest(ctx, b); err != nil {
						return err
					}
				}
			}
			return hb.runHooks(ctx, hub.HookPostTest)
		})
		if err != nil {
			return err
		}
	}

	if b.NoPush {
		log.Printf("not pushing (--no-push); tagged locally as %s", strings.Join(refs, ", "))
		if hb.hasAny(hub.HookPrePush, hub.HookPush, hub.HookPostPush) {
			log.Printf("hooks: not running the push hooks (--no-push)")
		}
		return nil
	}
	err = r.stage(ctx, b, StagePush, log, record, func(ctx context.Context) error {
		if err := hb.runHooks(ctx, hub.HookPrePush); err != nil {
			return err
		}
		var digest string
		ran, err := hb.hook(ctx, hub.HookPush)
		switch {
		case err != nil:
			return err
		case ran:
			digest, err = hb.pushedDigest(ctx, tags, img.ID)
		default:
			digest, err = r.pusher.Push(ctx, img.ID, p.Image, tags, log)
		}
		if err != nil {
			notePushed(b, err)
			return err
		}
		b.Digest, b.Tags = digest, planned
		log.Printf("pushed %s@%s as %s", p.Image, digest, strings.Join(b.Tags, ", "))
		return hb.runHooks(ctx, hub.HookPostPush)
	})
	if err != nil {
		return err
	}
	return r.afterPush(ctx, p, b, sched, tags, co.Dir, log, record)
}

// build builds the image with the engine, from the context and Dockerfile
// the build rules chose (the project's without them).
func (r *Runner) build(ctx context.Context, p *config.Project, b *store.Build, co *source.Checkout, hb *hubRun, plan hubPlan, refs []string, version string, rebuild bool, log *Log) (builder.Image, error) {
	args, secrets, err := hb.buildArgs(p)
	if err != nil {
		return builder.Image{}, err
	}
	tarball, dockerfile, err := source.Context(ctx, co.Dir, plan.context, plan.dockerfile)
	if err != nil {
		return builder.Image{}, err
	}
	defer tarball.Close()
	return r.builder.Build(ctx, builder.BuildOptions{
		Context:    tarball,
		Dockerfile: dockerfile,
		Target:     p.Target,
		BuildArgs:  args,
		SecretArgs: secrets,
		Labels:     r.labels(p, b, co, version),
		Tags:       refs,
		NoCache:    rebuild || plan.noCache,
		Pull:       rebuild,
	}, log)
}

// notePushed records in b the tags a failed push or re-tag pushed and
// checked before it failed (none when it failed at the first), so that the
// result never lists a tag the registry does not hold.
func notePushed(b *store.Build, err error) {
	pushed, digest := registry.PushedTags(err)
	if len(pushed) > 0 {
		b.Digest, b.Tags = digest, displayOrder(pushed)
	}
}

// afterPush runs what follows a successful push: the schedule's retention
// and the deploys the build's trigger selects (unless b.NoDeploy).
func (r *Runner) afterPush(ctx context.Context, p *config.Project, b *store.Build, sched *config.Schedule, tags []registry.Tag, workDir string, log *Log, record Recorder) error {
	r.retention(ctx, p, sched, log)
	if b.NoDeploy {
		return nil
	}
	bindings := deployBindings(p, b)
	if len(bindings) == 0 {
		return nil
	}
	return r.deployStage(ctx, p, b, bindings, workDir, immutableTag(tags), log, record)
}

// stage runs fn as the named stage of b, recording its start, duration and
// outcome.
func (r *Runner) stage(ctx context.Context, b *store.Build, name string, log *Log, record Recorder, fn func(context.Context) error) error {
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	start := r.now().UTC()
	b.Stages = append(b.Stages, store.Stage{Name: name, Status: store.StatusRunning, StartedAt: &start})
	record(ctx, *b)
	log.Printf("==> %s", name)
	err := fn(ctx)
	st := &b.Stages[len(b.Stages)-1]
	st.DurationMS = r.now().Sub(start).Milliseconds()
	switch {
	case err == nil:
		st.Status = store.StatusSucceeded
	case ctx.Err() != nil && (errors.Is(context.Cause(ctx), ErrCanceled) || errors.Is(context.Cause(ctx), ErrSuperseded) || errors.Is(context.Cause(ctx), ErrShutdown)):
		st.Status = store.StatusCanceled
		st.Error = context.Cause(ctx).Error()
	default:
		st.Status = store.StatusFailed
		err = fmt.Errorf("%s: %w", name, err)
		st.Error = err.Error()
	}
	log.Printf("<== %s %s in %s", name, st.Status, time.Duration(st.DurationMS)*time.Millisecond)
	record(ctx, *b)
	return err
}

// labels returns the OCI labels of the image. The source URL is stripped of
// credentials; no secret build arg reaches a label.
func (r *Runner) labels(p *config.Project, b *store.Build, co *source.Checkout, version string) map[string]string {
	src := redact.StripURL(p.Repo)
	web := src
	if p.GitHub != "" {
		web = strings.TrimSuffix(r.githubWeb(), "/") + "/" + p.GitHub
		src = web
	}
	labels := builder.OCILabels(builder.LabelInfo{
		Source:   src,
		Revision: b.Commit,
		Created:  r.now().UTC(),
		Version:  version,
		Title:    p.Name,
		URL:      web,
	})
	labels[builder.ProjectLabel] = p.Name
	return labels
}

// githubWeb derives GitHub's web address from its API address
// (api.github.com → github.com; GitHub Enterprise's /api/v3/ → its host).
func (r *Runner) githubWeb() string {
	u, err := url.Parse(r.cfg.GitHub.APIURL)
	if err != nil || u.Host == "" || u.Host == "api.github.com" {
		return "https://github.com"
	}
	return u.Scheme + "://" + u.Host
}

func secretArgs(p *config.Project) map[string]string {
	if len(p.SecretBuildArgs) == 0 {
		return nil
	}
	m := make(map[string]string, len(p.SecretBuildArgs))
	for k, v := range p.SecretBuildArgs {
		m[k] = v.Value()
	}
	return m
}

// sourceRequest is the clone request of project p at ref and commit.
func sourceRequest(cfg *config.Config, p *config.Project, ref, commit string) source.Request {
	return source.Request{Project: p.Name, URL: p.Repo, Ref: ref, Commit: commit, Auth: gitAuth(cfg, p)}
}

// gitAuth returns the credentials of a project's clone: its own token or SSH
// key, else the GitHub token for github.com HTTPS URLs.
func gitAuth(cfg *config.Config, p *config.Project) source.Auth {
	return source.Auth{Token: cfg.GitTokenFor(p).Value(), SSHKeyFile: p.GitSSHKeyFile}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
