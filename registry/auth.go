package registry

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	dockerconfig "github.com/docker/cli/cli/config"
	dockerregistry "github.com/docker/docker/api/types/registry"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/redact"
)

// ErrUnauthorized reports that a registry refused the credentials (or their
// absence). The error that wraps it names the host and the key to fix.
var ErrUnauthorized = errors.New("registry refused the credentials")

// dockerHub is the canonical name of Docker Hub in slipway; docker.io,
// index.docker.io and registry-1.docker.io are aliases of it.
const dockerHub = "docker.io"

// dockerHubConfigKey is where the docker CLI stores Docker Hub credentials in
// config.json, for historical reasons.
const dockerHubConfigKey = authn.DefaultAuthKey // "https://index.docker.io/v1/"

// Credentials authenticate to one registry. Password and IdentityToken never
// print: fmt's verbs (%v, %+v, %#v, %s, %q) and encoding/json show
// redact.Mask ("***") for them.
type Credentials struct {
	// Username for basic auth and token exchange.
	Username string
	// Password or access token.
	Password string
	// IdentityToken is the OAuth refresh token some registries (ACR, ECR
	// helpers) give `docker login` instead of a password; usually empty.
	IdentityToken string
}

// String shows the username and redacts the secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("{Username:%s Password:%s IdentityToken:%s}", c.Username, redact.Secret(c.Password), redact.Secret(c.IdentityToken))
}

// GoString redacts the secrets for %#v.
func (c Credentials) GoString() string {
	return fmt.Sprintf("registry.Credentials{Username:%q, Password:%q, IdentityToken:%q}", c.Username, redact.Secret(c.Password), redact.Secret(c.IdentityToken))
}

// Format implements fmt.Formatter so that every verb and flag redacts.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	fmt.Fprint(f, c.String())
}

// MarshalJSON redacts the secrets, for loggers that marshal values.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"username":%q,"password":%q,"identitytoken":%q}`, c.Username, redact.Secret(c.Password), redact.Secret(c.IdentityToken)), nil
}

// empty reports whether c carries no credential at all.
func (c Credentials) empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// secrets returns the secret strings of c, for scrubbing messages.
func (c Credentials) secrets() []string {
	var s []string
	for _, v := range []string{c.Password, c.IdentityToken} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// ConfiguredCredentials returns the credentials of the slipway config's
// registries[] by host, for NewKeychain. Entries without a username,
// password or password_file are left out.
func ConfiguredCredentials(regs []config.Registry) map[string]Credentials {
	m := make(map[string]Credentials, len(regs))
	for _, r := range regs {
		c := Credentials{Username: r.Username, Password: r.Password.Value()}
		if !c.empty() {
			m[r.Host] = c
		}
	}
	return m
}

// Keychain finds the credentials of a registry host: the slipway config's
// registries[] first, then the docker CLI's config.json (auths, credsStore
// and credHelpers, as `docker login` leaves them). It is safe for concurrent
// use; config.json is read at each lookup so a later `docker login` is seen
// without a restart. A nil *Keychain has no credentials.
//
// Keychain implements go-containerregistry's authn.Keychain.
type Keychain struct {
	// configured holds each host's credentials behind a func: fmt's
	// reflection on a Keychain reached through an unexported field cannot
	// call Credentials' Format and would print a struct or a pointer's
	// target, but it prints a func as an address with every verb.
	configured      map[string]func() Credentials
	dockerConfigDir string
}

// NewKeychain returns a Keychain of configured (by registry host as in image
// references: "docker.io", "ghcr.io", "127.0.0.1:5000"; copied) over the
// docker config in dockerConfigDir. dockerConfigDir "" means $DOCKER_CONFIG,
// else ~/.docker, read when NewKeychain is called.
func NewKeychain(configured map[string]Credentials, dockerConfigDir string) *Keychain {
	k := &Keychain{configured: make(map[string]func() Credentials, len(configured)), dockerConfigDir: dockerConfigDir}
	for host, c := range configured {
		k.configured[normalizeHost(host)] = func() Credentials { return c }
	}
	if k.dockerConfigDir == "" {
		k.dockerConfigDir = os.Getenv(dockerconfig.EnvOverrideConfigDir)
	}
	if k.dockerConfigDir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			k.dockerConfigDir = filepath.Join(home, ".docker")
		}
	}
	return k
}

