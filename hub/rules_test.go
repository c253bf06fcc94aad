package hub

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestMatchRules(t *testing.T) {
	release := BuildRule{SourceType: "Tag", Source: `/^v([0-9.]+)$/`, DockerTag: `release-{\1}`}
	tests := []struct {
		name      string
		rules     []BuildRule
		kind, ref string
		want      []Match
	}{
		{
			name:  "branch literal with sourceref and comma list",
			rules: []BuildRule{{SourceType: "branch", Source: "main", DockerTag: "{sourceref},latest"}},
			kind:  "branch", ref: "main",
			want: []Match{{Rule: 0, Tags: []string{"main", "latest"}, Autobuild: true}},
		},
		{
			name:  "regex group from a version tag",
			rules: []BuildRule{release},
			kind:  "tag", ref: "v1.4.2",
			want: []Match{{Rule: 0, Tags: []string{"release-1.4.2"}, Autobuild: true}},
		},
		{
			name:  "regex does not match",
			rules: []BuildRule{release},
			kind:  "tag", ref: "v1.4.2-rc1",
		},
		{
			name:  "tag rule ignores branches",
			rules: []BuildRule{release},
			kind:  "branch", ref: "v1.4.2",
		},
		{
			name:  "branch literal is exact",
			rules: []BuildRule{{SourceType: "branch", Source: "main", DockerTag: "latest"}},
			kind:  "branch", ref: "main2",
		},
		{
			name:  "unanchored regex matches inside the name",
			rules: []BuildRule{{SourceType: "branch", Source: `/release-([a-z]+)/`, DockerTag: `{\1}`}},
			kind:  "branch", ref: "x-release-blue-2",
			want: []Match{{Rule: 0, Tags: []string{"blue"}, Autobuild: true}},
		},
		{
			name: "several groups, several rules, trimmed and deduplicated tags",
			rules: []BuildRule{
				{SourceType: "tag", Source: `/^v([0-9]+)\.([0-9]+)\.([0-9]+)$/`, DockerTag: ` {\1}.{\2}.{\3} , {\1}.{\2},{\1}, ,{\1} `},
				{SourceType: "tag", Source: "/.*/", DockerTag: "{sourceref}", Dockerfile: "/Dockerfile.tag", Context: "/sub/", BuildCache: ptr(false), Autobuild: ptr(false)},
			},
			kind: "tag", ref: "v1.4.2",
			want: []Match{
				{Rule: 0, Tags: []string{"1.4.2", "1.4", "1"}, Autobuild: true},
				{Rule: 1, Tags: []string{"v1.4.2"}, Dockerfile: "Dockerfile.tag", Context: "sub", Autobuild: false, NoCache: true},
			},
		},
		{
			name:  "sourceref sanitised",
			rules: []BuildRule{{SourceType: "branch", Source: "/.*/", DockerTag: "{sourceref}"}},
			kind:  "branch", ref: "feature/login+ü",
			want: []Match{{Rule: 0, Tags: []string{"feature-login--"}, Autobuild: true}},
		},
		{
			name:  "root context and Dockerfile at its root",
			rules: []BuildRule{{SourceType: "branch", Source: "main", DockerTag: "latest", Context: "/", Dockerfile: "/"}},
			kind:  "branch", ref: "main",
			want: []Match{{Rule: 0, Tags: []string{"latest"}, Context: ".", Autobuild: true}},
		},
		{
			name:  "group that did not take part is empty",
			rules: []BuildRule{{SourceType: "branch", Source: `/^(a)?b$/`, DockerTag: `x{\1},{\1}`}},
			kind:  "branch", ref: "b",
			want: []Match{{Rule: 0, Tags: []string{"x"}, Autobuild: true}},
		},
		{
			name:  "tags all empty: no match",
			rules: []BuildRule{{SourceType: "branch", Source: `/^(a)?b$/`, DockerTag: `{\1}`}},
			kind:  "branch", ref: "b",
		},
		{
			name:  "invalid regex never matches",
			rules: []BuildRule{{SourceType: "branch", Source: `/(?=x)/`, DockerTag: "latest"}},
			kind:  "branch", ref: "x",
		},
		{
			name:  "escaping context never matches",
			rules: []BuildRule{{SourceType: "branch", Source: "main", DockerTag: "latest", Context: "../other"}},
			kind:  "branch", ref: "main",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MatchRules(tt.rules, tt.kind, tt.ref)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("MatchRules(%q, %q) mismatch (-want +got):\n%s", tt.kind, tt.ref, diff)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name string
		rule BuildRule
		want []string // substrings, one per error
	}{
		{"valid literal", BuildRule{SourceType: "Branch", Source: "main", DockerTag: "{sourceref},latest"}, nil},
		{"valid regex", BuildRule{SourceType: "tag", Source: `/^v([0-9.]+)$/`, DockerTag: `release-{\1}`, Context: "/docker", Dockerfile: "Dockerfile"}, nil},
		{"invalid regex", BuildRule{SourceType: "tag", Source: `/^v([0-9.]+$/`, DockerTag: "x"}, []string{"build_rules[0].source: regex /^v([0-9.]+$/ does not compile"}},
		{"lookahead", BuildRule{SourceType: "tag", Source: `/^v(?=1)/`, DockerTag: "x"}, []string{"RE2"}},
		{"missing everything", BuildRule{}, []string{"source_type: missing", "source: missing", "docker_tag: missing"}},
		{"only commas", BuildRule{SourceType: "tag", Source: "x", DockerTag: " , "}, []string{"docker_tag: missing"}},
		{"unknown type", BuildRule{SourceType: "commit", Source: "x", DockerTag: "x"}, []string{`source_type: unknown "commit"`}},
		{"group beyond regex", BuildRule{SourceType: "tag", Source: `/^v(1)(2)$/`, DockerTag: `{\3}`}, []string{"group 3 but source"}},
		{"group in literal", BuildRule{SourceType: "tag", Source: "v1", DockerTag: `{\1}`}, []string{"not a regex with groups"}},
		{"group zero", BuildRule{SourceType: "tag", Source: "/(v)/", DockerTag: `{\0}`}, []string{"numbered from 1"}},
		{"context escapes", BuildRule{SourceType: "branch", Source: "main", DockerTag: "x", Context: "a/../../b"}, []string{"context: \"a/../../b\" leaves the repository"}},
		{"dockerfile escapes", BuildRule{SourceType: "branch", Source: "main", DockerTag: "x", Dockerfile: "../Dockerfile"}, []string{"dockerfile:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := ValidateRules([]BuildRule{tt.rule})
			if len(errs) != len(tt.want) {
				t.Fatalf("ValidateRules = %v, want %d errors containing %q", errs, len(tt.want), tt.want)
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tt.want[i])
				}
			}
		})
	}
}

