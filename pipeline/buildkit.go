package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/store"
)

// maxSecretSize is the largest secret value BuildKit accepts (its
// secretsprovider.MaxSecretSize).
const maxSecretSize = 500 << 10

// sshAuthSock is the environment variable naming the SSH agent's socket.
const sshAuthSock = "SSH_AUTH_SOCK"

// buildKitInputs are what a build hands BuildKit besides the context: the
// values of the project's secret mounts, read when the build starts, and
// the SSH agent's socket.
type buildKitInputs struct {
	secrets  map[string]string
	sshAgent string
}

// readBuildKitInputs reads the secrets and finds the SSH agent of project
// p, looking environment variables up with lookupEnv. Errors name the
// key and what to do, never a value.
func readBuildKitInputs(p *config.Project, lookupEnv func(string) (string, bool)) (buildKitInputs, error) {
	var in buildKitInputs
	for i, s := range p.Secrets {
		v, err := readSecret(s, lookupEnv)
		if err != nil {
			return buildKitInputs{}, fmt.Errorf("secrets[%d] (id %s): %w", i, s.ID, err)
		}
		if in.secrets == nil {
			in.secrets = make(map[string]string, len(p.Secrets))
		}
		in.secrets[s.ID] = v
	}
	if p.SSH {
		sock, _ := lookupEnv(sshAuthSock)
		if sock == "" {
			return buildKitInputs{}, fmt.Errorf("ssh: true needs an SSH agent, but %s is not set in slipway's environment: start ssh-agent, add the key with ssh-add, and start slipway with %s set (or remove ssh: true)", sshAuthSock, sshAuthSock)
		}
		in.sshAgent = sock
	}
	return in, nil
}

// readSecret reads one secret's value from its file or environment
// variable.
func readSecret(s config.BuildSecret, lookupEnv func(string) (string, bool)) (string, error) {
	if s.Env != "" {
		v, ok := lookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set in slipway's environment: set it before starting slipway, or use file:", s.Env)
		}
		return v, nil
	}
	f, err := os.Open(s.File)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("read %s: %w", s.File, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", s.File, err)
	}
	if len(b) > maxSecretSize {
		return "", fmt.Errorf("%s is larger than BuildKit's limit of %d KiB for a secret", s.File, maxSecretSize>>10)
	}
	return string(b), nil
}

