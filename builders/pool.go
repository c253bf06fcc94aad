// Package builders is slipway's builder pool: the Docker engines builds run
// on (config builders:, by default the one engine of docker_host). It
// checks their health every 10 seconds, learns their arch and os from
// /info, places each build on a healthy builder whose labels match (sticky
// per project, so its layer cache stays warm; see Place), bounds each
// builder's concurrency, drains builders on request and reports their
// state and disk use (Status).
//
// The pool hands out engine clients in leases; what runs on them is the
// pipeline's. It imports config and builder only.
package builders

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/singleflight"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/redact"
)

// ErrNoBuilder is matched by the error of a placement no builder's labels
// match; ErrNoHealthyBuilder when the matching builders are all unhealthy,
// draining or failed the build's earlier attempt.
var (
	ErrNoBuilder        = errors.New("no builder has the labels")
	ErrNoHealthyBuilder = errors.New("no healthy builder has the labels")
	ErrUnknownBuilder   = errors.New("unknown builder")
)

// Options tune a Pool; zero values get the defaults.
type Options struct {
	// Interval is the time between health checks. Default 10s.
	Interval time.Duration
	// Timeout bounds one health check of one builder. Default 5s.
	Timeout time.Duration
	// Logger hears of health changes and placements.
	Logger zerolog.Logger
}

// Pool is the set of builders. It is safe for concurrent use.
type Pool struct {
	opts    Options
	members []*member

	mu sync.Mutex
	// looping is set while Run checks the builders' health.
	looping bool
	// changed is closed and replaced whenever a slot frees or a builder's
	// state changes: Acquire waits on it.
	changed chan struct{}
	// disks shares one disk-use request per builder among concurrent
	// callers.
	disks singleflight.Group
}

// member is one builder; the fields below mu are guarded by Pool.mu.
type member struct {
	cfg  config.Builder
	host string // the endpoint as shown: credentials stripped
	cli  *client.Client

	checked  bool
	checkAt  time.Time
	healthy  bool
	err      string
	since    time.Time
	engine   map[string]string // arch and os from /info
	draining bool
	running  map[int64]bool
	// results counts the build attempts that ended here by outcome;
	// steps and cached the Dockerfile steps they ran and took from the
	// cache.
	results       map[string]int
	steps, cached int
	// lost counts the times a build found the engine gone (MarkDown);
	// queued the Acquire calls waiting for a slot with this builder as
	// their sticky one.
	lost, queued int
}

// New dials every builder of bs (nothing is contacted yet). Close releases
// the clients.
func New(bs []config.Builder, opts Options) (*Pool, error) {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	p := &Pool{opts: opts, changed: make(chan struct{})}
	for i, b := range bs {
		hostKey, tlsKey := fmt.Sprintf("builders[%d].host", i), fmt.Sprintf("builders[%d].tls", i)
		if b.Name == config.LocalBuilder && len(bs) == 1 {
			hostKey, tlsKey = "docker_host", "docker_tls"
		}
		cli, err := builder.DialKey(b.Host, b.TLS, hostKey, tlsKey)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("builder %s: %w", b.Name, err)
		}
		host := b.Host
		if host == "" {
			host = cli.DaemonHost()
		}
		p.members = append(p.members, &member{cfg: b, host: redact.StripURL(host), cli: cli, running: map[int64]bool{}, results: map[string]int{}})
	}
	return p, nil
}

// Close closes the engine clients.
func (p *Pool) Close() error {
	for _, m := range p.members {
		m.cli.Close()
	}
	return nil
}

// Names are the builders' names in config order.
func (p *Pool) Names() []string {
	names := make([]string, len(p.members))
	for i, m := range p.members {
		names[i] = m.cfg.Name
	}
	return names
}

// Client is builder name's engine client, nil for an unknown name. The
// first builder's client serves what is not a build (readiness, cleanup).
func (p *Pool) Client(name string) *client.Client {
	if m := p.member(name); m != nil {
		return m.cli
	}
	return nil
}

func (p *Pool) member(name string) *member {
	for _, m := range p.members {
		if m.cfg.Name == name {
			return m
		}
	}
	return nil
}

// Run checks the builders' health every Interval until ctx ends.
func (p *Pool) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	p.setLooping(true)
	defer p.setLooping(false)
	for {
		p.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Pool) setLooping(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.looping = on
}

// Check pings every builder at once and records its health; on the first
// answer of an engine it reads its arch and os from /info. A change of
// health is logged.
func (p *Pool) Check(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range p.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.check(ctx, m)
		}()
	}
	wg.Wait()
}

func (p *Pool) check(parent context.Context, m *member) {
	ctx, cancel := context.WithTimeout(parent, p.opts.Timeout)
	defer cancel()
	_, err := m.cli.Ping(ctx)
	var engine map[string]string
	if err == nil {
		p.mu.Lock()
		known := m.engine != nil
		p.mu.Unlock()
		if !known {
			info, ierr := m.cli.Info(ctx)
			if ierr != nil {
				err = fmt.Errorf("info: %w", ierr)
			} else {
				pl := platforms.Normalize(ocispec.Platform{OS: info.OSType, Architecture: info.Architecture})
				engine = map[string]string{"os": pl.OS, "arch": pl.Architecture}
			}
		}
	}
	if parent.Err() != nil {
		return // the pool is stopping: no verdict
	}
	p.setHealth(m, err, engine)
}

