package registry

import (
	"cmp"
	"strconv"
	"strings"
)

// Version is a semantic version (semver.org 2.0.0) read from a git tag.
type Version struct {
	// Major, Minor and Patch are the release numbers.
	Major, Minor, Patch uint64
	// Prerelease is the part after '-' ("rc.1"), "" for a stable release.
	Prerelease string
	// Build is the build metadata after '+'; it plays no part in the order
	// and appears in no tag ('+' is not allowed in a docker tag).
	Build string
}

// ParseVersion reads a git tag as a semantic version: "1.2.3",
// "v1.2.3-rc.1" or "v1.2.3+build.5" (an optional lower-case 'v', then
// MAJOR.MINOR.PATCH, an optional prerelease and build metadata, all as
// semver.org 2.0.0 has them: no leading zeros in numbers). Anything else
// ("v1.2", "V1.2.3", "release-1") is not a version.
func ParseVersion(tag string) (Version, bool) {
	s := strings.TrimPrefix(tag, "v")
	var v Version
	if i := strings.IndexByte(s, '+'); i >= 0 {
		v.Build = s[i+1:]
		if !validIdents(v.Build, false) {
			return Version{}, false
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		v.Prerelease = s[i+1:]
		if !validIdents(v.Prerelease, true) {
			return Version{}, false
		}
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, false
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		if !numeric(p) || len(p) > 1 && p[0] == '0' {
			return Version{}, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return Version{}, false
		}
		*nums[i] = n
	}
	return v, true
}

// validIdents checks the dot-separated identifiers of a prerelease
// (numbers without leading zeros) or of build metadata.
func validIdents(s string, prerelease bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, r := range id {
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
				return false
			}
		}
		if prerelease && numeric(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// numeric reports whether s is a non-empty string of ASCII digits.
func numeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the version as it appears in tags: "1.2.3" or
// "1.2.3-rc.1", without 'v' and without build metadata.
func (v Version) String() string {
	s := strconv.FormatUint(v.Major, 10) + "." + strconv.FormatUint(v.Minor, 10) + "." + strconv.FormatUint(v.Patch, 10)
	if v.Prerelease != "" {
		s += "-" + v.Prerelease
	}
	return s
}

// Stable reports whether v is a release, not a prerelease.
func (v Version) Stable() bool { return v.Prerelease == "" }

// Compare orders versions by semver precedence: -1 when v < w, 0 when they
// are equal (build metadata ignored), +1 when v > w. A prerelease is lower
// than its release (1.0.0-rc.1 < 1.0.0); prereleases compare identifier by
// identifier, numbers numerically and below words, a shorter list lower
// when the longer one starts with it (1.0.0-alpha < 1.0.0-alpha.1 <
// 1.0.0-alpha.beta < 1.0.0-beta < 1.0.0-beta.2 < 1.0.0-beta.11 <
// 1.0.0-rc.1 < 1.0.0).
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Patch, w.Patch); c != 0 {
		return c
	}
	switch {
	case v.Prerelease == w.Prerelease:
		return 0
	case v.Prerelease == "":
		return 1
	case w.Prerelease == "":
		return -1
	}
	a, b := strings.Split(v.Prerelease, "."), strings.Split(w.Prerelease, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareIdent(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// compareIdent compares two prerelease identifiers.
func compareIdent(a, b string) int {
	an, bn := numeric(a), numeric(b)
	switch {
	case an && bn:
		// No leading zeros: the longer number is the bigger one, and this
		// works beyond the uint64 range.
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// HighestStable returns the git tag among tags whose version is the highest
// stable (non-prerelease) semantic version (ParseVersion), as given in tags
// ("v2.0.1"), and whether there is one. Tags that are not versions and
// prereleases are ignored; of tags with equal versions ("v1.2.3" and
// "1.2.3") the first wins.
func HighestStable(tags []string) (string, bool) {
	var (
		best    Version
		bestTag string
		found   bool
	)
	for _, t := range tags {
		v, ok := ParseVersion(t)
		if !ok || !v.Stable() {
			continue
		}
		if !found || v.Compare(best) > 0 {
			best, bestTag, found = v, t, true
		}
	}
	return bestTag, found
}
