package builder

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/config"
)

// Dial returns a client of the engine at host ("" means DOCKER_HOST, then
// the local socket), negotiating the API version on first use so the same
// binary talks to engines from API 1.41 to current ones. It is DialKey with
// the keys docker_host and docker_tls.
//
// From DOCKER_HOST, TLS comes from DOCKER_CERT_PATH and DOCKER_TLS_VERIFY as
// for the docker CLI, and a tcp:// DOCKER_HOST without DOCKER_CERT_PATH is
// refused with config.ErrPlainTCP.
func Dial(host string, t config.TLS) (*client.Client, error) {
	return DialKey(host, t, "docker_host", "docker_tls")
}

// DialKey returns a client of the engine at host, a unix://, tcp://,
// ssh:// or npipe:// URL ("" as Dial); hostKey and tlsKey are the config
// keys its errors name ("builders[1].host", "builders[1].tls").
//
// A tcp:// host is spoken to with TLS from t: its certificate files, not
// verifying the engine when t.Insecure; plain HTTP only with t.Insecure and
// no files. A tcp:// host with neither is refused with config.ErrPlainTCP,
// since the engine is sent registry credentials. An ssh:// host is reached
// through `ssh HOST docker system dial-stdio` as by the docker CLI, in
// batch mode: a key that needs a passphrase fails instead of prompting.
// Nothing is contacted yet.
func DialKey(host string, t config.TLS, hostKey, tlsKey string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	key := hostKey
	if host == "" {
		host, key = os.Getenv(client.EnvOverrideHost), "DOCKER_HOST"
		if isScheme(host, "tcp") && os.Getenv(client.EnvOverrideCertPath) == "" {
			return nil, fmt.Errorf("docker engine %s (DOCKER_HOST): %w: set DOCKER_CERT_PATH (and DOCKER_TLS_VERIFY=1) as for the docker CLI, or set %s with %s: {insecure: true} to accept plain HTTP", host, config.ErrPlainTCP, hostKey, tlsKey)
		}
	} else {
		switch {
		case isScheme(host, "tcp"):
			tc, err := t.ClientConfig(tlsKey)
			if err != nil {
				return nil, fmt.Errorf("docker engine %s (%s): %w", host, hostKey, err)
			}
			// The client speaks https when its transport has a TLS
			// config; WithHost then sets the transport's dialer.
			opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}), client.WithHost(host))
		case isScheme(host, "ssh"):
			helper, err := connhelper.GetConnectionHelperWithSSHOpts(host, []string{"-o BatchMode=yes"})
			if err != nil {
				return nil, fmt.Errorf("docker engine %s (%s): %w", host, hostKey, err)
			}
			opts = append(opts,
				client.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: helper.Dialer}}),
				client.WithHost(helper.Host),
				client.WithDialContext(helper.Dialer),
			)
		default:
			opts = append(opts, client.WithHost(host))
		}
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine %q (%s): %w", host, key, err)
	}
	negotiate(cli)
	return cli, nil
}

// negotiateTimeout bounds the version negotiation of Dial.
const negotiateTimeout = 5 * time.Second

// negotiate settles the client's API version before the client is shared.
// The docker client negotiates lazily on its first request and some of its
// calls read the version without its lock, so two first requests at once
// race. An engine that does not answer within negotiateTimeout is
// negotiated with on first use instead (its callers report it down).
func negotiate(cli *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), negotiateTimeout)
	defer cancel()
	cli.NegotiateAPIVersion(ctx)
}

// isScheme reports whether host is a scheme:// endpoint.
func isScheme(host, scheme string) bool {
	u, err := url.Parse(host)
	return err == nil && u.Scheme == scheme
}
