package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/robfig/cron/v3"

	"github.com/slipwayci/slipway/hub"
)

// ValidationError lists every problem of a config file. Callers get it with
// errors.As; its text prints one problem per line as
// "slipway.yaml:14: projects[0].image: required".
type ValidationError struct {
	// File is the config file as the user named it; "" for a Config built
	// in code.
	File string
	// Problems are ordered by line.
	Problems []Problem
}

// Problem is one thing wrong in a config.
type Problem struct {
	// Line is the 1-based line of the key, or of the enclosing mapping
	// when the key is missing; 0 when unknown (a Config built in code).
	Line int
	// Path is the key path, e.g. "projects[0].schedules[1].cron"; "" for
	// problems of the whole file.
	Path string
	// Msg says what is wrong and, where it helps, what to do. It never
	// contains a secret.
	Msg string
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.format(p))
	}
	return b.String()
}

func (e *ValidationError) format(p Problem) string {
	prefix := e.File
	if prefix == "" {
		prefix = "config"
	}
	if p.Line > 0 {
		prefix += ":" + strconv.Itoa(p.Line)
	}
	if p.Path == "" {
		return prefix + ": " + p.Msg
	}
	return prefix + ": " + p.Path + ": " + p.Msg
}

// ErrNoWebhookSecret is returned by RequireWebhookSecret.
var ErrNoWebhookSecret = errors.New("no GitHub webhook secret")

// RequireWebhookSecret returns an error wrapping ErrNoWebhookSecret when a
// project has `github:` (it is built on GitHub's push deliveries) but no
// webhook secret is configured: `serve` refuses to accept unsigned webhooks.
// Without any `github:` project the secret is optional (schedules-only or
// API-only setups) and serve answers /hooks/github with 404.
func (c *Config) RequireWebhookSecret() error {
	if c.GitHub.WebhookSecret != "" {
		return nil
	}
	for i, p := range c.Projects {
		if p.GitHub != "" {
			return fmt.Errorf("%w: projects[%d] (%s) has github: %s, whose push deliveries must be signed: set github.webhook_secret (e.g. to ${GITHUB_WEBHOOK_SECRET}) or github.webhook_secret_file in %s, or remove the project's github: key", ErrNoWebhookSecret, i, p.Name, p.GitHub, c.describeFile())
		}
	}
	return nil
}

func (c *Config) describeFile() string {
	if c.Path == "" {
		return "the config"
	}
	return c.Path
}

// Check is a validation that lives in a package config cannot import:
// tag rules are rendered by registry, which imports config
// (registry.CheckConfig). Load and Validate run the checks they are given
// after their own, and only when those found nothing, so a Check may rely
// on a valid Config. A Check returns problems with key paths and no lines:
// Load gives them the line of their key and hides secrets in them as in
// its own.
type Check func(*Config) []Problem

// Validate checks c, then runs checks, and returns a *ValidationError
// listing every problem, or nil. It checks values only: call ApplyDefaults
// first on a Config built in code, since unset values are not defaults
// here. Files (*_file, api_tokens_file) are read and checked by Load, not
// by Validate, and problems carry no line numbers.
func (c *Config) Validate(checks ...Check) error {
	v := &checker{lineOf: func(string) int { return 0 }}
	v.config(c)
	if len(v.problems) == 0 {
		v.run(c, checks)
	}
	if len(v.problems) > 0 {
		return &ValidationError{File: c.Path, Problems: v.problems}
	}
	return nil
}

// run runs checks on c, adding their problems with lines.
func (v *checker) run(c *Config, checks []Check) {
	for _, check := range checks {
		for _, p := range check(c) {
			p.Line = v.lineOf(p.Path)
			v.problems = append(v.problems, p)
		}
	}
}