// withheld names what an untrusted build does not get of project p (its
// secrets, ssh, secret build args, secret build env and hooks), for the
// build log; "" when p has none of them.
func withheld(p *config.Project) string {
	var parts []string
	if len(p.Secrets) > 0 {
		ids := make([]string, len(p.Secrets))
		for i, s := range p.Secrets {
			ids[i] = s.ID
		}
		parts = append(parts, "secrets "+strings.Join(ids, ", "))
	}
	if p.SSH {
		parts = append(parts, "ssh")
	}
	if names := sortedNames(p.SecretBuildArgs); len(names) > 0 {
		parts = append(parts, "secret build args "+strings.Join(names, ", "))
	}
	if names := sortedNames(p.SecretBuildEnv); len(names) > 0 {
		parts = append(parts, "secret build env "+strings.Join(names, ", "))
	}
	if p.Hooks {
		parts = append(parts, "hooks")
	}
	return strings.Join(parts, "; ")
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// prepareBuildKit reads the build's secrets and SSH agent after planning.
// An untrusted build gets none of them, nor secret build args, and its log
// says what was withheld.
func (r *run) prepareBuildKit() error {
	if r.plan.Untrusted {
		p := r.p
		if r.configured != nil {
			p = r.configured // what the untrusted copy r.p lacks
		}
		if what := withheld(p); what != "" {
			r.log.Printf("untrusted build (a pull request from a fork): withheld %s", what)
		}
		return nil
	}
	in, err := readBuildKitInputs(r.p, r.lookupEnv)
	if err != nil {
		return err
	}
	r.bk = in
	return nil
}

// buildKitOptions sets the BuildKit inputs of the build on opts: secret
// mounts, SSH agent, registry cache and credentials. Secret build args are
// dropped for an untrusted build.
func (r *run) buildKitOptions(opts *builder.BuildOptions) {
	opts.Secrets, opts.SSHAgent = r.bk.secrets, r.bk.sshAgent
	opts.CacheFrom, opts.InlineCache = r.p.Cache.From, r.p.Cache.Inline
	opts.Auth = r.buildKitAuth
	if r.plan.Untrusted {
		opts.SecretArgs = nil
	}
}

// buildKitAuth gives BuildKit the credentials of host from the keychain
// that pushes (registries[], then the docker config).
func (r *run) buildKitAuth(host string) (username, secret string, err error) {
	c, _, err := r.keys.Lookup(host)
	if err != nil {
		return "", "", err
	}
	if c.IdentityToken != "" {
		return "", c.IdentityToken, nil
	}
	return c.Username, c.Password, nil
}

// noteCache adds img's steps to the build's cache use (the build result's
// "cache", every platform's together) and returns the note for its "built
// image" line: " (3 of 5 steps cached)", "" when the builder counted no
// steps (classic).
func (r *run) noteCache(img builder.Image) string {
	if img.Steps == 0 {
		return ""
	}
	if r.b.Cache == nil {
		r.b.Cache = &store.CacheUse{}
	}
	r.b.Cache.CachedSteps += img.CachedSteps
	r.b.Cache.TotalSteps += img.Steps
	return fmt.Sprintf(" (%d of %d steps cached)", img.CachedSteps, img.Steps)
}

// BuildKitWarnings is what `slipway validate` warns about the BuildKit
// inputs of cfg's projects, looking environment variables up with
// lookupEnv (validate's own environment, which serve usually shares): each
// secrets: entry whose env: variable is unset, and ssh: true while
// $SSH_AUTH_SOCK is unset or not a socket. Builds of such a project fail
// when they start; a warning, not an error, because serve may run with
// another environment. Each warning is one line naming the config file, the
// key path and what to do; none names a value.
func BuildKitWarnings(cfg *config.Config, lookupEnv func(string) (string, bool)) []string {
	var out []string
	for i := range cfg.Projects {
		p := &cfg.Projects[i]
		for j, s := range p.Secrets {
			if s.Env == "" {
				continue
			}
			if _, ok := lookupEnv(s.Env); !ok {
				out = append(out, fmt.Sprintf("%s: warning: projects[%d].secrets[%d].env: %s is not set in this environment, so builds of %s fail when they start: set %s in slipway's environment before starting it, or use file: instead",
					cfg.Path, i, j, s.Env, p.Name, s.Env))
			}
		}
		if !p.SSH {
			continue
		}
		if problem := sshAgentProblem(lookupEnv); problem != "" {
			out = append(out, fmt.Sprintf("%s: warning: projects[%d].ssh: %s, so builds of %s fail when they start: start ssh-agent (eval \"$(ssh-agent)\"), add the key with ssh-add, and start slipway with %s set, or remove ssh: true",
				cfg.Path, i, problem, p.Name, sshAuthSock))
		}
	}
	return out
}

// sshAgentProblem says what is wrong with $SSH_AUTH_SOCK for forwarding an
// agent, "" when it names a socket.
func sshAgentProblem(lookupEnv func(string) (string, bool)) string {
	sock, _ := lookupEnv(sshAuthSock)
	if sock == "" {
		return sshAuthSock + " is not set"
	}
	fi, err := os.Stat(sock)
	switch {
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Sprintf("%s=%s: %v", sshAuthSock, sock, err)
	case fi.Mode().Type() != os.ModeSocket:
		return fmt.Sprintf("%s=%s is not a socket", sshAuthSock, sock)
	}
	return ""
}
