package pipeline

import (
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/registry"
)

// Tags returns the tags a build of ref at commit pushes, in push order
// (immutable first, moving last).
func Tags(p *config.Project, ref, commit string) ([]registry.Tag, error) {
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		return registry.BranchTags(strings.TrimPrefix(ref, "refs/heads/"), commit, p.DefaultBranch), nil
	case strings.HasPrefix(ref, "refs/tags/"):
		name := registry.SanitizeBranch(strings.TrimPrefix(ref, "refs/tags/"))
		return []registry.Tag{{Name: name}}, nil
	}
	return nil, fmt.Errorf("tags for ref %q: only refs/heads/ and refs/tags/ refs build", ref)
}

// displayOrder lists tags as the build result shows them: moving branch tag
// first, then the immutable ones, then latest (["main", "main-1a2b3c4",
// "latest"]).
func displayOrder(tags []registry.Tag) []string {
	var first, mid, last []string
	for _, t := range tags {
		switch {
		case t.Name == "latest":
			last = append(last, t.Name)
		case t.Moving:
			first = append(first, t.Name)
		default:
			mid = append(mid, t.Name)
		}
	}
	return append(append(first, mid...), last...)
}