// buildRules checks a project's Docker Hub build rules as Hub does
// (hub.ValidateRules): regexes and their groups, paths.
func (v *checker) buildRules(p string, rules []BuildRule) {
	hubRules := make([]hub.BuildRule, len(rules))
	for i, r := range rules {
		hubRules[i] = hub.BuildRule(r)
	}
	for _, err := range hub.ValidateRules(hubRules) {
		var rp *hub.RuleProblem
		if errors.As(err, &rp) {
			v.add(fmt.Sprintf("%s.build_rules[%d].%s", p, rp.Rule, rp.Key), "%s", rp.Msg)
		} else {
			v.add(p+".build_rules", "%v", err)
		}
	}
}

// checker collects the problems of a Config.
type checker struct {
	lineOf   func(path string) int
	problems []Problem
}

func (v *checker) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Line: v.lineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	projectNameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	scheduleNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	githubRepoRe   = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	labelKeyRe     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*$`)
)

func (v *checker) config(c *Config) {
	v.listen("listen", c.Listen)
	v.httpURL("public_url", c.PublicURL, `such as "https://slipway.example.com"`)
	if c.DataDir == "" {
		v.add("data_dir", "required")
	}
	v.database("database", c.Database.Value())
	if c.DockerHost != "" {
		v.endpoint("docker_host", c.DockerHost)
		v.tcpTLS("docker_host", "docker_tls", []string{c.DockerHost}, c.DockerTLS)
	}
	switch c.Builder {
	case "auto", "buildkit", "classic":
	default:
		v.add("builder", "must be auto, buildkit or classic, not %q", c.Builder)
	}
	if c.Concurrency < 1 {
		v.add("concurrency", "must be at least 1")
	}
	switch c.DashboardAuth {
	case "token", "public":
	default:
		v.add("dashboard_auth", "must be token or public, not %q", c.DashboardAuth)
	}
	if c.DashboardAuth == "token" && c.APITokensFile == "" {
		v.add("dashboard_auth", "token needs api_tokens_file (no token could ever read)")
	}
	v.positive("build_timeout", int64(c.BuildTimeout))
	if c.ReconcileInterval < 0 && c.ReconcileInterval != IntervalOff {
		v.add("reconcile_interval", "must be a positive duration such as \"10m\", or \"off\"")
	}
	v.positive("log_limit", int64(c.LogLimit))
	if c.History.KeepDays < 0 {
		v.add("history.keep_days", "must be 0 (no age limit) or a number of days, not %d", c.History.KeepDays)
	}
	if c.History.KeepBuilds < 0 {
		v.add("history.keep_builds", "must be 0 (no count limit) or a number of builds per project, not %d", c.History.KeepBuilds)
	}

	if v.httpURL("github.api_url", c.GitHub.APIURL, `such as "https://api.github.com/"`) && !strings.HasSuffix(c.GitHub.APIURL, "/") {
		v.add("github.api_url", `must end with "/" (GitHub Enterprise: "https://HOST/api/v3/")`)
	}
	v.positive("github.max_payload", int64(c.GitHub.MaxPayload))
	if s := c.GitHub.WebhookSecret.Value(); s != "" && strings.TrimSpace(s) == "" {
		key := "github.webhook_secret"
		if c.GitHub.WebhookSecretFile != "" {
			key = "github.webhook_secret_file"
		}
		v.add(key, "the webhook secret is only whitespace, which anyone can guess: set the secret of the GitHub webhook (e.g. from `openssl rand -hex 32`)")
	}
	for _, h := range []struct {
		key string
		sec Secret
	}{{"registry_hooks.token", c.RegistryHooks.Token}, {"registry_hooks.secret", c.RegistryHooks.Secret}} {
		if s := h.sec.Value(); s != "" && len(strings.TrimSpace(s)) < 16 {
			v.add(h.key, "must be at least 16 characters that are not spaces, which nobody can guess (e.g. from `openssl rand -hex 32`)")
		}
	}
	v.positive("git.fetch_timeout", int64(c.Git.FetchTimeout))
	v.positive("git.max_files", int64(c.Git.MaxFiles))
	v.positive("git.max_bytes", int64(c.Git.MaxBytes))
	v.positive("git.max_depth", int64(c.Git.MaxDepth))

	hosts := map[string]int{}
	for i, r := range c.Registries {
		p := fmt.Sprintf("registries[%d]", i)
		switch {
		case r.Host == "":
			v.add(p+".host", "required")
		case strings.Contains(r.Host, "/"):
			v.add(p+".host", `must be a host[:port] as in image references ("docker.io", "ghcr.io", "127.0.0.1:5000"), without scheme or path`)
		default:
			if first, dup := hosts[r.Host]; dup {
				v.add(p+".host", "duplicate registry %q (also registries[%d])", r.Host, first)
			} else {
				hosts[r.Host] = i
			}
		}
	}

	for _, name := range sortedKeys(c.DeployTargets) {
		v.deployTarget(mapPath("deploy_targets", name), name, c.DeployTargets[name])
	}
	v.builders(c.Builders)
	v.notify(c.Notify)

	if len(c.Projects) == 0 {
		v.add("projects", "at least one project is required")
	}
	names := map[string]int{}
	for i := range c.Projects {
		p := &c.Projects[i]
		if first, dup := names[p.Name]; dup && p.Name != "" {
			v.add(fmt.Sprintf("projects[%d].name", i), "duplicate project name %q (also projects[%d])", p.Name, first)
		} else {
			names[p.Name] = i
		}
		v.project(fmt.Sprintf("projects[%d]", i), p, c)
	}
}

func (v *checker) positive(path string, n int64) {
	if n <= 0 {
		v.add(path, "must be greater than 0")
	}
}

func (v *checker) listen(path, addr string) {
	if addr == "" {
		v.add(path, "required")
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		v.add(path, `must be host:port, such as ":8080" or "127.0.0.1:8080"`)
	}
}

// httpURL checks that s is an absolute http(s) URL and reports whether it is.
func (v *checker) httpURL(path, s, example string) bool {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, "must be an absolute http:// or https:// URL %s", example)
		return false
	}
	return true
}

// database checks the database URL: empty or postgres(ql)://HOST/…. The
// messages never repeat the URL: it may hold a password.
func (v *checker) database(path, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		v.add(path, `must be "" (SQLite in data_dir) or a postgres:// or postgresql:// URL, e.g. "postgres://slipway@db:5432/slipway?sslmode=verify-full"`)
		return
	}
	if u.Host == "" {
		v.add(path, `needs a host, e.g. "postgres://slipway@db:5432/slipway"`)
	}
}

