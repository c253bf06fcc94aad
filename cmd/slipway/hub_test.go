package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwayci/slipway/source/gitfixture"
)

// TestImportHub runs `slipway import-hub` on the hub package's example
// settings, from a file and from stdin, and checks that what it prints is a
// project `slipway validate` accepts.
func TestImportHub(t *testing.T) {
	t.Parallel()
	const settings = "../../hub/testdata/hub-settings.yaml"
	want, err := os.ReadFile("../../hub/testdata/hub-settings.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	input, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{name: "file", args: []string{"import-hub", settings}},
		{name: "stdin", args: []string{"import-hub"}, stdin: string(input)},
		{name: "dash is stdin", args: []string{"import-hub", "-"}, stdin: string(input)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runWithInput(t.Context(), tt.args, strings.NewReader(tt.stdin), &stdout, &stderr); code != 0 {
				t.Fatalf("slipway %s exited %d:\n%s", strings.Join(tt.args, " "), code, stderr.String())
			}
			if diff := cmp.Diff(stdout.String(), string(want)); diff != "" {
				t.Errorf("import-hub output mismatch (-got +want):\n%s", diff)
			}
		})
	}

	t.Run("output validates", func(t *testing.T) {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "slipway.yaml")
		if err := os.WriteFile(cfgPath, append([]byte(fmt.Sprintf("data_dir: %q\n", dir)), want...), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{"validate", "--config", cfgPath}, &stdout, &stderr); code != 0 {
			t.Fatalf("slipway validate of the imported project exited %d:\n%s", code, stderr.String())
		}
	})

	t.Run("errors", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := runWithInput(t.Context(), []string{"import-hub"}, strings.NewReader("docker_repository: acme/web\nbuild_rules: [{source_type: Branch, source: \"/(/\", docker_tag: x}]\n"), &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 {
			t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout.String())
		}
		for _, want := range []string{"source_repository", "build_rules[0].source"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not name %s:\n%s", want, stderr.String())
			}
		}
		if code := run(t.Context(), []string{"import-hub", "a", "b"}, &stdout, &stderr); code != 2 {
			t.Errorf("two files: exit %d, want 2", code)
		}
	})
}

// TestValidateBuildRules proves `slipway validate` checks build rules as
// Docker Hub's, naming each by its line and key path.
func TestValidateBuildRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "slipway.yaml")
	cfg := fmt.Sprintf(`data_dir: %q
projects:
  - name: web
    repo: https://github.com/acme/web.git
    image: docker.io/acme/web
    build_rules:
      - {source_type: branch, source: main, docker_tag: "{sourceref}"}
      - {source_type: tag, source: "/(/", docker_tag: "x"}
      - {source_type: tag, source: "/^v(.*)$/", docker_tag: "{\\2}", context: ../up}
`, dir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"validate", "--config", cfgPath}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	got := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	want := []string{
		cfgPath + `:8: projects[0].build_rules[1].source: regex /(/ does not compile (RE2 syntax: no lookaround or backreferences): error parsing regexp: missing closing ): ` + "`(`",
		cfgPath + `:9: projects[0].build_rules[2].docker_tag: {\2} refers to group 2 but source "/^v(.*)$/" has 1`,
		cfgPath + `:9: projects[0].build_rules[2].context: "../up" leaves the repository`,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("validate problems (-got +want):\n%s", diff)
	}
}

// TestTagsWithBuildRules runs `slipway tags` for a project with Docker Hub
// build rules and tags: rules: both give tags.
func TestTagsWithBuildRules(t *testing.T) {
	t.Parallel()
	repo := gitfixture.New(t)
	head := repo.Commit(t, "main", map[string]string{"Dockerfile": "FROM scratch\n"}, "first")
	repo.Tag(t, "v1.4.2", head)
	const image = "registry.example.com/acme/web"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "slipway.yaml")
	cfg := fmt.Sprintf(`data_dir: %q
projects:
  - name: fixture
    repo: %q
    image: %q
    build_rules:
      - {source_type: branch, source: main, docker_tag: "{sourceref},latest"}
      - {source_type: tag, source: "/^v([0-9.]+)$/", docker_tag: "release-{\\1},{sourceref}"}
      - {source_type: branch, source: "/^feature-(.*)$/", docker_tag: "preview-{\\1}", autobuild: false}
    tags:
      - {type: sha, prefix: "sha-"}
      - {type: raw, value: stable, enable_on: "branch:main"}
`, dir, repo.URL(), image)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "branch rule and tags: rules", args: []string{"--ref", "main", "--commit", head}, want: []string{"sha-" + head[:7], "main", "latest", "stable"}},
		{name: "tag rule", args: []string{"--ref", "refs/tags/v1.4.2", "--commit", head}, want: []string{"release-1.4.2", "v1.4.2", "sha-" + head[:7]}},
		{name: "rule without autobuild counts by hand", args: []string{"--ref", "feature-login"}, want: []string{"preview-login"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			argv := append([]string{"tags", "--config", cfgPath, "fixture"}, tt.args...)
			if code := run(t.Context(), argv, &stdout, &stderr); code != 0 {
				t.Fatalf("slipway %s exited %d:\n%s", strings.Join(argv, " "), code, stderr.String())
			}
			want := make([]string, len(tt.want))
			for i, tag := range tt.want {
				want[i] = image + ":" + tag
			}
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("slipway tags %s (-got +want):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}
	t.Run("no rule matches", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"tags", "--config", cfgPath, "fixture", "--ref", "develop"}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "no build rule matches branch develop (build_rules of project fixture)") {
			t.Errorf("exit %d, stderr %q; want 1 and the missing rule named", code, stderr.String())
		}
	})
}
