package hub

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestImportGolden translates every testdata/import/*.in.{yaml,json} (and
// the documented example testdata/hub-settings.yaml) and compares with the
// .golden.yaml file next to it.
func TestImportGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/import/*.in.*")
	if err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, "testdata/hub-settings.yaml")
	for _, in := range inputs {
		golden := strings.TrimSuffix(strings.TrimSuffix(in, filepath.Ext(in)), ".in") + ".golden.yaml"
		t.Run(filepath.Base(in), func(t *testing.T) {
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := Import(f)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Import(%s) mismatch (-want +got):\n%s", in, diff)
			}
			// The output is a projects list whose rules validate.
			var doc struct {
				Projects []struct {
					Name       string      `yaml:"name"`
					BuildRules []BuildRule `yaml:"build_rules"`
				} `yaml:"projects"`
			}
			if err := yaml.Unmarshal([]byte(got), &doc); err != nil {
				t.Fatalf("output is not YAML: %v", err)
			}
			if len(doc.Projects) != 1 {
				t.Fatalf("got %d projects, want 1", len(doc.Projects))
			}
			if errs := ValidateRules(doc.Projects[0].BuildRules); len(errs) > 0 {
				t.Errorf("output rules do not validate: %v", errs)
			}
			if strings.Contains(got, "do-not-copy-me") {
				t.Errorf("a secret-looking variable's value was copied:\n%s", got)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty input"},
		{"no source", "docker_repository: acme/web\n", "source_repository: missing"},
		{"no docker repo", "source_repository: github.com/acme/web\n", "docker_repository: missing"},
		{"bad docker repo", "source_repository: github.com/acme/web\ndocker_repository: Acme/Web\n", "not namespace/name"},
		{"unknown key", "source_repository: github.com/acme/web\ndocker_repository: acme/web\nbuild_rulez: []\n", "build_rulez"},
		{"bad regex", "source_repository: github.com/acme/web\ndocker_repository: acme/web\nbuild_rules:\n  - {source_type: Tag, source: '/^v(?=1)/', docker_tag: x}\n", "build_rules[0].source"},
		{"missing group", "source_repository: github.com/acme/web\ndocker_repository: acme/web\nbuild_rules:\n  - {source_type: Tag, source: '/^v(1)$/', docker_tag: 'r-{\\2}'}\n", "group 2"},
		{"bad source type", "source_repository: github.com/acme/web\ndocker_repository: acme/web\nbuild_rules:\n  - {source_type: Commit, source: main, docker_tag: x}\n", "source_type"},
		{"context escapes", "source_repository: github.com/acme/web\ndocker_repository: acme/web\nbuild_rules:\n  - {source_type: Branch, source: main, docker_tag: x, build_context: ../x}\n", "leaves the repository"},
		{"bad autotest", "source_repository: github.com/acme/web\ndocker_repository: acme/web\nautotest: sometimes\n", "autotest"},
		{"both aliases", "source_repository: github.com/acme/web\nrepository: github.com/acme/x\ndocker_repository: acme/web\n", "both given"},
		{"bad provider", "source_repository: acme/web\nsource_provider: gitlab\ndocker_repository: acme/web\n", "source_provider"},
		{"bad env", "source_repository: github.com/acme/web\ndocker_repository: acme/web\nbuild_env: 3\n", "list or a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Import(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Import succeeded with:\n%s\nwant an error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Import error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSourceRepo(t *testing.T) {
	tests := []struct {
		ref, provider, wantURL, wantGitHub string
	}{
		{"github.com/acme/web", "", "https://github.com/acme/web.git", "acme/web"},
		{"https://github.com/acme/web.git", "", "https://github.com/acme/web.git", "acme/web"},
		{"https://github.com/acme/web/", "", "https://github.com/acme/web.git", "acme/web"},
		{"git@github.com:acme/web.git", "", "https://github.com/acme/web.git", "acme/web"},
		{"acme/web", "", "https://github.com/acme/web.git", "acme/web"},
		{"acme/web", "Bitbucket", "https://bitbucket.org/acme/web.git", ""},
		{"bitbucket.org/acme/web", "", "https://bitbucket.org/acme/web.git", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ref+"/"+tt.provider, func(t *testing.T) {
			gotURL, gotGitHub, err := sourceRepo(tt.ref, tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			if gotURL != tt.wantURL || gotGitHub != tt.wantGitHub {
				t.Errorf("sourceRepo(%q, %q) = %q, %q; want %q, %q", tt.ref, tt.provider, gotURL, gotGitHub, tt.wantURL, tt.wantGitHub)
			}
		})
	}
}