// endpoint checks a Docker engine endpoint URL.
func (v *checker) endpoint(path, s string) {
	u, err := url.Parse(s)
	if err != nil {
		v.add(path, "must be a unix://, tcp://, ssh:// or npipe:// URL")
		return
	}
	switch u.Scheme {
	case "tcp", "ssh":
		if u.Host == "" {
			v.add(path, "%s:// needs a host, e.g. %q", u.Scheme, u.Scheme+"://manager-1:2376")
		}
	case "unix", "npipe":
		if u.Path == "" {
			v.add(path, "%s:// needs a path, e.g. %q", u.Scheme, "unix:///var/run/docker.sock")
		}
	default:
		v.add(path, "must be a unix://, tcp://, ssh:// or npipe:// URL")
	}
}

func (v *checker) deployTarget(p, name string, t DeployTarget) {
	if name == "" {
		v.add(p, "the target needs a name")
	}
	if len(t.Hosts) == 0 {
		v.add(p+".hosts", "at least one manager endpoint is required")
	}
	for i, h := range t.Hosts {
		v.endpoint(fmt.Sprintf("%s.hosts[%d]", p, i), h)
	}
	v.tcpTLS(p+".hosts", p+".tls", t.Hosts, t.TLS)
}

// tcpTLS checks the tls of endpoints: a tcp:// one needs certificate files
// or an explicit insecure: true, since plain HTTP would carry registry
// credentials in clear text.
func (v *checker) tcpTLS(hostsKey, tlsKey string, hosts []string, t TLS) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add(tlsKey, "set cert_file and key_file together")
	}
	if t.Insecure || t.HasFiles() {
		return
	}
	for i, h := range hosts {
		if u, err := url.Parse(h); err == nil && u.Scheme == "tcp" && u.Host != "" {
			key := hostsKey
			if len(hosts) > 1 || strings.HasSuffix(hostsKey, ".hosts") {
				key = fmt.Sprintf("%s[%d]", hostsKey, i)
			}
			v.add(key, "%v: %s", ErrPlainTCP, plainTCPHint(tlsKey))
		}
	}
}

