package registry

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSanitizeBranch(t *testing.T) {
	tests := []struct {
		name, branch, want string
	}{
		{"plain", "main", "main"},
		{"slash", "feature/x", "feature-x"},
		{"nested slashes", "release/2026/q1", "release-2026-q1"},
		{"allowed punctuation kept", "v1.2_rc-3", "v1.2_rc-3"},
		{"upper case kept", "Fix-Bug", "Fix-Bug"},
		{"spaces and symbols", "a b+c@d#e", "a-b-c-d-e"},
		{"unicode is one dash per character", "café/naïve", "caf--na-ve"},
		{"emoji", "feat/🚀", "feat--"},
		{"leading dot", ".hidden", "_hidden"},
		{"leading dash", "-x", "_x"},
		{"leading slash becomes dash then underscore", "/x", "_x"},
		{"leading unicode", "éa", "_a"},
		{"only dots", "..", "_."},
		{"underscore first is valid", "_x", "_x"},
		{"empty", "", ""},
		{"128 kept", strings.Repeat("a", 128), strings.Repeat("a", 128)},
		{"129 cut", strings.Repeat("b", 129), strings.Repeat("b", 128)},
		{"multibyte runes counted as one each", strings.Repeat("é", 200), "_" + strings.Repeat("-", 127)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SanitizeBranch(tt.branch)
			if got != tt.want {
				t.Errorf("SanitizeBranch(%q) = %q, want %q", tt.branch, got, tt.want)
			}
			if tt.branch != "" && !ValidTag(got) {
				t.Errorf("SanitizeBranch(%q) = %q is not a valid tag", tt.branch, got)
			}
		})
	}
}

func TestBranchTags(t *testing.T) {
	const commit = "1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B"
	long := strings.Repeat("x", 200)
	tests := []struct {
		name                          string
		branch, commit, defaultBranch string
		want                          []Tag
	}{
		{
			name: "default branch gets latest", branch: "main", commit: commit, defaultBranch: "main",
			want: []Tag{{Name: "main-1a2b3c4"}, {Name: "main", Moving: true}, {Name: "latest", Moving: true}},
		},
		{
			name: "other branch", branch: "feature/x", commit: commit, defaultBranch: "main",
			want: []Tag{{Name: "feature-x-1a2b3c4"}, {Name: "feature-x", Moving: true}},
		},
		{
			name: "default compared before sanitizing", branch: "release/1", commit: commit, defaultBranch: "release-1",
			want: []Tag{{Name: "release-1-1a2b3c4"}, {Name: "release-1", Moving: true}},
		},
		{
			name: "sanitized default branch", branch: "release/1", commit: commit, defaultBranch: "release/1",
			want: []Tag{{Name: "release-1-1a2b3c4"}, {Name: "release-1", Moving: true}, {Name: "latest", Moving: true}},
		},
		{
			name: "long branch cut so the sha tag fits", branch: long, commit: commit, defaultBranch: "main",
			want: []Tag{{Name: strings.Repeat("x", 120) + "-1a2b3c4"}, {Name: strings.Repeat("x", 128), Moving: true}},
		},
		{
			name: "branch of exactly 120 keeps all", branch: strings.Repeat("y", 120), commit: commit, defaultBranch: "main",
			want: []Tag{{Name: strings.Repeat("y", 120) + "-1a2b3c4"}, {Name: strings.Repeat("y", 120), Moving: true}},
		},
		{
			name: "leading dot", branch: ".x", commit: commit, defaultBranch: "main",
			want: []Tag{{Name: "_x-1a2b3c4"}, {Name: "_x", Moving: true}},
		},
		{
			name: "short commit used whole", branch: "main", commit: "abc", defaultBranch: "dev",
			want: []Tag{{Name: "main-abc"}, {Name: "main", Moving: true}},
		},
		{
			name: "no commit omits the immutable tag", branch: "main", commit: "", defaultBranch: "main",
			want: []Tag{{Name: "main", Moving: true}, {Name: "latest", Moving: true}},
		},
		{
			name: "branch named latest is not doubled", branch: "latest", commit: commit, defaultBranch: "latest",
			want: []Tag{{Name: "latest-1a2b3c4"}, {Name: "latest", Moving: true}},
		},
		{
			name: "empty branch", branch: "", commit: commit, defaultBranch: "",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BranchTags(tt.branch, tt.commit, tt.defaultBranch)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("BranchTags(%q, %q, %q) mismatch (-want +got):\n%s", tt.branch, tt.commit, tt.defaultBranch, diff)
			}
			for _, tag := range got {
				if !ValidTag(tag.Name) {
					t.Errorf("tag %q is not valid", tag.Name)
				}
			}
		})
	}
}

func TestBranchTagNames(t *testing.T) {
	tests := []struct {
		name                          string
		branch, commit, defaultBranch string
		want                          []string
	}{
		{"design example", "main", "1a2b3c4d", "main", []string{"main", "main-1a2b3c4", "latest"}},
		{"other branch", "dev", "1a2b3c4d", "main", []string{"dev", "dev-1a2b3c4"}},
		{"no commit", "main", "", "main", []string{"main", "latest"}},
		{"empty branch", "", "1a2b3c4d", "main", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BranchTagNames(tt.branch, tt.commit, tt.defaultBranch)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("BranchTagNames mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		name string
		tag  string
		want bool
	}{
		{"simple", "main", true},
		{"single char", "a", true},
		{"underscore first", "_a", true},
		{"digit first", "1.2.3", true},
		{"all classes", "Ab_9.-z", true},
		{"128 chars", strings.Repeat("a", 128), true},
		{"129 chars", strings.Repeat("a", 129), false},
		{"empty", "", false},
		{"leading dot", ".a", false},
		{"leading dash", "-a", false},
		{"slash", "a/b", false},
		{"colon", "a:b", false},
		{"at", "a@b", false},
		{"space", "a b", false},
		{"unicode", "café", false},
		{"plus", "1.0+build", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidTag(tt.tag); got != tt.want {
				t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.want)
			}
		})
	}
}

func TestPushOrder(t *testing.T) {
	in := []Tag{{Name: "main", Moving: true}, {Name: "main-1a2b3c4"}, {Name: "latest", Moving: true}, {Name: "2026-W47"}}
	want := []Tag{{Name: "main-1a2b3c4"}, {Name: "2026-W47"}, {Name: "main", Moving: true}, {Name: "latest", Moving: true}}
	if diff := cmp.Diff(want, pushOrder(in)); diff != "" {
		t.Errorf("pushOrder mismatch (-want +got):\n%s", diff)
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name  string
		lists [][]Tag
		want  []Tag
	}{
		{name: "none", want: []Tag{}},
		{
			name:  "push order across lists",
			lists: [][]Tag{{{Name: "a", Moving: true}, {Name: "b"}}, {{Name: "c"}, {Name: "latest", Moving: true}}},
			want:  []Tag{{Name: "b"}, {Name: "c"}, {Name: "a", Moving: true}, {Name: "latest", Moving: true}},
		},
		{
			name:  "a tag both moving and immutable is immutable, at its first place",
			lists: [][]Tag{{{Name: "v1", Moving: true}, {Name: "x"}}, {{Name: "v1"}}},
			want:  []Tag{{Name: "v1"}, {Name: "x"}},
		},
		{
			name:  "duplicates once",
			lists: [][]Tag{{{Name: "a", Moving: true}}, {{Name: "a", Moving: true}}},
			want:  []Tag{{Name: "a", Moving: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(Merge(tt.lists...), tt.want); diff != "" {
				t.Errorf("Merge() mismatch (-got +want):\n%s", diff)
			}
		})
	}
}
