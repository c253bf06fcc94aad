package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/client"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/builders"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/notify"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// Service is slipway's build machinery wired from a config: the engine
// client, the clone cache, the builder, the pusher, the store and the runner.
// Notifier is the service's notifier: serve runs its sender
// (Notifier.Run) and registers its metrics.
func (s *Service) Notifier() *notify.Notifier { return s.notifier }

// Close releases it.
type Service struct {
	// Config is the configuration the service was wired from.
	Config *config.Config
	store  *store.Store
	// pool holds the builders' engines; docker is the first builder's,
	// for what is not a build (Docker Hub's leftovers, Redeploy).
	pool   *builders.Pool
	docker *client.Client
	runner *Runner
	// targets keeps the deploy targets' connections of Deployments.
	targets *deploy.Targets
	// notifier queues and sends the notify: messages.
	notifier *notify.Notifier
	logger   zerolog.Logger
	now      func() time.Time
}

// Open wires a Service from cfg: it opens the store (database, else SQLite
// in data_dir), connects to the builders' engines (builders:, else the one
// of docker_host, else DOCKER_HOST, else the local socket) and prepares the
// clone cache.
func Open(ctx context.Context, cfg *config.Config, logger zerolog.Logger) (*Service, error) {
	st, err := store.OpenDatabase(ctx, cfg.Database.Value(), cfg.DataDir, store.Options{})
	if err != nil {
		return nil, err
	}
	pool, err := builders.New(cfg.BuilderPool(), builders.Options{Logger: logger})
	if err != nil {
		st.Close()
		return nil, err
	}
	docker := pool.Client(pool.Names()[0])
	sources, err := source.NewCache(source.Options{
		Dir:          cfg.DataDir + "/git",
		FetchTimeout: cfg.Git.FetchTimeout.D(),
		MaxFiles:     cfg.Git.MaxFiles,
		MaxBytes:     int64(cfg.Git.MaxBytes),
		MaxDepth:     cfg.Git.MaxDepth,
	})
	if err != nil {
		st.Close()
		pool.Close()
		return nil, err
	}
	keys := registry.NewKeychain(registry.ConfiguredCredentials(cfg.Registries), "")
	s := &Service{
		Config:  cfg,
		store:   st,
		pool:    pool,
		docker:  docker,
		targets: deploy.NewTargets(cfg.DeployTargets),
		logger:  logger,
		now:     time.Now,
	}
	s.runner = NewRunner(RunnerDeps{
		Config:  cfg,
		Sources: sources,
		Builder: builder.New(docker, builder.Mode(cfg.Builder)),
		Pusher:  registry.NewPusher(docker, keys, registry.PushOptions{}),
		Keys:    keys,
		History: st,
		Engine:  docker,
		Docker:  docker,
		Pool:    pool,
		Notify: func(ctx context.Context, b store.Build, log *Log) {
			if leaseLost(ctx) {
				return // the replica that took the build over notifies
			}
			s.notifier.Finished(ctx, b, log)
		},
	})
	s.notifier = notify.New(cfg, st, notify.Options{Logger: logger})
	return s, nil
}

// Close releases the store, the engine clients and the deploy targets'
// connections.
func (s *Service) Close() error {
	s.pool.Close()
	s.targets.Close()
	return s.store.Close()
}

// Store is the store of the service's build records, for the scheduler's
// marks and for tools; builds get into it only through a Queue (or
// BuildNow).
func (s *Service) Store() *store.Store { return s.store }

// Keys are the registry credentials of pushes (registries:, then the
// docker CLI's config), for other registry reads such as base image
// checks.
func (s *Service) Keys() *registry.Keychain { return s.runner.keys }

// BuildRequest asks for one build now, outside the queue (`slipway build`).
type BuildRequest struct {
	Project string
	Ref     string // a branch ("main") or a full ref ("refs/tags/v1.2.3"); default: the project's default branch
	Commit  string // optional exact commit
	// Schedule makes the build a release of that schedule (its branch,
	// its tags), dated At (default now).
	Schedule string
	At       time.Time
	NoPush   bool
	NoDeploy bool
}

// BuildNow runs one build in the calling goroutine and returns its final
// record. The build is recorded in the store (trigger manual) and its log
// written to data_dir/logs/<id>.log and echoed to progress (may be nil). The
// returned error is the build's failure, if any.
func (s *Service) BuildNow(ctx context.Context, req BuildRequest, progress io.Writer) (store.Build, error) {
	t := Trigger{Kind: store.TriggerManual, Project: req.Project, Ref: gitref.Parse(req.Ref), Commit: req.Commit,
		Schedule: req.Schedule, Due: req.At, NoPush: req.NoPush, NoDeploy: req.NoDeploy}
	b, err := newBuild(s.Config, t, s.now())
	if err != nil {
		return b, err
	}
	b.StartedBy = "cli"
	b, err = s.store.Insert(ctx, b)
	if err != nil {
		return b, err
	}
	log, err := s.openLog(ctx, b.ID, progress)
	if err != nil {
		return b, err
	}
	defer log.Close()
	zl := s.logger.With().Int64("build", b.ID).Str("project", b.Project).Str("ref", b.Ref).Logger()
	ctx = zl.WithContext(ctx)
	err = s.runner.Run(ctx, &b, log, s.record)
	return b, err
}

// Redeploy rolls p's image tag out again (`slipway deploy`), recorded as a
// manual build with a deploy stage only.
func (s *Service) Redeploy(ctx context.Context, project, tag, target string, progress io.Writer) (store.Build, error) {
	p, err := s.Config.Project(project)
	if err != nil {
		return store.Build{}, err
	}
	b, err := s.store.Insert(ctx, store.Build{Project: p.Name, Trigger: store.TriggerManual, Ref: "deploy:" + tag, Image: p.Image, StartedBy: "cli"})
	if err != nil {
		return b, err
	}
	log, err := s.openLog(ctx, b.ID, progress)
	if err != nil {
		return b, err
	}
	defer log.Close()
	zl := s.logger.With().Int64("build", b.ID).Str("project", b.Project).Str("tag", tag).Logger()
	err = s.runner.Redeploy(zl.WithContext(ctx), &b, tag, target, log, s.record)
	return b, err
}

// record saves b; a failure is logged, never fails the build.
func (s *Service) record(ctx context.Context, b store.Build) { _ = s.save(ctx, b) }

// save is record that returns the store's error (store.ErrLeaseLost when
// another replica took the build over).
func (s *Service) save(ctx context.Context, b store.Build) error {
	err := s.store.UpdateBuild(context.WithoutCancel(ctx), b)
	if err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("record build")
	}
	return err
}

// Ready checks the store and that at least one builder's engine answers
// (for /readyz).
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var errs []error
	for _, name := range s.pool.Names() {
		err := s.pool.Ping(ctx, name)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("builder %s: %w", name, err))
	}
	return fmt.Errorf("docker engine: %w", errors.Join(errs...))
}

// Builders is the builder pool, for the API.
func (s *Service) Builders() *builders.Pool { return s.pool }

// openLog starts build id's log in the store (a file in data_dir, or
// PostgreSQL when every replica must read it), capped at log_limit.
func (s *Service) openLog(ctx context.Context, id int64, echo io.Writer) (*Log, error) {
	w, err := s.store.CreateLog(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open build log: %w", err)
	}
	return NewLog(w, int64(s.Config.LogLimit), echo), nil
}