// nameRule is how the names of one list of the config are checked: each
// required, well-formed and used once in its list.
type nameRule struct {
	list     string         // the list's key, e.g. "schedules"
	what     string         // e.g. "schedule name"
	re       *regexp.Regexp // a well-formed name
	rule     string         // the problem of a malformed name, a format taking the name
	required string         // the problem of an empty name
}

// builderNames and scheduleNames are the rules of builder and schedule names.
var (
	builderNames = nameRule{
		list: "builders", what: "builder name", re: projectNameRe, required: "required",
		rule: "%q must be lower-case letters, digits, '_', '.' and '-', starting with a letter or digit",
	}
	scheduleNames = nameRule{
		list: "schedules", what: "schedule name", re: scheduleNameRe, required: "required",
		rule: "%q must be letters, digits, '_', '.' and '-' (it is used in image tags)",
	}
)

// uniqueName checks name, the i-th of its list, at key path key under rule r;
// seen maps the names checked so far to their index.
func (v *checker) uniqueName(key string, i int, name string, r nameRule, seen map[string]int) {
	switch {
	case name == "":
		v.add(key, "%s", r.required)
	case !r.re.MatchString(name):
		v.add(key, r.rule, name)
	default:
		if first, dup := seen[name]; dup {
			v.add(key, "duplicate %s %q (also %s[%d])", r.what, name, r.list, first)
		} else {
			seen[name] = i
		}
	}
}

// builders checks builders: names unique, endpoints as those of deploy targets,
// labels with keys and values.
func (v *checker) builders(bs []Builder) {
	names := map[string]int{}
	for i, b := range bs {
		p := fmt.Sprintf("builders[%d]", i)
		v.uniqueName(p+".name", i, b.Name, builderNames, names)
		if b.Host == "" {
			v.add(p+".host", `required: the builder's engine, e.g. "unix:///var/run/docker.sock", "tcp://builder-1:2376" or "ssh://ops@builder-1"`)
		} else {
			v.endpoint(p+".host", b.Host)
			v.tcpTLS(p+".host", p+".tls", []string{b.Host}, b.TLS)
		}
		if b.Concurrency < 1 {
			v.add(p+".concurrency", "must be at least 1")
		}
		v.labels(p+".labels", b.Labels)
	}
}

// labels checks a label map: keys as Docker labels, no empty value.
func (v *checker) labels(p string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		switch {
		case !labelKeyRe.MatchString(k):
			v.add(p, "label key %q must be letters, digits, '_', '.', '/' and '-'", k)
		case strings.TrimSpace(labels[k]) == "":
			v.add(mapPath(p, k), "empty value: give the label a value or remove it")
		}
	}
}

