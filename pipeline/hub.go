package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/hub"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/store"
)

// HubClient is the part of the Docker engine client that Docker Hub's
// autotests and hooks need: hub.Client, and ImageTag to give the image a
// hooks/build left the build's other tags. A *client.Client satisfies it.
type HubClient interface {
	hub.Client
	ImageTag(ctx context.Context, source, target string) error
}

// ErrNoBuildRule fails a build of a project with build_rules when no rule
// matches its branch or tag: for pushes, no rule with autobuild.
var ErrNoBuildRule = errors.New("no build rule matches")

// maxDockerfile bounds the Dockerfile read to find the ARGs it declares.
const maxDockerfile = 4 << 20

// hubRules converts the project's build rules.
func hubRules(p *config.Project) []hub.BuildRule {
	rules := make([]hub.BuildRule, len(p.BuildRules))
	for i, r := range p.BuildRules {
		rules[i] = hub.BuildRule(r)
	}
	return rules
}

// hubProject reports whether p uses any of Docker Hub's build settings.
// Only such projects get Hub's variables as build args, hooks and
// autotests; every other project builds exactly as before.
func hubProject(p *config.Project) bool {
	return len(p.BuildRules) > 0 || p.Autotest || p.Hooks || len(p.BuildEnv) > 0 || len(p.SecretBuildEnv) > 0
}

// autotestPrefix starts the compose project names of this slipway's
// autotests: "slipway-at-", a hash of data_dir and "-". Builds of two
// slipways sharing an engine have the same IDs; the hash keeps their test
// projects apart, and a slipway that starts prunes only its own leftovers.
func autotestPrefix(cfg *config.Config) string {
	sum := sha256.Sum256([]byte(cfg.DataDir))
	return "slipway-at-" + hex.EncodeToString(sum[:4]) + "-"
}

// hubPlan is what a project's build rules make of one build.
type hubPlan struct {
	// matched are the rules built, in rule order; empty when the build
	// does not go by build rules (none configured, or a schedule's
	// release).
	matched []hub.Match
	// skipped are rules that matched too but build another context or
	// Dockerfile: one build makes one image.
	skipped []skippedRule
	// context is the build context relative to the checkout and
	// dockerfile the Dockerfile relative to it.
	context, dockerfile string
	// noCache is set when a matched rule has build_cache: false.
	noCache bool
	// dockerTag is Hub's DOCKER_TAG: the first tag of the first matched
	// rule, else the first tag of the build as the result lists them.
	dockerTag string
}

// skippedRule is a matching build rule left out of a build, with the
// context and Dockerfile it would have built.
type skippedRule struct {
	rule                int
	context, dockerfile string
}

// rulesOnly is a tags: rule that applies to every branch and tag push and
// renders no tag. Appended to a project's tags: rules, it makes
// registry.Tags drop the default tags (the rules that apply to an event
// replace its defaults, see the registry package), so that only the tags of
// the project's own rules remain.
func rulesOnly() config.TagRule {
	return config.TagRule{Type: registry.RuleRef, Pattern: `{{""}}`}
}

