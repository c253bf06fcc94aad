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
	"maps"
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
	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/registry"
	"github.com/slipwayci/slipway/source"
)

// HubClient is the part of the Docker engine client that Docker Hub's
// autotests and hooks need: hub.Client, and ImageTag to give the image a
// hooks/build left the build's other tags. A *client.Client satisfies it.
type HubClient interface {
	hub.Client
	ImageTag(ctx context.Context, source, target string) error
}

// maxDockerfile bounds the Dockerfile read to find the ARGs it declares.
const maxDockerfile = 4 << 20

// autotestPrefix starts the compose project names of this slipway's
// autotests: "slipway-at-", a hash of data_dir and "-". Builds of two
// slipways sharing an engine have the same IDs; the hash keeps their test
// projects apart, and a slipway that starts prunes only its own leftovers.
func autotestPrefix(cfg *config.Config) string {
	sum := sha256.Sum256([]byte(cfg.DataDir))
	return "slipway-at-" + hex.EncodeToString(sum[:4]) + "-"
}

// logPlan writes which build rules a build goes by.
func logPlan(plan BuildPlan, log *Log) {
	kind, refName := plan.Event.Kind, gitref.Short(plan.Trigger.Ref)
	for _, m := range plan.Rules.Matched {
		log.Printf("build rules: %s %s matches build_rules[%d]: tags %s", kind, refName, m.Rule, strings.Join(m.Tags, ", "))
	}
	for _, s := range plan.Rules.Skipped {
		log.Printf("build rules: build_rules[%d] matches too but builds context %q with Dockerfile %q, not %q with %q: skipped (one build makes one image; the first matching rule's context and Dockerfile win)",
			s.Rule, s.Context, s.Dockerfile, plan.Context, plan.Dockerfile)
	}
}

// hubState is one build's Docker Hub side, shared by the Hub wrappers of
// its stages: Hub's variables, the hooks and the directories they run in.
type hubState struct {
	env hub.HookEnv
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
	// hookTimeout bounds one hook.
	hookTimeout time.Duration
}

// hubPrepare sets up the Docker Hub side of a build: it finds the
// Dockerfile's ARGs and the hooks, and with hooks gives them a
// DOCKER_CONFIG holding the push credentials of the image's registry
// (removed when the build ends). It sets the build key of the inputs the
// build really has.
type hubPrepare struct{ h *hubState }

func (s hubPrepare) Exec(_ context.Context, r *run) error {
	h, p, plan := s.h, r.p, r.plan
	var err error
	if h.root, err = filepath.EvalSymlinks(r.co.Dir); err != nil {
		return fmt.Errorf("resolve the checkout: %w", err)
	}
	if h.contextDir, err = resolveIn(h.root, plan.Context); err != nil {
		return fmt.Errorf("build context %s: %w", plan.Context, err)
	}
	if h.dockerfile, err = resolveIn(h.root, path.Join(plan.Context, plan.Dockerfile)); err != nil {
		return fmt.Errorf("dockerfile %s: %w", plan.Dockerfile, err)
	}
	h.dockerfileDir = filepath.Dir(h.dockerfile)
	h.declared, h.declaredErr = declaredArgs(h.dockerfile)
	h.hookTimeout = p.HookTimeout.D()
	h.env = hub.HookEnv{
		SourceBranch:   gitref.Short(r.b.Ref),
		SourceCommit:   r.b.Commit,
		CommitMsg:      r.co.Message,
		DockerRepo:     p.Image,
		DockerfilePath: plan.Dockerfile,
		DockerTag:      plan.DockerTag,
		DockerHost:     r.dockerHost(),
		Extra:          p.BuildEnv,
		Secrets:        secretEnv(p),
	}
	if err := h.findHooks(r); err != nil {
		return err
	}
	r.buildKey, r.canReuse = h.buildKey(p, plan)
	return nil
}

