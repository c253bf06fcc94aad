package registry

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name   string
		tag    string
		want   Version
		wantOK bool
	}{
		{"with v", "v1.2.3", Version{Major: 1, Minor: 2, Patch: 3}, true},
		{"without v", "1.2.3", Version{Major: 1, Minor: 2, Patch: 3}, true},
		{"zero", "v0.0.0", Version{}, true},
		{"prerelease", "v1.2.3-rc.1", Version{Major: 1, Minor: 2, Patch: 3, Prerelease: "rc.1"}, true},
		{"prerelease with dashes", "1.0.0-x-y-z.--", Version{Major: 1, Prerelease: "x-y-z.--"}, true},
		{"build metadata", "v1.2.3+build.5", Version{Major: 1, Minor: 2, Patch: 3, Build: "build.5"}, true},
		{"prerelease and build", "1.0.0-alpha+001", Version{Major: 1, Prerelease: "alpha", Build: "001"}, true},
		{"big numbers", "v18446744073709551615.0.1", Version{Major: 18446744073709551615, Patch: 1}, true},
		{"two parts", "v1.2", Version{}, false},
		{"four parts", "1.2.3.4", Version{}, false},
		{"upper-case V", "V1.2.3", Version{}, false},
		{"double v", "vv1.2.3", Version{}, false},
		{"leading zero", "v01.2.3", Version{}, false},
		{"leading zero in patch", "1.2.03", Version{}, false},
		{"leading zero in numeric prerelease", "1.2.3-rc.01", Version{}, false},
		{"leading zero in alphanumeric prerelease ok", "1.2.3-rc.0a", Version{Major: 1, Minor: 2, Patch: 3, Prerelease: "rc.0a"}, true},
		{"empty prerelease", "1.2.3-", Version{}, false},
		{"empty prerelease identifier", "1.2.3-rc..1", Version{}, false},
		{"empty build", "1.2.3+", Version{}, false},
		{"bad prerelease character", "1.2.3-rc_1", Version{}, false},
		{"overflow", "v18446744073709551616.0.0", Version{}, false},
		{"negative", "v-1.2.3", Version{}, false},
		{"words", "release-2026", Version{}, false},
		{"empty", "", Version{}, false},
		{"v alone", "v", Version{}, false},
		{"spaces", " 1.2.3", Version{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseVersion(tt.tag)
			if ok != tt.wantOK {
				t.Fatalf("ParseVersion(%q) ok = %v, want %v", tt.tag, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseVersion(%q) mismatch (-want +got):\n%s", tt.tag, diff)
			}
		})
	}
}

func TestVersionString(t *testing.T) {
	for tag, want := range map[string]string{
		"v1.2.3":         "1.2.3",
		"1.2.3-rc.1":     "1.2.3-rc.1",
		"v1.2.3+build.5": "1.2.3",
		"v0.4.0-beta+x":  "0.4.0-beta",
	} {
		v, ok := ParseVersion(tag)
		if !ok {
			t.Fatalf("ParseVersion(%q) failed", tag)
		}
		if got := v.String(); got != want {
			t.Errorf("ParseVersion(%q).String() = %q, want %q", tag, got, want)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	// Ascending, as semver.org 2.0.0 §11 orders them, plus number edges.
	ordered := []string{
		"0.0.1",
		"0.1.0",
		"0.9.0",
		"0.10.0",
		"1.0.0-0",
		"1.0.0-1",
		"1.0.0-2",
		"1.0.0-10",
		"1.0.0-99999999999999999999999",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-alpha.beta",
		"1.0.0-beta",
		"1.0.0-beta.2",
		"1.0.0-beta.11",
		"1.0.0-rc.1",
		"1.0.0",
		"1.0.1",
		"1.2.0",
		"1.10.0",
		"2.0.0-rc.1",
		"2.0.0",
		"10.0.0",
	}
	parse := func(s string) Version {
		v, ok := ParseVersion(s)
		if !ok {
			t.Fatalf("ParseVersion(%q) failed", s)
		}
		return v
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := parse(a).Compare(parse(b)); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", a, b, got, want)
			}
		}
	}
	t.Run("build metadata is ignored", func(t *testing.T) {
		if got := parse("1.2.3+a").Compare(parse("1.2.3+b")); got != 0 {
			t.Errorf("Compare = %d, want 0", got)
		}
	})
	t.Run("sorting a shuffled list", func(t *testing.T) {
		shuffled := slices.Clone(ordered)
		r := rand.New(rand.NewPCG(1, 2))
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		slices.SortFunc(shuffled, func(a, b string) int { return parse(a).Compare(parse(b)) })
		if diff := cmp.Diff(ordered, shuffled); diff != "" {
			t.Errorf("sorted mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestHighestStable(t *testing.T) {
	tests := []struct {
		name   string
		tags   []string
		want   string
		wantOK bool
	}{
		{"none", nil, "", false},
		{"only prereleases and words", []string{"v2.0.0-rc.1", "release", "v1.2"}, "", false},
		{"highest release", []string{"v1.2.0", "v1.1.5", "v1.10.0", "v1.9.9"}, "v1.10.0", true},
		{"prerelease above is ignored", []string{"v1.5.0", "v2.0.0-rc.1"}, "v1.5.0", true},
		{"backport after", []string{"v2.0.1", "v1.9.1"}, "v2.0.1", true},
		{"without v", []string{"1.2.3", "v1.2.2"}, "1.2.3", true},
		{"equal versions: first wins", []string{"1.2.3", "v1.2.3"}, "1.2.3", true},
		{"build metadata", []string{"v1.2.3+b.2", "v1.2.2"}, "v1.2.3+b.2", true},
		{"0.x", []string{"v0.3.0", "v0.10.1"}, "v0.10.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := HighestStable(tt.tags)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("HighestStable(%q) = %q, %v; want %q, %v", tt.tags, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
