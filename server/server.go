// Package server is slipway's HTTP side: the GitHub webhook route, the build
// API, health and readiness, Prometheus metrics and the dashboard. Run wires
// the whole service and owns its goroutines.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/basewatch"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/schedules"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

// Options tune Run; zero values get the documented defaults.
type Options struct {
	// Listener, when set, is used instead of listening on config.listen
	// (tests pass a 127.0.0.1:0 listener).
	Listener net.Listener
	// ShutdownTimeout bounds the HTTP server's shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// Grace is how long running builds may finish after a stop. Default 30s.
	Grace time.Duration
	// Ready is called once the server listens, with its address.
	Ready func(addr net.Addr)
	// Version is the slipway version, logged in the start-up line.
	Version string
}

// Run serves slipway until ctx ends: it opens the store and the engine
// client, recovers interrupted builds, starts the workers and the HTTP
// server, and on ctx's end stops taking work, lets running builds finish up
// to the grace period and returns.
func Run(ctx context.Context, cfg *config.Config, logger zerolog.Logger, opts Options) error {
	if err := cfg.RequireWebhookSecret(); err != nil {
		return err
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	svc, err := pipeline.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := NewMetrics(reg)
	reg.MustRegister(svc.Builders().Collector())
	RegisterReplica(reg, svc.Store())
	reg.MustRegister(svc.Notifier().Metrics())
	statuses, err := webhook.NewStatusReporter(cfg, logger)
	if err != nil {
		return err
	}
	// The base image watcher hears of each push (upstream chains) and
	// queues its rebuilds through the queue.
	var bases *basewatch.Watcher
	// A finished build may have deployed: the deployments read afresh.
	deployments := newDeploymentsCache(svc, deploymentsFresh, time.Now)
	defer deployments.Close() // before svc.Close: its reads use the store and targets
	queue := pipeline.NewQueue(svc, pipeline.QueueOptions{
		Concurrency: cfg.BuildSlots(),
		Grace:       opts.Grace,
		Notifier:    statuses,
		Observer:    metrics,
		Finished: func(ctx context.Context, b store.Build) {
			deployments.forget()
			bases.Pushed(ctx, b)
		},
	})
	bases = basewatch.New(cfg.Projects, basewatch.Options{
		Store:   svc.Store(),
		Queue:   queue,
		Resolve: func(ctx context.Context, ref string) (string, error) { return registry.Resolve(ctx, ref, svc.Keys()) },
		Logger:  logger,
	})
	reg.MustRegister(bases.Collector())
	stopping := make(chan struct{})
	sched, err := schedules.New(cfg.Projects, svc.Store(), releaseQueue{builds: queue}, schedules.Options{Logger: logger})
	if err != nil {
		return err
	}
	key, err := sessionKey(ctx, cfg, svc.Store())
	if err != nil {
		return err
	}
	h, err := NewHandler(HandlerDeps{Config: cfg, Builds: queue, Scheduler: sched, Builders: svc.Builders(), Deployments: deployments, Bases: bases, Metrics: metrics, Gatherer: reg, Logger: logger, Stopping: stopping, SessionKey: key})
	if err != nil {
		return err
	}

	ln := opts.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s (config listen): %w", cfg.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// A request's body must be in within ReadTimeout (GitHub itself
		// gives up on a delivery after 10 s), so a stalled sender holds
		// the memory of a webhook body no longer. Streamed answers (a
		// followed log) are not bounded: there is no WriteTimeout.
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Requests are not canceled by ctx (a delivery being recorded
	// finishes), but followed logs end when the shutdown starts.
	srv.RegisterOnShutdown(func() { close(stopping) })
	logger.Info().Str("version", opts.Version).Str("listen", ln.Addr().String()).Int("projects", len(cfg.Projects)).Int("concurrency", cfg.BuildSlots()).Strs("builders", svc.Builders().Names()).Msg("slipway serving")
	for _, p := range cfg.Projects {
		logger.Info().Str("project", p.Name).Str("image", p.Image).Strs("branches", p.Branches).Msg("project loaded")
	}
	for _, e := range sched.Entries() {
		logger.Info().Str("project", e.Project).Str("schedule", e.Schedule).Str("cron", e.Cron).Time("next", e.Next).Msg("schedule loaded")
	}
	if opts.Ready != nil {
		opts.Ready(ln.Addr())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	// Commit statuses outlive the queue so the final statuses of builds
	// that end during the grace period are still sent.
	statusCtx, stopStatuses := context.WithCancel(context.WithoutCancel(ctx))
	g.Go(func() error { return statuses.Run(statusCtx) })
	g.Go(func() error {
		defer stopStatuses()
		return queue.Run(gctx)
	})
	g.Go(func() error { return sched.Run(gctx) })
	if bases.Enabled() {
		g.Go(func() error { return bases.Run(gctx) })
	}
	if cfg.ReconcileInterval.On() {
		g.Go(func() error { queue.RunReconcile(gctx, cfg.ReconcileInterval.D()); return nil })
	}
	if cfg.History.On() {
		g.Go(func() error { runRetention(gctx, svc.Store(), cfg.History, time.Now, logger); return nil })
	}
	g.Go(func() error { svc.Notifier().Run(gctx); return nil })
	err = g.Wait()
	logger.Info().Msg("slipway stopped")
	return err
}
