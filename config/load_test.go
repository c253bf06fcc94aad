package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// TestManyProblemsGolden proves every problem of a file is reported at once,
// printed one per line as `slipway validate` shows them. Regenerate with
// go test ./config -run Golden -update.
func TestManyProblemsGolden(t *testing.T) {
	_, err := LoadWithEnv("testdata/problems.yaml", env(nil))
	if err == nil {
		t.Fatal("Load() succeeded, want problems")
	}
	dir, absErr := filepath.Abs("testdata")
	if absErr != nil {
		t.Fatal(absErr)
	}
	// File paths in messages are absolute; the golden file must not depend
	// on where the repository is checked out.
	got := strings.ReplaceAll(err.Error(), dir, "$TESTDATA") + "\n"
	golden := "testdata/problems.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, string(want)); diff != "" {
		t.Errorf("printed problems mismatch (-got +want):\n%s", diff)
	}
}

// TestPrintedLines pins the exact `file:line: path: msg` form.
func TestPrintedLines(t *testing.T) {
	_, err := LoadWithEnv("testdata/problems.yaml", env(nil))
	lines := strings.Split(fmt.Sprint(err), "\n")
	for _, want := range []string{
		"testdata/problems.yaml:2: listen: must be host:port, such as \":8080\" or \"127.0.0.1:8080\"",
		"testdata/problems.yaml:4: builder: must be auto, buildkit or classic, not \"fast\"",
		"testdata/problems.yaml:18: projects[0].image: required",
		"testdata/problems.yaml:20: projects[0].imgae: unknown key",
		"testdata/problems.yaml:32: projects[1].repo: required",
	} {
		found := false
		for _, l := range lines {
			found = found || l == want
		}
		if !found {
			t.Errorf("error lacks the line\n%s\nerror:\n%s", want, err)
		}
	}
}

func TestValidateInCode(t *testing.T) {
	c := &Config{Projects: []Project{{Name: "web", Repo: "file:///srv/web.git"}}}
	c.ApplyDefaults()
	err := c.Validate()
	if got, want := fmt.Sprint(err), "config: projects[0].image: required"; got != want {
		t.Errorf("Validate() = %q, want %q", got, want)
	}
	c.Projects[0].Image = "127.0.0.1:5000/web"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}

	// Without ApplyDefaults, unset values are problems: Validate does not
	// apply defaults.
	bare := &Config{Path: "slipway.yaml"}
	got := problemsOf(t, bare.Validate())
	if len(got) < 5 {
		t.Errorf("Validate() of an empty Config = %v, want a problem for each required value", got)
	}
	for _, p := range got {
		if p.Line != 0 {
			t.Errorf("problem %+v has a line, want 0 for a Config built in code", p)
		}
	}
	if first := (&ValidationError{File: "slipway.yaml", Problems: got[:1]}).Error(); !strings.HasPrefix(first, "slipway.yaml: ") {
		t.Errorf("problem without line printed as %q, want the prefix %q", first, "slipway.yaml: ")
	}
}

func TestImageReferences(t *testing.T) {
	tests := []struct {
		image string
		ok    bool
	}{
		{"docker.io/acme/web", true},
		{"127.0.0.1:5000/xy", true},
		{"127.0.0.1:5000/slipway-hello", true},
		{"localhost:5000/team/app", true},
		{"ghcr.io/acme/web-app_1.x", true},
		{"Acme/Web", false},
		{"x:tag", false},
		{"docker.io/acme/web:latest", false},
		{"127.0.0.1:5000/x:tag", false},
		{"docker.io/acme/web@sha256:" + strings.Repeat("0", 64), false},
		{"acme/web", false},
		{"docker.io/web", false},
		{"https://docker.io/acme/web", false},
		{"docker.io/acme//web", false},
		{"docker.io/acme/-web", false},
		{"docker.io/acme/web.", false},
		{"docker.io/acme/web__app", true},
		{"docker.io/acme/web--app", true},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			v := &checker{lineOf: func(string) int { return 0 }}
			v.image("image", tt.image)
			if got := len(v.problems) == 0; got != tt.ok {
				t.Errorf("image %q accepted = %v, want %v (problems: %v)", tt.image, got, tt.ok, v.problems)
			}
		})
	}
}