// builderLabels checks a project's builder_labels against builders:, when
// set: labels other than arch and os (which engines report themselves)
// must be those of at least one builder, else no build could ever run.
func (v *checker) builderLabels(p string, want map[string]string, bs []Builder) {
	v.labels(p, want)
	if len(bs) == 0 || len(want) == 0 {
		return
	}
	for _, b := range bs {
		ok := true
		for k, val := range want {
			if k == "arch" || k == "os" {
				continue
			}
			if b.Labels[k] != val {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	v.add(p, "no builder has these labels: add them to a builder's labels in builders, or change builder_labels")
}

// platformRe is os/arch[/variant] as OCI image indexes spell platforms.
var platformRe = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)

// platforms checks a project's platforms: well-formed, each once, and not
// with Docker Hub's hooks, autotests or build rules, which build one image.
func (v *checker) platforms(p string, pr *Project) {
	seen := map[string]int{}
	for i, pl := range pr.Platforms {
		key := fmt.Sprintf("%s.platforms[%d]", p, i)
		if !platformRe.MatchString(pl) {
			v.add(key, "%q must be os/arch[/variant] as in docker --platform, e.g. linux/amd64 or linux/arm64", pl)
		} else if first, dup := seen[pl]; dup {
			v.add(key, "duplicate platform %q (also %s.platforms[%d])", pl, p, first)
		} else {
			seen[pl] = i
		}
	}
	if len(pr.Platforms) > 0 && (pr.Hooks || pr.Autotest || len(pr.BuildRules) > 0) {
		v.add(p+".platforms", "cannot be combined with Docker Hub's hooks, autotest or build_rules, which build one image: remove platforms or those keys")
	}
}

func (v *checker) project(p string, pr *Project, c *Config) {
	switch {
	case pr.Name == "":
		v.add(p+".name", "required")
	case !projectNameRe.MatchString(pr.Name):
		v.add(p+".name", "%q must be lower-case letters, digits, '_', '.' and '-', starting with a letter or digit", pr.Name)
	}
	if pr.Repo == "" {
		v.add(p+".repo", "required")
	} else if u, err := url.Parse(pr.Repo); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			v.add(p+".repo", "must not contain a password: use git_token or git_token_file")
		}
	}
	if pr.GitHub != "" && !githubRepoRe.MatchString(pr.GitHub) {
		v.add(p+".github", `must be "owner/name" as in the repository's full name`)
	}
	if pr.DefaultBranch == "" {
		v.add(p+".default_branch", "required")
	}
	if len(pr.Branches) == 0 {
		v.add(p+".branches", "at least one branch pattern is required")
	}
	for i, b := range pr.Branches {
		v.pattern(fmt.Sprintf("%s.branches[%d]", p, i), b)
	}
	if prs := pr.PullRequests; !prs.Enabled && (prs.Push || prs.Forks) {
		v.add(p+".pull_requests.enabled", "push and forks apply only to pull requests that build: set enabled: true too")
	}
	v.paths(p+".paths.include", pr.Paths.Include)
	v.paths(p+".paths.exclude", pr.Paths.Exclude)
	v.confined(p+".context", pr.Context, "the repository checkout")
	v.builderLabels(p+".builder_labels", pr.BuilderLabels, c.Builders)
	v.platforms(p, pr)
	v.confined(p+".dockerfile", pr.Dockerfile, "the build context")
	if cleaned := path.Clean(pr.Dockerfile); pr.Dockerfile != "" && cleaned == "." {
		v.add(p+".dockerfile", "must name a file")
	}
	for _, k := range sortedKeys(pr.BuildArgs) {
		if _, dup := pr.SecretBuildArgs[k]; dup {
			v.add(mapPath(p+".build_args", k), "also set in secret_build_args: keep it in one of them")
		}
	}
	for _, k := range sortedKeys(pr.SecretBuildArgs) {
		if k == "" {
			v.add(p+".secret_build_args", "build arg names must not be empty")
		}
	}
	v.image(p+".image", pr.Image)
	v.buildEnv(p, pr)
	v.buildKit(p, pr, c)
	if pr.AutotestTimeout < 0 {
		v.add(p+".autotest_timeout", "must be greater than 0")
	}
	if pr.HookTimeout < 0 {
		v.add(p+".hook_timeout", "must be greater than 0")
	}
	if pr.BaseImages.Interval < Duration(time.Second) {
		v.add(p+".base_images.interval", "must be at least 1s (default 6h)")
	}
	if pr.Test != nil {
		if len(pr.Test.Command) == 0 && len(pr.Test.Entrypoint) == 0 {
			v.add(p+".test.command", `required when test is given: the arguments after the image's ENTRYPOINT, as in docker run IMAGE ARGS, e.g. ["-selftest"] (or set test.entrypoint to the program to run)`)
		}
		if len(pr.Test.Entrypoint) > 0 && pr.Test.Entrypoint[0] == "" {
			v.add(p+".test.entrypoint", `must start with the program to run; write [] to clear the image's ENTRYPOINT`)
		}
		v.positive(p+".test.timeout", int64(pr.Test.Timeout))
	}
	for i, t := range pr.Tags {
		v.tagRule(fmt.Sprintf("%s.tags[%d]", p, i), t)
	}
	v.buildRules(p, pr.BuildRules)
	schedules := map[string]int{}
	for i, s := range pr.Schedules {
		sp := fmt.Sprintf("%s.schedules[%d]", p, i)
		v.uniqueName(sp+".name", i, s.Name, scheduleNames, schedules)
		v.schedule(sp, s)
	}
	for i, d := range pr.Deploy {
		v.deploy(fmt.Sprintf("%s.deploy[%d]", p, i), d, c, schedules)
	}
}

