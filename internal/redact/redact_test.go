package redact

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValues(t *testing.T) {
	tests := []struct {
		name    string
		secrets map[string]string
		want    []string
	}{
		{"none", nil, nil},
		{"blank dropped", map[string]string{"A": " ", "B": ""}, nil},
		{"longest first", map[string]string{"A": "abc", "B": "abcdef"}, []string{"abcdef", "abc"}},
		{"lines of a multi-line value", map[string]string{"K": "line1\nline22\r\n"}, []string{"line1\nline22\r\n", "line22", "line1"}},
		{"duplicates once", map[string]string{"A": "same", "B": "same"}, []string{"same"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Values(tt.secrets)); diff != "" {
				t.Errorf("Values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplacer(t *testing.T) {
	if Replacer(nil) != nil {
		t.Errorf("Replacer(nil) is not nil")
	}
	got := Replacer(Values(map[string]string{"A": "tok", "B": "token"})).Replace("token tok x")
	if want := "*** *** x"; got != want {
		t.Errorf("Replace = %q, want %q", got, want)
	}
}

// TestURL is the table of source's former RedactURL, with the one mask.
func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://github.com/acme/web.git", "https://github.com/acme/web.git"},
		{"https://user:pass@github.com/acme/web.git", "https://***@github.com/acme/web.git"},
		{"https://ghp_token@github.com/acme/web.git", "https://***@github.com/acme/web.git"},
		{"https://ghp_token:x-oauth-basic@github.com/acme/web.git", "https://***@github.com/acme/web.git"},
		{"ssh://git@github.com/acme/web.git", "ssh://git@github.com/acme/web.git"},
		{"ssh://git:pw@github.com/acme/web.git", "ssh://***@github.com/acme/web.git"},
		{"git@github.com:acme/web.git", "git@github.com:acme/web.git"},
		{"file:///srv/git/web", "file:///srv/git/web"},
		{"tcp://ops:hunter2@manager-1:2376", "tcp://***@manager-1:2376"},
		{"not a url https://a:b@h/x", "not a url https://***@h/x"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := URL(tc.in); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestStripURL is the table of builder's former stripCredentials.
func TestStripURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://github.com/acme/web.git", "https://github.com/acme/web.git"},
		{"https://x-access-token:TOKEN@github.com/acme/web.git", "https://github.com/acme/web.git"},
		{"https://TOKEN@github.com/acme/web.git", "https://github.com/acme/web.git"},
		{"ssh://git@github.com/acme/web.git", "ssh://git@github.com/acme/web.git"},
		{"ssh://git:pw@github.com/acme/web.git", "ssh://git@github.com/acme/web.git"},
		{"git@github.com:acme/web.git", "git@github.com:acme/web.git"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := StripURL(tc.in); got != tc.want {
				t.Errorf("StripURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"no secrets", "plain text", nil, "plain text"},
		{"a quoted URL", `Get "https://u:tok3n@reg.example/v2/": EOF`, nil, `Get "https://***@reg.example/v2/": EOF`},
		{"an ssh account name stays", "ssh://git@github.com/acme/web.git: denied", nil, "ssh://git@github.com/acme/web.git: denied"},
		{"secrets longest first", "token tok x", []string{"tok", "token"}, "*** *** x"},
		{"blank secrets ignored", "a b", []string{"", " "}, "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	if Error(nil, "x") != nil {
		t.Error("Error(nil) is not nil")
	}
	base := errors.New("login as acme with s3cret-pw failed")
	err := Error(fmt.Errorf("push: %w", base), "s3cret-pw")
	if got, want := err.Error(), "push: login as acme with *** failed"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, base) {
		t.Error("errors.Is does not see the wrapped error")
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	if got := Secret(""); got != "" {
		t.Errorf(`Secret("") = %q, want ""`, got)
	}
	if got := Secret("hunter2"); got != Mask {
		t.Errorf("Secret(hunter2) = %q, want %q", got, Mask)
	}
}