// buildTags returns the tags of build b, whose event is ev, in push order,
// and what the project's build rules make of it.
//
// A project without build_rules, and any schedule's release, gets
// registry.Tags of its tags: rules. Otherwise the build rules that match
// the branch or tag decide (only those with autobuild, unless the build was
// started by hand): their tags replace the default tags, those of tag rules
// immutable (latest excepted), those of branch rules moving; the tags of the
// project's tags: rules that apply are added. When the matching rules
// differ in context or Dockerfile, only the first rule's group is built.
func buildTags(p *config.Project, b *store.Build, ev registry.Event) ([]registry.Tag, hubPlan, error) {
	plan := hubPlan{context: p.Context, dockerfile: p.Dockerfile}
	if len(p.BuildRules) == 0 || ev.Kind != registry.KindBranch && ev.Kind != registry.KindTag {
		tags, err := registry.Tags(ev, p.Tags)
		if err != nil {
			return nil, plan, err
		}
		if shown := displayOrder(tags); len(shown) > 0 {
			plan.dockerTag = shown[0]
		}
		return tags, plan, nil
	}
	refName := refShortName(ev.Ref)
	manual := b.Trigger == store.TriggerManual
	var matches []hub.Match
	for _, m := range hub.MatchRules(hubRules(p), ev.Kind, refName) {
		if m.Autobuild || manual {
			matches = append(matches, m)
		}
	}
	if len(matches) == 0 {
		hint := ""
		if !manual {
			hint = "; pushes build only through rules with autobuild: true"
		}
		return nil, plan, fmt.Errorf("%w %s %s (build_rules of project %s%s)", ErrNoBuildRule, ev.Kind, refName, p.Name, hint)
	}

	contextOf := func(m hub.Match) string { return path.Clean(cmpOr(m.Context, p.Context)) }
	dockerfileOf := func(m hub.Match) string { return path.Clean(cmpOr(m.Dockerfile, p.Dockerfile)) }
	first := matches[0]
	plan.context, plan.dockerfile, plan.dockerTag = contextOf(first), dockerfileOf(first), first.Tags[0]
	var set tagList
	for _, m := range matches {
		if contextOf(m) != plan.context || dockerfileOf(m) != plan.dockerfile {
			plan.skipped = append(plan.skipped, skippedRule{m.Rule, contextOf(m), dockerfileOf(m)})
			continue
		}
		plan.matched = append(plan.matched, m)
		plan.noCache = plan.noCache || m.NoCache
		for _, t := range m.Tags {
			set.add(registry.Tag{Name: t, Moving: ev.Kind == registry.KindBranch || t == registry.Latest})
		}
	}
	if len(p.Tags) > 0 {
		own, err := registry.Tags(ev, append(slices.Clone(p.Tags), rulesOnly()))
		if err != nil {
			return nil, plan, err
		}
		for _, t := range own {
			set.add(t)
		}
	}
	return set.pushOrder(), plan, nil
}

// tagList collects tags without duplicates; a tag added both immutable and
// moving stays immutable, as in registry.Tags.
type tagList struct{ tags []registry.Tag }

func (l *tagList) add(t registry.Tag) {
	for i := range l.tags {
		if l.tags[i].Name == t.Name {
			l.tags[i].Moving = l.tags[i].Moving && t.Moving
			return
		}
	}
	l.tags = append(l.tags, t)
}

