package source

import "testing"

func TestModuleURL(t *testing.T) {
	for _, tc := range []struct {
		name, parent, url string
		want              string // "" when refused
	}{
		{"absolute https", "https://github.com/acme/web.git", "https://github.com/acme/lib.git", "https://github.com/acme/lib.git"},
		{"relative to an https parent", "https://github.com/acme/web.git", "../lib.git", "https://github.com/acme/lib.git"},
		{"relative below the parent", "https://github.com/acme/web.git", "./lib", "https://github.com/acme/web.git/lib"},
		{"relative to an scp-like parent", "git@github.com:acme/web.git", "../lib.git", "git@github.com:acme/lib.git"},
		{"relative to a file parent", "file:///srv/git/web", "../lib", "file:///srv/git/lib"},
		{"relative to a local path", "/srv/git/web", "../lib", "/srv/git/lib"},
		{"file under a file parent", "file:///srv/git/web", "file:///srv/git/lib", "file:///srv/git/lib"},
		{"ssh under https", "https://github.com/acme/web.git", "ssh://git@github.com/acme/lib.git", "ssh://git@github.com/acme/lib.git"},
		{"file under https", "https://github.com/acme/web.git", "file:///etc/secrets", ""},
		{"local path under https", "https://github.com/acme/web.git", "/srv/git/lib", ""},
		{"relative climbing above the host", "https://github.com/acme/web.git", "../../../lib.git", ""},
		{"option-like url", "https://github.com/acme/web.git", "--upload-pack=touch /tmp/x", ""},
		{"unknown scheme", "https://github.com/acme/web.git", "ftp://example.com/lib.git", ""},
		{"empty", "https://github.com/acme/web.git", " ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := moduleURL(tc.parent, tc.url)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("moduleURL(%q, %q) = %q, want it refused", tc.parent, tc.url, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("moduleURL(%q, %q) = %q, %v; want %q", tc.parent, tc.url, got, err, tc.want)
			}
		})
	}
}

func TestSameHost(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"https://github.com/acme/web.git", "https://github.com/acme/lib.git", true},
		{"https://github.com/acme/web.git", "https://GitHub.com/other/lib.git", true},
		{"https://github.com/acme/web.git", "https://gitlab.com/acme/lib.git", false},
		{"https://github.com/acme/web.git", "http://github.com/acme/lib.git", false},
		{"https://github.com/acme/web.git", "https://github.com:8443/acme/lib.git", false},
	} {
		if got := sameHost(tc.a, tc.b); got != tc.want {
			t.Errorf("sameHost(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
