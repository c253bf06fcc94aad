package webhook

import "testing"

func TestNormalizeRepoURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "https with .git", in: "https://github.com/acme/web.git", want: "https://github.com/acme/web"},
		{name: "https trailing slash", in: "https://github.com/acme/web/", want: "https://github.com/acme/web"},
		{name: "https .git and slash", in: "https://github.com/acme/web.git/", want: "https://github.com/acme/web"},
		{name: "host and scheme lower-cased", in: "HTTPS://GitHub.com/Acme/Web", want: "https://github.com/Acme/Web"},
		{name: "user info dropped", in: "https://x-access-token:abc@github.com/acme/web.git", want: "https://github.com/acme/web"},
		{name: "port kept", in: "https://git.example.com:8443/acme/web.git", want: "https://git.example.com:8443/acme/web"},
		{name: "scp-like", in: "git@github.com:acme/web.git", want: "ssh://github.com/acme/web"},
		{name: "ssh url", in: "ssh://git@github.com/acme/web.git", want: "ssh://github.com/acme/web"},
		{name: "surrounding space", in: "  https://github.com/acme/web.git ", want: "https://github.com/acme/web"},
		{name: "empty", in: "", want: ""},
		{name: "local path", in: "/srv/git/web.git", want: ""},
		{name: "relative path", in: "./web", want: ""},
		{name: "file url", in: "file:///srv/git/web.git", want: ""},
		{name: "host only", in: "https://github.com/", want: ""},
		{name: "only .git", in: "https://github.com/.git", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normalizeRepoURL(tt.in); got != tt.want {
				t.Errorf("normalizeRepoURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
