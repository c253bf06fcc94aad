// Package config holds slipway's configuration schema: the YAML file's
// structure, the defaults applied to it, `${ENV}` expansion, `*_file` secret
// loading and validation that names the file, line and key path of every
// problem.
//
// A Config is plain data: it is built once by Load and then only read, so it
// may be shared between goroutines.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the whole slipway.yaml file.
type Config struct {
	// Listen is the HTTP listen address. Default ":8080".
	Listen string `yaml:"listen"`
	// PublicURL is the base URL used in links (commit statuses, dashboard).
	// Default "http://localhost:8080".
	PublicURL string `yaml:"public_url"`
	// DataDir holds slipway.db, logs/ and git/. Default "./data". Relative
	// paths are taken from the directory of the config file.
	DataDir string `yaml:"data_dir"`
	// DockerHost is the engine endpoint. Default "": DOCKER_HOST, then the
	// local socket.
	DockerHost string `yaml:"docker_host"`
	// Builder selects the engine's builder: "auto" (BuildKit when the engine
	// has it), "buildkit" or "classic". Default "auto".
	Builder string `yaml:"builder"`
	// Concurrency is the number of builds run at once. Default 2.
	Concurrency int `yaml:"concurrency"`
	// BuildTimeout bounds one whole build. Default 30m.
	BuildTimeout Duration `yaml:"build_timeout"`
	// LogLimit caps the stored build log in bytes; the head and the tail are
	// kept with a marker between. Default 10 MiB.
	LogLimit ByteSize `yaml:"log_limit"`
	// APITokensFile names a file with one API token per line. API writes
	// need one of them; with none configured, writes are refused.
	APITokensFile string `yaml:"api_tokens_file"`
	// APITokens is loaded from APITokensFile; never set in YAML.
	APITokens []Secret `yaml:"-"`
	// GitHub configures webhooks and commit statuses.
	GitHub GitHub `yaml:"github"`
	// Git bounds every clone and fetch.
	Git Git `yaml:"git"`
	// Registries hold push credentials per registry host.
	Registries []Registry `yaml:"registries"`
	// DeployTargets are the swarms images are rolled out to, by name.
	DeployTargets map[string]DeployTarget `yaml:"deploy_targets"`
	// Projects are the repositories slipway builds.
	Projects []Project `yaml:"projects"`

	// Path is the file the config was loaded from ("" when built in code).
	Path string `yaml:"-"`
}

// GitHub configures the GitHub integration.
type GitHub struct {
	// WebhookSecret verifies X-Hub-Signature-256. Required by `serve`.
	WebhookSecret Secret `yaml:"webhook_secret"`
	// WebhookSecretFile is read into WebhookSecret when set.
	WebhookSecretFile string `yaml:"webhook_secret_file"`
	// Token authenticates commit statuses and HTTPS clones of private
	// repositories on github.com.
	Token Secret `yaml:"token"`
	// TokenFile is read into Token when set.
	TokenFile string `yaml:"token_file"`
	// APIURL is the REST API base. Default "https://api.github.com/";
	// GitHub Enterprise uses its /api/v3/.
	APIURL string `yaml:"api_url"`
	// MaxPayload caps a webhook body. Default 25 MiB (GitHub's own cap).
	MaxPayload ByteSize `yaml:"max_payload"`
}

// Git bounds clones and fetches so a stalled remote or a git bomb cannot hold
// a worker or fill the disk.
type Git struct {
	// FetchTimeout is the hard wall-clock limit of one clone or fetch.
	// Default 10m.
	FetchTimeout Duration `yaml:"fetch_timeout"`
	// MaxFiles caps the entries of a checkout. Default 200000.
	MaxFiles int `yaml:"max_files"`
	// MaxBytes caps the bytes of a checkout. Default 10 GiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxDepth caps the path depth of a checkout. Default 64.
	MaxDepth int `yaml:"max_depth"`
}

// Registry holds the credentials of one registry host.
type Registry struct {
	// Host is the registry host as in image references ("docker.io",
	// "ghcr.io", "127.0.0.1:5000").
	Host string `yaml:"host"`
	// Username for basic auth / token exchange.
	Username string `yaml:"username"`
	// Password, usually read from PasswordFile.
	Password Secret `yaml:"password"`
	// PasswordFile is read into Password when set.
	PasswordFile string `yaml:"password_file"`
}

// DeployTarget is a swarm reached through one or more manager endpoints.
type DeployTarget struct {
	// Hosts are manager endpoints tried in order (unix://, tcp://, ssh://).
	Hosts []string `yaml:"hosts"`
	// TLS configures tcp:// endpoints.
	TLS TLS `yaml:"tls"`
}

