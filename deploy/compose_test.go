package deploy

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFiles writes name → content under dir; a content starting with
// "->" makes a symlink to the rest.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadCompose(t *testing.T) {
	host := t.TempDir() // files on the "slipway host", outside the checkout
	writeFiles(t, host, map[string]string{
		"secret.txt": "host secret\n",
		"host.env":   "TOKEN=from-the-host\n",
		"stack.yml": `version: "3.8"
services:
  web: {image: acme/web:1, env_file: [host.env], secrets: [s]}
secrets:
  s: {file: ./secret.txt}
`,
	})
	const web = "version: \"3.8\"\nservices:\n  web:\n    image: acme/web:1\n"
	tests := []struct {
		name    string
		files   map[string]string // in the checkout
		compose []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, got string)
	}{
		{
			name:    "files merged in order",
			files:   map[string]string{"a.yml": web, "b.yml": "version: \"3.8\"\nservices:\n  web:\n    image: acme/web:2\n    environment: [A=1]\n"},
			compose: []string{"a.yml", "b.yml"},
			check: func(t *testing.T, got string) {
				if !strings.Contains(got, "acme/web:2") || !strings.Contains(got, `"A":"1"`) {
					t.Errorf("merged config %s lacks b.yml's image or environment", got)
				}
			},
		},
		{
			name:    "interpolated from Env only",
			files:   map[string]string{"a.yml": "version: \"3.8\"\nservices:\n  web:\n    image: ${IMG}:1\n    environment: [SLIPWAY_TEST_LEAK, KEPT]\n"},
			compose: []string{"a.yml"},
			env:     map[string]string{"IMG": "acme/web", "KEPT": "yes"},
			check: func(t *testing.T, got string) {
				if strings.Contains(got, "leaked") || !strings.Contains(got, "acme/web:1") || !strings.Contains(got, `"KEPT":"yes"`) {
					t.Errorf("config %s: slipway's environment was read, or Env was not", got)
				}
			},
		},
		{name: "a relative path leaving the checkout", files: map[string]string{"a.yml": web}, compose: []string{"../a.yml"}, wantErr: "leaves the checkout"},
		{name: "a symlink leaving the checkout", files: map[string]string{"a.yml": "->" + filepath.Join(host, "stack.yml")}, compose: []string{"a.yml"}, wantErr: "leaves the checkout"},
		{
			name:    "a secret file outside the checkout",
			files:   map[string]string{"a.yml": web + "    secrets: [s]\nsecrets:\n  s: {file: " + filepath.Join(host, "secret.txt") + "}\n"},
			compose: []string{"a.yml"},
			wantErr: "secret s",
		},
		{
			name:    "an env file outside the checkout",
			files:   map[string]string{"a.yml": web + "    env_file: [" + filepath.Join(host, "host.env") + "]\n"},
			compose: []string{"a.yml"},
			wantErr: "env_file",
		},
		{
			name:    "an env file symlinked out of the checkout",
			files:   map[string]string{"a.yml": web + "    env_file: [x.env]\n", "x.env": "->" + filepath.Join(host, "host.env")},
			compose: []string{"a.yml"},
			wantErr: "leaves the checkout",
		},
		{
			name:    "an env file variable without a value",
			files:   map[string]string{"a.yml": web + "    env_file: ./x.env\n", "x.env": "A=1\n# comment\nGITHUB_WEBHOOK_SECRET\n"},
			compose: []string{"a.yml"},
			wantErr: "line 3 names a variable without a value",
		},
		{
			name:    "an env file in the checkout",
			files:   map[string]string{"a.yml": web + "    env_file: ./x.env\n", "x.env": "A=1\n"},
			compose: []string{"a.yml"},
			check: func(t *testing.T, got string) {
				if !strings.Contains(got, `"A":"1"`) {
					t.Errorf("config %s lacks the env file's variable", got)
				}
			},
		},
		{
			name:    "a compose file on the host may read host files",
			compose: []string{filepath.Join(host, "stack.yml")},
			check: func(t *testing.T, got string) {
				if !strings.Contains(got, `"TOKEN":"from-the-host"`) {
					t.Errorf("config %s lacks the host env file's variable", got)
				}
			},
		},
		{
			name:    "a host file with a checkout override is confined",
			files:   map[string]string{"b.yml": web},
			compose: []string{filepath.Join(host, "stack.yml"), "b.yml"},
			wantErr: "leaves the checkout",
		},
		{name: "an option a stack forbids", files: map[string]string{"a.yml": web + "    volumes_from: [other]\n"}, compose: []string{"a.yml"}, wantErr: "volumes_from"},
		{name: "a service without an image", files: map[string]string{"a.yml": "version: \"3.8\"\nservices:\n  web: {command: [x]}\n"}, compose: []string{"a.yml"}, wantErr: "has no image"},
		{name: "a missing file", compose: []string{"nope.yml"}, wantErr: "nope.yml"},
		{name: "no files", wantErr: "no compose files"},
		{name: "not YAML", files: map[string]string{"a.yml": "[1, 2"}, compose: []string{"a.yml"}, wantErr: "a.yml"},
	}
	t.Setenv("SLIPWAY_TEST_LEAK", "leaked")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			cfg, err := loadCompose(tt.compose, dir, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadCompose error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "from-the-host") || strings.Contains(err.Error(), "host secret") {
					t.Errorf("error %q quotes a host file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadCompose: %v", err)
			}
			tt.check(t, canonical(cfg))
		})
	}
}

func TestLoadComposeRelativeWithoutCheckout(t *testing.T) {
	_, err := loadCompose([]string{"a.yml"}, "", nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "needs the checkout") {
		t.Errorf("loadCompose = %v, want an error about the checkout", err)
	}
}

func TestProjectServices(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yml": `version: "3.8"
services:
  web: {image: "acme/web:1"}
  worker: {image: "docker.io/acme/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
  cache: {image: "redis:7"}
  api: {image: "acme/web-api:1"}
`})
	cfg, err := loadCompose([]string{"a.yml"}, dir, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for name := range projectServices(cfg, "docker.io/acme/web") {
		got = append(got, name)
	}
	slices.Sort(got)
	if want := []string{"web", "worker"}; !slices.Equal(got, want) {
		t.Errorf("projectServices = %q, want %q", got, want)
	}
}
