package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxSettings caps the size of the build settings Import reads.
const maxSettings = 1 << 20

// Settings are a repository's Docker Hub automated-build settings, as a
// user copies them from Hub's "Configure automated builds" page into YAML
// or JSON. testdata/hub-settings.yaml is a commented example. Several keys
// have aliases so that the UI's labels work as well as short names.
type Settings struct {
	// SourceRepository is the linked source repository: "github.com/acme/web",
	// a clone URL (https, ssh or scp-like) or "acme/web" (then
	// SourceProvider says where). Required. Alias: repository.
	SourceRepository string `yaml:"source_repository"`
	// Repository is an alias of SourceRepository.
	Repository string `yaml:"repository"`
	// SourceProvider is "github" (default) or "bitbucket"; used when
	// SourceRepository names no host.
	SourceProvider string `yaml:"source_provider"`
	// DockerRepository is the Docker Hub repository, "namespace/name".
	// Required. Alias: docker_repo.
	DockerRepository string `yaml:"docker_repository"`
	// DockerRepo is an alias of DockerRepository.
	DockerRepo string `yaml:"docker_repo"`
	// DefaultBranch is the repository's default branch. Default: the
	// source of a branch rule that builds "latest", else "main".
	DefaultBranch string `yaml:"default_branch"`
	// Autotest is Hub's Autotest setting: "off", "internal_pull_requests"
	// or "internal_and_external_pull_requests" (the UI's words work too).
	// Hub runs the test files in every automated build whatever it says;
	// it only adds pull-request test builds. Default "off".
	Autotest string `yaml:"autotest"`
	// BuildRules are the build rules. Default: Hub's default rule.
	BuildRules []SettingsRule `yaml:"build_rules"`
	// BuildEnvironmentVariables are the build environment variables, as a
	// list of {key, value} (or {name, value}) or as a map. Alias: build_env.
	BuildEnvironmentVariables EnvList `yaml:"build_environment_variables"`
	// BuildEnv is an alias of BuildEnvironmentVariables.
	BuildEnv EnvList `yaml:"build_env"`
	// BuildCache is the default of the rules' build_cache. Default true.
	BuildCache *bool `yaml:"build_cache"`
}

// SettingsRule is one build rule as Hub's UI shows it.
type SettingsRule struct {
	// SourceType is "Branch" or "Tag".
	SourceType string `yaml:"source_type"`
	// Source is a name or a regex between slashes.
	Source string `yaml:"source"`
	// DockerTag is the tag list ({sourceref}, {\1}..{\9}, commas).
	DockerTag string `yaml:"docker_tag"`
	// Dockerfile is Hub's "Dockerfile location", relative to the build
	// context (or to the repository root when BuildContext is blank).
	// Default "Dockerfile". Alias: dockerfile_location.
	Dockerfile string `yaml:"dockerfile"`
	// DockerfileLocation is an alias of Dockerfile.
	DockerfileLocation string `yaml:"dockerfile_location"`
	// BuildContext is Hub's "Build context", "/" being the repository
	// root; blank means the Dockerfile's directory, as on Hub. Default "/".
	// Alias: context.
	BuildContext *string `yaml:"build_context"`
	// Context is an alias of BuildContext.
	Context *string `yaml:"context"`
	// Autobuild is the rule's Autobuild toggle. Default true.
	Autobuild *bool `yaml:"autobuild"`
	// BuildCaching is the rule's Build Caching toggle. Default: the
	// settings' build_cache, else true. Alias: build_cache.
	BuildCaching *bool `yaml:"build_caching"`
	// BuildCache is an alias of BuildCaching.
	BuildCache *bool `yaml:"build_cache"`
}

// EnvList is a list of environment variables read from a list of
// {key|name, value} or from a map.
type EnvList []EnvVar

// EnvVar is one build environment variable.
type EnvVar struct {
	// Key is the variable's name.
	Key string
	// Value is its value.
	Value string
}

// UnmarshalYAML reads a map or a list of {key|name, value}.
func (l *EnvList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			*l = append(*l, EnvVar{Key: k, Value: v})
		}
		sort.Slice(*l, func(i, j int) bool { return (*l)[i].Key < (*l)[j].Key })
		return nil
	case yaml.SequenceNode:
		for _, item := range n.Content {
			var e struct {
				Key   string `yaml:"key"`
				Name  string `yaml:"name"`
				Value string `yaml:"value"`
			}
			if err := item.Decode(&e); err != nil {
				return err
			}
			if e.Key == "" {
				e.Key = e.Name
			}
			if e.Key == "" {
				return fmt.Errorf("line %d: a build environment variable without key", item.Line)
			}
			*l = append(*l, EnvVar{Key: e.Key, Value: e.Value})
		}
		return nil
	}
	return fmt.Errorf("line %d: build environment variables must be a list or a map", n.Line)
}

