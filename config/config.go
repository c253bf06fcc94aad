// Package config holds slipway's configuration schema: the YAML file's
// structure, the defaults applied to it, `${ENV}` expansion, `*_file` secret
// loading and validation that names the file, line and key path of every
// problem.
//
// A Config is plain data: it is built once by Load and then only read, so it
// may be shared between goroutines.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/go-connections/tlsconfig"

	"github.com/slipwayci/slipway/internal/redact"
)

// Config is the whole slipway.yaml file. Unset (zero) values take their
// defaults, stated in each field's comment, from ApplyDefaults; a zero
// number or duration therefore means "the default".
type Config struct {
	// Listen is the HTTP listen address. Default ":8080".
	Listen string `yaml:"listen"`
	// PublicURL is the base URL used in links (commit statuses, dashboard).
	// Default "http://localhost:8080".
	PublicURL string `yaml:"public_url"`
	// DataDir holds slipway.db, logs/ and git/. Default "./data". Relative
	// paths are taken from the directory of the config file.
	DataDir string `yaml:"data_dir"`
	// Database is where builds, deliveries and schedule marks live: ""
	// (default) is SQLite in data_dir for one replica; a postgres:// or
	// postgresql:// URL is a PostgreSQL database shared by any number of
	// `slipway serve` replicas. A Secret: the URL may hold a password.
	Database Secret `yaml:"database"`
	// DockerHost is the engine endpoint (unix://, tcp://, ssh://,
	// npipe://). Default "": DOCKER_HOST, then the local socket. A tcp://
	// endpoint needs DockerTLS.
	DockerHost string `yaml:"docker_host"`
	// DockerTLS configures a tcp:// DockerHost: its certificate files, or
	// insecure: true for plain HTTP. Required for tcp://.
	DockerTLS TLS `yaml:"docker_tls"`
	// Builder selects the engine's builder: "auto" (BuildKit when the engine
	// has it), "buildkit" or "classic". Default "auto".
	Builder string `yaml:"builder"`
	// Concurrency is the number of builds run at once: on the one engine
	// of docker_host, or per builder with builders: (the default of each
	// builder's concurrency). Default 2.
	Concurrency int `yaml:"concurrency"`
	// Builders are the engines builds run on (see Builder). Default: none,
	// which is one builder "local" = docker_host (see BuilderPool).
	Builders []Builder `yaml:"builders"`
	// ReconcileInterval is how often (and once at start) one replica lists
	// the remote heads of the branches that have builds and queues a
	// reconcile build for a head no build knows (a push missed while no
	// replica was up). Default 10m; "off" (or 0) turns reconcile off.
	ReconcileInterval Interval `yaml:"reconcile_interval"`
	// RegistryHooks authenticates the push notifications of registries
	// (POST /hooks/registry). Default: none, the route answers 404.
	RegistryHooks RegistryHooks `yaml:"registry_hooks"`
	// BuildTimeout bounds one whole build. Default 30m.
	BuildTimeout Duration `yaml:"build_timeout"`
	// LogLimit caps the stored build log in bytes; the head and the tail are
	// kept with a marker between. Default 10 MiB.
	LogLimit ByteSize `yaml:"log_limit"`
	// APITokensFile names a file with one API token per line (blank lines
	// and # comments ignored): `name:token` names the token, a line without
	// a colon is a token named "token-N" (N its position among the file's
	// tokens, from 1). API writes need one of them; with none configured,
	// writes are refused. Default "".
	APITokensFile string `yaml:"api_tokens_file"`
	// APITokens is loaded from APITokensFile by Load; never set in YAML.
	APITokens []APIToken `yaml:"-"`
	// SessionSecretFile names a file whose content keys the dashboard's
	// login cookies. Default "": a key generated once and kept in the
	// database, so logins survive restarts and hold on every replica.
	SessionSecretFile string `yaml:"session_secret_file"`
	// SessionSecret is loaded from SessionSecretFile by Load; never set in
	// YAML.
	SessionSecret Secret `yaml:"-"`
	// ProbeExecutable is the static Linux executable that runs deploy
	// probes inside a FROM scratch container on the swarm manager (`EXE
	// probe URL ...`): slipway's own when it is static (the official image's
	// is), else a static build of cmd/slipway-probe. Default "": the running
	// slipway executable.
	ProbeExecutable string `yaml:"probe_executable"`
	// DashboardAuth is the read access of the API and the dashboard:
	// "token" (a Bearer token or the dashboard's token login is needed) or
	// "public". Default "token" when api_tokens_file is set, else "public".
	// Writes always need a token.
	DashboardAuth string `yaml:"dashboard_auth"`
	// EngineGC bounds the engine's build cache; dangling images of a
	// project's builds are always removed after its builds.
	EngineGC EngineGC `yaml:"engine_gc"`
	// History bounds the stored build history (History). Default: every
	// build is kept.
	History History `yaml:"history"`
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
	// Notify are where build outcomes are sent. Default: nowhere.
	Notify []Notify `yaml:"notify"`

	// Path is the file the config was loaded from ("" when built in code).
	Path string `yaml:"-"`
}

