package pipeline

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"strconv"
)

// sourceDateEpoch is the build arg reproducible builds take their
// timestamps from (https://reproducible-builds.org/specs/source-date-epoch/).
const sourceDateEpoch = "SOURCE_DATE_EPOCH"

// withSourceDateEpoch returns the build args with SOURCE_DATE_EPOCH set to
// the commit's time when the Dockerfile declares it and the project does
// not set it: BuildKit (0.11 on) then stamps the image and its history with
// the commit's time instead of the build's.
func (r *run) withSourceDateEpoch() (map[string]string, error) {
	if _, set := r.args[sourceDateEpoch]; set {
		return r.args, nil
	}
	if _, set := r.secrets[sourceDateEpoch]; set {
		return r.args, nil
	}
	file, err := r.dockerfilePath()
	if err != nil {
		return nil, err
	}
	declared, err := declaredArgs(file)
	if err != nil || !declared[sourceDateEpoch] {
		// An unreadable Dockerfile fails the build with the engine's
		// own error.
		return r.args, nil
	}
	args := maps.Clone(r.args)
	if args == nil {
		args = map[string]string{}
	}
	args[sourceDateEpoch] = strconv.FormatInt(r.co.Time.Unix(), 10)
	return args, nil
}

// dockerfilePath is the plan's Dockerfile in the checkout, symlinks
// resolved and confined to it.
func (r *run) dockerfilePath() (string, error) {
	root, err := filepath.EvalSymlinks(r.co.Dir)
	if err != nil {
		return "", fmt.Errorf("resolve the checkout: %w", err)
	}
	file, err := resolveIn(root, path.Join(r.plan.Context, r.plan.Dockerfile))
	if err != nil {
		return "", fmt.Errorf("dockerfile %s: %w", r.plan.Dockerfile, err)
	}
	return file, nil
}
