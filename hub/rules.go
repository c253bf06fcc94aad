// Package hub runs repositories laid out for Docker Hub's automated builds
// unchanged: Hub's build rules (which branches and tags build, and how the
// images are tagged), its autotest (docker-compose.test.yml files with a sut
// service, run through the engine API), its hooks (hooks/pre_build and the
// others, run as processes on the slipway host), the build args Hub passes
// when a Dockerfile declares them, and the translation of Hub's build
// settings into a slipway project (Import).
//
// The package holds building blocks, not a pipeline: the caller decides when
// each runs. Rule matching and Dockerfile parsing are pure; Autotest talks to
// one engine through the small Client interface; hooks are processes. No
// function keeps state between calls, so all may be used concurrently.
package hub

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Source types of a build rule.
const (
	// SourceBranch makes a rule match branch pushes.
	SourceBranch = "branch"
	// SourceTag makes a rule match git tag pushes.
	SourceTag = "tag"
)

// maxTagLen is the longest tag a registry accepts.
const maxTagLen = 128

// BuildRule is one of Hub's build rules: which branches or tags build and
// how the image built from them is tagged. It is plain data, read from the
// project's build_rules (YAML) or from the API (JSON).
type BuildRule struct {
	// SourceType is "branch" or "tag" (case-insensitive, as Hub's UI writes
	// "Branch" and "Tag"). Required.
	SourceType string `yaml:"source_type" json:"source_type"`
	// Source is a branch or tag name matched exactly ("main"), or an RE2
	// regular expression between slashes ("/^v([0-9.]+)$/") matched
	// anywhere in the name, as Hub does; anchor it with ^ and $ to match
	// whole names. Required.
	Source string `yaml:"source" json:"source"`
	// DockerTag is a comma-separated list of tags ("{sourceref},latest",
	// "release-{\1}"): {sourceref} is the whole branch or tag name, {\1} to
	// {\9} are the capture groups of a regex Source. Required.
	DockerTag string `yaml:"docker_tag" json:"docker_tag"`
	// Dockerfile is the Dockerfile's path relative to Context (Hub's
	// "Dockerfile location"); "/" counts as unset. It may not leave the
	// context. Default "": the project's dockerfile.
	Dockerfile string `yaml:"dockerfile" json:"dockerfile"`
	// Context is the build context directory relative to the repository
	// root, "/" being the root (Hub's "Build context"). It may not leave
	// the repository. Default "": the project's context. (Hub's UI reads a
	// blank build context as "the Dockerfile's directory"; Import writes
	// that out explicitly.)
	Context string `yaml:"context" json:"context"`
	// Autobuild makes pushes build this rule. With false, the rule matches
	// only builds started by hand (Match.Autobuild tells the caller).
	// Default true (nil means true).
	Autobuild *bool `yaml:"autobuild" json:"autobuild"`
	// BuildCache lets the build use the engine's build cache; false builds
	// with NoCache. Default true (nil means true).
	BuildCache *bool `yaml:"build_cache" json:"build_cache"`
}

// Match is a build rule that matched a branch or tag, with its tags
// expanded.
type Match struct {
	// Rule is the index of the rule in the list given to MatchRules.
	Rule int
	// Tags are the rule's Docker tags, expanded and sanitised, in the
	// rule's order without duplicates; never empty.
	Tags []string
	// Dockerfile is the rule's Dockerfile relative to Context, cleaned;
	// "" when the rule leaves the project's dockerfile.
	Dockerfile string
	// Context is the rule's build context relative to the repository
	// root, cleaned ("." for Hub's "/"); "" when the rule leaves the
	// project's context.
	Context string
	// Autobuild is the rule's Autobuild setting: false means the match
	// counts only for builds started by hand, never for pushes.
	Autobuild bool
	// NoCache is true when the rule disables the build cache.
	NoCache bool
}

// groupRef finds {\N} group references in a docker_tag.
var groupRef = regexp.MustCompile(`\{\\([0-9])\}`)

// RuleProblem is one problem ValidateRules finds in a build rule.
type RuleProblem struct {
	// Rule is the index of the rule in the list checked.
	Rule int
	// Key is the rule's setting at fault: "source_type", "source",
	// "docker_tag", "context" or "dockerfile".
	Key string
	// Msg says what is wrong.
	Msg string
}

// Error names the rule by its index and key: "build_rules[2].source: ...".
func (p *RuleProblem) Error() string {
	return fmt.Sprintf("build_rules[%d].%s: %s", p.Rule, p.Key, p.Msg)
}

// ValidateRules checks every rule and returns one *RuleProblem per problem,
// each naming the rule by its index ("build_rules[2].source: ..."); nil
// when all are valid. It checks that source_type is known, that source is given and,
// when it is a regex, compiles as RE2; that docker_tag is given and refers
// only to capture groups the regex has; and that dockerfile and context stay
// inside the repository.
func ValidateRules(rules []BuildRule) []error {
	var errs []error
	for i, r := range rules {
		at := func(key, format string, args ...any) {
			errs = append(errs, &RuleProblem{Rule: i, Key: key, Msg: fmt.Sprintf(format, args...)})
		}
		switch strings.ToLower(r.SourceType) {
		case SourceBranch, SourceTag:
		case "":
			at("source_type", "missing: use branch or tag")
		default:
			at("source_type", "unknown %q: use branch or tag", r.SourceType)
		}
		groups := 0
		switch re, isRegex, err := compileSource(r.Source); {
		case r.Source == "":
			at("source", "missing: a branch or tag name, or a regex between slashes")
		case err != nil:
			at("source", "%v", err)
		case isRegex:
			groups = re.NumSubexp()
		}
		if strings.TrimSpace(strings.ReplaceAll(r.DockerTag, ",", "")) == "" {
			at("docker_tag", "missing: the image tag(s), e.g. latest or {sourceref}")
		}
		for _, m := range groupRef.FindAllStringSubmatch(r.DockerTag, -1) {
			n, _ := strconv.Atoi(m[1])
			switch {
			case n == 0:
				at("docker_tag", "%s: groups are numbered from 1 ({\\1} to {\\9})", m[0])
			case n > groups && groups == 0:
				at("docker_tag", "%s refers to a capture group but source %q is not a regex with groups", m[0], r.Source)
			case n > groups:
				at("docker_tag", "%s refers to group %d but source %q has %d", m[0], n, r.Source, groups)
			}
		}
		if _, err := cleanRel(r.Context); err != nil {
			at("context", "%v", err)
		}
		if _, err := cleanRel(r.Dockerfile); err != nil {
			at("dockerfile", "%v", err)
		}
	}
	return errs
}

