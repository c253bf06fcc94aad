package builder

import (
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/config"
)

// Dial returns a client of the engine at host ("" means DOCKER_HOST, then
// the local socket), negotiating the API version on first use so the same
// binary talks to engines from API 1.41 to current ones.
//
// A tcp:// host is spoken to with TLS from t (docker_tls): its certificate
// files, not verifying the engine when t.Insecure; plain HTTP only with
// t.Insecure and no files. A tcp:// host with neither is refused with
// config.ErrPlainTCP, since the engine is sent registry credentials. From
// DOCKER_HOST, TLS comes from DOCKER_CERT_PATH and DOCKER_TLS_VERIFY as for
// the docker CLI, and a tcp:// DOCKER_HOST without DOCKER_CERT_PATH is
// refused the same way.
func Dial(host string, t config.TLS) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	key := "docker_host"
	if host == "" {
		host, key = os.Getenv(client.EnvOverrideHost), "DOCKER_HOST"
		if isTCP(host) && os.Getenv(client.EnvOverrideCertPath) == "" {
			return nil, fmt.Errorf("docker engine %s (DOCKER_HOST): %w: set DOCKER_CERT_PATH (and DOCKER_TLS_VERIFY=1) as for the docker CLI, or set docker_host with docker_tls: {insecure: true} to accept plain HTTP", host, config.ErrPlainTCP)
		}
	} else {
		if isTCP(host) {
			tc, err := t.ClientConfig("docker_tls")
			if err != nil {
				return nil, fmt.Errorf("docker engine %s (docker_host): %w", host, err)
			}
			// The client speaks https when its transport has a TLS
			// config; WithHost then sets the transport's dialer.
			opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}))
		}
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine %q (%s): %w", host, key, err)
	}
	return cli, nil
}

// isTCP reports whether host is a tcp:// endpoint.
func isTCP(host string) bool {
	u, err := url.Parse(host)
	return err == nil && u.Scheme == "tcp"
}