// pushOrder lists the immutable tags, then the moving ones, each in the
// order added.
func (l *tagList) pushOrder() []registry.Tag {
	var immutable, moving []registry.Tag
	for _, t := range l.tags {
		if t.Moving {
			moving = append(moving, t)
		} else {
			immutable = append(immutable, t)
		}
	}
	return append(immutable, moving...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// refShortName is the branch or tag name of a full ref.
func refShortName(ref string) string {
	if s, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return s
	}
	return strings.TrimPrefix(ref, "refs/tags/")
}

// logPlan writes which build rules a build goes by.
func logPlan(plan hubPlan, kind, refName string, log *Log) {
	for _, m := range plan.matched {
		log.Printf("build rules: %s %s matches build_rules[%d]: tags %s", kind, refName, m.Rule, strings.Join(m.Tags, ", "))
	}
	for _, s := range plan.skipped {
		log.Printf("build rules: build_rules[%d] matches too but builds context %q with Dockerfile %q, not %q with %q: skipped (one build makes one image; the first matching rule's context and Dockerfile win)",
			s.rule, s.context, s.dockerfile, plan.context, plan.dockerfile)
	}
}

// hubRun is one build's Docker Hub side: Hub's variables, the hooks and the
// directories they run in. A nil *hubRun, that of a project without Hub's
// settings, runs no hook and passes the project's build args unchanged.
type hubRun struct {
	r    *Runner
	p    *config.Project
	plan hubPlan
	log  *Log
	env  hub.HookEnv
	// hooks are nil unless the project sets hooks: true and has some.
	hooks *hub.Hooks
	// root is the checkout, contextDir the build context and
	// dockerfileDir the Dockerfile's directory, all absolute with symbolic
	// links resolved; dockerfile is the Dockerfile's absolute path.
	root, contextDir, dockerfileDir, dockerfile string
	// declared are the ARGs of the Dockerfile, or declaredErr why they are
	// unknown.
	declared    map[string]bool
	declaredErr error
	// dockerConfig is the DOCKER_CONFIG directory of the hooks; "" when
	// there is none.
	dockerConfig string
}

// prepareHub sets up the Docker Hub side of a build of a project with Hub's
// settings; nil for any other project. It finds the Dockerfile's ARGs and
// the hooks, and with hooks gives them a DOCKER_CONFIG holding the push
// credentials of the image's registry; close removes it.
func (r *Runner) prepareHub(p *config.Project, b *store.Build, co *source.Checkout, plan hubPlan, log *Log) (*hubRun, error) {
	if !hubProject(p) {
		return nil, nil
	}
	h := &hubRun{r: r, p: p, plan: plan, log: log}
	var err error
	if h.root, err = filepath.EvalSymlinks(co.Dir); err != nil {
		return nil, fmt.Errorf("resolve the checkout: %w", err)
	}
	if h.contextDir, err = resolveIn(h.root, plan.context); err != nil {
		return nil, fmt.Errorf("build context %s: %w", plan.context, err)
	}
	if h.dockerfile, err = resolveIn(h.root, path.Join(plan.context, plan.dockerfile)); err != nil {
		return nil, fmt.Errorf("dockerfile %s: %w", plan.dockerfile, err)
	}
	h.dockerfileDir = filepath.Dir(h.dockerfile)
	h.declared, h.declaredErr = declaredArgs(h.dockerfile)

	h.env = hub.HookEnv{
		SourceBranch:   refShortName(b.Ref),
		SourceCommit:   b.Commit,
		CommitMsg:      co.Message,
		DockerRepo:     p.Image,
		DockerfilePath: plan.dockerfile,
		DockerTag:      plan.dockerTag,
		DockerHost:     r.dockerHost(),
		Extra:          p.BuildEnv,
		Secrets:        secretEnv(p),
	}

	hooks, err := hub.FindHooks(h.dockerfileDir)
	if err != nil {
		if !p.Hooks {
			return h, nil
		}
		return nil, err
	}
	names := hooks.Names()
	switch {
	case len(names) == 0:
	case !p.Hooks:
		log.Printf("hooks: false: not running hooks/%s (set hooks: true in the project to run them)", strings.Join(names, ", hooks/"))
	default:
		hooks.WorkDir = h.contextDir
		h.hooks = hooks
		if h.dockerConfig, err = r.hookDockerConfig(p); err != nil {
			return nil, err
		}
		h.env.DockerConfig = h.dockerConfig
		log.Printf("hooks: running hooks/%s at their phases, in %s", strings.Join(names, ", hooks/"), relTo(h.root, h.contextDir))
	}
	return h, nil
}

// close removes the hooks' DOCKER_CONFIG.
func (h *hubRun) close() {
	if h != nil && h.dockerConfig != "" {
		os.RemoveAll(h.dockerConfig)
	}
}

// has reports whether the hook called name will run.
func (h *hubRun) has(name string) bool { return h != nil && h.hooks != nil && h.hooks.Has(name) }

// hasAny reports whether any of the hooks named will run.
func (h *hubRun) hasAny(names ...string) bool {
	return slices.ContainsFunc(names, h.has)
}

// hook runs the hook called name, if it will run, with its phase marked in
// the build log; ran reports whether it did.
func (h *hubRun) hook(ctx context.Context, name string) (ran bool, err error) {
	if !h.has(name) {
		return false, nil
	}
	start := h.r.now()
	h.log.Printf("--> hooks/%s", name)
	if _, err := h.hooks.Run(ctx, name, h.env, h.p.HookTimeout.D(), h.log); err != nil {
		return true, err
	}
	h.log.Printf("<-- hooks/%s succeeded in %s", name, h.r.now().Sub(start).Round(time.Millisecond))
	return true, nil
}

// hooks runs each of the hooks named in turn.
func (h *hubRun) runHooks(ctx context.Context, names ...string) error {
	for _, n := range names {
		if _, err := h.hook(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// testing reports whether the test stage has Hub work to do.
func (h *hubRun) testing() bool {
	return h != nil && (h.p.Autotest || h.hasAny(hub.HookPreTest, hub.HookTest, hub.HookPostTest))
}

// buildArgs returns the build's args: for a project with Hub's settings,
// Hub's variables and build_env / secret_build_env entries that the
// Dockerfile declares, then the project's build_args and secret_build_args,
// which win.
func (h *hubRun) buildArgs(p *config.Project) (plain, secret map[string]string, err error) {
	if h == nil {
		return p.BuildArgs, secretArgs(p), nil
	}
	if h.declaredErr != nil {
		return nil, nil, h.declaredErr
	}
	plain, secret = map[string]string{}, map[string]string{}
	for k, v := range p.BuildEnv {
		if h.declared[k] {
			plain[k] = v
		}
	}
	for k, v := range p.SecretBuildEnv {
		if h.declared[k] {
			secret[k] = v.Value()
		}
	}
	for k, v := range h.env.Vars() {
		if h.declared[k] {
			plain[k] = v
			delete(secret, k)
		}
	}
	for k, v := range p.BuildArgs {
		plain[k] = v
		delete(secret, k)
	}
	for k, v := range p.SecretBuildArgs {
		secret[k] = v.Value()
		delete(plain, k)
	}
	return plain, secret, nil
}

// buildKey is BuildKey of the inputs the build really has: the rule's
// context and Dockerfile and the build args with Hub's. ok is false when
// the build must not reuse an earlier image: its hooks must run, its rule
// disables the cache, or its Dockerfile cannot be read.
func (h *hubRun) buildKey(p *config.Project) (key string, ok bool) {
	if h == nil {
		return BuildKey(p), true
	}
	q := *p
	q.Context, q.Dockerfile = h.plan.context, h.plan.dockerfile
	plain, secret, err := h.buildArgs(p)
	if err != nil {
		return BuildKey(&q), false
	}
	q.BuildArgs, q.SecretBuildArgs = plain, make(map[string]config.Secret, len(secret))
	for k, v := range secret {
		q.SecretBuildArgs[k] = config.Secret(v)
	}
	return BuildKey(&q), h.hooks == nil && !h.plan.noCache
}

// hookBuild runs hooks/build in place of the build: it must leave the image
// as $IMAGE_NAME in the engine, which then gets the build's other tags.
func (h *hubRun) hookBuild(ctx context.Context, refs []string) (builder.Image, error) {
	if _, err := h.hook(ctx, hub.HookBuild); err != nil {
		return builder.Image{}, err
	}
	if h.r.docker == nil {
		return builder.Image{}, errors.New("hooks/build: no engine client to find its image")
	}
	imageName := h.env.ImageName()
	insp, err := h.r.docker.ImageInspect(ctx, imageName)
	if err != nil {
		return builder.Image{}, fmt.Errorf("hooks/build left no image %s in the engine (a build hook must tag its image \"$IMAGE_NAME\"): %w", imageName, err)
	}
	for _, ref := range refs {
		if ref == imageName {
			continue
		}
		if err := h.r.docker.ImageTag(ctx, insp.ID, ref); err != nil {
			return builder.Image{}, fmt.Errorf("tag the image of hooks/build as %s: %w", ref, err)
		}
	}
	h.log.Printf("hooks/build made image %s (%s); it carries none of slipway's labels", insp.ID, imageName)
	return builder.Image{ID: insp.ID}, nil
}

// autotest runs Hub's autotest of the built image.
func (h *hubRun) autotest(ctx context.Context, b *store.Build) error {
	if h.r.docker == nil {
		return errors.New("autotest: no engine client")
	}
	env := make(map[string]string, len(h.p.BuildEnv)+7)
	for k, v := range h.p.BuildEnv {
		env[k] = v
	}
	for k, v := range h.env.Vars() {
		env[k] = v
	}
	start := h.r.now()
	h.log.Printf("--> autotest in %s", relTo(h.root, h.dockerfileDir))
	ran, err := hub.Autotest(ctx, h.r.docker, hub.AutotestOptions{
		ContextDir:   h.dockerfileDir,
		Dockerfile:   h.dockerfile,
		Root:         h.root,
		Image:        h.env.ImageName(),
		Env:          env,
		Secrets:      h.env.Secrets,
		Timeout:      h.p.AutotestTimeout.D(),
		Project:      fmt.Sprintf("%s%d", autotestPrefix(h.r.cfg), b.ID),
		Labels:       map[string]string{builder.ProjectLabel: h.p.Name},
		BuildService: h.buildService,
	}, h.log)
	switch {
	case err != nil:
		return err
	case !ran:
		h.log.Printf("<-- autotest: no test files (docker-compose.test.yml, *.test.yml) in %s", relTo(h.root, h.dockerfileDir))
	default:
		h.log.Printf("<-- autotest succeeded in %s", h.r.now().Sub(start).Round(time.Millisecond))
	}
	return nil
}

// buildService builds the image of a test service that builds something
// else than the image under test.
func (h *hubRun) buildService(ctx context.Context, sb hub.ServiceBuild, log io.Writer) error {
	rel, err := filepath.Rel(h.root, sb.Context)
	if err != nil {
		return fmt.Errorf("service %s: %w", sb.Service, err)
	}
	tarball, dockerfile, err := source.Context(ctx, h.root, filepath.ToSlash(rel), sb.Dockerfile)
	if err != nil {
		return fmt.Errorf("service %s: %w", sb.Service, err)
	}
	_, err = h.r.builder.Build(ctx, builder.BuildOptions{
		Context:    tarball,
		Dockerfile: dockerfile,
		Target:     sb.Target,
		BuildArgs:  sb.Args,
		Labels:     map[string]string{builder.ProjectLabel: h.p.Name},
		Tags:       []string{sb.Tag},
	}, log)
	if err != nil {
		return fmt.Errorf("service %s: %w", sb.Service, err)
	}
	return nil
}

// pushedDigest reads back what hooks/push pushed: $IMAGE_NAME must be in
// the registry, as the built image when the engine recorded its digests;
// the build's other tags are then pointed at the same manifest
// (registry-side, as a re-tag), unless the hook pushed them already.
func (h *hubRun) pushedDigest(ctx context.Context, tags []registry.Tag, imageID string) (string, error) {
	imageName := h.env.ImageName()
	digest, err := h.r.pusher.Resolve(ctx, imageName)
	if errors.Is(err, registry.ErrNotFound) {
		return "", fmt.Errorf("hooks/push did not push %s: a push hook must push \"$IMAGE_NAME\": %w", imageName, err)
	}
	if err != nil {
		return "", fmt.Errorf("read back %s after hooks/push: %w", imageName, err)
	}
	if h.r.docker != nil {
		insp, err := h.r.docker.ImageInspect(ctx, imageID)
		if err != nil {
			return "", fmt.Errorf("inspect the pushed image: %w", err)
		}
		if known := repoDigests(insp.RepoDigests, h.p.Image); len(known) > 0 && !slices.Contains(known, digest) {
			return "", fmt.Errorf("after hooks/push the registry has %s at %s, which is not the image built (%s): %w", imageName, digest, strings.Join(known, ", "), registry.ErrDigestMismatch)
		}
	}
	var rest []registry.Tag
	for _, t := range tags {
		if t.Name == h.env.DockerTag {
			continue
		}
		if d, err := h.r.pusher.Resolve(ctx, h.p.Image+":"+t.Name); err == nil && d == digest {
			continue
		}
		rest = append(rest, t)
	}
	if len(rest) > 0 {
		h.log.Printf("hooks/push pushed %s@%s: adding the build's other tags", imageName, digest)
		if err := h.r.pusher.Retag(ctx, h.p.Image, digest, rest, h.log); err != nil {
			return "", err
		}
	}
	return digest, nil
}

// repoDigests returns the digests the engine recorded for image in repo.
func repoDigests(repoDigests []string, repo string) []string {
	want, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil
	}
	var out []string
	for _, rd := range repoDigests {
		n, err := reference.ParseNormalizedNamed(rd)
		if err != nil || n.Name() != want.Name() {
			continue
		}
		if c, ok := n.(reference.Canonical); ok {
			out = append(out, c.Digest().String())
		}
	}
	return out
}

// hookDockerConfig writes a docker CLI config directory holding the push
// credentials of p's registry, for hooks that push (hooks/push) or pull.
// The file is the hooks' to read: hooks are trusted with the engine, and
// with these credentials.
func (r *Runner) hookDockerConfig(p *config.Project) (string, error) {
	auths := map[string]map[string]string{}
	if repo, err := name.NewRepository(p.Image); err == nil && r.keys != nil {
		host := repo.RegistryStr()
		c, ok, err := r.keys.Lookup(host)
		if err != nil {
			return "", fmt.Errorf("hooks: credentials of %s: %w", host, err)
		}
		if ok {
			key := host
			if host == name.DefaultRegistry || host == "docker.io" {
				key = "https://index.docker.io/v1/"
			}
			a := map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))}
			if c.IdentityToken != "" {
				a["identitytoken"] = c.IdentityToken
			}
			auths[key] = a
		}
	}
	data, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return "", fmt.Errorf("hooks: docker config: %w", err)
	}
	dir, err := os.MkdirTemp("", "slipway-hooks-docker-")
	if err != nil {
		return "", fmt.Errorf("hooks: docker config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("hooks: docker config: %w", err)
	}
	return dir, nil
}