// History says which finished builds `serve` deletes, with their logs,
// once an hour (on PostgreSQL one replica at a time). A finished build
// goes when it is older than KeepDays, or when its project has KeepBuilds
// newer builds; queued and running builds, and the newest build of each
// project, always stay. Zero values keep everything.
type History struct {
	// KeepDays deletes the finished builds created more than this many
	// days ago, and the webhook delivery records received before then
	// (never those of the last 7 days, GitHub's redelivery window).
	// Default 0: no age limit.
	KeepDays int `yaml:"keep_days"`
	// KeepBuilds keeps this many of each project's newest builds and
	// deletes the finished ones before them. Default 0: no count limit.
	KeepBuilds int `yaml:"keep_builds"`
}

// On reports whether h deletes anything.
func (h History) On() bool { return h.KeepDays > 0 || h.KeepBuilds > 0 }

// GitHub configures the GitHub integration.
type GitHub struct {
	// WebhookSecret verifies X-Hub-Signature-256. Required by `serve` when
	// a project has `github:` (see RequireWebhookSecret); never only
	// whitespace. Usually "${GITHUB_WEBHOOK_SECRET}". Default "": without
	// it /hooks/github answers 404.
	WebhookSecret Secret `yaml:"webhook_secret"`
	// WebhookSecretFile is read into WebhookSecret by Load when set (one
	// trailing newline trimmed); setting both is an error.
	WebhookSecretFile string `yaml:"webhook_secret_file"`
	// Token authenticates commit statuses and HTTPS clones of private
	// repositories on github.com.
	Token Secret `yaml:"token"`
	// TokenFile is read into Token by Load when set.
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
	// PasswordFile is read into Password by Load when set.
	PasswordFile string `yaml:"password_file"`
}

// DeployTarget is a swarm reached through one or more manager endpoints.
type DeployTarget struct {
	// Hosts are manager endpoints tried in order (unix://, tcp://, ssh://,
	// npipe://). At least one.
	Hosts []string `yaml:"hosts"`
	// TLS configures tcp:// endpoints; required when Hosts has one.
	TLS TLS `yaml:"tls"`
}

// TLS names the client certificate files of a tcp:// endpoint. Relative
// paths are taken from the directory of the config file; each file named
// must be readable when the config is loaded. A tcp:// endpoint needs a
// file set or Insecure: plain HTTP would carry registry credentials (which
// a deploy forwards to the swarm) in clear text.
type TLS struct {
	// Insecure, written explicitly as true, accepts an engine that is not
	// authenticated: without files, plain HTTP to tcp:// endpoints; with
	// them, TLS that does not verify the engine's certificate (docker
	// --tls without --tlsverify). For a trusted network only. Default
	// false.
	Insecure bool `yaml:"insecure"`
	// CAFile verifies the engine's certificate. Default "": the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile is the client certificate; set together with KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client certificate's private key.
	KeyFile string `yaml:"key_file"`
}

// HasFiles reports whether any certificate file is set: the endpoint is
// spoken to with TLS.
func (t TLS) HasFiles() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// ErrPlainTCP is returned by TLS.ClientConfig for a tcp:// endpoint with
// neither certificate files nor insecure: true.
var ErrPlainTCP = errors.New("tcp:// without TLS would be plain HTTP, sending registry credentials in clear text")