// findHooks finds the hooks beside the Dockerfile; they run only with
// hooks: true.
func (h *hubState) findHooks(r *run) error {
	p := r.p
	hooks, err := hub.FindHooks(h.dockerfileDir)
	if err != nil {
		if !p.Hooks {
			return nil
		}
		return err
	}
	names := hooks.Names()
	switch {
	case len(names) == 0:
	case !p.Hooks:
		r.log.Printf("hooks: false: not running hooks/%s (set hooks: true in the project to run them)", strings.Join(names, ", hooks/"))
	default:
		hooks.WorkDir = h.contextDir
		h.hooks = hooks
		dir, err := r.hookDockerConfig(p)
		if err != nil {
			return err
		}
		r.onEnd(func() { os.RemoveAll(dir) })
		h.env.DockerConfig = dir
		r.log.Printf("hooks: running hooks/%s at their phases, in %s", strings.Join(names, ", hooks/"), relTo(h.root, h.contextDir))
	}
	return nil
}

// has reports whether the hook called name will run.
func (h *hubState) has(name string) bool { return h.hooks != nil && h.hooks.Has(name) }

// hasAny reports whether any of the hooks named will run.
func (h *hubState) hasAny(names ...string) bool {
	return slices.ContainsFunc(names, h.has)
}

// hook runs the hook called name, if it will run, with its phase marked in
// the build log; ran reports whether it did.
func (h *hubState) hook(ctx context.Context, r *run, name string) (ran bool, err error) {
	if !h.has(name) {
		return false, nil
	}
	start := r.now()
	r.log.Printf("--> hooks/%s", name)
	if _, err := h.hooks.Run(ctx, name, h.env, h.hookTimeout, r.log); err != nil {
		return true, err
	}
	r.log.Printf("<-- hooks/%s succeeded in %s", name, r.now().Sub(start).Round(time.Millisecond))
	return true, nil
}

// runHooks runs each of the hooks named in turn.
func (h *hubState) runHooks(ctx context.Context, r *run, names ...string) error {
	for _, n := range names {
		if _, err := h.hook(ctx, r, n); err != nil {
			return err
		}
	}
	return nil
}

