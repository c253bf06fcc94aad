package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// env returns a lookup over vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// writeConfig writes text as slipway.yaml in a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "slipway.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadText loads text written as a config file.
func loadText(t *testing.T, text string, vars map[string]string) (*Config, error) {
	t.Helper()
	return LoadWithEnv(writeConfig(t, text), env(vars))
}

// problemsOf returns the problems of err, failing the test unless err is a
// *ValidationError.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *ValidationError", err, err)
	}
	return ve.Problems
}

// minimal is the smallest valid config: one project and the webhook secret.
const minimal = `github:
  webhook_secret: s3cret
projects:
  - name: web
    repo: https://github.com/acme/web.git
    image: docker.io/acme/web
`

func TestLoadMinimalAppliesDefaults(t *testing.T) {
	path := writeConfig(t, minimal)
	got, err := LoadWithEnv(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	catchUp := true
	want := &Config{
		Listen:            ":8080",
		PublicURL:         "http://localhost:8080",
		DataDir:           filepath.Join(filepath.Dir(path), "data"),
		Builder:           "auto",
		DashboardAuth:     "public",
		Concurrency:       2,
		ReconcileInterval: Interval(10 * time.Minute),
		BuildTimeout:      Duration(30 * time.Minute),
		LogLimit:          10 << 20,
		GitHub: GitHub{
			WebhookSecret: "s3cret",
			APIURL:        "https://api.github.com/",
			MaxPayload:    25 << 20,
		},
		Git: Git{
			FetchTimeout: Duration(10 * time.Minute),
			MaxFiles:     200000,
			MaxBytes:     10 << 30,
			MaxDepth:     64,
		},
		Projects: []Project{{
			Name:          "web",
			Repo:          "https://github.com/acme/web.git",
			DefaultBranch: "main",
			Branches:      []string{"main"},
			Context:       ".",
			Dockerfile:    "Dockerfile",
			Image:         "docker.io/acme/web",
			BaseImages:    BaseImages{Interval: Duration(6 * time.Hour)},
		}},
		Path: path,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Load() mismatch (-got +want):\n%s", diff)
	}

	// Defaults that only exist below optional parts.
	c := &Config{Projects: []Project{{
		DefaultBranch: "trunk",
		Test:          &Test{Command: []string{"/t"}},
		Schedules:     []Schedule{{Name: "nightly", Cron: "@daily"}},
	}}}
	c.ApplyDefaults()
	p := c.Projects[0]
	if got, want := p.Test.Timeout, Duration(5*time.Minute); got != want {
		t.Errorf("test.timeout = %v, want %v", got, want)
	}
	if diff := cmp.Diff(p.Schedules, []Schedule{{Name: "nightly", Cron: "@daily", Branch: "trunk", CatchUp: &catchUp}}); diff != "" {
		t.Errorf("schedule defaults mismatch (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(p.Branches, []string{"trunk"}); diff != "" {
		t.Errorf("branches default mismatch (-got +want):\n%s", diff)
	}
	if p.AutotestTimeout != 0 || p.HookTimeout != 0 {
		t.Errorf("autotest_timeout %v, hook_timeout %v set without autotest or hooks; want 0", p.AutotestTimeout, p.HookTimeout)
	}

	// Docker Hub's timeouts, set when autotest and hooks are on.
	tests := []struct {
		name                  string
		project               Project
		autotest, hookTimeout Duration
	}{
		{"autotest without test", Project{Autotest: true}, Duration(10 * time.Minute), 0},
		{"autotest takes test.timeout", Project{Autotest: true, Test: &Test{Command: []string{"/t"}, Timeout: Duration(time.Minute)}}, Duration(time.Minute), 0},
		{"autotest takes the default test.timeout", Project{Autotest: true, Test: &Test{Command: []string{"/t"}}}, Duration(5 * time.Minute), 0},
		{"autotest_timeout kept", Project{Autotest: true, AutotestTimeout: Duration(time.Second)}, Duration(time.Second), 0},
		{"hooks", Project{Hooks: true}, 0, Duration(10 * time.Minute)},
		{"hook_timeout kept", Project{Hooks: true, HookTimeout: Duration(time.Second)}, 0, Duration(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Projects: []Project{tt.project}}
			c.ApplyDefaults()
			p := c.Projects[0]
			if p.AutotestTimeout != tt.autotest || p.HookTimeout != tt.hookTimeout {
				t.Errorf("autotest_timeout %v, hook_timeout %v; want %v, %v", p.AutotestTimeout, p.HookTimeout, tt.autotest, tt.hookTimeout)
			}
		})
	}
}

func TestLoadFull(t *testing.T) {
	got, err := LoadWithEnv("testdata/full.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	secret := func(name string) string { return filepath.Join(dir, "secrets", name) }
	no := false
	want := &Config{
		Listen:      "127.0.0.1:9090",
		PublicURL:   "https://slipway.example.com",
		DataDir:     filepath.Join(dir, "state"),
		Database:    "postgres://slipway@db:5432/slipway?sslmode=verify-full",
		DockerHost:  "tcp://builder-1:2376",
		DockerTLS:   TLS{CAFile: secret("ca.pem"), CertFile: secret("cert.pem"), KeyFile: secret("key.pem"), Insecure: true},
		Builder:     "buildkit",
		Concurrency: 4,
		Builders: []Builder{
			{
				Name: "amd64-1", Host: "tcp://builder-1:2376",
				TLS:    TLS{CAFile: secret("ca.pem"), CertFile: secret("cert.pem"), KeyFile: secret("key.pem"), Insecure: true},
				Labels: map[string]string{"arch": "amd64", "disk": "ssd"}, Concurrency: 3,
			},
			{Name: "arm-1", Host: "ssh://ops@builder-2", Concurrency: 4},
		},
		ReconcileInterval: IntervalOff,
		RegistryHooks: RegistryHooks{Token: "registry-hook-token-from-file", TokenFile: secret("registry_hook_token"),
			Secret: "registry-hook-hmac-key-from-file", SecretFile: secret("registry_hook_hmac")},
		BuildTimeout:      Duration(time.Hour),
		LogLimit:          512 << 20,
		APITokensFile:     secret("api_tokens"),
		SessionSecretFile: secret("session_secret"),
		ProbeExecutable:   filepath.Join(dir, "bin", "slipway-probe"),
		SessionSecret:     "session-from-file",
		APITokens:         []APIToken{{Name: "token-1", Token: "tok-one"}, {Name: "ci", Token: "tok-two"}},
		DashboardAuth:     "token",
		EngineGC:          EngineGC{MaxBuildCache: 2 << 30},
		History:           History{KeepDays: 90, KeepBuilds: 1000},
		GitHub: GitHub{
			WebhookSecret:     "whsec-from-file",
			WebhookSecretFile: secret("webhook_secret"),
			Token:             "ghp-from-file",
			TokenFile:         secret("github_token"),
			APIURL:            "https://ghe.example.com/api/v3/",
			MaxPayload:        10_000_000,
		},
		Git: Git{FetchTimeout: Duration(2 * time.Minute), MaxFiles: 1000, MaxBytes: 1 << 30, MaxDepth: 16},
		Registries: []Registry{
			{Host: "docker.io", Username: "acme", Password: "hub-pass\n", PasswordFile: secret("registry_password")},
			{Host: "127.0.0.1:5000"},
		},
		Notify: []Notify{
			{Name: "ops", Kind: "webhook", URL: "https://hooks.example.com/slipway", Secret: "notify-hmac-from-file", SecretFile: secret("notify_hmac"), On: []string{"failed", "fixed"}, Projects: []string{"web*"}},
			{Name: "chat", Kind: "slack", URL: "https://hooks.slack.example/T0/B0/x", Secret: "unused-but-set"},
		},
		DeployTargets: map[string]DeployTarget{
			"production": {
				Hosts: []string{"tcp://manager-1:2376", "ssh://ops@manager-3"},
				TLS:   TLS{CAFile: secret("ca.pem"), CertFile: secret("cert.pem"), KeyFile: secret("key.pem")},
			},
			"lab": {Hosts: []string{"tcp://lab-manager:2375"}, TLS: TLS{Insecure: true}},
		},
		Projects: []Project{{
			Name: "multi", Repo: "https://github.com/acme/multi.git", Image: "docker.io/acme/multi",
			DefaultBranch: "main", Branches: []string{"main"}, Context: ".", Dockerfile: "Dockerfile",
			Platforms:  []string{"linux/amd64", "linux/arm64"},
			BaseImages: BaseImages{Interval: Duration(6 * time.Hour)},
		}, {
			Name:            "web",
			Repo:            "git@github.com:acme/web.git",
			GitHub:          "acme/web",
			DefaultBranch:   "trunk",
			Branches:        []string{"trunk", "release/*"},
			Paths:           Paths{Include: []string{"app/**", "go.*"}, Exclude: []string{"**/*.md"}},
			PullRequests:    PullRequests{Enabled: true, Push: true, Forks: true},
			Submodules:      true,
			Context:         "app",
			Dockerfile:      "build/Dockerfile",
			GitDir:          &no,
			Target:          "runtime",
			BuildArgs:       map[string]string{"GO_VERSION": "1.26"},
			SecretBuildArgs: map[string]Secret{"NPM_TOKEN": "npm-secret"},
			Image:           "docker.io/acme/web",
			Test:            &Test{Command: []string{"-selftest"}, Entrypoint: []string{"/web", "--verbose"}, Timeout: Duration(90 * time.Second)},
			Tags: []TagRule{
				{Type: "semver", Name: "v", Pattern: "{{.Major}}.{{.Minor}}", Prefix: "v", Suffix: "-x", EnableOn: "tag"},
				{Type: "sha", Length: 12},
				{Type: "raw", Value: "stable"},
			},
			Schedules: []Schedule{{Name: "weekly", Cron: "0 3 * * MON", Branch: "release/1", Timezone: "Europe/Berlin", CatchUp: &no, Rebuild: true, Retention: Retention{Keep: 4}}},
			Deploy: []DeployBinding{
				{
					Target: "production", Stack: "web", Services: []string{"web_app", "web_worker"},
					On: []string{"branch:trunk", "schedule:weekly", "base_image"}, Timeout: Duration(2 * time.Minute), Rollback: &no, StableFor: Duration(20 * time.Second),
					Probe: &Probe{URL: "http://web_app:8080/healthz", Status: 204, Timeout: Duration(7 * time.Second)},
				},
				{Target: "production", Stack: "web2", ComposeFiles: []string{"a.yml", "b.yml"}, Prune: true, On: []string{"tag:v*"}},
			},
			GitSSHKeyFile: secret("id_ed25519"),
			GitToken:      "git-token-from-file",
			GitTokenFile:  secret("git_token"),
			BuilderLabels: map[string]string{"disk": "ssd"},
			BaseImages:    BaseImages{Watch: true, Interval: Duration(2 * time.Hour)},
			Secrets:       []BuildSecret{{ID: "npmrc", File: secret("npmrc")}, {ID: "token", Env: "NPM_TOKEN"}},
			SSH:           true,
			Cache:         BuildCache{From: []string{"docker.io/acme/web:buildcache"}, Inline: true},
			BuildRules: []BuildRule{
				{SourceType: "branch", Source: "trunk", DockerTag: "{sourceref},latest"},
				{SourceType: "tag", Source: "/^v([0-9.]+)$/", DockerTag: `release-{\1}`, Context: "/docker", Dockerfile: "Dockerfile.hub", Autobuild: &no, BuildCache: &no},
			},
			Autotest:        true,
			AutotestTimeout: Duration(3 * time.Minute),
			Hooks:           true,
			HookTimeout:     Duration(4 * time.Minute),
			BuildEnv:        map[string]string{"NODE_ENV": "production"},
			SecretBuildEnv:  map[string]Secret{"HUB_TOKEN": "hub-secret"},
		}},
		Path: "testdata/full.yaml",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Load() mismatch (-got +want):\n%s", diff)
	}
}

// TestExample proves that the shipped commented reference loads and
// validates, with the environment variables it names.
func TestExample(t *testing.T) {
	vars := map[string]string{
		"GITHUB_WEBHOOK_SECRET": "example-webhook-secret",
		"NOTIFY_HMAC":           "example-notify-secret",
		"GITHUB_TOKEN":          "example-github-token",
		"DOCKERHUB_TOKEN":       "example-hub-token",
		"PWD":                   "/srv/slipway",
	}
	var asked []string
	lookup := func(name string) (string, bool) {
		asked = append(asked, name)
		v, ok := vars[name]
		return v, ok
	}
	c, err := LoadWithEnv("../config.example.yaml", lookup)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	for _, name := range asked {
		if _, ok := vars[name]; !ok {
			t.Errorf("config.example.yaml uses ${%s}; add it to this test", name)
		}
	}
	if err := c.RequireWebhookSecret(); err != nil {
		t.Error(err)
	}
	hello, err := c.Project("hello")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hello.Repo, "file:///srv/slipway/data/examples/hello.git"; got != want {
		t.Errorf("hello.repo = %q, want %q", got, want)
	}
	if got, want := hello.Image, "127.0.0.1:5000/slipway-hello"; got != want {
		t.Errorf("hello.image = %q, want %q", got, want)
	}
	if diff := cmp.Diff(hello.Test, &Test{Command: []string{"-selftest"}, Timeout: Duration(time.Minute)}); diff != "" {
		t.Errorf("hello.test mismatch (-got +want):\n%s", diff)
	}
	web, err := c.Project("web")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(web.Schedules), 2; got != want {
		t.Errorf("web has %d schedules, want %d", got, want)
	}
	if _, ok := c.DeployTargets["production"]; !ok {
		t.Error("deploy_targets.production missing")
	}
	if got, want := c.RegistryFor("docker.io").Password.Value(), "example-hub-token"; got != want {
		t.Errorf("docker.io password = %q, want %q", got, want)
	}

	// Every default shown in the reference is the one ApplyDefaults sets.
	def := &Config{}
	def.ApplyDefaults()
	if got, want := c.Listen, def.Listen; got != want {
		t.Errorf("example listen = %q, default %q", got, want)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"public_url", c.PublicURL, def.PublicURL},
		{"builder", c.Builder, def.Builder},
		{"concurrency", c.Concurrency, def.Concurrency},
		{"build_timeout", c.BuildTimeout, def.BuildTimeout},
		{"log_limit", c.LogLimit, def.LogLimit},
		{"github.api_url", c.GitHub.APIURL, def.GitHub.APIURL},
		{"github.max_payload", c.GitHub.MaxPayload, def.GitHub.MaxPayload},
		{"git", c.Git, def.Git},
	} {
		if !cmp.Equal(f.got, f.want) {
			t.Errorf("example %s = %v, but the default is %v", f.name, f.got, f.want)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	vars := map[string]string{"REPO": "acme/web", "EMPTY": "", "N": "5", "T": "90s", "SIZE": "2MiB"}
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"plain", "docker.io/acme/web", "docker.io/acme/web"},
		{"variable", "docker.io/${REPO}", "docker.io/acme/web"},
		{"default unused", "docker.io/${REPO:-x/y}", "docker.io/acme/web"},
		{"default when unset", "docker.io/${UNSET:-acme/def}", "docker.io/acme/def"},
		{"default when empty", "docker.io/${EMPTY:-acme/def}", "docker.io/acme/def"},
		{"double dollar", "docker.io/acme/$$x", "docker.io/acme/$x"},
		{"double dollar before brace", "$${REPO}", "${REPO}"},
		{"double dollar then variable", "$$${REPO}", "$acme/web"},
		{"lone dollar kept", "a$b", "a$b"},
		{"trailing dollar kept", "ab$", "ab$"},
		{"unset without default", "x${UNSET}y", "xy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadText(t, minimal+"    target: \""+tt.value+"\"\n", vars)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Projects[0].Target; got != tt.want {
				t.Errorf("target = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("nil lookup finds nothing", func(t *testing.T) {
		c, err := LoadWithEnv(writeConfig(t, minimal+"    target: \"${REPO:-none}\"\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Projects[0].Target, "none"; got != want {
			t.Errorf("target = %q, want %q", got, want)
		}
	})

	t.Run("typed values", func(t *testing.T) {
		c, err := loadText(t, "concurrency: ${N}\nbuild_timeout: ${T}\nlog_limit: ${SIZE}\n"+minimal, vars)
		if err != nil {
			t.Fatal(err)
		}
		if c.Concurrency != 5 || c.BuildTimeout != Duration(90*time.Second) || c.LogLimit != 2<<20 {
			t.Errorf("got concurrency %d, build_timeout %v, log_limit %v; want 5, 1m30s, 2MiB", c.Concurrency, c.BuildTimeout, c.LogLimit)
		}
	})

	t.Run("unset required value reports required", func(t *testing.T) {
		_, err := loadText(t, strings.Replace(minimal, "docker.io/acme/web", "${IMAGE}", 1), vars)
		want := []Problem{{Line: 6, Path: "projects[0].image", Msg: "required"}}
		if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
			t.Errorf("problems mismatch (-got +want):\n%s", diff)
		}
	})

	t.Run("keys are not expanded", func(t *testing.T) {
		_, err := loadText(t, minimal+"    ${N}: x\n", vars)
		want := []Problem{{Line: 7, Path: "projects[0].${N}", Msg: "unknown key"}}
		if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
			t.Errorf("problems mismatch (-got +want):\n%s", diff)
		}
	})

	t.Run("bad references", func(t *testing.T) {
		_, err := loadText(t, "listen: \"${OOPS\"\npublic_url: ${1X}\n"+minimal, vars)
		want := []Problem{
			{Line: 1, Path: "listen", Msg: "unterminated ${ (write $$ for a literal $)"},
			{Line: 2, Path: "public_url", Msg: "invalid variable reference ${1X}: use ${NAME} or ${NAME:-default} (write $$ for a literal $)"},
		}
		if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
			t.Errorf("problems mismatch (-got +want):\n%s", diff)
		}
	})
}

