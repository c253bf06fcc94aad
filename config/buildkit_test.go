package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBuildKitKeys covers secrets, ssh and cache: what loads, and each
// problem with its key path and line (the project's keys start at line 7).
func TestBuildKitKeys(t *testing.T) {
	dir := t.TempDir()
	npmrc := filepath.Join(dir, "npmrc")
	if err := os.WriteFile(npmrc, []byte("//registry.npmjs.org/:_authToken=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []Problem
	}{
		{"valid", proj("    secrets:\n      - {id: npmrc, file: " + npmrc + "}\n      - {id: tok.en_1, env: NPM_TOKEN}\n    ssh: true\n    cache: {from: [\"docker.io/acme/web:main\", \"127.0.0.1:5000/web@sha256:" + sixtyFourHex + "\"], inline: true}\n"), nil},
		{"buildkit builder", top("builder: buildkit\n") + "    secrets: [{id: a, env: A}]\n    ssh: true\n", nil},
		{"id missing", proj("    secrets: [{env: A}]\n"), []Problem{{7, "projects[0].secrets[0].id", "required: the id of RUN --mount=type=secret,id=..."}}},
		{"id characters", proj("    secrets: [{id: \"a b\", env: A}]\n"), []Problem{{7, "projects[0].secrets[0].id", `"a b" must be letters, digits, '_', '.' and '-'`}}},
		{"duplicate id", proj("    secrets:\n      - {id: a, env: A}\n      - {id: a, env: B}\n"), []Problem{{9, "projects[0].secrets[1].id", `duplicate secret id "a" (also secrets[0])`}}},
		{"no source", proj("    secrets: [{id: a}]\n"), []Problem{{7, "projects[0].secrets[0]", "set file (a file holding the value) or env (an environment variable of slipway holding it)"}}},
		{"two sources", proj("    secrets: [{id: a, env: A, file: " + npmrc + "}]\n"), []Problem{{7, "projects[0].secrets[0]", "set either file or env, not both"}}},
		{"env name", proj("    secrets: [{id: a, env: 1A}]\n"), []Problem{{7, "projects[0].secrets[0].env", `"1A" is not an environment variable name (letters, digits and '_', not starting with a digit)`}}},
		{"file missing", proj("    secrets: [{id: a, file: " + filepath.Join(dir, "gone") + "}]\n"), []Problem{{7, "projects[0].secrets[0].file", "cannot read " + filepath.Join(dir, "gone") + ": no such file or directory: check the path and the file's permissions, or remove the key"}}},
		{"cache ref", proj("    cache: {from: [\"docker.io/Acme/Web:x\"]}\n"), []Problem{{7, "projects[0].cache.from[0]", `"docker.io/Acme/Web:x" is not an image reference with its tag, such as "docker.io/acme/web:buildcache": could not parse reference: docker.io/Acme/Web:x`}}},
		{"classic builder", top("builder: classic\n") + "    secrets: [{id: a, env: A}]\n    ssh: true\n    cache: {inline: true}\n", []Problem{
			{8, "projects[0].secrets", "needs BuildKit, but builder is classic: set builder to auto or buildkit, or remove secrets"},
			{9, "projects[0].ssh", "needs BuildKit, but builder is classic: set builder to auto or buildkit, or remove ssh"},
			{10, "projects[0].cache", "needs BuildKit, but builder is classic: set builder to auto or buildkit, or remove cache"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadText(t, tt.yaml, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				return
			}
			if diff := cmp.Diff(problemsOf(t, err), tt.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}

// TestBuildKitKeysLoaded: a relative secret file is taken from the config
// file's directory, and NeedsBuildKit names the keys set.
func TestBuildKitKeysLoaded(t *testing.T) {
	path := writeConfig(t, proj("    secrets: [{id: npmrc, file: npmrc}]\n    cache: {from: [\"docker.io/acme/web:main\"]}\n"))
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "npmrc"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadWithEnv(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := &c.Projects[0]
	if got, want := p.Secrets[0].File, filepath.Join(filepath.Dir(path), "npmrc"); got != want {
		t.Errorf("secrets[0].file = %q, want %q", got, want)
	}
	if diff := cmp.Diff(p.NeedsBuildKit(), []string{"secrets", "cache"}); diff != "" {
		t.Errorf("NeedsBuildKit (-got +want):\n%s", diff)
	}
}

const sixtyFourHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