// secretName guesses from its name whether a variable holds a secret.
var secretName = regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSW|PASSPHRASE|KEY|CREDENTIAL|AUTH|PRIVATE|SSH)`)

// hubRepoPart is one path component of a Docker Hub repository.
var hubRepoPart = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)

// projectName keeps what a slipway project name may hold.
var projectName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// Import reads Docker Hub build settings (YAML or JSON, see Settings) and
// returns the equivalent slipway project as a YAML `projects:` list of one
// entry, with comments, ready to paste into slipway.yaml. Build environment
// variables whose names look secret (TOKEN, PASSWORD, KEY, ...) are not
// written out: they become `secret_build_env` entries reading ${NAME} from
// slipway's environment, and a comment says to set them. The error names
// every problem found.
func Import(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSettings+1))
	if err != nil {
		return "", fmt.Errorf("import hub settings: %w", err)
	}
	if len(b) > maxSettings {
		return "", fmt.Errorf("import hub settings: larger than %d bytes", maxSettings)
	}
	var s Settings
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return "", errors.New("import hub settings: empty input")
		}
		return "", fmt.Errorf("import hub settings: %w", err)
	}
	p, err := s.project()
	if err != nil {
		return "", fmt.Errorf("import hub settings: %w", err)
	}
	return p, nil
}

// project translates the settings.
func (s Settings) project() (string, error) {
	var errs []error
	if s.SourceRepository != "" && s.Repository != "" {
		errs = append(errs, errors.New("source_repository and repository both given"))
	}
	if s.DockerRepository != "" && s.DockerRepo != "" {
		errs = append(errs, errors.New("docker_repository and docker_repo both given"))
	}
	repoRef := first(s.SourceRepository, s.Repository)
	repoURL, github, err := sourceRepo(repoRef, s.SourceProvider)
	if err != nil {
		errs = append(errs, err)
	}
	dockerRepo, err := hubRepo(first(s.DockerRepository, s.DockerRepo))
	if err != nil {
		errs = append(errs, err)
	}
	autotestNote, err := autotestSetting(s.Autotest)
	if err != nil {
		errs = append(errs, err)
	}

	rules := s.BuildRules
	if len(rules) == 0 {
		rules = []SettingsRule{{SourceType: SourceBranch, Source: s.DefaultBranch, DockerTag: "latest"}}
		if rules[0].Source == "" {
			rules[0].Source = "main"
		}
	}
	var out []BuildRule
	for i, r := range rules {
		br, err := r.rule(s.BuildCache)
		if err != nil {
			errs = append(errs, fmt.Errorf("build_rules[%d]: %w", i, err))
			continue
		}
		out = append(out, br)
	}
	errs = append(errs, ValidateRules(out)...)
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}

	// One context and Dockerfile for every rule become the project's.
	ctxDir, dockerfile := out[0].Context, out[0].Dockerfile
	shared := true
	for _, r := range out[1:] {
		if r.Context != ctxDir || r.Dockerfile != dockerfile {
			shared = false
		}
	}
	if shared {
		for i := range out {
			out[i].Context, out[i].Dockerfile = "", ""
		}
	}

	defaultBranch := s.DefaultBranch
	if defaultBranch == "" {
		defaultBranch = guessDefaultBranch(out)
	}
	name := projectName.ReplaceAllString(strings.ToLower(path.Base(dockerRepo)), "-")
	name = strings.TrimLeft(name, "_.-")
	if name == "" {
		name = "app"
	}

	plain, secret := s.env()

	var entry node
	entry.add("name", str(name), "")
	entry.add("repo", str(repoURL), "")
	if github != "" {
		entry.add("github", str(github), "")
	}
	entry.add("default_branch", str(defaultBranch), "")
	entry.add("context", str(ctxDir), "")
	entry.add("dockerfile", str(dockerfile), "")
	entry.add("image", str("docker.io/"+dockerRepo), "")
	var rulesNode []*yaml.Node
	for _, r := range out {
		var rn node
		rn.add("source_type", str(r.SourceType), "")
		rn.add("source", str(r.Source), "")
		rn.add("docker_tag", str(r.DockerTag), "")
		if r.Context != "" {
			rn.add("context", str(r.Context), "")
			rn.add("dockerfile", str(r.Dockerfile), "")
		}
		if r.Autobuild != nil && !*r.Autobuild {
			rn.add("autobuild", boolNode(false), "built only when started by hand")
		}
		if r.BuildCache != nil && !*r.BuildCache {
			rn.add("build_cache", boolNode(false), "")
		}
		rulesNode = append(rulesNode, rn.mapping())
	}
	entry.add("build_rules", &yaml.Node{Kind: yaml.SequenceNode, Content: rulesNode}, "")
	entry.add("autotest", boolNode(true), autotestNote)
	entry.add("hooks", boolNode(false), "Hub's settings do not show whether the repository has hooks/ scripts;\n"+
		"set true if it has and you trust it: hooks run on the slipway host with\n"+
		"full access to the Docker engine (see README, Moving from Docker Hub).")
	if len(plain) > 0 {
		var en node
		for _, e := range plain {
			en.add(e.Key, str(e.Value), "")
		}
		entry.add("build_env", en.mapping(), "")
	}
	if len(secret) > 0 {
		var sn node
		var names []string
		for _, e := range secret {
			sn.add(e.Key, str("${"+e.Key+"}"), "")
			names = append(names, e.Key)
		}
		entry.add("secret_build_env", sn.mapping(), "values not copied: set "+strings.Join(names, ", ")+" in slipway's environment")
	}

	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "projects", HeadComment: "Generated by `slipway import-hub` from the Docker Hub build settings of " + dockerRepo + ".\n" +
			"Review it, then add it to the projects: list of slipway.yaml."},
		{Kind: yaml.SequenceNode, Content: []*yaml.Node{entry.mapping()}},
	}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("write project: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("write project: %w", err)
	}
	return buf.String(), nil
}

// rule translates one of Hub's rules into a BuildRule with Context and
// Dockerfile made explicit (Context relative to the root, "." for it).
func (r SettingsRule) rule(defaultCache *bool) (BuildRule, error) {
	if r.Dockerfile != "" && r.DockerfileLocation != "" {
		return BuildRule{}, errors.New("dockerfile and dockerfile_location both given")
	}
	if r.BuildContext != nil && r.Context != nil {
		return BuildRule{}, errors.New("build_context and context both given")
	}
	if r.BuildCaching != nil && r.BuildCache != nil {
		return BuildRule{}, errors.New("build_caching and build_cache both given")
	}
	dockerfile := first(r.Dockerfile, r.DockerfileLocation)
	if dockerfile == "" || dockerfile == "/" {
		dockerfile = "Dockerfile"
	}
	ctxDir := "/"
	if c := firstPtr(r.BuildContext, r.Context); c != nil {
		ctxDir = *c
	}
	var err error
	if strings.TrimSpace(ctxDir) == "" {
		// Hub: a blank build context is the Dockerfile's directory, and
		// the Dockerfile's path is then taken from the repository root.
		df, err := cleanRel(dockerfile)
		if err != nil {
			return BuildRule{}, fmt.Errorf("dockerfile: %w", err)
		}
		ctxDir, dockerfile = path.Dir(df), path.Base(df)
	}
	if ctxDir, err = cleanRel(ctxDir); err != nil {
		return BuildRule{}, fmt.Errorf("build_context: %w", err)
	}
	if dockerfile, err = cleanRel(dockerfile); err != nil {
		return BuildRule{}, fmt.Errorf("dockerfile: %w", err)
	}
	cache := firstPtr(r.BuildCaching, r.BuildCache)
	if cache == nil {
		cache = defaultCache
	}
	return BuildRule{
		SourceType: strings.ToLower(strings.TrimSpace(r.SourceType)),
		Source:     strings.TrimSpace(r.Source),
		DockerTag:  strings.TrimSpace(r.DockerTag),
		Dockerfile: dockerfile,
		Context:    ctxDir,
		Autobuild:  r.Autobuild,
		BuildCache: cache,
	}, nil
}

// env splits the build environment into plain and secret-looking
// variables, each sorted by name, later duplicates winning.
func (s Settings) env() (plain, secret []EnvVar) {
	all := make(map[string]string)
	for _, e := range append(append(EnvList{}, s.BuildEnvironmentVariables...), s.BuildEnv...) {
		all[e.Key] = e.Value
	}
	for _, k := range sortedKeys(all) {
		if secretName.MatchString(k) {
			secret = append(secret, EnvVar{Key: k})
		} else {
			plain = append(plain, EnvVar{Key: k, Value: all[k]})
		}
	}
	return plain, secret
}

// sourceRepo turns Hub's source repository into a clone URL and, for
// GitHub, owner/name.
func sourceRepo(ref, provider string) (cloneURL, github string, err error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", "", errors.New("source_repository: missing (e.g. github.com/acme/web)")
	}
	hosts := map[string]string{"github": "github.com", "bitbucket": "bitbucket.org"}
	host, repoPath := "", ""
	switch {
	case strings.Contains(ref, "://"):
		u, err := url.Parse(ref)
		if err != nil {
			return "", "", fmt.Errorf("source_repository: %w", err)
		}
		host, repoPath = u.Hostname(), u.Path
	case strings.HasPrefix(ref, "git@"):
		h, p, ok := strings.Cut(strings.TrimPrefix(ref, "git@"), ":")
		if !ok {
			return "", "", fmt.Errorf("source_repository: %q is not host:owner/name", ref)
		}
		host, repoPath = h, p
	default:
		h, p, _ := strings.Cut(ref, "/")
		if strings.Contains(h, ".") {
			host, repoPath = h, p
		} else {
			prov := strings.ToLower(provider)
			if prov == "" {
				prov = "github"
			}
			if host = hosts[prov]; host == "" {
				return "", "", fmt.Errorf("source_provider: unknown %q: use github or bitbucket", provider)
			}
			repoPath = ref
		}
	}
	repoPath = strings.TrimSuffix(strings.Trim(repoPath, "/"), ".git")
	parts := strings.Split(repoPath, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("source_repository: %q does not name owner/repository", ref)
	}
	host = strings.ToLower(host)
	cloneURL = "https://" + host + "/" + repoPath + ".git"
	if host == "github.com" {
		github = repoPath
	}
	return cloneURL, github, nil
}

// hubRepo checks a Docker Hub repository name and drops a registry prefix.
func hubRepo(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, p := range []string{"https://hub.docker.com/r/", "hub.docker.com/r/", "docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		s = strings.TrimPrefix(s, p)
	}
	s = strings.Trim(s, "/")
	if s == "" {
		return "", errors.New("docker_repository: missing (namespace/name, e.g. acme/web)")
	}
	parts := strings.Split(s, "/")
	if len(parts) != 2 || !hubRepoPart.MatchString(parts[0]) || !hubRepoPart.MatchString(parts[1]) {
		return "", fmt.Errorf("docker_repository: %q is not namespace/name in lower case", s)
	}
	return s, nil
}

// autotestSetting checks Hub's Autotest value and returns the comment that
// explains what it means in slipway.
func autotestSetting(v string) (string, error) {
	const runs = "Hub ran docker-compose.test.yml and *.test.yml in every automated build;\n" +
		"slipway does the same (a failing sut pushes nothing)."
	norm := strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(v)))
	switch norm {
	case "", "off", "false":
		return runs, nil
	case "internal_pull_requests", "internal_and_external_pull_requests", "on", "true":
		return runs + "\nHub's Autotest setting (" + strconv.Quote(v) + ") also tested pull requests,\n" +
			"which slipway does not build.", nil
	}
	return "", fmt.Errorf("autotest: unknown %q: use off, internal_pull_requests or internal_and_external_pull_requests", v)
}

// guessDefaultBranch is the source of a literal branch rule building
// "latest", else of the first literal branch rule, else "main".
func guessDefaultBranch(rules []BuildRule) string {
	firstLiteral := ""
	for _, r := range rules {
		if r.SourceType != SourceBranch || strings.HasPrefix(r.Source, "/") {
			continue
		}
		if firstLiteral == "" {
			firstLiteral = r.Source
		}
		for _, t := range strings.Split(r.DockerTag, ",") {
			if strings.TrimSpace(t) == "latest" {
				return r.Source
			}
		}
	}
	if firstLiteral != "" {
		return firstLiteral
	}
	return "main"
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstPtr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// node builds a YAML mapping in order.
type node struct{ content []*yaml.Node }

func (n *node) add(key string, v *yaml.Node, comment string) {
	k := &yaml.Node{Kind: yaml.ScalarNode, Value: key}
	if comment != "" {
		if strings.Contains(comment, "\n") {
			k.HeadComment = comment
		} else {
			v.LineComment = comment
		}
	}
	n.content = append(n.content, k, v)
}

func (n *node) mapping() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: n.content}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}
