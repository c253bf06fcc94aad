package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/redact"
)

// hostTimeout bounds the attempt at one manager endpoint (dial, ping and
// info), so a host that does not answer cannot hold the deploy before the
// next one is tried.
const hostTimeout = 15 * time.Second

// ErrNotManager marks an endpoint that answers but is not a swarm manager
// (not in swarm mode, or a worker).
var ErrNotManager = errors.New("not a swarm manager")

// Target is a connection to one manager of a deploy target's swarm. It is
// safe for concurrent use; Close it when done.
type Target struct {
	name string
	host string // redacted
	cli  *client.Client
}

// Connect returns a connection to the first of t.Hosts that answers and is
// a swarm manager, tried in order: unix:// and npipe:// sockets, tcp://
// (TLS with t.TLS's files; plain HTTP only with an explicit insecure: true
// and no files, else the host is refused with config.ErrPlainTCP) and ssh://
// through the docker CLI's connection helper (`ssh … docker system
// dial-stdio` on the remote host, ssh in batch mode). Each host gets at
// most 15s, and when ctx's deadline is nearer an equal share of the time
// left (a silent first host leaves time for the next). The API version is
// negotiated, so engines from API 1.41 on work.
//
// Failover happens here only: a Target stays on its manager, and a rollout
// whose manager goes away fails; the next deploy connects afresh. When no
// host qualifies the error lists every host's failure; a host that answers
// but is not a manager is reported with ErrNotManager.
func Connect(ctx context.Context, name string, t config.DeployTarget) (*Target, error) {
	if len(t.Hosts) == 0 {
		return nil, errNoHosts(name)
	}
	target, err := connect(ctx, name, t)
	if err != nil {
		return nil, fmt.Errorf("deploy target %q: %w", name, err)
	}
	return target, nil
}

func errNoHosts(name string) error {
	return fmt.Errorf("deploy target %q has no hosts: list its managers in deploy_targets.%s.hosts", name, name)
}

// connect is Connect with at least one host; its error does not name the
// target.
func connect(ctx context.Context, name string, t config.DeployTarget) (*Target, error) {
	var errs hostErrors
	for i, host := range t.Hosts {
		cli, err := dial(host, t.TLS, "deploy_targets."+name+".tls")
		if err == nil {
			if err = checkHost(ctx, cli, hostBudget(ctx, len(t.Hosts)-i)); err != nil {
				cli.Close()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			errs = append(errs, redacted(fmt.Errorf("%s: %w", redactHost(host), err), host))
			continue
		}
		return &Target{name: name, host: redactHost(host), cli: cli}, nil
	}
	return nil, fmt.Errorf("no swarm manager answered: %w", errs)
}

// hostErrors are the failures of every host tried, in order, on one line.
type hostErrors []error

func (e hostErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = strings.TrimSpace(err.Error())
	}
	return strings.Join(msgs, "; ")
}

func (e hostErrors) Unwrap() []error { return e }

// dial builds a client of one endpoint; nothing is contacted yet.
func dial(host string, tls config.TLS, tlsKey string) (*client.Client, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("invalid host URL: %w", err)
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	switch u.Scheme {
	case "unix", "npipe":
		opts = append(opts, client.WithHost(host))
	case "tcp":
		tc, err := tls.ClientConfig(tlsKey)
		if err != nil {
			return nil, err
		}
		// The client speaks https when its transport has a TLS config;
		// WithHost then sets the transport's dialer.
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}), client.WithHost(host))
	case "ssh":
		// BatchMode: a password or passphrase prompt has no one to answer
		// it; fail instead of waiting.
		helper, err := connhelper.GetConnectionHelperWithSSHOpts(host, []string{"-o BatchMode=yes"})
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			client.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: helper.Dialer}}),
			client.WithHost(helper.Host),
			client.WithDialContext(helper.Dialer),
		)
	default:
		return nil, fmt.Errorf("unsupported scheme %q: use unix://, tcp://, ssh:// or npipe://", u.Scheme)
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, err
	}
	return cli, nil
}

// hostBudget is the time the next of left hosts gets: hostTimeout, or
// when ctx's deadline is nearer an equal share of the time left, so that
// a first host that does not answer leaves time for the others; 0 (ctx's
// deadline alone) for the last host then.
func hostBudget(ctx context.Context, left int) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return hostTimeout
	}
	share := time.Until(deadline) / time.Duration(left)
	switch {
	case share >= hostTimeout:
		return hostTimeout
	case left == 1:
		return 0
	}
	return share.Truncate(10 * time.Millisecond)
}

// checkHost pings the endpoint and checks that it is a swarm manager,
// within timeout (0: ctx's deadline alone).
func checkHost(ctx context.Context, cli *client.Client, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if _, err := cli.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %s: %w", timeout, ctx.Err())
		}
		return fmt.Errorf("no answer: %w", err)
	}
	info, err := cli.Info(ctx)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	return checkManager(info)
}

// checkManager reports why an engine cannot take service updates, nil when
// it is a reachable swarm manager.
func checkManager(info system.Info) error {
	s := info.Swarm
	switch {
	case s.LocalNodeState != swarm.LocalNodeStateActive:
		return fmt.Errorf("%w: the engine is not in swarm mode (state %q); list a manager of the swarm in hosts, or run `docker swarm init` on this engine",
			ErrNotManager, s.LocalNodeState)
	case !s.ControlAvailable:
		return fmt.Errorf("%w: node %s is a swarm worker; list a manager's endpoint in hosts (`docker node ls` on a manager shows them) or promote this node with `docker node promote`",
			ErrNotManager, s.NodeID)
	}
	return nil
}

