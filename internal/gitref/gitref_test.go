package gitref

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestParseAndShort(t *testing.T) {
	tests := []struct {
		in        string
		full      plumbing.ReferenceName
		short     string
		branch    bool
		tag       bool
		branchTag string
	}{
		{in: "main", full: "refs/heads/main", short: "main", branch: true},
		{in: "release/1.x", full: "refs/heads/release/1.x", short: "release/1.x", branch: true},
		{in: "refs/heads/main", full: "refs/heads/main", short: "main", branch: true},
		{in: "refs/tags/v1.2.3", full: "refs/tags/v1.2.3", short: "v1.2.3", tag: true},
		{in: "refs/pull/1/head", full: "refs/pull/1/head", short: "refs/pull/1/head"},
		{in: "", full: "", short: ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			full := Parse(tt.in)
			if full != tt.full {
				t.Errorf("Parse(%q) = %q, want %q", tt.in, full, tt.full)
			}
			if got := Short(full); got != tt.short {
				t.Errorf("Short(%q) = %q, want %q", full, got, tt.short)
			}
			if got := IsBranch(full); got != tt.branch {
				t.Errorf("IsBranch(%q) = %v, want %v", full, got, tt.branch)
			}
			if got := IsTag(full); got != tt.tag {
				t.Errorf("IsTag(%q) = %v, want %v", full, got, tt.tag)
			}
			if tt.branch && full != Branch(tt.short) {
				t.Errorf("Branch(%q) = %q, want %q", tt.short, Branch(tt.short), full)
			}
			if tt.tag && full != Tag(tt.short) {
				t.Errorf("Tag(%q) = %q, want %q", tt.short, Tag(tt.short), full)
			}
			if full.IsBranch() != tt.branch || full.IsTag() != tt.tag {
				t.Errorf("go-git disagrees on %q: branch %v tag %v", full, full.IsBranch(), full.IsTag())
			}
		})
	}
}

func TestPull(t *testing.T) {
	if got, want := Pull(12), plumbing.ReferenceName("refs/pull/12/head"); got != want {
		t.Errorf("Pull(12) = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		ref  string
		n    int
		pull bool
	}{
		{"refs/pull/12/head", 12, true},
		{"refs/pull/1/head", 1, true},
		{"refs/pull/12/merge", 0, false},
		{"refs/pull/0/head", 0, false},
		{"refs/pull/012/head", 0, false},
		{"refs/pull/-1/head", 0, false},
		{"refs/pull//head", 0, false},
		{"refs/pull/1x/head", 0, false},
		{"refs/pull/9999999999/head", 0, false},
		{"refs/heads/pull/1/head", 0, false},
	} {
		n, ok := PullNumber(tt.ref)
		if n != tt.n || ok != tt.pull {
			t.Errorf("PullNumber(%q) = %d, %v; want %d, %v", tt.ref, n, ok, tt.n, tt.pull)
		}
	}
}
