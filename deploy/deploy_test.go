package deploy

import (
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
)

func TestMatches(t *testing.T) {
	tests := []struct {
		name    string
		on      []string
		trigger string
		ref     string
		want    bool
	}{
		{"branch push", []string{"branch:main"}, "push", "refs/heads/main", true},
		{"branch push of another branch", []string{"branch:main"}, "push", "refs/heads/mainline", false},
		{"branch pattern", []string{"branch:release/*"}, "push", "refs/heads/release/1.2", true},
		{"star does not cross a slash", []string{"branch:*"}, "push", "refs/heads/feature/x", false},
		{"branch star", []string{"branch:*"}, "push", "refs/heads/dev", true},
		{"bare branch name of a push", []string{"branch:main"}, "push", "main", true},
		{"branch kind on a tag ref", []string{"branch:main"}, "push", "refs/tags/main", false},
		{"branch kind on a tag build", []string{"branch:main"}, "tag", "refs/tags/main", false},
		{"tag star", []string{"tag:*"}, "tag", "refs/tags/v1.2.3", true},
		{"tag pattern", []string{"tag:v1.*"}, "tag", "refs/tags/v1.2.3", true},
		{"tag pattern of another version", []string{"tag:v1.*"}, "tag", "refs/tags/v2.0.0", false},
		{"bare tag name of a tag build", []string{"tag:v1.*"}, "tag", "v1.0.0", true},
		{"tag kind on a push", []string{"tag:*"}, "push", "refs/heads/v1", false},
		{"schedule", []string{"schedule:weekly"}, "schedule", "weekly", true},
		{"another schedule", []string{"schedule:weekly"}, "schedule", "monthly", false},
		{"schedule star", []string{"schedule:*"}, "schedule", "nightly", true},
		{"schedule kind on a push", []string{"schedule:weekly"}, "push", "refs/heads/weekly", false},
		{"branch kind on a schedule", []string{"branch:weekly"}, "schedule", "weekly", false},
		{"manual build deploys as its branch", []string{"branch:main"}, "manual", "refs/heads/main", true},
		{"manual build deploys as its tag", []string{"tag:v*"}, "manual", "refs/tags/v1.0.0", true},
		{"manual build with a bare ref is no branch", []string{"branch:main"}, "manual", "main", false},
		{"manual alone, any manual build", []string{"manual"}, "manual", "refs/pull/1/head", true},
		{"manual alone, not a push", []string{"manual"}, "push", "refs/heads/main", false},
		{"base_image rebuild", []string{"base_image"}, "base_image", "refs/heads/main", true},
		{"base_image rebuild is no push of its branch", []string{"branch:main"}, "base_image", "refs/heads/main", false},
		{"base_image on a push", []string{"base_image"}, "push", "refs/heads/main", false},
		{"manual pattern on a branch", []string{"manual:release-*"}, "manual", "refs/heads/release-1", true},
		{"manual pattern on a tag", []string{"manual:v1"}, "manual", "refs/tags/v1", true},
		{"manual pattern on a bare name", []string{"manual:main"}, "manual", "main", true},
		{"manual pattern of another branch", []string{"manual:main"}, "manual", "refs/heads/dev", false},
		{"manual star does not match a push", []string{"manual:*"}, "push", "refs/heads/main", false},
		{"malformed pattern", []string{"branch:[", "tag:["}, "push", "refs/heads/[", false},
		{"unknown kind", []string{"commit:main"}, "push", "refs/heads/main", false},
		{"kind without pattern", []string{"branch"}, "push", "refs/heads/main", false},
		{"empty list", nil, "push", "refs/heads/main", false},
		{"one of several", []string{"tag:*", "schedule:weekly", "branch:main"}, "push", "refs/heads/main", true},
		{"empty branch name", []string{"branch:*"}, "push", "refs/heads/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Matches(tt.on, tt.trigger, tt.ref); got != tt.want {
				t.Errorf("Matches(%q, %q, %q) = %v, want %v", tt.on, tt.trigger, tt.ref, got, tt.want)
			}
		})
	}
}

func TestImageRef(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		img  Image
		want string
	}{
		{"tag and digest", Image{"docker.io/acme/web", "main", d}, "docker.io/acme/web:main@" + d},
		{"digest only", Image{"127.0.0.1:5000/web", "", d}, "127.0.0.1:5000/web@" + d},
		{"tag only", Image{"acme/web", "v1", ""}, "acme/web:v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.img.Ref(); got != tt.want {
				t.Errorf("Ref() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestImageValidate(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name    string
		img     Image
		wantErr bool
	}{
		{"pinned", Image{"docker.io/acme/web", "main", d}, false},
		{"no digest", Image{"docker.io/acme/web", "main", ""}, true},
		{"bad digest", Image{"docker.io/acme/web", "main", "sha256:xyz"}, true},
		{"no repository", Image{"", "main", d}, true},
		{"bad repository", Image{"Acme/Web", "main", d}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.img.validate(); (err != nil) != tt.wantErr {
				t.Errorf("validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestSameImage(t *testing.T) {
	const d1 = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const d2 = "sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same", "docker.io/acme/web:1@" + d1, "docker.io/acme/web:1@" + d1, true},
		{"short form and other tag", "acme/web:2@" + d1, "docker.io/acme/web:1@" + d1, true},
		{"other digest", "acme/web:1@" + d2, "acme/web:1@" + d1, false},
		{"other repository", "acme/api:1@" + d1, "acme/web:1@" + d1, false},
		{"not pinned", "acme/web:1", "acme/web:1@" + d1, false},
		{"neither pinned", "acme/web:1", "acme/web:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameImage(tt.a, tt.b); got != tt.want {
				t.Errorf("sameImage(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestBindingOptions(t *testing.T) {
	off := false
	tests := []struct {
		name string
		b    config.DeployBinding
		want RolloutOptions
	}{
		{"defaults", config.DeployBinding{}, RolloutOptions{Rollback: true}},
		{"rollback off", config.DeployBinding{Rollback: &off}, RolloutOptions{Rollback: false}},
		{"timeout", config.DeployBinding{Timeout: config.Duration(time.Minute)}, RolloutOptions{Timeout: time.Minute, Rollback: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BindingOptions(tt.b)
			if got.Timeout != tt.want.Timeout || got.Rollback != tt.want.Rollback {
				t.Errorf("BindingOptions = %+v, want %+v", got, tt.want)
			}
			if d := got.withDefaults(); d.Timeout <= 0 || d.RollbackTimeout != d.Timeout || d.Poll != DefaultPoll || d.Log == nil {
				t.Errorf("withDefaults = %+v: a default is missing", d)
			}
		})
	}
}