// redactHost hides the credentials of an endpoint URL (redact.URL) before
// it reaches a message.
func redactHost(host string) string {
	if _, err := url.Parse(host); err != nil {
		return "(invalid host URL)"
	}
	return redact.URL(host)
}

// redacted hides the password of host's URL in err's message (the docker
// client quotes the host it could not reach); errors.Is and As still see
// err.
func redacted(err error, host string) error {
	u, perr := url.Parse(host)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return redact.Error(err, pw)
	}
	return err
}

// Name returns the deploy target's name.
func (t *Target) Name() string { return t.name }

// Host returns the endpoint the target is connected through (a password in
// it redacted).
func (t *Target) Host() string { return t.host }

// Close releases the connection (and an ssh endpoint's ssh process).
func (t *Target) Close() error { return t.cli.Close() }

// Targets keeps one connection per deploy target for reads that repeat
// across requests (what the deployments page shows): Get connects on a
// target's first use and returns the same Target afterwards, and Failed
// drops a connection whose endpoint stopped answering, so that the next
// Get connects afresh (failing over to the next host). Deploys do not use
// it: each connects on its own (Connect). Safe for concurrent use; Close
// it on shutdown.
type Targets struct {
	cfg map[string]config.DeployTarget

	mu     sync.Mutex
	slots  map[string]*slot
	closed bool
}

// slot is one target's kept connection; sem is held while connecting, so
// that concurrent Gets of a target make one connection.
type slot struct {
	sem    chan struct{}
	target *Target // nil when not connected
}

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("the deploy targets are closed: slipway is stopping")

// NewTargets returns a Targets of the configured deploy targets; nothing
// is contacted until Get.
func NewTargets(cfg map[string]config.DeployTarget) *Targets {
	return &Targets{cfg: cfg, slots: map[string]*slot{}}
}

// Get returns the kept connection to deploy target name, connecting first
// (as Connect does) when there is none. When ctx ends first, or no host
// answers, the error is an *UnreachableError; a target missing from the
// configuration, one whose only managers are not managers (ErrNotManager)
// and a refused plain-HTTP host (config.ErrPlainTCP) are not.
func (p *Targets) Get(ctx context.Context, name string) (*Target, error) {
	cfg, ok := p.cfg[name]
	if !ok {
		return nil, fmt.Errorf("deploy target %q is not in deploy_targets: add it there or fix the deploy binding's target", name)
	}
	if len(cfg.Hosts) == 0 {
		return nil, errNoHosts(name)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	s := p.slots[name]
	if s == nil {
		s = &slot{sem: make(chan struct{}, 1)}
		p.slots[name] = s
	}
	p.mu.Unlock()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, &UnreachableError{Target: name, Err: context.Cause(ctx)}
	}
	defer func() { <-s.sem }()
	p.mu.Lock()
	t := s.target
	p.mu.Unlock()
	if t != nil {
		return t, nil
	}
	t, err := connect(ctx, name, cfg)
	switch {
	case ctx.Err() != nil && err != nil:
		return nil, &UnreachableError{Target: name, Err: context.Cause(ctx)}
	case errors.Is(err, ErrNotManager), errors.Is(err, config.ErrPlainTCP):
		return nil, fmt.Errorf("deploy target %q: %w", name, err)
	case err != nil:
		return nil, &UnreachableError{Target: name, Err: err}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		t.Close()
		return nil, ErrClosed
	}
	s.target = t
	return t, nil
}

// Failed tells the Targets that a use of t failed with err. When err says
// the endpoint stopped answering (the connection failed, the time ran out,
// the engine is unavailable, as a demoted manager is), t is closed and
// dropped: the next Get connects afresh. An engine's answer (a service not
// found, say) keeps it.
func (p *Targets) Failed(t *Target, err error) {
	if !LostConnection(err) {
		return
	}
	p.mu.Lock()
	s := p.slots[t.name]
	drop := s != nil && s.target == t
	if drop {
		s.target = nil
	}
	p.mu.Unlock()
	if drop {
		t.Close()
	}
}

// Close closes every kept connection; Get fails with ErrClosed afterwards.
func (p *Targets) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for _, s := range p.slots {
		if s.target != nil {
			errs = append(errs, s.target.Close())
			s.target = nil
		}
	}
	return errors.Join(errs...)
}

// LostConnection reports whether err says an engine endpoint stopped
// answering, rather than that the engine answered with an error: the
// connection failed or broke, the deadline passed, or the engine is
// unavailable (503, as a manager that lost its role answers).
func LostConnection(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	return client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		cerrdefs.IsUnavailable(err)
}

// UnreachableError is a deploy target none of whose hosts answered (Err
// says how each failed, or that the time ran out).
type UnreachableError struct {
	Target string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("deploy target %q is unreachable (%v): check that a manager in deploy_targets.%s.hosts is up and that slipway's host can reach it (network, firewall, ssh access, TLS files)",
		e.Target, e.Err, e.Target)
}

func (e *UnreachableError) Unwrap() error { return e.Err }