// compileSource compiles a slash-delimited regex source; a literal source
// gives a nil regexp.
func compileSource(source string) (re *regexp.Regexp, isRegex bool, err error) {
	if len(source) < 2 || !strings.HasPrefix(source, "/") || !strings.HasSuffix(source, "/") {
		return nil, false, nil
	}
	re, err = regexp.Compile(source[1 : len(source)-1])
	if err != nil {
		return nil, true, fmt.Errorf("regex %s does not compile (RE2 syntax: no lookaround or backreferences): %w", source, err)
	}
	return re, true, nil
}

// cleanRel cleans a repository-relative path written Hub's way ("/" is the
// root, a leading slash is allowed) into a relative one; "" stays "".
func cleanRel(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	c := path.Clean("/" + strings.ReplaceAll(p, `\`, "/"))
	rel := strings.TrimPrefix(c, "/")
	if rel == "" {
		rel = "."
	}
	// path.Clean of a rooted path drops "..", so compare against the
	// plain clean to catch an escape.
	if plain := path.Clean(strings.TrimPrefix(strings.ReplaceAll(p, `\`, "/"), "/")); plain == ".." || strings.HasPrefix(plain, "../") {
		return "", fmt.Errorf("%q leaves the repository", p)
	}
	return rel, nil
}

// MatchRules returns every rule whose source matches the branch or tag
// name, in rule order. kind is "branch" or "tag"; rules of the other type
// never match. A literal source matches the exact name; a regex source
// matches when it is found anywhere in the name. Tags are expanded:
// {sourceref} becomes name, {\N} the regex's Nth group (empty when it did
// not take part); the comma list is split, each tag trimmed and sanitised
// (see SanitizeTag), empty and repeated tags dropped. A rule whose tags all
// come out empty does not match.
//
// Invalid rules never match; run ValidateRules first to report them.
func MatchRules(rules []BuildRule, kind, name string) []Match {
	var out []Match
	for i, r := range rules {
		if !strings.EqualFold(r.SourceType, kind) || name == "" {
			continue
		}
		var groups []string
		re, isRegex, err := compileSource(r.Source)
		switch {
		case err != nil || r.Source == "":
			continue
		case isRegex:
			groups = re.FindStringSubmatch(name)
			if groups == nil {
				continue
			}
		case r.Source != name:
			continue
		}
		tags := expandTags(r.DockerTag, name, groups)
		if len(tags) == 0 {
			continue
		}
		ctxDir, err1 := cleanRel(r.Context)
		dockerfile, err2 := cleanRel(r.Dockerfile)
		if err1 != nil || err2 != nil {
			continue
		}
		if dockerfile == "." {
			// Hub's UI shows "/" for "the Dockerfile at the context root".
			dockerfile = ""
		}
		out = append(out, Match{
			Rule:       i,
			Tags:       tags,
			Dockerfile: dockerfile,
			Context:    ctxDir,
			Autobuild:  r.Autobuild == nil || *r.Autobuild,
			NoCache:    r.BuildCache != nil && !*r.BuildCache,
		})
	}
	return out
}

// expandTags expands and splits a docker_tag template.
func expandTags(tmpl, name string, groups []string) []string {
	s := strings.ReplaceAll(tmpl, "{sourceref}", name)
	s = groupRef.ReplaceAllStringFunc(s, func(m string) string {
		n := int(m[2] - '0')
		if n == 0 || n >= len(groups) {
			return ""
		}
		return groups[n]
	})
	var tags []string
	seen := make(map[string]bool)
	for _, t := range strings.Split(s, ",") {
		t = SanitizeTag(strings.TrimSpace(t))
		if t != "" && !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	return tags
}

// SanitizeTag turns s into a valid Docker tag the way branch tags are made
// everywhere in slipway: every character outside [A-Za-z0-9_.-] becomes
// "-" ("feature/login" → "feature-login"), a leading "." or "-" (which a
// tag may not start with) becomes "_", and the result is cut to 128
// characters. The empty string stays empty.
func SanitizeTag(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			out = append(out, byte(r))
		default:
			out = append(out, '-')
		}
	}
	if len(out) > 0 && (out[0] == '.' || out[0] == '-') {
		out[0] = '_'
	}
	if len(out) > maxTagLen {
		out = out[:maxTagLen]
	}
	return string(out)
}

// DefaultRules is Hub's default build rule set for a repository whose
// default branch is defaultBranch: that branch builds the tag "latest" from
// the project's context and dockerfile. An empty defaultBranch means
// "main".
func DefaultRules(defaultBranch string) []BuildRule {
	if defaultBranch == "" {
		defaultBranch = "main"
	}
	return []BuildRule{{SourceType: SourceBranch, Source: defaultBranch, DockerTag: "latest"}}
}
