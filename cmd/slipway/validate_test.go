package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/source/gitfixture"
)

// TestServeRefusesWhatValidateRefuses runs `slipway validate` and `slipway
// serve` on a config whose only problem is a tags: rule that renders an
// invalid tag: both refuse it, naming the same file:line and key path, and
// serve starts nothing (it returns at once, with no store in data_dir).
func TestServeRefusesWhatValidateRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "slipway.yaml")
	write := func(pattern string) {
		t.Helper()
		cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
data_dir: %q
github:
  webhook_secret: not-so-secret
projects:
  - name: web
    repo: https://github.com/acme/web.git
    image: docker.io/acme/web
    tags:
      - {type: raw, value: stable, enable_on: "branch:main"}
      - type: branch
        pattern: %q
`, filepath.Join(dir, "data"), pattern)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(cmd string) (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{cmd, "--config", cfgPath}, &stdout, &stderr)
		return code, stderr.String()
	}

	write("{{.Branch}}/x")
	want := cfgPath + `:11: projects[0].tags[1]: on a push to branch main renders "main/x": not a valid docker tag`

	code, validateOut := run("validate")
	if code != 1 {
		t.Fatalf("validate exit %d, want 1; stderr:\n%s", code, validateOut)
	}
	if !strings.HasPrefix(validateOut, want) {
		t.Errorf("validate says:\n%s\nwant it to start with:\n%s", validateOut, want)
	}
	code, serveOut := run("serve")
	if code != 1 {
		t.Fatalf("serve exit %d, want 1; stderr:\n%s", code, serveOut)
	}
	if diff := cmp.Diff(strings.TrimPrefix(serveOut, "slipway serve: "), validateOut); diff != "" {
		t.Errorf("serve's problems differ from validate's (-serve +validate):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("serve made data_dir for a config it refuses (stat: %v)", err)
	}

	// The rule was the only problem: fixed, validate accepts the file.
	write("{{.Branch}}-x")
	if code, out := run("validate"); code != 0 {
		t.Errorf("validate of the fixed config: exit %d, stderr:\n%s", code, out)
	}
}

// TestValidateWarnsOfSecretArgsInRun checks that validate warns about each
// secret build arg a RUN step records in the image history, and only those.
func TestValidateWarnsOfSecretArgsInRun(t *testing.T) {
	t.Parallel()
	repo := gitfixture.New(t)
	repo.Commit(t, "main", map[string]string{"app/Dockerfile": `FROM scratch AS tools
ARG ONLY_IN_TOOLS
RUN true

FROM scratch
ARG NPM_TOKEN
COPY . /src
RUN ["/bin/build"]
`}, "Dockerfile with build args")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "slipway.yaml")
	cfg := fmt.Sprintf(`data_dir: %q
projects:
  - name: web
    repo: %q
    image: docker.io/acme/web
    context: app
    secret_build_args: {NPM_TOKEN: npm-Vx9-secret, ONLY_IN_TOOLS: tools-Qw2-secret, UNUSED: unused-Zt5-secret}
`, filepath.Join(dir, "data"), repo.URL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"validate", "--config", cfgPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("validate exit %d, want 0 (warnings only); stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), ": ok (1 projects)") {
		t.Errorf("stdout = %q, want the ok line", stdout.String())
	}
	want := cfgPath + ": warning: projects[0].secret_build_args.NPM_TOKEN: ARG NPM_TOKEN (line 6) is in scope of RUN at line 8 of app/Dockerfile, so the value is in the pushed image's history"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr:\n%s\nwant a line starting:\n%s", stderr.String(), want)
	}
	if n := strings.Count(stderr.String(), "warning:"); n != 1 {
		t.Errorf("stderr has %d warnings, want 1 (NPM_TOKEN only):\n%s", n, stderr.String())
	}
	for _, secret := range []string{"npm-Vx9-secret", "tools-Qw2-secret", "unused-Zt5-secret"} {
		if strings.Contains(stderr.String()+stdout.String(), secret) {
			t.Errorf("validate printed the value of a secret build arg")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("validate made data_dir (stat: %v); it must change nothing", err)
	}
}

// TestValidateOffline checks a config as deploy/stack.yml delivers it: its
// secrets under /run/secrets/ exist only in the container, its repository
// is out of reach. validate refuses it for the missing files; validate
// --offline accepts it without reading a file or cloning, and still
// refuses a real mistake.
func TestValidateOffline(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "run", "secrets")
	body := fmt.Sprintf(`listen: ":8080"
api_tokens_file: %[1]s/api_tokens
dashboard_auth: token
github:
  webhook_secret_file: %[1]s/github_webhook_secret
  token_file: %[1]s/github_token
registries:
  - {host: docker.io, username: acme, password_file: %[1]s/registry_password}
docker_tls: {ca_file: %[1]s/ca.pem, cert_file: %[1]s/cert.pem, key_file: %[1]s/key.pem}
notify:
  - {name: ops, kind: webhook, url: "https://hooks.example.com/slipway", secret_file: %[1]s/notify_hmac}
projects:
  - name: web
    repo: http://127.0.0.1:1/unreachable.git
    image: docker.io/acme/web
    git_ssh_key_file: %[1]s/deploy_key
    secret_build_args: {NPM_TOKEN: "${NPM_TOKEN}"}
    secrets:
      - {id: npmrc, file: %[1]s/npmrc}
`, missing)
	cfgPath := writeConfig(t, body)
	validate := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append([]string{"validate", "--config", cfgPath}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, _, stderr := validate()
	if code != 1 || !strings.Contains(stderr, "cannot read "+missing) {
		t.Fatalf("validate: exit %d, stderr:\n%s\nwant 1 naming the unreadable files", code, stderr)
	}
	code, stdout, stderr := validate("--offline")
	if code != 0 || stderr != "" || !strings.Contains(stdout, ": ok (1 projects; offline") {
		t.Fatalf("validate --offline: exit %d\nstdout: %s\nstderr: %s\nwant 0, ok, nothing on stderr (no file read, no clone)", code, stdout, stderr)
	}

	// A mistake in the file itself is still one.
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(body, "image: docker.io/acme/web", "image: docker.io/acme/Web", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = validate("--offline")
	if code != 1 || !strings.Contains(stderr, "projects[0].image") {
		t.Errorf("validate --offline of a bad image: exit %d, stderr:\n%s\nwant 1 naming projects[0].image", code, stderr)
	}
}

// TestValidateWarnsOfMissingBuildKitInputs checks that validate warns,
// without failing, about what makes a project's builds fail when they
// start: a secrets: entry whose env: variable is unset, and ssh: true with
// $SSH_AUTH_SOCK unset, empty, missing or not a socket; it says nothing once
// they are there, and --offline (a stack's config, checked elsewhere than
// where slipway runs) warns of neither. Not parallel: it sets the
// environment validate reads.
func TestValidateWarnsOfMissingBuildKitInputs(t *testing.T) {
	repo := gitfixture.New(t)
	repo.Commit(t, "main", map[string]string{"Dockerfile": "FROM scratch\nCOPY . /src\n"}, "a Dockerfile")
	npmrc := filepath.Join(t.TempDir(), "npmrc")
	if err := os.WriteFile(npmrc, []byte("npmrc-Kc4-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	const unset = "SLIPWAY_TEST_UNSET_TOKEN_Q7"
	os.Unsetenv(unset)
	t.Setenv("SLIPWAY_TEST_SET_TOKEN", "set-Wd3-secret")
	cfgPath := writeConfig(t, fmt.Sprintf(`projects:
  - name: web
    repo: %q
    image: docker.io/acme/web
    secrets:
      - {id: npmrc, file: %q}
      - {id: token, env: %s}
      - {id: other, env: SLIPWAY_TEST_SET_TOKEN}
  - name: api
    repo: %[1]q
    image: docker.io/acme/api
    ssh: true
`, repo.URL(), npmrc, unset))
	validate := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append([]string{"validate", "--config", cfgPath}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	secretWarning := cfgPath + ": warning: projects[0].secrets[1].env: " + unset + " is not set in this environment, so builds of web fail when they start: set " + unset + " in slipway's environment"
	sshWarning := func(problem string) string {
		return cfgPath + ": warning: projects[1].ssh: " + problem + ", so builds of api fail when they start: start ssh-agent"
	}

	sockDir, err := os.MkdirTemp("", "slipway-agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	notSocket := filepath.Join(sockDir, "plain-file")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sock, problem string }{
		{"", "SSH_AUTH_SOCK is not set"},
		{filepath.Join(sockDir, "gone"), "SSH_AUTH_SOCK=" + filepath.Join(sockDir, "gone") + ": no such file or directory"},
		{notSocket, "SSH_AUTH_SOCK=" + notSocket + " is not a socket"},
	} {
		t.Setenv("SSH_AUTH_SOCK", c.sock)
		code, stdout, stderr := validate()
		if code != 0 || !strings.Contains(stdout, ": ok (2 projects)") {
			t.Fatalf("validate with SSH_AUTH_SOCK=%q: exit %d, stdout %q, stderr:\n%s\nwant 0 and ok (warnings only)", c.sock, code, stdout, stderr)
		}
		for _, want := range []string{secretWarning, sshWarning(c.problem)} {
			if !strings.Contains(stderr, want) {
				t.Errorf("validate with SSH_AUTH_SOCK=%q: stderr:\n%s\nwant a line starting:\n%s", c.sock, stderr, want)
			}
		}
		if n := strings.Count(stderr, "warning:"); n != 2 {
			t.Errorf("validate with SSH_AUTH_SOCK=%q: %d warnings, want 2 (the unset env secret, ssh):\n%s", c.sock, n, stderr)
		}
		if strings.Contains(stderr, "set-Wd3-secret") || strings.Contains(stderr, "npmrc-Kc4-secret") {
			t.Errorf("validate printed a secret's value:\n%s", stderr)
		}
	}

	// With the variable set and an agent's socket, nothing to warn about.
	ln, err := net.Listen("unix", filepath.Join(sockDir, "agent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("SSH_AUTH_SOCK", ln.Addr().String())
	t.Setenv(unset, "")
	if code, _, stderr := validate(); code != 0 || stderr != "" {
		t.Errorf("validate with the variable set and an agent: exit %d, stderr:\n%s\nwant 0 and no warning", code, stderr)
	}

	// --offline reads nothing of this environment.
	os.Unsetenv(unset)
	t.Setenv("SSH_AUTH_SOCK", "")
	if code, _, stderr := validate("--offline"); code != 0 || stderr != "" {
		t.Errorf("validate --offline: exit %d, stderr:\n%s\nwant 0 and no warning", code, stderr)
	}
}