// plainTCPHint says how to configure the tls key of a tcp:// endpoint.
func plainTCPHint(key string) string {
	return fmt.Sprintf("set %s with the engine's certificates ({ca_file, cert_file, key_file}), use ssh://, or write %s: {insecure: true} to accept plain HTTP", key, key)
}

// ClientConfig returns the TLS configuration of a tcp:// endpoint: TLS with
// the files (verifying the engine unless Insecure), nil for plain HTTP when
// Insecure is set without files, and an error wrapping ErrPlainTCP when
// neither is set. key names the config key for the error ("deploy_targets.
// production.tls").
func (t TLS) ClientConfig(key string) (*tls.Config, error) {
	if !t.HasFiles() {
		if t.Insecure {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrPlainTCP, plainTCPHint(key))
	}
	c, err := tlsconfig.Client(tlsconfig.Options{
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ExclusiveRootPools: true, InsecureSkipVerify: t.Insecure,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return c, nil
}

// Project is one repository built into one image.
type Project struct {
	// Name identifies the project in the CLI, API and tags. Required;
	// [a-z0-9][a-z0-9_.-]*.
	Name string `yaml:"name"`
	// Repo is any go-git URL: https, ssh, file. Required.
	Repo string `yaml:"repo"`
	// GitHub is "owner/name", matched against webhook repository.full_name.
	// Default "".
	GitHub string `yaml:"github"`
	// DefaultBranch gets the `latest` tag. Default "main".
	DefaultBranch string `yaml:"default_branch"`
	// Branches are patterns (path.Match syntax) of the branches whose
	// pushes build. Default: [DefaultBranch].
	Branches []string `yaml:"branches"`
	// Paths filters branch pushes by the files they change: a push that
	// changes no file the filter lets through builds nothing. Default:
	// every file (no filter). Tags, schedules, manual builds, base-image
	// rebuilds and reconcile are never filtered.
	Paths Paths `yaml:"paths"`
	// PullRequests builds pull requests. Default: off.
	PullRequests PullRequests `yaml:"pull_requests"`
	// Submodules checks the repository's submodules out into the build
	// context, fetched with the same URL rules and limits as the
	// repository. Default false.
	Submodules bool `yaml:"submodules"`
	// Context is the build context directory inside the checkout; it may
	// not leave the checkout. Default ".".
	Context string `yaml:"context"`
	// Dockerfile is relative to Context and may not leave it. Default
	// "Dockerfile".
	Dockerfile string `yaml:"dockerfile"`
	// Target is the multi-stage build target. Default "" (last stage).
	Target string `yaml:"target"`
	// BuildArgs are passed as --build-arg. Default: none.
	BuildArgs map[string]string `yaml:"build_args"`
	// SecretBuildArgs are build args whose values never reach a log, an
	// answer or an image label.
	SecretBuildArgs map[string]Secret `yaml:"secret_build_args"`
	// Image is the repository pushed to, with its registry host and
	// without tag or digest, e.g. docker.io/acme/web. Required.
	Image string `yaml:"image"`
	// Test is run in the built image before anything is pushed. Default
	// nil: no test stage.
	Test *Test `yaml:"test"`
	// Tags are extra tag rules; see DESIGN.md.
	Tags []TagRule `yaml:"tags"`
	// Schedules are timed releases.
	Schedules []Schedule `yaml:"schedules"`
	// Deploy binds triggers to deploy targets.
	Deploy []DeployBinding `yaml:"deploy"`
	// GitSSHKeyFile is a private key for ssh:// clones. Default "".
	GitSSHKeyFile string `yaml:"git_ssh_key_file"`
	// GitToken authenticates HTTPS clones. Default: github.token for
	// https://github.com/ URLs (see Config.GitTokenFor).
	GitToken Secret `yaml:"git_token"`
	// GitTokenFile is read into GitToken by Load when set.
	GitTokenFile string `yaml:"git_token_file"`
	// GitDir puts a .git of the built commit into the build context, as
	// `docker build` on a clone has: HEAD on the branch (detached at a
	// tag), only that commit and its tree (shallow), byte-identical for the
	// same commit so the layer cache still hits. .dockerignore can exclude
	// it. Default true (nil); see WantsGitDir.
	GitDir *bool `yaml:"git_dir"`
	// Platforms builds one image per platform ("os/arch[/variant]", e.g.
	// linux/arm64), each natively on a builder whose os and arch labels
	// match and tested there, and pushes one multi-platform index under
	// the build's tags. Default: none, one image of the builder's own
	// platform.
	Platforms []string `yaml:"platforms"`
	// BuilderLabels restrict the project's builds to builders whose labels
	// include all of these (e.g. {disk: ssd}, {arch: arm64}). Default:
	// none, any builder.
	BuilderLabels map[string]string `yaml:"builder_labels"`
	// BaseImages watches the images the project is built FROM (the bases
	// its builds record). Default: not watched.
	BaseImages BaseImages `yaml:"base_images"`
	// Secrets are BuildKit secret mounts (RUN --mount=type=secret,id=ID),
	// each read from a file or an environment variable of the slipway
	// process when a build starts. Their values reach the build only
	// through the BuildKit session: never a layer, the image history, a
	// label, the build log or an answer. Needs BuildKit. Default: none.
	Secrets []BuildSecret `yaml:"secrets"`
	// SSH forwards the SSH agent at $SSH_AUTH_SOCK of the slipway process
	// to RUN --mount=type=ssh steps (id "default"). Needs BuildKit.
	// Default false.
	SSH bool `yaml:"ssh"`
	// Cache is the registry build cache of BuildKit builds. Default: none.
	Cache BuildCache `yaml:"cache"`

	// BuildRules are Docker Hub's build rules: with any, a push builds only
	// when a rule with autobuild matches its branch or tag (instead of
	// Branches), and the matched rules give the tags, context and
	// Dockerfile. Default: none. See README, Moving from Docker Hub
	// automated builds.
	BuildRules []BuildRule `yaml:"build_rules"`
	// Autotest runs docker-compose.test.yml and *.test.yml next to the
	// Dockerfile after the build, as Docker Hub's autotest does: the build
	// fails and pushes nothing unless their sut service exits 0. Default
	// false.
	Autotest bool `yaml:"autotest"`
	// AutotestTimeout bounds each test file. Default: test.timeout when
	// test is given, else 10m (set by ApplyDefaults when autotest is on).
	AutotestTimeout Duration `yaml:"autotest_timeout"`
	// Hooks runs the repository's hooks/ scripts (pre_build, build,
	// post_push and the others) as processes on the slipway host, with the
	// Docker engine at their disposal: root-equivalent, so set it only for
	// repositories you trust. Default false.
	Hooks bool `yaml:"hooks"`
	// HookTimeout bounds each hook. Default 10m (set by ApplyDefaults when
	// hooks is on).
	HookTimeout Duration `yaml:"hook_timeout"`
	// BuildEnv are Docker Hub's build environment variables: given to
	// hooks and autotests, and as build args when the Dockerfile declares
	// them. Default: none.
	BuildEnv map[string]string `yaml:"build_env"`
	// SecretBuildEnv are build environment variables whose values never
	// reach a log, an answer or an image label. Default: none.
	SecretBuildEnv map[string]Secret `yaml:"secret_build_env"`
}

// Paths are a project's path filter (projects[].paths). Patterns are
// gitignore's, relative to the repository root ("services/web/**", "docs/",
// "*.md", "!keep.md"); see README, Path filters.
type Paths struct {
	// Include: a changed file counts only when it matches one of these.
	// Default: none, every file counts.
	Include []string `yaml:"include"`
	// Exclude: a changed file matching one of these never counts, even when
	// included. Default: none.
	Exclude []string `yaml:"exclude"`
}

// Filtered reports whether any pattern is set.
func (p Paths) Filtered() bool { return len(p.Include) > 0 || len(p.Exclude) > 0 }

// PullRequests are a project's pull-request builds (projects[].pull_requests).
type PullRequests struct {
	// Enabled builds the head of a pull request (refs/pull/N/head) when it
	// is opened, pushed to or reopened, and runs the test and autotest.
	// Default false.
	Enabled bool `yaml:"enabled"`
	// Push pushes the image of a pull request as tag pr-N (and no other).
	// Default false: nothing is pushed.
	Push bool `yaml:"push"`
	// Forks builds pull requests from forks too, untrusted: without
	// secret build args, secrets, ssh or hooks. Default false: they are
	// ignored.
	Forks bool `yaml:"forks"`
}

// WantsGitDir reports whether the build context holds a .git: GitDir, true
// when unset.
func (p *Project) WantsGitDir() bool { return p.GitDir == nil || *p.GitDir }

// RegistryHooks are the credentials a registry's push notification must
// carry (registry_hooks:): a token or an HMAC key, or both (either one then
// admits a notification).
type RegistryHooks struct {
	// Token is compared with "Authorization: Bearer TOKEN" (a CNCF
	// distribution registry's notification endpoint headers) or the
	// ?token= query parameter (Docker Hub webhooks, which cannot set
	// headers). Or TokenFile, not both. Default "".
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Secret keys the HMAC-SHA256 of the body, sent as
	// "X-Slipway-Signature-256: sha256=HEX". Or SecretFile, not both.
	// Default "".
	Secret     Secret `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
}

// On reports whether notifications are accepted at all.
func (h RegistryHooks) On() bool { return h.Token != "" || h.Secret != "" }

// BaseImages is a project's base image watch (base_images:).
type BaseImages struct {
	// Watch rebuilds the default branch's newest built commit when an
	// image its build recorded as a base gets a new digest in its
	// registry. Default false.
	Watch bool `yaml:"watch"`
	// Interval is how often each base is checked with a registry HEAD
	// request (jittered by up to a tenth; a base several projects share is
	// checked at the shortest of their intervals, once). Default 6h; at
	// least 1s.
	Interval Duration `yaml:"interval"`
}

// BuildRule is one of Docker Hub's build rules. It has the fields and keys
// of hub.BuildRule (the pipeline converts it with hub.BuildRule(r)); its
// checks are hub.ValidateRules, run by `slipway validate` and at start.
type BuildRule struct {
	// SourceType is branch or tag (case-insensitive). Required.
	SourceType string `yaml:"source_type"`
	// Source is a branch or tag name matched exactly, or an RE2 regular
	// expression between slashes ("/^v([0-9.]+)$/") found anywhere in the
	// name. Required.
	Source string `yaml:"source"`
	// DockerTag is a comma-separated list of tags: {sourceref} is the
	// branch or tag name, {\1} to {\9} the regex's groups. Required.
	DockerTag string `yaml:"docker_tag"`
	// Dockerfile is relative to the rule's context ("/" counts as unset).
	// Default "": the project's dockerfile.
	Dockerfile string `yaml:"dockerfile"`
	// Context is the build context relative to the repository root, "/"
	// being the root. Default "": the project's context.
	Context string `yaml:"context"`
	// Autobuild lets pushes build through the rule; false limits it to
	// builds started by hand. Default true.
	Autobuild *bool `yaml:"autobuild"`
	// BuildCache lets the build use the engine's cache; false builds with
	// no cache. Default true.
	BuildCache *bool `yaml:"build_cache"`
}

// Test is the test stage of a project.
type Test struct {
	// Command is the test's arguments, as in `docker run IMAGE ARGS`: they
	// follow the image's ENTRYPOINT (or Entrypoint) and replace its CMD.
	// Required unless Entrypoint is a non-empty list.
	Command []string `yaml:"command"`
	// Entrypoint replaces the image's ENTRYPOINT, as `docker run
	// --entrypoint` does (the image's CMD is then not used): nil (default,
	// or null) keeps the image's; [] clears it, so Command runs on its own
	// (exec form: the program and its arguments); a list replaces it.
	Entrypoint []string `yaml:"entrypoint"`
	// Timeout bounds the test container. Default 5m.
	Timeout Duration `yaml:"timeout"`
}

// TagRule adds or replaces default tag rules. Pattern, Value, Prefix and
// Suffix are Go text/template strings (see DESIGN.md for the names).
type TagRule struct {
	// Type is one of branch, sha, semver, schedule, raw, ref. Required.
	Type string `yaml:"type"`
	// Name selects what the rule applies to (e.g. a schedule's name).
	// Default "": every trigger of Type.
	Name string `yaml:"name"`
	// Pattern formats the tag from the trigger (e.g. "{{.Major}}.{{.Minor}}"
	// for semver). Default "": the rule type's default tags.
	Pattern string `yaml:"pattern"`
	// Value is the tag of a raw rule. Required for type raw.
	Value string `yaml:"value"`
	// Length is the number of commit hex digits of a sha rule. Default 0:
	// the rule type's default (7).
	Length int `yaml:"length"`
	// Prefix is prepended to every tag of the rule. Default "".
	Prefix string `yaml:"prefix"`
	// Suffix is appended to every tag of the rule. Default "".
	Suffix string `yaml:"suffix"`
	// EnableOn restricts the rule to some triggers. Default "": always.
	EnableOn string `yaml:"enable_on"`
}

// Schedule is a timed release of a branch.
type Schedule struct {
	// Name identifies the schedule in tags and in deploy triggers
	// ("schedule:weekly"). Required, unique per project, usable in an image
	// tag: [A-Za-z0-9_][A-Za-z0-9_.-]*.
	Name string `yaml:"name"`
	// Cron is a standard 5-field cron spec ("0 3 * * MON") or a descriptor
	// (@daily, @weekly, @every 1h). Required.
	Cron string `yaml:"cron"`
	// Branch is the branch released. Default: the project's DefaultBranch.
	Branch string `yaml:"branch"`
	// Timezone is an IANA zone name the cron spec is read in and the tag
	// date is taken in. Default "": UTC.
	Timezone string `yaml:"timezone"`
	// CatchUp runs a release missed while slipway was down once at start.
	// Default true (set by ApplyDefaults; see CatchesUp).
	CatchUp *bool `yaml:"catch_up"`
	// Rebuild builds even when the branch's commit was already built.
	// Default false: the existing image is re-tagged.
	Rebuild bool `yaml:"rebuild"`
	// Retention deletes this schedule's older versioned tags from the
	// registry after a successful release. Default: off (nothing deleted).
	Retention Retention `yaml:"retention"`
}

// Retention bounds how many versioned tags of a schedule stay in the
// registry. Moving tags and tags of other rules are never deleted.
type Retention struct {
	// Keep is the number of newest versioned tags kept. Default 0: keep
	// every tag.
	Keep int `yaml:"keep"`
}

// EngineGC keeps the engine's disk use bounded after builds.
type EngineGC struct {
	// MaxBuildCache is the build cache size above which the oldest cache is
	// pruned after a build. Default 0: no limit.
	MaxBuildCache ByteSize `yaml:"max_build_cache"`
}

// ScheduleNamed returns the project's schedule called name, nil when there
// is none (or name is empty).
func (p *Project) ScheduleNamed(name string) *Schedule {
	if name == "" {
		return nil
	}
	for i := range p.Schedules {
		if p.Schedules[i].Name == name {
			return &p.Schedules[i]
		}
	}
	return nil
}

// CatchesUp reports whether a missed release is run at start: CatchUp, true
// when unset.
func (s Schedule) CatchesUp() bool { return s.CatchUp == nil || *s.CatchUp }

// DeployBinding says which triggers deploy to which target and services.
type DeployBinding struct {
	// Target names an entry of Config.DeployTargets. Required.
	Target string `yaml:"target"`
	// Stack is the swarm stack the services belong to. Default "".
	Stack string `yaml:"stack"`
	// Services are the swarm services updated to the new image.
	Services []string `yaml:"services"`
	// On are the triggers that deploy, each "kind:pattern" with kind one of
	// branch, tag, schedule, manual and pattern in path.Match syntax
	// ("branch:main", "tag:v*", "schedule:weekly"). At least one.
	On []string `yaml:"on"`
	// ComposeFiles switch the binding to stack mode: the whole stack is
	// deployed from these compose files, merged in order as `docker stack
	// deploy -c a.yml -c b.yml` does, with the new image substituted for
	// every service whose image repository is the project's image. Relative
	// paths are taken from the checkout and may not leave it; absolute paths
	// name files on the slipway host. Stack is required with them. Default:
	// none (service mode).
	ComposeFiles []string `yaml:"compose_files"`
	// Prune removes the stack's services that the compose files no longer
	// name (stack mode only). Default false: nothing is removed.
	Prune bool `yaml:"prune"`
	// Timeout bounds the wait for one service to converge on the new image
	// (and, separately, the wait for its rollback). Default 5m.
	Timeout Duration `yaml:"deploy_timeout"`
	// Rollback rolls a service that fails to converge back to its previous
	// spec. Default true (nil means true).
	Rollback *bool `yaml:"rollback"`
	// StableFor is how long the new tasks must keep running after the
	// swarm converged (no exit, no restart, healthy when the image has a
	// HEALTHCHECK); otherwise the deploy is rolled back like a failed
	// update. Default: the service's update monitor period, at least 10s.
	StableFor Duration `yaml:"stable_for"`
	// Probe is an HTTP check run once each service converged, from a
	// short-lived container on the service's (attachable) network; a
	// failing probe rolls the deploy back. Default nil: no probe.
	Probe *Probe `yaml:"probe"`
}

// Probe is an HTTP check of a deployed service: GET URL until it answers
// Status, retried for up to Timeout.
type Probe struct {
	// URL is an http:// URL on the stack's network, such as
	// http://web_app:8080/healthz. Required.
	URL string `yaml:"url"`
	// Status is the expected status code. Default 200.
	Status int `yaml:"status"`
	// Timeout bounds the attempts together. Default 30s.
	Timeout Duration `yaml:"timeout"`
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
// redact.Mask ("***"), or "" for an unset secret. Use Value to read it.
type Secret string

// APIToken is one token of api_tokens_file.
type APIToken struct {
	// Name says who uses the token: builds record it as who started or
	// canceled them, and logs show it. It is not secret.
	Name string
	// Token is the secret a client sends as "Authorization: Bearer".
	Token Secret
}

// Value returns the secret's text.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string { return redact.Secret(string(s)) }

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalText redacts the secret in JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Duration is a time.Duration read from "30m" style YAML strings. A plain
// number is refused: it has no unit.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as time.Duration does ("30m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// Interval is a Duration that may be "off" (or 0): IntervalOff.
type Interval Duration

// IntervalOff is an Interval turned off.
const IntervalOff Interval = -1

// On reports whether the interval is set and not off.
func (i Interval) On() bool { return i > 0 }

// D returns the interval as a time.Duration; 0 when off.
func (i Interval) D() time.Duration { return time.Duration(max(i, 0)) }

// String formats the interval as time.Duration does, or "off".
func (i Interval) String() string {
	if i < 0 {
		return "off"
	}
	return time.Duration(i).String()
}

// ByteSize is a size read from "10MiB", "10GB" or a plain number of bytes.
// IEC units (KiB, MiB, GiB, TiB) and docker-style single letters (k, m, g,
// t) are powers of 1024; SI units (kB, MB, GB, TB) are powers of 1000.
// Units are case-insensitive.
type ByteSize int64

// String formats the size with the largest IEC unit that divides it exactly
// ("10MiB"), else in bytes ("1000B").
func (b ByteSize) String() string { return formatByteSize(int64(b)) }

// ErrUnknownProject is returned for a project name the config lacks.
var ErrUnknownProject = errors.New("unknown project")

// Notification kinds (Notify.Kind) and events (Notify.On).
const (
	NotifyWebhook = "webhook"
	NotifySlack   = "slack"

	EventFailed         = "failed"
	EventFixed          = "fixed"
	EventRolledBack     = "rolled_back"
	EventDeployed       = "deployed"
	EventScheduleFailed = "schedule_failed"
)

// NotifyEvents are the events a notify target can ask for.
var NotifyEvents = []string{EventFailed, EventFixed, EventRolledBack, EventDeployed, EventScheduleFailed}

// Notify is a target build outcomes are sent to, in the background with
// retries (notify:).
type Notify struct {
	// Name names the target in logs and metrics. Required, unique.
	Name string `yaml:"name"`
	// Kind is "webhook" (JSON of the build result and its event, signed
	// X-Slipway-Signature-256) or "slack" (an incoming webhook message).
	// Required.
	Kind string `yaml:"kind"`
	// URL receives the POSTs. Required. A Slack URL is a secret: it never
	// reaches a log.
	URL Secret `yaml:"url"`
	// Secret keys the webhook's HMAC-SHA256 signature (or SecretFile, not
	// both). Required for kind webhook.
	Secret     Secret `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// On are the events sent. Default: all of NotifyEvents.
	On []string `yaml:"on"`
	// Projects are path.Match patterns of the projects whose builds are
	// sent. Default ["*"].
	Projects []string `yaml:"projects"`
}