// hubVariables are the variables Docker Hub sets for builds, hooks and
// autotests (hub.HookEnv.Vars); the build environment cannot replace them.
var hubVariables = map[string]bool{
	"SOURCE_BRANCH": true, "SOURCE_COMMIT": true, "COMMIT_MSG": true, "DOCKER_REPO": true,
	"DOCKERFILE_PATH": true, "DOCKER_TAG": true, "IMAGE_NAME": true,
}

// buildEnv checks the names of build_env and secret_build_env.
func (v *checker) buildEnv(p string, pr *Project) {
	check := func(key, name string) {
		switch {
		case !envNameRe.MatchString(name):
			v.add(mapPath(key, name), "%q is not an environment variable name (letters, digits and '_', not starting with a digit)", name)
		case hubVariables[name]:
			v.add(mapPath(key, name), "%s is one of the variables slipway sets as Docker Hub does: choose another name", name)
		}
	}
	for _, k := range sortedKeys(pr.BuildEnv) {
		check(p+".build_env", k)
		if _, dup := pr.SecretBuildEnv[k]; dup {
			v.add(mapPath(p+".build_env", k), "also set in secret_build_env: keep it in one of them")
		}
	}
	for _, k := range sortedKeys(pr.SecretBuildEnv) {
		check(p+".secret_build_env", k)
	}
}

// confined checks that p is a relative path that stays inside its root.
func (v *checker) confined(key, p, root string) {
	if p == "" {
		v.add(key, "required")
		return
	}
	cleaned := path.Clean(p)
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) || cleaned == ".." || strings.HasPrefix(cleaned, "../") {
		v.add(key, "%q leaves %s: paths are confined to the repository checkout, use a relative path inside it", p, root)
	}
}

// paths checks gitignore-style path patterns: not empty, valid globs, and
// inside the repository.
func (v *checker) paths(key string, patterns []string) {
	for i, pat := range patterns {
		k := fmt.Sprintf("%s[%d]", key, i)
		body := strings.Trim(strings.TrimPrefix(pat, "!"), "/")
		if strings.TrimSpace(body) == "" {
			v.add(k, "must name files (gitignore syntax, e.g. \"services/web/**\" or \"*.md\")")
			continue
		}
		for _, part := range strings.Split(body, "/") {
			if part == ".." || part == "." {
				v.add(k, "%q: patterns are relative to the repository root and cannot contain %q", pat, part)
				break
			}
			if _, err := path.Match(part, ""); err != nil {
				v.add(k, "%q is not a valid pattern (gitignore syntax: *, ?, [a-z], **)", pat)
				break
			}
		}
	}
}

func (v *checker) pattern(key, pattern string) {
	if pattern == "" {
		v.add(key, "must not be empty")
		return
	}
	if _, err := path.Match(pattern, ""); err != nil {
		v.add(key, "%q is not a valid pattern (path.Match syntax: *, ?, [a-z])", pattern)
	}
}