// setHealth records a check's outcome and wakes waiters on a change.
func (p *Pool) setHealth(m *member, err error, engine map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	healthy := err == nil
	changed := !m.checked || m.healthy != healthy
	m.checked, m.healthy, m.checkAt = true, healthy, time.Now()
	if engine != nil {
		m.engine = engine
	}
	if err != nil {
		m.err = redact.StripURL(err.Error())
	} else {
		m.err = ""
	}
	if !changed {
		return
	}
	m.since = time.Now()
	ev := p.opts.Logger.Info()
	if !healthy {
		ev = p.opts.Logger.Warn().Str("error", m.err)
	}
	ev.Str("builder", m.cfg.Name).Bool("healthy", healthy).Msg("builder health changed")
	p.broadcast()
}

// MarkDown records that builder name failed (a build found its engine
// gone): it takes no new builds until a health check finds it answering.
func (p *Pool) MarkDown(name string, err error) {
	m := p.member(name)
	if m == nil {
		return
	}
	p.mu.Lock()
	m.lost++
	p.mu.Unlock()
	p.setHealth(m, err, nil)
}

// Record counts a build attempt that ended on builder name with result
// (succeeded, failed, canceled) after running steps Dockerfile steps,
// cached of them from the build cache, for the metrics.
func (p *Pool) Record(name, result string, steps, cached int) {
	m := p.member(name)
	if m == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m.results[result]++
	m.steps += steps
	m.cached += cached
}

// Ping asks builder name's engine whether it answers, within the health
// check's timeout.
func (p *Pool) Ping(ctx context.Context, name string) error {
	m := p.member(name)
	if m == nil {
		return fmt.Errorf("%w %q", ErrUnknownBuilder, name)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Timeout)
	defer cancel()
	_, err := m.cli.Ping(ctx)
	return err
}

// Drain stops (on) or resumes (off) placing new builds on builder name;
// builds running there finish.
func (p *Pool) Drain(name string, on bool) error {
	m := p.member(name)
	if m == nil {
		return fmt.Errorf("%w %q: the builders are %v", ErrUnknownBuilder, name, p.Names())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.draining != on {
		m.draining = on
		p.opts.Logger.Info().Str("builder", name).Bool("draining", on).Msg("builder drain changed")
		p.broadcast()
	}
	return nil
}

// broadcast wakes every waiting Acquire; p.mu is held.
func (p *Pool) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Request is a build asking for a builder.
type Request struct {
	// Build is the build's ID, listed among the builder's running builds.
	Build int64
	// Project is the build's project: the key of its sticky builder.
	Project string
	// Labels must all be among the builder's labels: the project's
	// builder_labels and, for a platform, its os and arch.
	Labels map[string]string
	// Exclude are builders that failed an earlier attempt of the build.
	Exclude []string
}

// Lease is a slot on a builder, held for one build attempt.
type Lease struct {
	// Builder is the builder's name, Host its endpoint (without
	// credentials).
	Builder, Host string
	// Client is the builder's engine.
	Client *client.Client
	// Reason says why this builder was chosen.
	Reason string

	pool  *Pool
	m     *member
	build int64
	once  sync.Once
}

// Release frees the slot; later calls do nothing.
func (l *Lease) Release() {
	l.once.Do(func() {
		l.pool.mu.Lock()
		defer l.pool.mu.Unlock()
		delete(l.m.running, l.build)
		l.pool.broadcast()
	})
}

// Acquire places the build (see Place) and takes a slot on the chosen
// builder, waiting while every matching builder is full. Builders never
// checked are checked first; without Run (a `slipway build`), so are those
// whose last check is stale. It fails at once, with ErrNoBuilder or
// ErrNoHealthyBuilder, when no builder could take the build.
func (p *Pool) Acquire(ctx context.Context, req Request) (*Lease, error) {
	p.checkStale(ctx)
	for {
		p.mu.Lock()
		d, err := Place(p.candidates(req.Exclude), req.Project, req.Labels)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		if !d.Wait {
			m := p.member(d.Builder)
			m.running[req.Build] = true
			p.mu.Unlock()
			l := &Lease{Builder: m.cfg.Name, Host: m.host, Client: m.cli, Reason: d.Reason, pool: p, m: m, build: req.Build}
			// The last health check may be up to Interval old: a builder
			// that went away since gets no build.
			if err := p.Ping(ctx, m.cfg.Name); err != nil {
				l.Release()
				if ctx.Err() != nil {
					return nil, context.Cause(ctx)
				}
				p.MarkDown(m.cfg.Name, err)
				continue
			}
			return l, nil
		}
		wait, sticky := p.changed, p.member(d.Sticky)
		sticky.queued++
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-wait:
		}
		p.mu.Lock()
		sticky.queued--
		p.mu.Unlock()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for a free builder (%s): %w", d.Reason, context.Cause(ctx))
		}
	}
}

// checkStale checks the builders that were never checked and, when Run
// does not check them, those unhealthy or checked longer than Interval
// ago.
func (p *Pool) checkStale(ctx context.Context) {
	p.mu.Lock()
	var todo []*member
	for _, m := range p.members {
		age := time.Since(m.checkAt)
		if !m.checked || !p.looping && (age > p.opts.Interval || !m.healthy) {
			todo = append(todo, m)
		}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.check(ctx, m)
		}()
	}
	wg.Wait()
}

// candidates are the builders' states; p.mu is held.
func (p *Pool) candidates(exclude []string) []Candidate {
	cs := make([]Candidate, len(p.members))
	for i, m := range p.members {
		cs[i] = Candidate{
			Name: m.cfg.Name, Labels: m.labels(), Healthy: m.healthy, Err: m.err, Draining: m.draining,
			Running: len(m.running), Concurrency: max(m.cfg.Concurrency, 1), Excluded: slices.Contains(exclude, m.cfg.Name),
		}
	}
	return cs
}

// labels are the engine's arch and os under the configured labels; p.mu
// is held.
func (m *member) labels() map[string]string {
	l := maps.Clone(m.engine)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, m.cfg.Labels)
	return l
}
