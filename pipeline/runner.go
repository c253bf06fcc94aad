package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// Runner holds the collaborators a build's stages share and starts runs:
// Run builds, Redeploy rolls out again. It holds no per-build state (that
// is the run's), so one Runner serves every worker at once.
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
	// lookupEnv reads the environment: secrets' env, SSH_AUTH_SOCK.
	lookupEnv func(string) (string, bool)
	// queue takes the requeue after a late push; nil outside a Queue.
	queue enqueuer
	// pool places builds on builders; nil runs them on builder, pusher,
	// engine and docker above.
	pool *builders.Pool
	// notify is RunnerDeps.Notify.
	notify func(ctx context.Context, b store.Build, log *Log)
}

// enqueuer queues builds: the Queue, which sets itself on its service's
// runner.
type enqueuer interface {
	Enqueue(ctx context.Context, req Request) (Queued, error)
}

// History is what the runner reads of earlier builds: an image already
// pushed for the same inputs (re-tagging without a rebuild) and a
// schedule's earlier releases (retention). The store implements it.
type History interface {
	FindPushed(ctx context.Context, project, commit, buildKey string) (store.Build, error)
	ListBuilds(ctx context.Context, f store.Filter) ([]store.Build, error)
	// RecordDeployment keeps what a deploy did to one service.
	RecordDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error)
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
	// Pool, when set, places each build on one of its builders, whose
	// engine then builds, tests, pushes and is cleaned (Builder, Pusher,
	// Engine and Docker are then only for what is not a build).
	Pool *builders.Pool
	// Notify, when set, is told of every build that ended (after its
	// final record), to queue its notifications; it must not block.
	Notify func(ctx context.Context, b store.Build, log *Log)
	Now    func() time.Time
	// LookupEnv reads slipway's environment when a build starts (secrets
	// with env:, SSH_AUTH_SOCK). Default os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// NewRunner returns a Runner of the given collaborators.
func NewRunner(d RunnerDeps) *Runner {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.LookupEnv == nil {
		d.LookupEnv = os.LookupEnv
	}
	return &Runner{cfg: d.Config, sources: d.Sources, builder: d.Builder, pusher: d.Pusher, keys: d.Keys,
		history: d.History, engine: d.Engine, docker: d.Docker, pool: d.Pool, notify: d.Notify, now: d.Now, lookupEnv: d.LookupEnv}
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
	// The build's own logger: the source stage adds the commit to it once
	// resolved; zl, a copy, predates that.
	zl := zerolog.Ctx(ctx).With().Logger()
	if b.Commit != "" {
		zl = zl.With().Str("commit", b.Commit).Logger()
	}
	ctx = zl.With().Logger().WithContext(ctx)

	started := r.now().UTC()
	b.Status = store.StatusRunning
	b.StartedAt = &started
	b.FinishedAt = nil
	b.Error = ""
	b.Stages = nil
	b.Cache = nil
	record(ctx, *b)

	err := r.attempts(ctx, b, log, record)
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
	zl.Info().Str("commit", b.Commit).Str("status", string(b.Status)).Str("digest", b.Digest).Int64("duration_ms", finished.Sub(started).Milliseconds()).Msg("build finished")
	record(context.WithoutCancel(ctx), *b)
	if r.notify != nil {
		r.notify(context.WithoutCancel(ctx), *b, log)
	}
	return err
}

// attempts runs the build, and once more on another builder when its
// builder's engine went away mid-build (see lostBuilder): a dead builder
// costs that attempt only.
func (r *Runner) attempts(ctx context.Context, b *store.Build, log *Log, record Recorder) error {
	rn := r.newRun(b, log, record)
	err := rn.exec(ctx)
	rn.recordOnBuilders(ctx, err)
	lost, why := rn.lostBuilder(ctx, err)
	if lost == "" {
		return err
	}
	log.Printf("slipway: builder %s failed mid-build (%s: %v): running the build again, once, on another builder", lost, err, why)
	zerolog.Ctx(ctx).Warn().Str("builder", lost).AnErr("engine", why).Err(err).Msg("builder lost mid-build: retrying on another builder")
	// The new attempt starts over: its result is that attempt's alone.
	b.Stages, b.Error, b.Digest, b.Tags, b.Builder, b.BuilderReason = nil, "", "", nil, "", ""
	b.Cache = nil
	record(ctx, *b)
	rn = r.newRun(b, log, record)
	rn.exclude = []string{lost}
	err = rn.exec(ctx)
	rn.recordOnBuilders(ctx, err)
	return err
}

// newRun starts a run of b on the Runner's own engine; placeStage moves it
// to its builder's.
func (r *Runner) newRun(b *store.Build, log *Log, record Recorder) *run {
	return &run{Runner: r, b: b, log: log, record: record,
		builder: r.builder, pusher: r.pusher, engine: r.engine, docker: r.docker}
}

// exec runs the stages of the build's project in order and returns the
// first failure.
func (r *run) exec(ctx context.Context) error {
	p, err := r.cfg.Project(r.b.Project)
	if err != nil {
		return err
	}
	if r.b.Untrusted {
		r.configured, p = p, untrusted(p)
	}
	r.p, r.b.Image = p, p.Image
	defer r.end()
	return stagesFor(p).Exec(ctx, r)
}

// untrusted is p as an untrusted build (a pull request from a fork) sees
// it: a copy without secrets, ssh, secret build args, secret build
// environment and hooks, so that no stage can hand them to the fork's code.
func untrusted(p *config.Project) *config.Project {
	q := *p
	q.Secrets, q.SSH, q.SecretBuildArgs, q.SecretBuildEnv, q.Hooks = nil, false, nil, nil, false
	return &q
}

// finalStatus maps the error that ended a build to its status, naming the
// cause when the context ended it.
func finalStatus(ctx context.Context, err error, timeout time.Duration) (store.Status, error) {
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

// labels returns the OCI labels of the image. The source URL is stripped of
// credentials; no secret build arg reaches a label.
func (r *run) labels() map[string]string {
	p, b := r.p, r.b
	src := redact.StripURL(p.Repo)
	web := src
	if p.GitHub != "" {
		web = strings.TrimSuffix(r.githubWeb(), "/") + "/" + p.GitHub
		src = web
	}
	// The tags are listed in the result once pushed; the label names the
	// first the build will push.
	version := ""
	if names := r.plan.TagNames(); len(names) > 0 {
		version = names[0]
	}
	labels := builder.OCILabels(builder.LabelInfo{
		Source:   src,
		Revision: b.Commit,
		// The commit's time, not the build's: rebuilding an unchanged
		// commit gives the same image (and digest) from the cache.
		Created: r.co.Time.UTC(),
		Version: version,
		Title:   p.Name,
		URL:     web,
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

// projectArgs are the project's build args and secret build args, as a
// build without Docker Hub's settings gets them.
func projectArgs(p *config.Project) (plain, secret map[string]string) {
	return p.BuildArgs, secretArgs(p)
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
	return source.Request{Project: p.Name, URL: p.Repo, Ref: ref, Commit: commit, Auth: gitAuth(cfg, p), GitDir: p.WantsGitDir(),
		Submodules: p.Submodules}
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

// triggerOf is the trigger of a build record.
func triggerOf(b store.Build) Trigger {
	t := Trigger{Kind: b.Trigger, Project: b.Project, Ref: gitref.Parse(b.Ref), Commit: b.Commit,
		Schedule: b.Schedule, NoPush: b.NoPush, NoDeploy: b.NoDeploy, Untrusted: b.Untrusted}
	if b.DueAt != nil {
		t.Due = *b.DueAt
	}
	return t
}
