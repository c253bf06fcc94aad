package builder

import (
	"fmt"

	"github.com/docker/docker/client"
)

// Dial returns a client of the engine at host ("" means DOCKER_HOST, then
// the local socket), negotiating the API version on first use so the same
// binary talks to engines from API 1.41 to current ones.
func Dial(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine %q (docker_host): %w", host, err)
	}
	return cli, nil
}