// top prepends lines to minimal (they start at line 1); proj appends lines
// to its project (they start at line 7).
func top(lines string) string  { return lines + minimal }
func proj(lines string) string { return minimal + lines }

// TestValidationProblems covers each check: the problems reported must be
// exactly want, with their lines.
func TestValidationProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []Problem
	}{
		// Decoding.
		{"unknown top-level key", top("lisen: x\n"), []Problem{{1, "lisen", "unknown key"}}},
		{"unknown project key", strings.Replace(minimal, "image:", "imgae:", 1), []Problem{
			{4, "projects[0].image", "required"},
			{6, "projects[0].imgae", "unknown key"},
		}},
		{"duplicate key", proj("    repo: https://example.com/x.git\n"), []Problem{{7, "projects[0].repo", "duplicate key (first set at line 5)"}}},
		{"integer", top("concurrency: many\n"), []Problem{{1, "concurrency", `must be an integer, not "many"`}}},
		{"integer given a mapping", top("concurrency: {a: 1}\n"), []Problem{{1, "concurrency", "must be an integer, not a mapping"}}},
		{"list given a scalar", proj("    branches: main\n"), []Problem{{7, "projects[0].branches", "must be a list"}}},
		{"mapping given a list", top("git: [1]\n"), []Problem{{1, "git", "must be a mapping, not a list"}}},
		{"bool", proj("    schedules: [{name: a, cron: \"@daily\", catch_up: maybe}]\n"), []Problem{{7, "projects[0].schedules[0].catch_up", `must be true or false, not "maybe"`}}},
		{"duration without unit", top("build_timeout: 30\n"), []Problem{{1, "build_timeout", `a duration needs a unit: write e.g. "30s" or "30m", not a plain number`}}},
		{"bad duration", top("build_timeout: soon\n"), []Problem{{1, "build_timeout", `invalid duration "soon": use a number with a unit such as "30s", "5m" or "1h30m"`}}},
		{"bad size", top("log_limit: lots\n"), []Problem{{1, "log_limit", `invalid size "lots": use a number of bytes or a number with a unit such as "512MiB" or "10GB"`}}},
		{"bad size unit", top("log_limit: 10XB\n"), []Problem{{1, "log_limit", `invalid size "10XB": unknown unit "XB": use B, KiB, MiB, GiB, TiB (1024) or kB, MB, GB, TB (1000)`}}},
		{"file not a mapping", "- a\n", []Problem{{1, "", "the file must be a YAML mapping of settings, not a list"}}},
		{"yaml syntax", "listen: [\n", []Problem{{1, "", "invalid YAML: did not find expected node content"}}},
		{"empty file", "", []Problem{{1, "projects", "at least one project is required"}}},

		// Top-level values.
		{"concurrency", top("concurrency: -1\n"), []Problem{{1, "concurrency", "must be at least 1"}}},
		{"history", top("history:\n  keep_days: -1\n  keep_builds: -2\n"), []Problem{
			{2, "history.keep_days", "must be 0 (no age limit) or a number of days, not -1"},
			{3, "history.keep_builds", "must be 0 (no count limit) or a number of builds per project, not -2"},
		}},
		{"builder", top("builder: fast\n"), []Problem{{1, "builder", `must be auto, buildkit or classic, not "fast"`}}},
		{"listen without port", top("listen: \"8080\"\n"), []Problem{{1, "listen", `must be host:port, such as ":8080" or "127.0.0.1:8080"`}}},
		{"listen port out of range", top("listen: \":99999\"\n"), []Problem{{1, "listen", `must be host:port, such as ":8080" or "127.0.0.1:8080"`}}},
		{"public_url", top("public_url: localhost:8080\n"), []Problem{{1, "public_url", `must be an absolute http:// or https:// URL such as "https://slipway.example.com"`}}},
		{"docker_host", top("docker_host: http://engine:2375\n"), []Problem{{1, "docker_host", "must be a unix://, tcp://, ssh:// or npipe:// URL"}}},
		{"database scheme", top("database: mysql://slipway:pw@db/slipway\n"), []Problem{{1, "database", `must be "" (SQLite in data_dir) or a postgres:// or postgresql:// URL, e.g. "postgres://slipway@db:5432/slipway?sslmode=verify-full"`}}},
		{"database path", top("database: ./slipway.db\n"), []Problem{{1, "database", `must be "" (SQLite in data_dir) or a postgres:// or postgresql:// URL, e.g. "postgres://slipway@db:5432/slipway?sslmode=verify-full"`}}},
		{"database without host", top("database: \"postgresql:///slipway\"\n"), []Problem{{1, "database", `needs a host, e.g. "postgres://slipway@db:5432/slipway"`}}},
		{"docker_host without host", top("docker_host: \"tcp://\"\n"), []Problem{{1, "docker_host", `tcp:// needs a host, e.g. "tcp://manager-1:2376"`}}},
		{"durations", top("build_timeout: -1m\ngit:\n  fetch_timeout: -5s\n"), []Problem{
			{1, "build_timeout", "must be greater than 0"},
			{3, "git.fetch_timeout", "must be greater than 0"},
		}},
		{"git limits", top("git:\n  max_files: -1\n  max_depth: -3\n"), []Problem{
			{2, "git.max_files", "must be greater than 0"},
			{3, "git.max_depth", "must be greater than 0"},
		}},
		{"github api_url", strings.Replace(minimal, "github:\n", "github:\n  api_url: https://ghe.example.com/api/v3\n", 1), []Problem{
			{2, "github.api_url", `must end with "/" (GitHub Enterprise: "https://HOST/api/v3/")`},
		}},
		{"github webhook_secret only whitespace", strings.Replace(minimal, "webhook_secret: s3cret", "webhook_secret: \"  \\t \"", 1), []Problem{
			{2, "github.webhook_secret", "the webhook secret is only whitespace, which anyone can guess: set the secret of the GitHub webhook (e.g. from `openssl rand -hex 32`)"},
		}},
		{"github api_url not http", strings.Replace(minimal, "github:\n", "github:\n  api_url: ftp://x/\n", 1), []Problem{
			{2, "github.api_url", `must be an absolute http:// or https:// URL such as "https://api.github.com/"`},
		}},

		// Registries and deploy targets.
		{"registry host required", top("registries:\n  - username: acme\n"), []Problem{{2, "registries[0].host", "required"}}},
		{"registry host with scheme", top("registries:\n  - host: https://docker.io\n"), []Problem{{2, "registries[0].host", `must be a host[:port] as in image references ("docker.io", "ghcr.io", "127.0.0.1:5000"), without scheme or path`}}},
		{"registry duplicate", top("registries:\n  - host: ghcr.io\n  - host: ghcr.io\n"), []Problem{{3, "registries[1].host", `duplicate registry "ghcr.io" (also registries[0])`}}},
		{"registry password twice", top("registries:\n  - host: ghcr.io\n    password: x\n    password_file: pw\n"), []Problem{
			{4, "registries[0].password_file", "set either registries[0].password or registries[0].password_file, not both"},
		}},
		{"deploy target without hosts", top("deploy_targets:\n  prod:\n    hosts: []\n"), []Problem{{3, "deploy_targets.prod.hosts", "at least one manager endpoint is required"}}},
		{"deploy target host scheme", top("deploy_targets:\n  prod:\n    hosts: [\"unix:///s\", \"https://m:2376\"]\n"), []Problem{{3, "deploy_targets.prod.hosts[1]", "must be a unix://, tcp://, ssh:// or npipe:// URL"}}},
		{"deploy target tcp without tls", top("deploy_targets:\n  prod:\n    hosts: [\"ssh://ops@m\", \"tcp://m:2375\"]\n"), []Problem{{3, "deploy_targets.prod.hosts[1]",
			"tcp:// without TLS would be plain HTTP, sending registry credentials in clear text: set deploy_targets.prod.tls with the engine's certificates ({ca_file, cert_file, key_file}), use ssh://, or write deploy_targets.prod.tls: {insecure: true} to accept plain HTTP"}}},
		{"docker_host tcp without docker_tls", top("docker_host: tcp://builder-1:2375\n"), []Problem{{1, "docker_host",
			"tcp:// without TLS would be plain HTTP, sending registry credentials in clear text: set docker_tls with the engine's certificates ({ca_file, cert_file, key_file}), use ssh://, or write docker_tls: {insecure: true} to accept plain HTTP"}}},
		// Builders.
		{"builder name and host required", top("builders:\n  - labels: {disk: ssd}\n"), []Problem{
			{2, "builders[0].name", "required"},
			{2, "builders[0].host", `required: the builder's engine, e.g. "unix:///var/run/docker.sock", "tcp://builder-1:2376" or "ssh://ops@builder-1"`},
		}},
		{"builder duplicate name", top("builders:\n  - {name: b1, host: \"unix:///a.sock\"}\n  - {name: b1, host: \"unix:///b.sock\"}\n"), []Problem{
			{3, "builders[1].name", `duplicate builder name "b1" (also builders[0])`},
		}},
		{"builder bad name", top("builders:\n  - {name: B_1!, host: \"unix:///a.sock\"}\n"), []Problem{
			{2, "builders[0].name", `"B_1!" must be lower-case letters, digits, '_', '.' and '-', starting with a letter or digit`},
		}},
		{"builder host scheme", top("builders:\n  - {name: b1, host: \"http://b:2375\"}\n"), []Problem{{2, "builders[0].host", "must be a unix://, tcp://, ssh:// or npipe:// URL"}}},
		{"builder tcp without tls", top("builders:\n  - name: b1\n    host: tcp://b:2375\n"), []Problem{{3, "builders[0].host",
			"tcp:// without TLS would be plain HTTP, sending registry credentials in clear text: set builders[0].tls with the engine's certificates ({ca_file, cert_file, key_file}), use ssh://, or write builders[0].tls: {insecure: true} to accept plain HTTP"}}},
		{"builder concurrency", top("builders:\n  - name: b1\n    host: ssh://ops@b\n    concurrency: -2\n"), []Problem{{4, "builders[0].concurrency", "must be at least 1"}}},
		{"builder labels", top("builders:\n  - name: b1\n    host: ssh://ops@b\n    labels: {\"bad key\": x, disk: \"\"}\n"), []Problem{
			{4, "builders[0].labels", `label key "bad key" must be letters, digits, '_', '.', '/' and '-'`},
			{4, "builders[0].labels.disk", "empty value: give the label a value or remove it"},
		}},
		{"builder_labels no builder has", top("builders:\n  - name: b1\n    host: ssh://ops@b\n    labels: {disk: hdd}\n") + "    builder_labels: {disk: ssd, arch: arm64}\n", []Problem{
			{11, "projects[0].builder_labels", "no builder has these labels: add them to a builder's labels in builders, or change builder_labels"},
		}},
		{"platforms", proj("    platforms: [linux/amd64, linux/amd64, arm64, \"linux/arm64/v8\"]\n"), []Problem{
			{7, "projects[0].platforms[1]", `duplicate platform "linux/amd64" (also projects[0].platforms[0])`},
			{7, "projects[0].platforms[2]", `"arm64" must be os/arch[/variant] as in docker --platform, e.g. linux/amd64 or linux/arm64`},
		}},
		{"platforms with hooks", proj("    platforms: [linux/amd64]\n    hooks: true\n"), []Problem{
			{7, "projects[0].platforms", "cannot be combined with Docker Hub's hooks, autotest or build_rules, which build one image: remove platforms or those keys"},
		}},
		{"deploy target tls half", top("deploy_targets:\n  prod:\n    hosts: [\"tcp://m:2376\"]\n    tls: {cert_file: /dev/null}\n"), []Problem{{4, "deploy_targets.prod.tls", "set cert_file and key_file together"}}},

		// Projects.
		{"no projects", "github:\n  webhook_secret: x\n", []Problem{{1, "projects", "at least one project is required"}}},
		{"project name required", strings.Replace(minimal, "- name: web", "- github: acme/web", 1), []Problem{{4, "projects[0].name", "required"}}},
		{"project name invalid", strings.Replace(minimal, "name: web", "name: Web", 1), []Problem{{4, "projects[0].name", `"Web" must be lower-case letters, digits, '_', '.' and '-', starting with a letter or digit`}}},
		{"project name duplicate", proj("  - name: web\n    repo: file:///x.git\n    image: docker.io/acme/other\n"), []Problem{{7, "projects[1].name", `duplicate project name "web" (also projects[0])`}}},
		{"repo required", strings.Replace(minimal, "    repo: https://github.com/acme/web.git\n", "", 1), []Problem{{4, "projects[0].repo", "required"}}},
		{"repo with password", strings.Replace(minimal, "https://github.com", "https://bot:hunter2@github.com", 1), []Problem{{5, "projects[0].repo", "must not contain a password: use git_token or git_token_file"}}},
		{"github name", proj("    github: acme\n"), []Problem{{7, "projects[0].github", `must be "owner/name" as in the repository's full name`}}},
		{"image required", strings.Replace(minimal, "    image: docker.io/acme/web\n", "", 1), []Problem{{4, "projects[0].image", "required"}}},
		{"image with tag", strings.Replace(minimal, "docker.io/acme/web", "docker.io/acme/web:1.0", 1), []Problem{{6, "projects[0].image", `"docker.io/acme/web:1.0" must be a repository without tag or digest, such as "docker.io/acme/web": tags come from the tag rules`}}},
		{"image with registry port and tag", strings.Replace(minimal, "docker.io/acme/web", "127.0.0.1:5000/xy:tag", 1), []Problem{{6, "projects[0].image", `"127.0.0.1:5000/xy:tag" must be a repository without tag or digest, such as "docker.io/acme/web": tags come from the tag rules`}}},
		{"image with digest", strings.Replace(minimal, "docker.io/acme/web", "docker.io/acme/web@sha256:"+strings.Repeat("a", 64), 1), []Problem{{6, "projects[0].image", `"docker.io/acme/web@sha256:` + strings.Repeat("a", 64) + `" must be a repository without tag or digest, such as "docker.io/acme/web": tags come from the tag rules`}}},
		{"image upper case", strings.Replace(minimal, "docker.io/acme/web", "Acme/Web", 1), []Problem{{6, "projects[0].image", `"Acme/Web" is not a valid repository with its registry, such as "docker.io/acme/web" or "127.0.0.1:5000/web": repository can only contain the characters ` + "`abcdefghijklmnopqrstuvwxyz0123456789_-./`" + `: Acme/Web`}}},
		{"image without registry", strings.Replace(minimal, "docker.io/acme/web", "acme/web", 1), []Problem{{6, "projects[0].image", `"acme/web" is not a valid repository with its registry, such as "docker.io/acme/web" or "127.0.0.1:5000/web": strict validation requires the registry to be explicitly defined`}}},
		{"context leaves checkout", proj("    context: ../x\n"), []Problem{{7, "projects[0].context", `"../x" leaves the repository checkout: paths are confined to the repository checkout, use a relative path inside it`}}},
		{"context absolute", proj("    context: /etc\n"), []Problem{{7, "projects[0].context", `"/etc" leaves the repository checkout: paths are confined to the repository checkout, use a relative path inside it`}}},
		{"context leaves after clean", proj("    context: a/../../b\n"), []Problem{{7, "projects[0].context", `"a/../../b" leaves the repository checkout: paths are confined to the repository checkout, use a relative path inside it`}}},
		{"dockerfile absolute", proj("    dockerfile: /etc/passwd\n"), []Problem{{7, "projects[0].dockerfile", `"/etc/passwd" leaves the build context: paths are confined to the repository checkout, use a relative path inside it`}}},
		{"dockerfile leaves context", proj("    context: app\n    dockerfile: ../Dockerfile\n"), []Problem{{8, "projects[0].dockerfile", `"../Dockerfile" leaves the build context: paths are confined to the repository checkout, use a relative path inside it`}}},
		{"dockerfile a directory", proj("    dockerfile: a/..\n"), []Problem{{7, "projects[0].dockerfile", "must name a file"}}},
		{"branch pattern", proj("    branches: [\"release/[\", \"\"]\n"), []Problem{
			{7, "projects[0].branches[0]", `"release/[" is not a valid pattern (path.Match syntax: *, ?, [a-z])`},
			{7, "projects[0].branches[1]", "must not be empty"},
		}},
		{"build arg also secret", proj("    build_args: {TOKEN: x}\n    secret_build_args: {TOKEN: y}\n"), []Problem{{7, "projects[0].build_args.TOKEN", "also set in secret_build_args: keep it in one of them"}}},
		{"build env names", proj("    build_env: {\"1X\": a, SOURCE_COMMIT: b, TOKEN: c}\n    secret_build_env: {TOKEN: d, IMAGE_NAME: e}\n"), []Problem{
			{7, "projects[0].build_env.1X", `"1X" is not an environment variable name (letters, digits and '_', not starting with a digit)`},
			{7, "projects[0].build_env.SOURCE_COMMIT", "SOURCE_COMMIT is one of the variables slipway sets as Docker Hub does: choose another name"},
			{7, "projects[0].build_env.TOKEN", "also set in secret_build_env: keep it in one of them"},
			{8, "projects[0].secret_build_env.IMAGE_NAME", "IMAGE_NAME is one of the variables slipway sets as Docker Hub does: choose another name"},
		}},
		{"hub timeouts", proj("    autotest: true\n    autotest_timeout: -1s\n    hooks: true\n    hook_timeout: -2m\n"), []Problem{
			{8, "projects[0].autotest_timeout", "must be greater than 0"},
			{10, "projects[0].hook_timeout", "must be greater than 0"},
		}},
		{"test without command", proj("    test: {timeout: 1m}\n"), []Problem{{7, "projects[0].test.command", `required when test is given: the arguments after the image's ENTRYPOINT, as in docker run IMAGE ARGS, e.g. ["-selftest"] (or set test.entrypoint to the program to run)`}}},
		{"test with entrypoint [] and no command", proj("    test: {entrypoint: []}\n"), []Problem{{7, "projects[0].test.command", `required when test is given: the arguments after the image's ENTRYPOINT, as in docker run IMAGE ARGS, e.g. ["-selftest"] (or set test.entrypoint to the program to run)`}}},
		{"test entrypoint starting empty", proj("    test: {entrypoint: [\"\", x]}\n"), []Problem{{7, "projects[0].test.entrypoint", "must start with the program to run; write [] to clear the image's ENTRYPOINT"}}},
		{"test timeout", proj("    test:\n      command: [/t]\n      timeout: -1s\n"), []Problem{{9, "projects[0].test.timeout", "must be greater than 0"}}},
		{"tag rules", proj("    tags:\n      - {pattern: x}\n      - {type: semverish}\n      - {type: raw}\n      - {type: sha, length: -1}\n      - {type: ref, pattern: \"{{.Branch\", prefix: \"{{nope}}\"}\n"), []Problem{
			{8, "projects[0].tags[0].type", "required: one of branch, sha, semver, schedule, raw, ref"},
			{9, "projects[0].tags[1].type", `must be one of branch, sha, semver, schedule, raw, ref, not "semverish"`},
			{10, "projects[0].tags[2].value", "required for a raw rule"},
			{11, "projects[0].tags[3].length", "must be between 1 and 40 (0: the default)"},
			{12, "projects[0].tags[4].pattern", "invalid template: pattern:1: unclosed action"},
			{12, "projects[0].tags[4].prefix", `invalid template: prefix:1: function "nope" not defined`},
		}},
		{"schedules", proj(`    schedules:
      - {cron: "@daily"}
      - {name: weekly, cron: "0 3 * *"}
      - {name: weekly, cron: "@weekly", timezone: Mars/Olympus}
      - {name: "a b"}
`), []Problem{
			{8, "projects[0].schedules[0].name", "required"},
			{9, "projects[0].schedules[1].cron", `invalid cron spec "0 3 * *": expected exactly 5 fields, found 4: [0 3 * *] (use 5 fields: minute hour day-of-month month day-of-week, or @daily, @weekly, @every 1h)`},
			{10, "projects[0].schedules[2].name", `duplicate schedule name "weekly" (also schedules[1])`},
			{10, "projects[0].schedules[2].timezone", `unknown time zone "Mars/Olympus": use an IANA name such as "Europe/Berlin" or "UTC"`},
			{11, "projects[0].schedules[3].name", `"a b" must be letters, digits, '_', '.' and '-' (it is used in image tags)`},
			{11, "projects[0].schedules[3].cron", `required: a 5-field cron spec such as "0 3 * * MON" or a descriptor such as "@weekly"`},
		}},
		{"deploy", top("deploy_targets:\n  production:\n    hosts: [\"unix:///var/run/docker.sock\"]\n") + `    schedules: [{name: weekly, cron: "@weekly"}]
    deploy:
      - {target: prod, on: ["push:main", "schedule:monthly", "schedule:week*", "tag:v[", "manual:*", "branch"]}
      - {services: [""]}
`, []Problem{
			{12, "projects[0].deploy[0].target", `unknown deploy target "prod" (deploy_targets has: production)`},
			{12, "projects[0].deploy[0].on[0]", `"push:main" must be kind:pattern with kind branch, tag, schedule or manual, such as "branch:main" or "schedule:weekly"`},
			{12, "projects[0].deploy[0].on[1]", `the project has no schedule named "monthly"`},
			{12, "projects[0].deploy[0].on[3]", `"v[" is not a valid pattern (path.Match syntax: *, ?, [a-z])`},
			{12, "projects[0].deploy[0].on[5]", `"branch" must be kind:pattern with kind branch, tag, schedule or manual, such as "branch:main" or "schedule:weekly"`},
			{13, "projects[0].deploy[1].target", "required: the name of an entry of deploy_targets"},
			{13, "projects[0].deploy[1].on", `at least one trigger is required, such as "branch:main"`},
			{13, "projects[0].deploy[1].services[0]", "must not be empty"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadText(t, tt.yaml, nil)
			if diff := cmp.Diff(problemsOf(t, err), tt.want); diff != "" {
				t.Errorf("problems mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// TestPlainTCPWithInsecure checks that plain tcp:// is accepted when
// insecure: true is written, and kept in the loaded config.
func TestPlainTCPWithInsecure(t *testing.T) {
	c, err := loadText(t, top("docker_host: tcp://builder-1:2375\ndocker_tls: {insecure: true}\n"+
		"deploy_targets:\n  prod:\n    hosts: [\"tcp://m:2375\"]\n    tls: {insecure: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.DockerTLS.Insecure || !c.DeployTargets["prod"].TLS.Insecure {
		t.Errorf("docker_tls = %+v, deploy_targets.prod.tls = %+v; want insecure: true in both", c.DockerTLS, c.DeployTargets["prod"].TLS)
	}
}
