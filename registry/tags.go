package registry

import "strings"

// MaxTagLen is the longest tag a registry accepts (the distribution spec's
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
const MaxTagLen = 128

// shaLen is the length of the commit abbreviation in B'-<sha7> tags.
const shaLen = 7

// Latest is the moving tag of the default branch's newest build.
const Latest = "latest"

// Tag is one tag pushed for a build.
type Tag struct {
	// Name is the tag, a valid docker tag (ValidTag).
	Name string
	// Moving marks a tag that is re-pointed by later builds (latest, a
	// branch name, weekly). Push pushes moving tags only after every
	// immutable tag of the build has been pushed and its digest checked, so
	// a moving tag never names an image that its immutable tag lacks.
	Moving bool
}

// SanitizeBranch turns a branch name into a tag: every character outside
// [A-Za-z0-9_.-] (a rune, so "é" is one) becomes '-', and the result is cut
// to MaxTagLen characters. A tag cannot start with '.' or '-', so a leading
// '.' or '-' (also one made from another character, as in "/x") is replaced
// with '_': the result keeps its length and stays distinct from the names of
// other branches that differ only in that character's position ("-x" and
// "x" stay apart). An empty branch gives "".
//
// Distinct branches may sanitize to one tag ("feature/x" and "feature-x");
// their builds then share the moving tag, as the DESIGN's rule implies.
func SanitizeBranch(branch string) string {
	var b strings.Builder
	for _, r := range branch {
		if b.Len() == MaxTagLen {
			break
		}
		if !tagChar(r) {
			r = '-'
		}
		b.WriteRune(r)
	}
	s := b.String()
	if s != "" && (s[0] == '.' || s[0] == '-') {
		s = "_" + s[1:]
	}
	return s
}

// BranchTags returns the tags of a push to branch at commit, in push order:
// the immutable B'-<sha7> first, then the moving B', then the moving latest
// when branch is defaultBranch. B' is SanitizeBranch(branch), cut in
// B'-<sha7> so the whole tag fits MaxTagLen. The commit abbreviation is its
// first 7 characters, lower-cased; an empty commit (a preview without one)
// omits the immutable tag. An empty branch gives no tags. A branch that
// sanitizes to "latest" yields that tag once.
//
// BranchTagNames gives the same tags in the DESIGN's display order.
func BranchTags(branch, commit, defaultBranch string) []Tag {
	b := SanitizeBranch(branch)
	if b == "" {
		return nil
	}
	var tags []Tag
	if sha := shortCommit(commit); sha != "" {
		prefix := b
		if room := MaxTagLen - len(sha) - 1; len(prefix) > room {
			prefix = prefix[:room]
		}
		tags = append(tags, Tag{Name: prefix + "-" + sha})
	}
	tags = append(tags, Tag{Name: b, Moving: true})
	if branch == defaultBranch && b != Latest {
		tags = append(tags, Tag{Name: Latest, Moving: true})
	}
	return tags
}

// BranchTagNames returns the names of BranchTags in the DESIGN's display
// order (the build result's "tags"): B', B'-<sha7>, then latest.
func BranchTagNames(branch, commit, defaultBranch string) []string {
	tags := BranchTags(branch, commit, defaultBranch)
	if len(tags) >= 2 && !tags[0].Moving {
		tags[0], tags[1] = tags[1], tags[0]
	}
	return Names(tags)
}

// Names returns the names of tags in their order.
func Names(tags []Tag) []string {
	names := make([]string, 0, len(tags))
	for _, t := range tags {
		names = append(names, t.Name)
	}
	return names
}

// ValidTag reports whether s is a docker tag:
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func ValidTag(s string) bool {
	if s == "" || len(s) > MaxTagLen || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !tagChar(r) {
			return false
		}
	}
	return true
}

// shortCommit abbreviates a commit for a tag: its first 7 characters,
// lower-cased, each outside the tag alphabet turned into '-'.
func shortCommit(commit string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(commit) {
		if b.Len() == shaLen {
			break
		}
		if !tagChar(r) {
			r = '-'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tagChar reports whether r may appear in a tag.
func tagChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '.' || r == '-'
}

// Merge unites lists of tags in push order: immutable tags first, then
// moving ones, each group in the order first seen; no tag twice (a tag seen
// both immutable and moving is immutable), as Tags orders its own.
func Merge(lists ...[]Tag) []Tag {
	var set tagSet
	for _, l := range lists {
		for _, t := range l {
			set.add(t)
		}
	}
	return pushOrder(set.tags)
}
