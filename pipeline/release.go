package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipwayci/slipway/config"
)

// ScheduleLocation returns the time zone of a schedule: its timezone, UTC
// when unset or unknown (config validation rejects unknown zones).
func ScheduleLocation(s *config.Schedule) *time.Location {
	loc, err := s.Location()
	if err != nil {
		return time.UTC
	}
	return loc
}

// BuildKey identifies the inputs of an image besides the commit: the
// context, Dockerfile, target and build args (secret ones hashed in with
// their values, which the key never reveals) and, when the context holds a
// .git (git_dir), the ref it names (HEAD on a branch, detached at a tag).
// Two builds of one commit with the same key make the same image, so a
// release may re-tag the first.
func BuildKey(p *config.Project, ref plumbing.ReferenceName) string {
	h := sha256.New()
	fmt.Fprintf(h, "context=%s\ndockerfile=%s\ntarget=%s\n", p.Context, p.Dockerfile, p.Target)
	if p.WantsGitDir() {
		fmt.Fprintf(h, "git_dir ref=%s\n", ref)
	}
	if p.Submodules {
		fmt.Fprintf(h, "submodules\n")
	}
	// An index of platforms is another image than one of the builder's
	// platform, and than an index of other platforms.
	if len(p.Platforms) > 0 {
		fmt.Fprintf(h, "platforms=%s\n", strings.Join(p.Platforms, ","))
	}
	keys := make([]string, 0, len(p.BuildArgs))
	for k := range p.BuildArgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "arg %s=%s\n", k, p.BuildArgs[k])
	}
	keys = keys[:0]
	for k := range p.SecretBuildArgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "secret %s=%s\n", k, p.SecretBuildArgs[k].Value())
	}
	return hex.EncodeToString(h.Sum(nil))
}