// buildArgs returns the build's args: Hub's variables and build_env /
// secret_build_env entries that the Dockerfile declares, then the
// project's build_args and secret_build_args, which win.
func (h *hubState) buildArgs(p *config.Project) (plain, secret map[string]string, err error) {
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
func (h *hubState) buildKey(p *config.Project, plan BuildPlan) (key string, ok bool) {
	q := *p
	q.Context, q.Dockerfile = plan.Context, plan.Dockerfile
	plain, secret, err := h.buildArgs(p)
	if err != nil {
		return BuildKey(&q, plan.Trigger.Ref), false
	}
	q.BuildArgs, q.SecretBuildArgs = plain, make(map[string]config.Secret, len(secret))
	for k, v := range secret {
		q.SecretBuildArgs[k] = config.Secret(v)
	}
	return BuildKey(&q, plan.Trigger.Ref), h.hooks == nil && !plan.NoCache
}

// hubBuild wraps the build: hooks/post_checkout and pre_build before it,
// post_build after it; hooks/build replaces it. The build gets Hub's
// variables as build args.
type hubBuild struct {
	stage
	h *hubState
}

func (s hubBuild) skip(r *run) bool { return r.reused() }

func (s hubBuild) Exec(ctx context.Context, r *run) error {
	h := s.h
	if err := h.runHooks(ctx, r, hub.HookPostCheckout, hub.HookPreBuild); err != nil {
		return err
	}
	if h.has(hub.HookBuild) {
		img, err := h.hookBuild(ctx, r)
		if err != nil {
			return err
		}
		r.built(img)
	} else {
		plain, secret, err := h.buildArgs(r.p)
		if err != nil {
			return err
		}
		r.args, r.secrets = plain, secret
		if err := s.stage.Exec(ctx, r); err != nil {
			return err
		}
	}
	return h.runHooks(ctx, r, hub.HookPostBuild)
}

// hookBuild runs hooks/build in place of the build: it must leave the image
// as $IMAGE_NAME in the engine, which then gets the build's other tags.
func (h *hubState) hookBuild(ctx context.Context, r *run) (builder.Image, error) {
	if _, err := h.hook(ctx, r, hub.HookBuild); err != nil {
		return builder.Image{}, err
	}
	if r.docker == nil {
		return builder.Image{}, errors.New("hooks/build: no engine client to find its image")
	}
	imageName := h.env.ImageName()
	insp, err := r.docker.ImageInspect(ctx, imageName)
	if err != nil {
		return builder.Image{}, fmt.Errorf("hooks/build left no image %s in the engine (a build hook must tag its image \"$IMAGE_NAME\"): %w", imageName, err)
	}
	for _, ref := range r.plan.Refs() {
		if ref == imageName {
			continue
		}
		if err := r.docker.ImageTag(ctx, insp.ID, ref); err != nil {
			return builder.Image{}, fmt.Errorf("tag the image of hooks/build as %s: %w", ref, err)
		}
	}
	r.log.Printf("hooks/build made image %s (%s); it carries none of slipway's labels", insp.ID, imageName)
	return builder.Image{ID: insp.ID}, nil
}

// hubTest wraps the test: hooks/pre_test before it, then the project's
// test and Hub's autotest, then hooks/post_test; hooks/test replaces both.
type hubTest struct {
	stage
	h *hubState
}

func (s hubTest) skip(r *run) bool {
	testing := r.p.Autotest || s.h.hasAny(hub.HookPreTest, hub.HookTest, hub.HookPostTest)
	return r.reused() || !projectTest(r) && !testing
}

func (s hubTest) Exec(ctx context.Context, r *run) error {
	h := s.h
	if err := h.runHooks(ctx, r, hub.HookPreTest); err != nil {
		return err
	}
	ran, err := h.hook(ctx, r, hub.HookTest)
	switch {
	case err != nil:
		return err
	case ran:
		r.log.Printf("hooks/test replaced the test phase: neither test nor autotest ran")
	default:
		if err := s.stage.Exec(ctx, r); err != nil {
			return err
		}
		if r.p.Autotest {
			if err := h.autotest(ctx, r); err != nil {
				return err
			}
		}
	}
	return h.runHooks(ctx, r, hub.HookPostTest)
}

// autotest runs Hub's autotest of the built image.
func (h *hubState) autotest(ctx context.Context, r *run) error {
	if r.docker == nil {
		return errors.New("autotest: no engine client")
	}
	p := r.p
	env := make(map[string]string, len(p.BuildEnv)+7)
	maps.Copy(env, p.BuildEnv)
	maps.Copy(env, h.env.Vars())
	start := r.now()
	r.log.Printf("--> autotest in %s", relTo(h.root, h.dockerfileDir))
	ran, err := hub.Autotest(ctx, r.docker, hub.AutotestOptions{
		ContextDir: h.dockerfileDir,
		Dockerfile: h.dockerfile,
		Root:       h.root,
		Image:      h.env.ImageName(),
		Env:        env,
		Secrets:    h.env.Secrets,
		Timeout:    p.AutotestTimeout.D(),
		Project:    fmt.Sprintf("%s%d", autotestPrefix(r.cfg), r.b.ID),
		Labels:     map[string]string{builder.ProjectLabel: p.Name},
		BuildService: func(ctx context.Context, sb hub.ServiceBuild, log io.Writer) error {
			return h.buildService(ctx, r, sb, log)
		},
	}, r.log)
	switch {
	case err != nil:
		return err
	case !ran:
		r.log.Printf("<-- autotest: no test files (docker-compose.test.yml, *.test.yml) in %s", relTo(h.root, h.dockerfileDir))
	default:
		r.log.Printf("<-- autotest succeeded in %s", r.now().Sub(start).Round(time.Millisecond))
	}
	return nil
}

// buildService builds the image of a test service that builds something
// else than the image under test.
func (h *hubState) buildService(ctx context.Context, r *run, sb hub.ServiceBuild, log io.Writer) error {
	rel, err := filepath.Rel(h.root, sb.Context)
	if err != nil {
		return fmt.Errorf("service %s: %w", sb.Service, err)
	}
	tarball, dockerfile, err := source.Context(ctx, h.root, filepath.ToSlash(rel), sb.Dockerfile)
	if err != nil {
		return fmt.Errorf("service %s: %w", sb.Service, err)
	}
	_, err = r.builder.Build(ctx, builder.BuildOptions{
		Context:    tarball,
		Dockerfile: dockerfile,
		Target:     sb.Target,
		BuildArgs:  sb.Args,
		Labels:     map[string]string{builder.ProjectLabel: r.p.Name},
		Tags:       []string{sb.Tag},
	}, log)
	if err != nil {
		return fmt.Errorf("service %s: %w", sb.Service, err)
	}
	return nil
}

// hubNoPush notes that a build without a push runs none of the push hooks.
type hubNoPush struct {
	stage
	h *hubState
}

func (s hubNoPush) skip(r *run) bool { return r.reused() || !r.b.NoPush }

func (s hubNoPush) Exec(ctx context.Context, r *run) error {
	err := s.stage.Exec(ctx, r)
	if s.h.hasAny(hub.HookPrePush, hub.HookPush, hub.HookPostPush) {
		r.log.Printf("hooks: not running the push hooks (--no-push)")
	}
	return err
}

// hubPush wraps the push: hooks/pre_push before it, post_push after it;
// hooks/push replaces it.
type hubPush struct {
	stage
	h *hubState
}

func (s hubPush) skip(r *run) bool { return r.reused() }

func (s hubPush) Exec(ctx context.Context, r *run) error {
	h := s.h
	if err := h.runHooks(ctx, r, hub.HookPrePush); err != nil {
		return err
	}
	ran, err := h.hook(ctx, r, hub.HookPush)
	switch {
	case err != nil:
		return err
	case ran:
		digest, err := h.pushedDigest(ctx, r)
		if err != nil {
			r.notePushed(err)
			return err
		}
		r.pushed(digest)
	default:
		if err := s.stage.Exec(ctx, r); err != nil {
			return err
		}
	}
	return h.runHooks(ctx, r, hub.HookPostPush)
}

// pushedDigest reads back what hooks/push pushed: $IMAGE_NAME must be in
// the registry, as the built image when the engine recorded its digests;
// the build's other tags are then pointed at the same manifest
// (registry-side, as a re-tag), unless the hook pushed them already.
func (h *hubState) pushedDigest(ctx context.Context, r *run) (string, error) {
	imageName := h.env.ImageName()
	digest, err := r.pusher.Resolve(ctx, imageName)
	if errors.Is(err, registry.ErrNotFound) {
		return "", fmt.Errorf("hooks/push did not push %s: a push hook must push \"$IMAGE_NAME\": %w", imageName, err)
	}
	if err != nil {
		return "", fmt.Errorf("read back %s after hooks/push: %w", imageName, err)
	}
	if err := h.checkPushed(ctx, r, digest); err != nil {
		return "", err
	}
	var rest []registry.Tag
	for _, t := range r.plan.Tags {
		if t.Name == h.env.DockerTag {
			continue
		}
		if d, err := r.pusher.Resolve(ctx, r.p.Image+":"+t.Name); err == nil && d == digest {
			continue
		}
		rest = append(rest, t)
	}
	if len(rest) > 0 {
		r.log.Printf("hooks/push pushed %s@%s: adding the build's other tags", imageName, digest)
		if err := r.pusher.Retag(ctx, r.p.Image, digest, rest, r.log); err != nil {
			return "", err
		}
	}
	return digest, nil
}

// checkPushed fails when the engine knows the built image's digests in the
// repository and the registry's digest is none of them.
func (h *hubState) checkPushed(ctx context.Context, r *run, digest string) error {
	if r.docker == nil {
		return nil
	}
	insp, err := r.docker.ImageInspect(ctx, r.img.ID)
	if err != nil {
		return fmt.Errorf("inspect the pushed image: %w", err)
	}
	if known := repoDigests(insp.RepoDigests, r.p.Image); len(known) > 0 && !slices.Contains(known, digest) {
		return fmt.Errorf("after hooks/push the registry has %s at %s, which is not the image built (%s): %w", h.env.ImageName(), digest, strings.Join(known, ", "), registry.ErrDigestMismatch)
	}
	return nil
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