// String names the configured hosts and the docker config directory; the
// credentials never print.
func (k *Keychain) String() string {
	if k == nil {
		return "registry.Keychain(nil)"
	}
	hosts := make([]string, 0, len(k.configured))
	for h := range k.configured {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	return fmt.Sprintf("registry.Keychain{configured: %v, dockerConfigDir: %q}", hosts, k.dockerConfigDir)
}

// Format implements fmt.Formatter so that every verb prints String: the
// default formatting of the unexported map would show the passwords.
func (k *Keychain) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// Lookup returns the credentials of host ("docker.io", "ghcr.io",
// "127.0.0.1:5000"; a URL or a Docker Hub alias is accepted) and whether any
// were found. The error reports an unreadable docker config or a failing
// credential helper; it never contains a secret.
func (k *Keychain) Lookup(host string) (Credentials, bool, error) {
	c, _, err := k.lookup(host)
	return c, !c.empty(), err
}

// lookup is Lookup that also says where the credentials come from or would
// be expected, for error messages.
func (k *Keychain) lookup(host string) (Credentials, string, error) {
	host = normalizeHost(host)
	hint := fmt.Sprintf("set registries[].username and password_file for host %s in the slipway config, or run `%s`", host, loginCommand(host))
	if k == nil {
		return Credentials{}, hint, nil
	}
	if c, ok := k.configured[host]; ok {
		return c(), fmt.Sprintf("check registries[].username and password_file of host %s in the slipway config", host), nil
	}
	if k.dockerConfigDir == "" {
		return Credentials{}, hint, nil
	}
	file := filepath.Join(k.dockerConfigDir, dockerconfig.ConfigFileName)
	cf, err := dockerconfig.Load(k.dockerConfigDir)
	if err != nil {
		return Credentials{}, hint, fmt.Errorf("read docker config %s: %w", file, err)
	}
	key := host
	if host == dockerHub {
		key = dockerHubConfigKey
	}
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return Credentials{}, hint, fmt.Errorf("credentials of %s from docker config %s: %w", host, file, err)
	}
	c := Credentials{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken}
	if c.empty() {
		return c, hint, nil
	}
	return c, fmt.Sprintf("the credentials come from %s: run `%s` again, or set registries[].username and password_file for host %s in the slipway config", file, loginCommand(host), host), nil
}

// Resolve implements authn.Keychain: the credentials of the target's
// registry, or anonymous access when there are none.
func (k *Keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	c, ok, err := k.Lookup(target.RegistryStr())
	if err != nil {
		return nil, err
	}
	if !ok {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken}), nil
}

// RegistryAuth returns the X-Registry-Auth header value for host, as the
// engine's ImagePush expects it (base64url JSON of an AuthConfig); an empty
// AuthConfig when there are no credentials.
func (k *Keychain) RegistryAuth(host string) (string, error) {
	c, _, err := k.Lookup(host)
	if err != nil {
		return "", err
	}
	return encodeAuth(normalizeHost(host), c)
}

func encodeAuth(host string, c Credentials) (string, error) {
	ac := dockerregistry.AuthConfig{}
	if !c.empty() {
		ac = dockerregistry.AuthConfig{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken, ServerAddress: host}
	}
	s, err := dockerregistry.EncodeAuthConfig(ac)
	if err != nil {
		// The marshalled struct has only strings: this cannot fail, and the
		// error would not carry the secret anyway.
		return "", fmt.Errorf("encode registry auth for %s: %w", host, err)
	}
	return s, nil
}

// normalizeHost reduces a registry host, URL or Docker Hub alias to the host
// as it appears in image references, lower-cased.
func normalizeHost(host string) string {
	h := strings.ToLower(strings.TrimSpace(host))
	if strings.Contains(h, "://") {
		if u, err := url.Parse(h); err == nil && u.Host != "" {
			h = u.Host
		}
	}
	h, _, _ = strings.Cut(h, "/")
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHub
	}
	return h
}

// loginCommand is the docker CLI command that stores credentials of host.
func loginCommand(host string) string {
	if host == dockerHub {
		return "docker login"
	}
	return "docker login " + host
}
