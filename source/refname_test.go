package source_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/source"
)

func TestValidateRef(t *testing.T) {
	valid := []string{
		"refs/heads/main", "refs/heads/feature/x-y", "refs/heads/a-", "refs/tags/v1.2.3",
		"refs/tags/2026-W47", "refs/pull/1/head", "refs/heads/ü", "refs/heads/a@b",
	}
	for _, ref := range valid {
		if err := source.ValidateRef(ref); err != nil {
			t.Errorf("ValidateRef(%q) = %v, want nil", ref, err)
		}
	}
	invalid := []struct{ ref, want string }{
		{"", "empty"},
		{"main", `starts with "refs/"`},
		{"refs/", `starts with "refs/"`},
		{"refs/heads/--upload-pack=x", `cannot start with "-"`},
		{"refs/tags/-v1", `cannot start with "-"`},
		{"refs/../../etc/passwd", `".."`},
		{"refs/heads/x/", `ends with "/"`},
		{"refs/heads/x.", `ends with "."`},
		{"refs/heads//x", `"//"`},
		{"refs/heads/.x", `starts with "."`},
		{"refs/heads/x.lock", `".lock"`},
		{"refs/heads/@", `is "@"`},
		{"refs/heads/a@{1}", `"@{"`},
		{"refs/heads/a b", "space"},
		{"refs/heads/a\x00b", "control character"},
		{"refs/heads/a\x7fb", "control character"},
		{"refs/heads/a\\b", "one of"},
		{"refs/heads/a:b", "one of"},
		{"refs/heads/a*", "one of"},
	}
	for _, tt := range invalid {
		err := source.ValidateRef(tt.ref)
		if !errors.Is(err, source.ErrInvalidRef) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateRef(%q) = %v, want ErrInvalidRef saying %s", tt.ref, err, tt.want)
			continue
		}
		if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("ValidateRef(%q) error holds a control character: %q", tt.ref, err)
		}
	}
}
