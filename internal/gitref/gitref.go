// Package gitref spells git refs: the one place that knows how a branch and
// a tag are written in full. Refs are go-git's plumbing.ReferenceName; the
// functions here accept any string type so that a ref stored as a string
// (store.Build.Ref) and a typed one read the same.
package gitref

import (
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

const (
	branchPrefix = "refs/heads/"
	tagPrefix    = "refs/tags/"
	pullPrefix   = "refs/pull/"
	pullSuffix   = "/head"
)

// Parse returns ref in full: a full ref ("refs/...") as it is, any other
// name as a branch ("main" is refs/heads/main). "" stays "".
func Parse[R ~string](ref R) plumbing.ReferenceName {
	s := string(ref)
	if s == "" || strings.HasPrefix(s, "refs/") {
		return plumbing.ReferenceName(s)
	}
	return Branch(s)
}

// Branch is the full ref of branch name.
func Branch(name string) plumbing.ReferenceName { return plumbing.ReferenceName(branchPrefix + name) }

// Tag is the full ref of git tag name.
func Tag(name string) plumbing.ReferenceName { return plumbing.ReferenceName(tagPrefix + name) }

// Pull is the ref GitHub keeps of pull request n's head commit
// (refs/pull/n/head), fetchable from the base repository even when the
// head is in a fork.
func Pull(n int) plumbing.ReferenceName {
	return plumbing.ReferenceName(pullPrefix + strconv.Itoa(n) + pullSuffix)
}

// PullNumber returns the pull request of ref and whether ref is a pull
// request's head ("refs/pull/12/head" gives 12, true).
func PullNumber[R ~string](ref R) (int, bool) {
	s, ok := strings.CutPrefix(string(ref), pullPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, pullSuffix)
	if !ok || s == "" || s[0] == '0' || len(s) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// BranchName returns the branch of ref and whether ref is a branch
// ("refs/heads/main" gives "main", true).
func BranchName[R ~string](ref R) (string, bool) {
	return strings.CutPrefix(string(ref), branchPrefix)
}

// TagName returns the git tag of ref and whether ref is a tag
// ("refs/tags/v1.2.3" gives "v1.2.3", true).
func TagName[R ~string](ref R) (string, bool) {
	return strings.CutPrefix(string(ref), tagPrefix)
}

// IsBranch reports whether ref is a full branch ref.
func IsBranch[R ~string](ref R) bool { return strings.HasPrefix(string(ref), branchPrefix) }

// IsTag reports whether ref is a full tag ref.
func IsTag[R ~string](ref R) bool { return strings.HasPrefix(string(ref), tagPrefix) }

// Short is the branch or tag name of ref ("main", "v1.2.3"); any other ref
// (and a name that is not a full ref) as it is.
func Short[R ~string](ref R) string {
	if b, ok := BranchName(ref); ok {
		return b
	}
	if t, ok := TagName(ref); ok {
		return t
	}
	return string(ref)
}
