package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestHelpAndExitCodes checks what a docker/gh user expects of the command
// line: help on stdout with exit 0 in both spellings, usage errors and
// typos with exit 2 and a suggestion, version as text and JSON.
func TestHelpAndExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string
	}{
		{name: "build --help", args: []string{"build", "--help"}, wantStdout: []string{"Build, test, push and deploy one project now", "--no-push", "--config"}},
		{name: "help build", args: []string{"help", "build"}, wantStdout: []string{"Build, test, push and deploy one project now", "--no-push"}},
		{name: "tags -h", args: []string{"tags", "-h"}, wantStdout: []string{"--schedule", "--at"}},
		{name: "help lists every command with a description", args: []string{"help"}, wantStdout: []string{
			"serve       Run the service", "build       Build", "validate    Check a config file", "tags        Print the image references",
			"version     Print the version", "migrate     Copy", "import-hub  Translate", "deploy      Roll", "completion"}},
		{name: "--help", args: []string{"--help"}, wantStdout: []string{"Usage:", "$SLIPWAY_CONFIG"}},
		{name: "no command", args: nil, wantCode: 2, wantStderr: []string{"Usage:"}},
		{name: "typo", args: []string{"buidl", "--config", "x.yaml", "web"}, wantCode: 2, wantStderr: []string{`unknown command "buidl"; did you mean build or builds?`}},
		{name: "typo of validate", args: []string{"valdate"}, wantCode: 2, wantStderr: []string{"did you mean validate?"}},
		{name: "typo of a subcommand", args: []string{"builds", "lss"}, wantCode: 2, wantStderr: []string{`slipway builds: unknown command "lss"; did you mean ls?`}},
		{name: "typo of schedule run", args: []string{"schedule", "rnu", "web", "weekly"}, wantCode: 2, wantStderr: []string{"did you mean run?"}},
		{name: "help of a typo", args: []string{"help", "biuld"}, wantCode: 2, wantStderr: []string{`unknown help topic "biuld"; did you mean build?`}},
		{name: "unknown flag", args: []string{"build", "--nope", "web"}, wantCode: 2, wantStderr: []string{"slipway build: unknown flag: --nope", "slipway build --help"}},
		{name: "missing argument", args: []string{"build"}, wantCode: 2, wantStderr: []string{"slipway build: build takes exactly one PROJECT"}},
		{name: "version", args: []string{"version"}, wantStdout: []string{"slipway dev go1."}},
		{name: "--version", args: []string{"--version"}, wantStdout: []string{"slipway dev go1."}},
		{name: "completion", args: []string{"completion", "bash"}, wantStdout: []string{"bash completion", "__slipway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("slipway %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tt.args, " "), code, tt.wantCode, stdout.String(), stderr.String())
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("slipway %s: stdout lacks %q:\n%s", strings.Join(tt.args, " "), want, stdout.String())
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("slipway %s: stderr lacks %q:\n%s", strings.Join(tt.args, " "), want, stderr.String())
				}
			}
		})
	}
}

// TestCompletion: the shell completion of PROJECT lists the config's
// projects, as `slipway __complete` (what the completion scripts call)
// prints them.
func TestCompletion(t *testing.T) {
	t.Parallel()
	cfgPath := writeConfig(t, `github: {token_file: /run/secrets/not-here}
projects:
  - {name: web, repo: "https://github.com/acme/web.git", image: docker.io/acme/web}
  - {name: api, repo: "https://github.com/acme/api.git", image: docker.io/acme/api}
`)
	for _, cmd := range []string{"build", "tags", "deploy"} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{"__complete", cmd, "--config", cfgPath, ""}, &stdout, &stderr); code != 0 {
			t.Fatalf("__complete %s: exit %d: %s", cmd, code, stderr.String())
		}
		if got, want := stdout.String(), "web\napi\n:4\n"; got != want {
			t.Errorf("__complete %s = %q, want %q (the projects, no file completion)", cmd, got, want)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"version", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("version --json: exit %d: %s", code, stderr.String())
	}
	var v struct{ Version, Go string }
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
		t.Fatalf("version --json printed %q: %v", stdout.String(), err)
	}
	if v.Version != "dev" || !strings.HasPrefix(v.Go, "go1.") {
		t.Errorf("version --json = %+v, want version dev and a Go version", v)
	}
}
