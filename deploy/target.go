package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

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
// most 15s. The API version is negotiated, so engines from API 1.41 on
// work.
//
// Failover happens here only: a Target stays on its manager, and a rollout
// whose manager goes away fails; the next deploy connects afresh. When no
// host qualifies the error lists every host's failure; a host that answers
// but is not a manager is reported with ErrNotManager.
func Connect(ctx context.Context, name string, t config.DeployTarget) (*Target, error) {
	if len(t.Hosts) == 0 {
		return nil, fmt.Errorf("deploy target %q has no hosts: list its managers in deploy_targets.%s.hosts", name, name)
	}
	var errs hostErrors
	for _, host := range t.Hosts {
		cli, err := dial(host, t.TLS, "deploy_targets."+name+".tls")
		if err == nil {
			if err = checkHost(ctx, cli, host); err != nil {
				cli.Close()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("deploy target %q: %w", name, context.Cause(ctx))
			}
			errs = append(errs, redacted(fmt.Errorf("%s: %w", redactHost(host), err), host))
			continue
		}
		return &Target{name: name, host: redactHost(host), cli: cli}, nil
	}
	return nil, fmt.Errorf("deploy target %q: no swarm manager answered: %w", name, errs)
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

// checkHost pings the endpoint and checks that it is a swarm manager.
func checkHost(ctx context.Context, cli *client.Client, host string) error {
	ctx, cancel := context.WithTimeout(ctx, hostTimeout)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
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
