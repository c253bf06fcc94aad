package source

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// ErrInvalidRef: a ref name git itself would refuse (git check-ref-format),
// or a branch or tag name starting with "-".
var ErrInvalidRef = errors.New("invalid ref name")

// ValidateRef checks a full ref name ("refs/heads/main", "refs/tags/v1.2.3",
// "refs/pull/1/head") against git's check-ref-format rules, and refuses a
// branch or tag name starting with "-" as git branch and git tag do (such a
// name reads as an option to git). The error matches ErrInvalidRef and says
// which rule the name breaks; the name is quoted with control characters
// escaped. It is pure: API handlers call it to answer 400 before queueing.
func ValidateRef(ref string) error {
	if why := refProblem(ref); why != "" {
		return errorKind(ErrInvalidRef, "ref %q is not a valid git ref name: %s", ref, why)
	}
	return nil
}

// refProblem returns the first rule of git check-ref-format that ref breaks,
// or "".
func refProblem(ref string) string {
	switch {
	case ref == "":
		return "it is empty"
	case !strings.HasPrefix(ref, "refs/") || len(ref) == len("refs/"):
		return `a full ref starts with "refs/" and names something below it`
	case strings.HasSuffix(ref, "/"):
		return `it ends with "/"`
	case strings.HasSuffix(ref, "."):
		return `it ends with "."`
	case strings.Contains(ref, ".."):
		return `it contains ".."`
	case strings.Contains(ref, "@{"):
		return `it contains "@{"`
	case strings.ContainsAny(ref, " ~^:?*[\\"):
		return `it contains a space or one of ~ ^ : ? * [ \`
	case strings.IndexFunc(ref, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return "it contains a control character"
	}
	parts := strings.Split(ref, "/")
	for i, part := range parts {
		switch {
		case part == "":
			return `it contains "//"`
		case strings.HasPrefix(part, "."):
			return fmt.Sprintf("component %q starts with \".\"", part)
		case strings.HasSuffix(part, ".lock"):
			return fmt.Sprintf("component %q ends with \".lock\"", part)
		case part == "@":
			return `a component is "@"`
		case i == 2 && strings.HasPrefix(part, "-") && (parts[1] == "heads" || parts[1] == "tags"):
			return fmt.Sprintf("a branch or tag name cannot start with \"-\" (%q)", part)
		}
	}
	// go-git's own check has the last word: the fetch goes through it.
	if n := plumbing.ReferenceName(ref); n.Validate() != nil || !n.IsSafe() {
		return "go-git refuses it"
	}
	return ""
}