func (v *checker) image(key, image string) {
	if image == "" {
		v.add(key, "required")
		return
	}
	if strings.ContainsAny(image, "@") || strings.Contains(image[strings.LastIndex(image, "/")+1:], ":") {
		v.add(key, "%q must be a repository without tag or digest, such as \"docker.io/acme/web\": tags come from the tag rules", image)
		return
	}
	repo, err := name.NewRepository(image, name.StrictValidation)
	if err != nil {
		v.add(key, "%q is not a valid repository with its registry, such as \"docker.io/acme/web\" or \"127.0.0.1:5000/web\": %v", image, err)
		return
	}
	// go-containerregistry checks the characters only; registries also
	// refuse empty components and separators at the ends ("a//b", "-a").
	_, path, _ := strings.Cut(image, "/")
	for _, c := range strings.Split(path, "/") {
		if !repoComponentRe.MatchString(c) {
			v.add(key, "%q is not a valid repository in %s: each path component must be lower-case letters and digits, separated by '.', '_', '__' or '-'", image, repo.RegistryStr())
			return
		}
	}
}

// repoComponentRe is a path component of a repository name, as in the
// distribution reference grammar.
var repoComponentRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

var tagTypes = []string{"branch", "sha", "semver", "schedule", "raw", "ref"}

func (v *checker) tagRule(p string, t TagRule) {
	valid := false
	for _, tt := range tagTypes {
		valid = valid || t.Type == tt
	}
	if !valid {
		if t.Type == "" {
			v.add(p+".type", "required: one of %s", strings.Join(tagTypes, ", "))
		} else {
			v.add(p+".type", "must be one of %s, not %q", strings.Join(tagTypes, ", "), t.Type)
		}
	}
	if t.Type == "raw" && t.Value == "" {
		v.add(p+".value", "required for a raw rule")
	}
	if t.Length < 0 || t.Length > 40 {
		v.add(p+".length", "must be between 1 and 40 (0: the default)")
	}
	for _, f := range []struct{ key, text string }{
		{"pattern", t.Pattern}, {"value", t.Value}, {"prefix", t.Prefix}, {"suffix", t.Suffix},
	} {
		if f.text == "" {
			continue
		}
		if _, err := template.New(f.key).Parse(f.text); err != nil {
			v.add(p+"."+f.key, "invalid template: %s", strings.TrimPrefix(err.Error(), "template: "))
		}
	}
}

func (v *checker) schedule(p string, s Schedule) {
	if s.Cron == "" {
		v.add(p+".cron", `required: a 5-field cron spec such as "0 3 * * MON" or a descriptor such as "@weekly"`)
	} else if _, err := cron.ParseStandard(s.Cron); err != nil {
		v.add(p+".cron", "invalid cron spec %q: %v (use 5 fields: minute hour day-of-month month day-of-week, or @daily, @weekly, @every 1h)", s.Cron, err)
	}
	if s.Timezone != "" {
		if _, err := s.Location(); err != nil {
			v.add(p+".timezone", "unknown time zone %q: use an IANA name such as \"Europe/Berlin\" or \"UTC\"", s.Timezone)
		}
	}
	if s.Branch == "" {
		v.add(p+".branch", "required")
	}
}

var deployKinds = []string{"branch", "tag", "schedule", "manual"}

// DeployOnBaseImage is the deploy binding trigger of base image rebuilds
// (on: ["base_image"]); it takes no pattern.
const DeployOnBaseImage = "base_image"

