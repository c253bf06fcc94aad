package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrNeedsBuildKit is matched by the error of a build that asks for what
// only BuildKit serves (secret mounts, SSH forwarding) from the classic
// builder.
var ErrNeedsBuildKit = errors.New("needs BuildKit")

// AuthFunc returns the credentials of a registry host ("docker.io",
// "127.0.0.1:5000") for the engine's BuildKit, which asks through the build
// session when it pulls a base image or a cache image. secret is a password
// or an identity token (then username is ""); both "" mean anonymous.
type AuthFunc func(host string) (username, secret string, err error)

// attachables are the services the build session offers the engine for
// opts: registry credentials, secret mounts and the SSH agent.
func attachables(opts BuildOptions) ([]session.Attachable, error) {
	var as []session.Attachable
	if opts.Auth != nil {
		as = append(as, &authServer{creds: opts.Auth})
	}
	if len(opts.Secrets) > 0 {
		m := make(map[string][]byte, len(opts.Secrets))
		for id, v := range opts.Secrets {
			m[id] = []byte(v)
		}
		as = append(as, secretsprovider.FromMap(m))
	}
	if opts.SSHAgent != "" {
		fi, err := os.Stat(opts.SSHAgent)
		if err != nil {
			return nil, fmt.Errorf("ssh agent: %w: start an agent and set SSH_AUTH_SOCK for slipway, or remove ssh: true", err)
		}
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("ssh agent: %s is not a socket: SSH_AUTH_SOCK must name a running agent's socket", opts.SSHAgent)
		}
		p, err := sshprovider.NewSSHAgentProvider([]sshprovider.AgentConfig{{ID: "default", Paths: []string{opts.SSHAgent}}})
		if err != nil {
			return nil, fmt.Errorf("ssh agent %s: %w", opts.SSHAgent, err)
		}
		as = append(as, p)
	}
	return as, nil
}

// needsBuildKit names what opts asks of BuildKit, in a stable order;
// nothing when the classic builder can build it.
func needsBuildKit(opts BuildOptions) []string {
	var what []string
	if len(opts.Secrets) > 0 {
		ids := make([]string, 0, len(opts.Secrets))
		for id := range opts.Secrets {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			what = append(what, "secret "+id)
		}
	}
	if opts.SSHAgent != "" {
		what = append(what, "ssh")
	}
	return what
}

// authServer answers BuildKit's credential requests from an AuthFunc. The
// token methods stay unimplemented: BuildKit then authenticates with the
// credentials itself.
type authServer struct {
	auth.UnimplementedAuthServer
	creds AuthFunc
}

func (a *authServer) Register(s *grpc.Server) { auth.RegisterAuthServer(s, a) }

// Credentials returns the credentials of req's host. A failed lookup is
// reported without the credentials it may have read.
func (a *authServer) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	user, secret, err := a.creds(req.GetHost())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "credentials of %s: %v", req.GetHost(), err)
	}
	return &auth.CredentialsResponse{Username: user, Secret: secret}, nil
}