func TestConfinedPaths(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{".", true},
		{"app", true},
		{"./app/../web", true},
		{"a/b/c", true},
		{"..", false},
		{"../x", false},
		{"/etc/passwd", false},
		{"a/../../b", false},
		{"./../x", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			v := &checker{lineOf: func(string) int { return 0 }}
			v.confined("context", tt.path, "the repository checkout")
			if got := len(v.problems) == 0; got != tt.ok {
				t.Errorf("path %q accepted = %v, want %v (problems: %v)", tt.path, got, tt.ok, v.problems)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("whsec", "whsec-value\n")
	write("crlf", "crlf-value\r\n")
	write("two-newlines", "value\n\n")
	write("empty", "")
	write("blank", " \t\n")
	write("tokens", "# admin\n\n tok-a \n#tok-disabled\ntok-b\n")
	write("no-tokens", "# none yet\n\n")

	t.Run("read relative to the config file", func(t *testing.T) {
		cfg := filepath.Join(dir, "slipway.yaml")
		text := strings.Replace(minimal, "webhook_secret: s3cret", "webhook_secret_file: whsec\n  token_file: crlf", 1) +
			"    git_token_file: two-newlines\napi_tokens_file: tokens\nregistries:\n  - host: ghcr.io\n    password_file: " + filepath.Join(dir, "whsec") + "\n"
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadWithEnv(cfg, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct {
			name      string
			got, want Secret
		}{
			{"github.webhook_secret", c.GitHub.WebhookSecret, "whsec-value"},
			{"github.token", c.GitHub.Token, "crlf-value"},
			{"projects[0].git_token", c.Projects[0].GitToken, "value\n"},
			{"registries[0].password", c.Registries[0].Password, "whsec-value"},
		} {
			if s.got.Value() != s.want.Value() {
				t.Errorf("%s = %q, want %q", s.name, s.got.Value(), s.want.Value())
			}
		}
		if diff := cmp.Diff(c.APITokens, []APIToken{{Name: "token-1", Token: "tok-a"}, {Name: "token-2", Token: "tok-b"}}); diff != "" {
			t.Errorf("api tokens mismatch (-got +want):\n%s", diff)
		}
		if got, want := c.GitHub.TokenFile, filepath.Join(dir, "crlf"); got != want {
			t.Errorf("token_file = %q, want %q", got, want)
		}
	})

	t.Run("problems", func(t *testing.T) {
		cfg := filepath.Join(dir, "bad.yaml")
		text := strings.Replace(minimal, "webhook_secret: s3cret", "webhook_secret: x\n  webhook_secret_file: whsec\n  token_file: missing", 1) +
			"    git_token_file: empty\n    git_ssh_key_file: no-key\napi_tokens_file: no-tokens\n" +
			"deploy_targets:\n  prod:\n    hosts: [\"tcp://m:2376\"]\n    tls: {ca_file: no-ca}\n"
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadWithEnv(cfg, env(nil))
		want := []Problem{
			{3, "github.webhook_secret_file", "set either github.webhook_secret or github.webhook_secret_file, not both"},
			{4, "github.token_file", "cannot read " + filepath.Join(dir, "missing") + ": no such file or directory: create it with the secret, or set github.token instead"},
			{9, "projects[0].git_token_file", filepath.Join(dir, "empty") + " is empty: write the secret into it, or remove the key"},
			{10, "projects[0].git_ssh_key_file", "cannot read " + filepath.Join(dir, "no-key") + ": no such file or directory: check the path and the file's permissions, or remove the key"},
			{11, "api_tokens_file", filepath.Join(dir, "no-tokens") + " holds no token: put one API token per line, or remove the key"},
			{15, "deploy_targets.prod.tls.ca_file", "cannot read " + filepath.Join(dir, "no-ca") + ": no such file or directory: check the path and the file's permissions, or remove the key"},
		}
		if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
			t.Errorf("problems mismatch (-got +want):\n%s", diff)
		}
	})

	t.Run("whitespace-only webhook secret file", func(t *testing.T) {
		text := strings.Replace(minimal, "webhook_secret: s3cret", "webhook_secret_file: "+filepath.Join(dir, "blank"), 1)
		_, err := loadText(t, text, nil)
		want := []Problem{{2, "github.webhook_secret_file", "the webhook secret is only whitespace, which anyone can guess: set the secret of the GitHub webhook (e.g. from `openssl rand -hex 32`)"}}
		if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
			t.Errorf("problems mismatch (-got +want):\n%s", diff)
		}
	})

	t.Run("missing api tokens file", func(t *testing.T) {
		_, err := loadText(t, top("api_tokens_file: /nonexistent/slipway-tokens\n"), nil)
		want := []Problem{{1, "api_tokens_file", "cannot read /nonexistent/slipway-tokens: no such file or directory: create it with one API token per line, or remove the key"}}
		if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
			t.Errorf("problems mismatch (-got +want):\n%s", diff)
		}
	})
}

func TestLoadFileErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(absent) = %v, want an error wrapping os.ErrNotExist", err)
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		t.Errorf("Load(absent) = %v, want a plain error, not a *ValidationError", err)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	c, err := loadText(t, `github: {webhook_secret: x}
x-common: &common
  repo: file:///srv/git/shared.git
  branches: ["main", "release/*"]
projects:
  - <<: *common
    name: one
    image: docker.io/acme/one
  - <<: *common
    name: two
    image: docker.io/acme/two
    branches: [dev]
`, nil)
	// x-common is not a key of the schema: reported, like any unknown key.
	want := []Problem{{2, "x-common", "unknown key"}}
	if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
		t.Errorf("problems mismatch (-got +want):\n%s", diff)
	}

	c, err = loadText(t, `github: {webhook_secret: x}
projects:
  - &one
    name: one
    repo: ${REPO}
    branches: ["main", "release/*"]
    image: docker.io/acme/one
  - <<: *one
    name: two
    image: docker.io/acme/two
    branches: [dev]
`, map[string]string{"REPO": "file:///srv/git/shared.git"})
	if err != nil {
		t.Fatal(err)
	}
	type proj struct{ Name, Repo, Image, Branches string }
	var got []proj
	for _, p := range c.Projects {
		got = append(got, proj{p.Name, p.Repo, p.Image, strings.Join(p.Branches, ",")})
	}
	wantProjects := []proj{
		{"one", "file:///srv/git/shared.git", "docker.io/acme/one", "main,release/*"},
		{"two", "file:///srv/git/shared.git", "docker.io/acme/two", "dev"},
	}
	if diff := cmp.Diff(got, wantProjects); diff != "" {
		t.Errorf("projects mismatch (-got +want):\n%s", diff)
	}
}

// TestSecretsNeverPrinted proves that neither a Load error nor a printed
// Config contains a secret, also when an environment variable holding a
// secret is put under a wrong key.
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-Hunter2-value"
	vars := map[string]string{"SECRET": secret}

	t.Run("quoted in a message", func(t *testing.T) {
		const odd = `p"a\ss	w€rd`
		_, err := loadText(t, top("builder: ${ODD}\nconcurrency: ${ODD}\n"), map[string]string{"ODD": odd})
		want := []Problem{
			{1, "builder", `must be auto, buildkit or classic, not "${ODD}"`},
			{2, "concurrency", `must be an integer, not "${ODD}"`},
		}
		if diff := cmp.Diff(problemsOf(t, err), want); diff != "" {
			t.Errorf("problems mismatch (-got +want):\n%s", diff)
		}
	})

	t.Run("load errors", func(t *testing.T) {
		// Each key below echoes its value in its error message; the value
		// comes from ${SECRET}.
		for _, tt := range []struct{ name, yaml string }{
			{"builder", top("builder: ${SECRET}\n")},
			{"concurrency", top("concurrency: ${SECRET}\n")},
			{"build_timeout", top("build_timeout: ${SECRET}\n")},
			{"log_limit", top("log_limit: ${SECRET}\n")},
			{"secret file", strings.Replace(minimal, "webhook_secret: s3cret", "webhook_secret_file: /nonexistent/${SECRET}", 1)},
			{"image", strings.Replace(minimal, "docker.io/acme/web", "docker.io/acme/${SECRET}", 1)},
			{"cron", proj("    schedules: [{name: a, cron: \"${SECRET}\"}]\n")},
			{"timezone", proj("    schedules: [{name: a, cron: \"@daily\", timezone: \"${SECRET}\"}]\n")},
			{"deploy target", proj("    deploy: [{target: \"${SECRET}\", on: [\"branch:main\"]}]\n")},
			{"bool", proj("    schedules: [{name: a, cron: \"@daily\", catch_up: \"${SECRET}\"}]\n")},
			{"repo password", strings.Replace(minimal, "https://github.com", "https://bot:${SECRET}@github.com", 1)},
			{"database password", top("database: mysql://slipway:${SECRET}@db/slipway\n")},
			{"database without host", top("database: postgres://slipway:${SECRET}@/slipway\n")},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := loadText(t, tt.yaml, vars)
				if err == nil {
					t.Fatal("Load() succeeded, want an error")
				}
				if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, "Hunter2") {
					t.Errorf("error contains the secret:\n%s", msg)
				}
				// The repo and database URLs are not echoed at all.
				if !strings.Contains(tt.name, "password") && !strings.Contains(tt.name, "database") && !strings.Contains(err.Error(), "${SECRET}") {
					t.Errorf("error %q does not name ${SECRET}", err)
				}
			})
		}
	})

	t.Run("loaded config", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte(secret+"-api\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "slipway.yaml")
		text := `api_tokens_file: tokens
github:
  webhook_secret: ${SECRET}-webhook
  token: ${SECRET}-token
registries:
  - {host: docker.io, username: acme, password: "${SECRET}-registry"}
projects:
  - name: web
    repo: https://github.com/acme/web.git
    image: docker.io/acme/web
    git_token: ${SECRET}-git
    secret_build_args: {NPM_TOKEN: "${SECRET}-arg"}
database: postgres://slipway:${SECRET}-db@db/slipway
`
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadWithEnv(cfg, env(vars))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.GitHub.WebhookSecret.Value(), secret+"-webhook"; got != want {
			t.Fatalf("webhook secret = %q, want %q", got, want)
		}
		jsonText, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		yamlText, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		for name, text := range map[string]string{
			"%v":                fmt.Sprintf("%v", c),
			"%+v":               fmt.Sprintf("%+v", c),
			"%#v":               fmt.Sprintf("%#v", c),
			"%+v of *Config":    fmt.Sprintf("%+v", *c),
			"%+v of a project":  fmt.Sprintf("%+v", c.Projects[0]),
			"%v of a registry":  fmt.Sprint(c.RegistryFor("docker.io")),
			"%s of a git token": fmt.Sprintf("%s", c.GitTokenFor(&c.Projects[0])),
			"json":              string(jsonText),
			"yaml":              string(yamlText),
		} {
			if strings.Contains(text, secret) {
				t.Errorf("%s of the loaded config contains a secret:\n%s", name, text)
			}
		}
	})
}