// dockerHost is the engine slipway uses, for the docker CLI in hooks:
// docker_host, else DOCKER_HOST, else the local socket.
func (r *Runner) dockerHost() string {
	if r.cfg.DockerHost != "" {
		return r.cfg.DockerHost
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// secretEnv returns the values of secret_build_env.
func secretEnv(p *config.Project) map[string]string {
	if len(p.SecretBuildEnv) == 0 {
		return nil
	}
	m := make(map[string]string, len(p.SecretBuildEnv))
	for k, v := range p.SecretBuildEnv {
		m[k] = v.Value()
	}
	return m
}

// declaredArgs returns the ARGs the Dockerfile at file declares.
func declaredArgs(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read the Dockerfile for the ARGs it declares: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read the Dockerfile for the ARGs it declares: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxDockerfile {
		return nil, fmt.Errorf("read the Dockerfile for the ARGs it declares: %s is not a regular file of at most %d bytes", filepath.Base(file), maxDockerfile)
	}
	return hub.BuildArgsDeclared(io.LimitReader(f, maxDockerfile))
}

// resolveIn returns root/rel with symbolic links resolved as far as the
// path exists, failing when it leaves root (root itself resolved).
func resolveIn(root, rel string) (string, error) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	rest := ""
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			full := filepath.Join(real, rest)
			if full != root && !strings.HasPrefix(full, root+string(filepath.Separator)) {
				return "", fmt.Errorf("%s leaves the repository checkout", rel)
			}
			return full, nil
		}
		parent := filepath.Dir(p)
		if !errors.Is(err, fs.ErrNotExist) || parent == p {
			return "", err
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// relTo shows p relative to root in the build log.
func relTo(root, p string) string {
	if rel, err := filepath.Rel(root, p); err == nil {
		return rel
	}
	return p
}