func (v *checker) deploy(p string, d DeployBinding, c *Config, schedules map[string]int) {
	if d.Target == "" {
		v.add(p+".target", "required: the name of an entry of deploy_targets")
	} else if _, ok := c.DeployTargets[d.Target]; !ok {
		known := strings.Join(sortedKeys(c.DeployTargets), ", ")
		if known == "" {
			known = "none"
		}
		v.add(p+".target", "unknown deploy target %q (deploy_targets has: %s)", d.Target, known)
	}
	if len(d.On) == 0 {
		v.add(p+".on", `at least one trigger is required, such as "branch:main"`)
	}
	for i, on := range d.On {
		key := fmt.Sprintf("%s.on[%d]", p, i)
		if on == DeployOnBaseImage {
			continue
		}
		kind, pattern, ok := strings.Cut(on, ":")
		valid := false
		for _, k := range deployKinds {
			valid = valid || kind == k
		}
		if !ok || !valid || pattern == "" {
			v.add(key, "%q must be kind:pattern with kind branch, tag, schedule or manual, such as \"branch:main\" or \"schedule:weekly\"", on)
			continue
		}
		if _, err := path.Match(pattern, ""); err != nil {
			v.add(key, "%q is not a valid pattern (path.Match syntax: *, ?, [a-z])", pattern)
			continue
		}
		if kind == "schedule" && !strings.ContainsAny(pattern, `*?[\`) {
			if _, ok := schedules[pattern]; !ok {
				v.add(key, "the project has no schedule named %q", pattern)
			}
		}
	}
	if d.Probe != nil {
		v.probe(p+".probe", *d.Probe)
	}
	if d.StableFor < 0 {
		v.add(p+".stable_for", "must not be negative (omit it for the default: the service's update monitor, at least 10s)")
	}
	for i, s := range d.Services {
		if s == "" {
			v.add(fmt.Sprintf("%s.services[%d]", p, i), "must not be empty")
		}
	}
}

// probe checks a deploy binding's probe: an http:// URL with a host (the
// probe runs on the stack's network), a status code, a timeout >= 0.
func (v *checker) probe(p string, pr Probe) {
	u, err := url.Parse(pr.URL)
	switch {
	case pr.URL == "":
		v.add(p+".url", "required: an http:// URL on the stack's network, such as http://web_app:8080/healthz")
	case err != nil || u.Scheme != "http" || u.Host == "":
		v.add(p+".url", "%q: want http://SERVICE:PORT/PATH (the probe runs on the stack's network; https is not supported)", pr.URL)
	case u.User != nil:
		v.add(p+".url", "credentials in the URL are not supported")
	}
	if pr.Status != 0 && (pr.Status < 100 || pr.Status > 599) {
		v.add(p+".status", "%d is not an HTTP status code (100-599)", pr.Status)
	}
	if pr.Timeout < 0 {
		v.add(p+".timeout", "must not be negative (default 30s)")
	}
}

// notify checks notify: names unique, a known kind, an http(s) URL, a
// secret for webhooks, known events, valid project patterns.
func (v *checker) notify(ns []Notify) {
	seen := map[string]bool{}
	for i, n := range ns {
		p := fmt.Sprintf("notify[%d]", i)
		switch {
		case n.Name == "":
			v.add(p+".name", "required: a name for logs and metrics, such as \"ops\"")
		case seen[n.Name]:
			v.add(p+".name", "%q is used twice: names must be unique", n.Name)
		}
		seen[n.Name] = true
		if n.Kind != NotifyWebhook && n.Kind != NotifySlack {
			v.add(p+".kind", "%q: want webhook or slack", n.Kind)
		}
		if u, err := url.Parse(n.URL.Value()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(p+".url", "required: the http(s) URL to POST to")
		}
		if n.Kind == NotifyWebhook && n.Secret == "" && n.SecretFile == "" {
			v.add(p+".secret", "required for kind webhook (or secret_file): it signs each message (X-Slipway-Signature-256)")
		}
		for j, e := range n.On {
			if !slices.Contains(NotifyEvents, e) {
				v.add(fmt.Sprintf("%s.on[%d]", p, j), "unknown event %q (known: %s)", e, strings.Join(NotifyEvents, ", "))
			}
		}
		for j, pat := range n.Projects {
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				v.add(fmt.Sprintf("%s.projects[%d]", p, j), "%q is not a valid pattern (path.Match syntax: *, ?, [a-z])", pat)
			}
		}
	}
}
