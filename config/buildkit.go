package config

import (
	"fmt"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
)

// BuildSecret is one BuildKit secret mount of a project: the value of ID
// comes from File or from the environment variable Env, exactly one of
// them.
type BuildSecret struct {
	// ID is the id of RUN --mount=type=secret,id=ID, which mounts the
	// value at /run/secrets/ID. Required; letters, digits, '_', '.', '-'.
	ID string `yaml:"id"`
	// File is a file on the slipway host holding the value, read when a
	// build starts (a relative path is taken from the config file's
	// directory). Default "".
	File string `yaml:"file"`
	// Env names an environment variable of the slipway process holding the
	// value, read when a build starts. Default "".
	Env string `yaml:"env"`
}

// BuildCache is a project's registry build cache, for BuildKit builds.
type BuildCache struct {
	// From are image references (with tag or digest) whose layers a build
	// may reuse, as `docker build --cache-from`: images pushed with inline
	// cache, typically the project's own branch tag. Pulled with the
	// credentials of registries[] or the docker config. Default: none.
	From []string `yaml:"from"`
	// Inline writes BuildKit's cache metadata into the pushed image
	// (BUILDKIT_INLINE_CACHE=1), so that a later build on any engine can
	// name it in From. Default false.
	Inline bool `yaml:"inline"`
}

// NeedsBuildKit reports the keys of p that only BuildKit serves (secrets,
// ssh, cache), as key paths below the project; none when p has none.
func (p *Project) NeedsBuildKit() []string {
	var keys []string
	if len(p.Secrets) > 0 {
		keys = append(keys, "secrets")
	}
	if p.SSH {
		keys = append(keys, "ssh")
	}
	if len(p.Cache.From) > 0 || p.Cache.Inline {
		keys = append(keys, "cache")
	}
	return keys
}

// secretIDs is the rule of secret ids.
var secretIDs = nameRule{
	list:     "secrets",
	what:     "secret id",
	re:       regexp.MustCompile(`^[A-Za-z0-9_.-]+$`),
	rule:     "%q must be letters, digits, '_', '.' and '-'",
	required: "required: the id of RUN --mount=type=secret,id=...",
}

// buildKit checks the BuildKit keys of project pr at key path p.
func (v *checker) buildKit(p string, pr *Project, c *Config) {
	ids := map[string]int{}
	for i, s := range pr.Secrets {
		sp := fmt.Sprintf("%s.secrets[%d]", p, i)
		v.uniqueName(sp+".id", i, s.ID, secretIDs, ids)
		switch {
		case s.File == "" && s.Env == "":
			v.add(sp, "set file (a file holding the value) or env (an environment variable of slipway holding it)")
		case s.File != "" && s.Env != "":
			v.add(sp, "set either file or env, not both")
		case s.Env != "" && !envNameRe.MatchString(s.Env):
			v.add(sp+".env", "%q is not an environment variable name (letters, digits and '_', not starting with a digit)", s.Env)
		}
	}
	for i, ref := range pr.Cache.From {
		key := fmt.Sprintf("%s.cache.from[%d]", p, i)
		if _, err := name.ParseReference(ref, name.StrictValidation); err != nil {
			v.add(key, "%q is not an image reference with its tag, such as \"docker.io/acme/web:buildcache\": %v", ref, err)
		}
	}
	if c.Builder == "classic" {
		for _, k := range pr.NeedsBuildKit() {
			v.add(p+"."+k, "needs BuildKit, but builder is classic: set builder to auto or buildkit, or remove %s", k)
		}
	}
}