func TestSanitizeTag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"main", "main"},
		{"feature/x", "feature-x"},
		{".hidden", "_hidden"},
		{"-dash", "_dash"},
		{"", ""},
		{strings.Repeat("a", 200), strings.Repeat("a", 128)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := SanitizeTag(tt.in); got != tt.want {
				t.Errorf("SanitizeTag(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDefaultRules(t *testing.T) {
	for _, branch := range []string{"main", "master", ""} {
		t.Run(branch, func(t *testing.T) {
			rules := DefaultRules(branch)
			if errs := ValidateRules(rules); len(errs) > 0 {
				t.Fatalf("default rules invalid: %v", errs)
			}
			want := branch
			if want == "" {
				want = "main"
			}
			got := MatchRules(rules, SourceBranch, want)
			if diff := cmp.Diff([]Match{{Rule: 0, Tags: []string{"latest"}, Autobuild: true}}, got); diff != "" {
				t.Errorf("default rules on %s (-want +got):\n%s", want, diff)
			}
			if got := MatchRules(rules, SourceBranch, "other"); got != nil {
				t.Errorf("default rules match branch other: %v", got)
			}
			if got := MatchRules(rules, SourceTag, want); got != nil {
				t.Errorf("default rules match tag %s: %v", want, got)
			}
		})
	}
}

func TestBuildArgsDeclared(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		want             map[string]bool
	}{
		{"none", "FROM scratch\nCOPY a /a\n", map[string]bool{}},
		{"plain and default", "ARG BASE=alpine\nFROM $BASE\nARG SOURCE_COMMIT\nARG DOCKER_TAG=dev\n", map[string]bool{"BASE": true, "SOURCE_COMMIT": true, "DOCKER_TAG": true}},
		{"several per line", "FROM scratch\nARG A B=2 C=\"x y\"\n", map[string]bool{"A": true, "B": true, "C": true}},
		{"continuation and comments", "FROM scratch\n# ARG NOT_THIS\nARG SOURCE_BRANCH \\\n  # a comment inside\n  COMMIT_MSG\nRUN echo ARG NOR_THIS\n", map[string]bool{"SOURCE_BRANCH": true, "COMMIT_MSG": true}},
		{"lower-case instruction", "from scratch\narg image_name\n", map[string]bool{"image_name": true}},
		{"escape directive", "# escape=`\nFROM scratch\nARG A=1 `\n  B\n", map[string]bool{"A": true, "B": true}},
		{"heredoc is not an ARG", "# syntax=docker/dockerfile:1\nFROM scratch\nRUN <<EOF\nARG X\nEOF\nARG Y\n", map[string]bool{"Y": true}},
		{"multi-stage", "FROM scratch AS a\nARG A\nFROM scratch\nARG B\n", map[string]bool{"A": true, "B": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildArgsDeclared(strings.NewReader(tt.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("BuildArgsDeclared mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := BuildArgsDeclared(strings.NewReader("")); err == nil {
		t.Errorf("BuildArgsDeclared of an empty file: no error")
	}
}