func TestRequireWebhookSecret(t *testing.T) {
	// Without a project on GitHub (schedules-only, API-only) no secret is
	// needed.
	c := &Config{Path: "slipway.yaml", Projects: []Project{{Name: "cron-only"}}}
	if err := c.RequireWebhookSecret(); err != nil {
		t.Errorf("RequireWebhookSecret() without github: projects = %v, want nil", err)
	}
	c.Projects = append(c.Projects, Project{Name: "web", GitHub: "acme/web"})
	err := c.RequireWebhookSecret()
	if !errors.Is(err, ErrNoWebhookSecret) {
		t.Fatalf("RequireWebhookSecret() = %v, want ErrNoWebhookSecret", err)
	}
	for _, want := range []string{"github.webhook_secret", "github.webhook_secret_file", "slipway.yaml", "projects[1] (web)", "acme/web"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	c.GitHub.WebhookSecret = "x"
	if err := c.RequireWebhookSecret(); err != nil {
		t.Errorf("RequireWebhookSecret() = %v, want nil", err)
	}
}

func TestBuildsBranch(t *testing.T) {
	tests := []struct {
		name     string
		branches []string
		branch   string
		want     bool
	}{
		{"default branch only", nil, "main", true},
		{"other branch without patterns", nil, "dev", false},
		{"exact", []string{"main"}, "main", true},
		{"glob", []string{"main", "release/*"}, "release/1.2", true},
		{"glob does not cross slash", []string{"release/*"}, "release/1/2", false},
		{"no match", []string{"main", "release/*"}, "feature/x", false},
		{"bad pattern never matches", []string{"["}, "[", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Project{DefaultBranch: "main", Branches: tt.branches}
			if got := p.BuildsBranch(tt.branch); got != tt.want {
				t.Errorf("BuildsBranch(%q) with %q = %v, want %v", tt.branch, tt.branches, got, tt.want)
			}
		})
	}
}

func TestGitTokenFor(t *testing.T) {
	c := &Config{GitHub: GitHub{Token: "gh"}}
	tests := []struct {
		name string
		p    Project
		want Secret
	}{
		{"own token wins", Project{Repo: "https://github.com/a/b.git", GitToken: "own"}, "own"},
		{"github.com https", Project{Repo: "https://github.com/a/b.git"}, "gh"},
		{"other host", Project{Repo: "https://gitlab.com/a/b.git"}, ""},
		{"ssh", Project{Repo: "git@github.com:a/b.git"}, ""},
		{"file", Project{Repo: "file:///srv/b.git"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.GitTokenFor(&tt.p); got.Value() != tt.want.Value() {
				t.Errorf("GitTokenFor(%q) = %q, want %q", tt.p.Repo, got.Value(), tt.want.Value())
			}
		})
	}
}