// TLS names the client certificate files of a tcp:// endpoint.
type TLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Project is one repository built into one image.
type Project struct {
	// Name identifies the project in the CLI, API and tags. Required;
	// [a-z0-9][a-z0-9_.-]*.
	Name string `yaml:"name"`
	// Repo is any go-git URL: https, ssh, file. Required.
	Repo string `yaml:"repo"`
	// GitHub is "owner/name", matched against webhook repository.full_name.
	GitHub string `yaml:"github"`
	// DefaultBranch gets the `latest` tag. Default "main".
	DefaultBranch string `yaml:"default_branch"`
	// Branches are patterns (path.Match syntax) of the branches whose
	// pushes build. Default: [DefaultBranch].
	Branches []string `yaml:"branches"`
	// Context is the build context directory inside the checkout.
	// Default ".".
	Context string `yaml:"context"`
	// Dockerfile is relative to Context. Default "Dockerfile".
	Dockerfile string `yaml:"dockerfile"`
	// Target is the multi-stage build target. Default "" (last stage).
	Target string `yaml:"target"`
	// BuildArgs are passed as --build-arg.
	BuildArgs map[string]string `yaml:"build_args"`
	// SecretBuildArgs are build args whose values never reach a log, an
	// answer or an image label.
	SecretBuildArgs map[string]Secret `yaml:"secret_build_args"`
	// Image is the repository pushed to, e.g. docker.io/acme/web. Required.
	Image string `yaml:"image"`
	// Test is run in the built image before anything is pushed.
	Test *Test `yaml:"test"`
	// Tags are extra tag rules; see DESIGN.md.
	Tags []TagRule `yaml:"tags"`
	// Schedules are timed releases.
	Schedules []Schedule `yaml:"schedules"`
	// Deploy binds triggers to deploy targets.
	Deploy []DeployBinding `yaml:"deploy"`
	// GitSSHKeyFile is a private key for ssh:// clones.
	GitSSHKeyFile string `yaml:"git_ssh_key_file"`
	// GitToken authenticates HTTPS clones; default: github.token for
	// github.com URLs.
	GitToken Secret `yaml:"git_token"`
	// GitTokenFile is read into GitToken when set.
	GitTokenFile string `yaml:"git_token_file"`
}

// Test is the test stage of a project.
type Test struct {
	// Command is run in a container of the built image (exec form).
	Command []string `yaml:"command"`
	// Timeout bounds the test container. Default 5m.
	Timeout Duration `yaml:"timeout"`
}

// TagRule adds or replaces default tag rules.
type TagRule struct {
	Type     string `yaml:"type"`
	Name     string `yaml:"name"`
	Pattern  string `yaml:"pattern"`
	Value    string `yaml:"value"`
	Length   int    `yaml:"length"`
	Prefix   string `yaml:"prefix"`
	Suffix   string `yaml:"suffix"`
	EnableOn string `yaml:"enable_on"`
}

// Schedule is a timed release of a branch.
type Schedule struct {
	Name     string `yaml:"name"`
	Cron     string `yaml:"cron"`
	Branch   string `yaml:"branch"`
	Timezone string `yaml:"timezone"`
	CatchUp  *bool  `yaml:"catch_up"`
	Rebuild  bool   `yaml:"rebuild"`
}

// DeployBinding says which triggers deploy to which target and services.
type DeployBinding struct {
	Target   string   `yaml:"target"`
	Stack    string   `yaml:"stack"`
	Services []string `yaml:"services"`
	On       []string `yaml:"on"`
}

// Project returns the project called name, or ErrUnknownProject.
func (c *Config) Project(name string) (*Project, error) {
	for i := range c.Projects {
		if c.Projects[i].Name == name {
			return &c.Projects[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownProject, name, strings.Join(c.projectNames(), ", "))
}

func (c *Config) projectNames() []string {
	names := make([]string, 0, len(c.Projects))
	for _, p := range c.Projects {
		names = append(names, p.Name)
	}
	return names
}

// RegistryFor returns the configured credentials of host, or nil.
func (c *Config) RegistryFor(host string) *Registry {
	for i := range c.Registries {
		if c.Registries[i].Host == host {
			return &c.Registries[i]
		}
	}
	return nil
}

// Secret is a string that never prints: fmt, zerolog and encoding/json see
// "[redacted]". Use Value to read it.
type Secret string

// Value returns the secret's text.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalText redacts the secret in JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Duration is a time.Duration read from "30m" style YAML strings.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size read from "10MiB", "10GB" or a plain number of bytes.
type ByteSize int64

// ErrUnknownProject is returned for a project name the config lacks.
var ErrUnknownProject = errors.New("unknown project")
