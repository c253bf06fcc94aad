package pipeline

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
)

// TestReadBuildKitInputs: secrets come from their file or environment
// variable and the agent from SSH_AUTH_SOCK; what is missing fails with
// the key and what to do, never a value.
func TestReadBuildKitInputs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "npmrc")
	if err := os.WriteFile(file, []byte("file-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NPM_TOKEN": "env-value", "SSH_AUTH_SOCK": "/run/agent.sock"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		p       config.Project
		want    buildKitInputs
		wantErr string
	}{
		{"none", config.Project{}, buildKitInputs{}, ""},
		{"file and env", config.Project{Secrets: []config.BuildSecret{{ID: "npmrc", File: file}, {ID: "token", Env: "NPM_TOKEN"}}, SSH: true},
			buildKitInputs{secrets: map[string]string{"npmrc": "file-value\n", "token": "env-value"}, sshAgent: "/run/agent.sock"}, ""},
		{"env unset", config.Project{Secrets: []config.BuildSecret{{ID: "token", Env: "UNSET"}}}, buildKitInputs{},
			"secrets[0] (id token): environment variable UNSET is not set in slipway's environment: set it before starting slipway, or use file:"},
		{"file missing", config.Project{Secrets: []config.BuildSecret{{ID: "npmrc", File: filepath.Join(dir, "gone")}}}, buildKitInputs{},
			"secrets[0] (id npmrc): read " + filepath.Join(dir, "gone") + ": no such file or directory"},
		{"file too big", config.Project{Secrets: []config.BuildSecret{{ID: "big", File: big}}}, buildKitInputs{},
			"secrets[0] (id big): " + big + " is larger than BuildKit's limit of 500 KiB for a secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBuildKitInputs(&tt.p, lookup)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want, cmp.AllowUnexported(buildKitInputs{})); diff != "" {
				t.Errorf("inputs (-got +want):\n%s", diff)
			}
		})
	}
	t.Run("no agent", func(t *testing.T) {
		_, err := readBuildKitInputs(&config.Project{SSH: true}, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), "ssh: true needs an SSH agent, but SSH_AUTH_SOCK is not set") {
			t.Fatalf("error = %v, want one saying SSH_AUTH_SOCK is not set", err)
		}
	})
}

// TestUntrustedBuildWithholdsSecrets: a plan marked Untrusted reads no
// secret, forwards no agent, drops the secret build args and logs one line
// naming what it withheld.
func TestUntrustedBuildWithholdsSecrets(t *testing.T) {
	p := &config.Project{
		Secrets:         []config.BuildSecret{{ID: "npmrc", Env: "NPM_TOKEN"}, {ID: "gh", Env: "GH_TOKEN"}},
		SSH:             true,
		SecretBuildArgs: map[string]config.Secret{"TOKEN": "t0ken", "API": "k3y"},
		SecretBuildEnv:  map[string]config.Secret{"HUB": "hub"},
		Cache:           config.BuildCache{From: []string{"docker.io/acme/web:main"}},
	}
	var out strings.Builder
	log := NewLog(nopCloser{io.Discard}, 1<<20, &out)
	r := &run{Runner: &Runner{lookupEnv: func(string) (string, bool) { t.Fatal("an untrusted build looked at the environment"); return "", false }},
		p: p, log: log, plan: BuildPlan{Untrusted: true}, secrets: map[string]string{"TOKEN": "t0ken"}}
	if err := r.prepareBuildKit(); err != nil {
		t.Fatal(err)
	}
	opts := builder.BuildOptions{SecretArgs: r.secrets}
	r.buildKitOptions(&opts)
	if opts.Secrets != nil || opts.SSHAgent != "" || opts.SecretArgs != nil {
		t.Errorf("untrusted build options: secrets %v, ssh agent %q, secret args %v; want none", opts.Secrets, opts.SSHAgent, opts.SecretArgs)
	}
	if diff := cmp.Diff(opts.CacheFrom, p.Cache.From); diff != "" {
		t.Errorf("cache from (-got +want):\n%s", diff)
	}
	want := "untrusted build (a pull request from a fork): withheld secrets npmrc, gh; ssh; secret build args API, TOKEN; secret build env HUB\n"
	if got := out.String(); got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