func TestProjectLookup(t *testing.T) {
	c := &Config{Projects: []Project{{Name: "web"}, {Name: "api"}}}
	p, err := c.Project("api")
	if err != nil || p != &c.Projects[1] {
		t.Errorf("Project(api) = %p, %v; want %p", p, err, &c.Projects[1])
	}
	if _, err := c.Project("nope"); !errors.Is(err, ErrUnknownProject) {
		t.Errorf("Project(nope) error = %v, want ErrUnknownProject", err)
	}
}

func TestCatchesUp(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		catchUp *bool
		want    bool
	}{{nil, true}, {&yes, true}, {&no, false}} {
		if got := (Schedule{CatchUp: tt.catchUp}).CatchesUp(); got != tt.want {
			t.Errorf("CatchesUp() with %v = %v, want %v", tt.catchUp, got, tt.want)
		}
	}
}

func TestWantsGitDir(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		gitDir *bool
		want   bool
	}{{nil, true}, {&yes, true}, {&no, false}} {
		if got := (&Project{GitDir: tt.gitDir}).WantsGitDir(); got != tt.want {
			t.Errorf("WantsGitDir() with %v = %v, want %v", tt.gitDir, got, tt.want)
		}
	}
}

// TestLoadRunsChecks proves a Check's problems get the line of their key
// path and are hidden like Load's own, and that checks run only on a config
// that is otherwise valid.
func TestLoadRunsChecks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "slipway.yaml")
	body := `data_dir: ./data
projects:
  - name: web
    repo: https://github.com/acme/web.git
    image: docker.io/acme/web
    tags:
      - type: raw
        value: ${TAG}
`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := 0
	check := func(c *Config) []Problem {
		calls++
		return []Problem{{Path: "projects[0].tags[0].value", Msg: "renders " + c.Projects[0].Tags[0].Value}}
	}
	lookup := func(name string) (string, bool) { return map[string]string{"TAG": "hidden-value"}[name], name == "TAG" }
	_, err := LoadWithEnv(path, lookup, check)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("LoadWithEnv = %v, want a *ValidationError", err)
	}
	want := []Problem{{Line: 8, Path: "projects[0].tags[0].value", Msg: "renders ${TAG}"}}
	if diff := cmp.Diff(ve.Problems, want); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}

	// A config with problems of its own is not handed to the checks.
	if err := os.WriteFile(path, []byte(strings.Replace(body, "data_dir: ./data\n", "data_dir: ./data\nbuilder: bogus\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	calls = 0
	_, err = LoadWithEnv(path, lookup, check)
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != "builder" {
		t.Errorf("LoadWithEnv = %v, want only the builder problem", err)
	}
	if calls != 0 {
		t.Errorf("the check ran %d times on an invalid config, want 0", calls)
	}
}

func TestParseTokens(t *testing.T) {
	for _, tt := range []struct {
		name     string
		data     string
		want     []APIToken
		problems []string
	}{
		{
			name: "plain lines are numbered among the tokens",
			data: "# comment\nfirst\n\nci-bot:second\nthird\n",
			want: []APIToken{{Name: "token-1", Token: "first"}, {Name: "ci-bot", Token: "second"}, {Name: "token-3", Token: "third"}},
		},
		{
			name: "split at the first colon, blanks around both parts trimmed",
			data: " deploy@ops : a:b:c \n",
			want: []APIToken{{Name: "deploy@ops", Token: "a:b:c"}},
		},
		{
			name:     "a token with a colon and no name",
			data:     "ab/c:secret-part\n",
			problems: []string{"line 1: the token name before the colon must be 1 to 64 letters, digits, '.', '_', '-' or '@' (a token that contains a colon needs a name: name:token)"},
		},
		{
			name:     "empty name",
			data:     ":secret\n",
			problems: []string{"line 1: the token name before the colon must be 1 to 64 letters, digits, '.', '_', '-' or '@' (a token that contains a colon needs a name: name:token)"},
		},
		{
			name:     "empty token",
			data:     "ci:\n",
			problems: []string{"line 1: token ci is empty: write it after the colon (name:token)"},
		},
		{
			name:     "duplicate name",
			data:     "ci:one\n\nci:two\ntoken-3:x\nplain\n",
			want:     []APIToken{{Name: "ci", Token: "one"}, {Name: "token-3", Token: "x"}},
			problems: []string{"line 3: token name ci is taken by line 1: give each token its own name", "line 5: token name token-3 is taken by line 4: give each token its own name"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := parseTokens(tt.data)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("tokens mismatch (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(problems, tt.problems); diff != "" {
				t.Errorf("problems mismatch (-got +want):\n%s", diff)
			}
			for _, p := range problems {
				if strings.Contains(p, "secret") {
					t.Errorf("problem %q shows a token's text", p)
				}
			}
		})
	}
}
