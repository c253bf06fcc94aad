// Package builder owns the Docker engine side of a build: the image build
// with a readable build log (classic builder and BuildKit) and the test
// container run in the built image.
//
// A Builder talks to one engine through the small Client interface, which a
// *client.Client from github.com/docker/docker/client satisfies. It keeps no
// state between calls, so one Builder may run several builds and tests at
// once. It never imports the packages that call it (pipeline, server) nor
// the other stages (source, registry, store).
package builder

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"github.com/moby/buildkit/session"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slipwayci/slipway/internal/redact"
)

// Client is the subset of a Docker engine client that the builder uses.
// A *client.Client created with client.WithAPIVersionNegotiation satisfies
// it.
type Client interface {
	Ping(ctx context.Context) (types.Ping, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	BuildCancel(ctx context.Context, id string) error
	DialHijack(ctx context.Context, url, proto string, meta map[string][]string) (net.Conn, error)
	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
}

var _ Client = (*client.Client)(nil)

// Mode selects the engine's builder.
type Mode string

const (
	// ModeAuto uses BuildKit when the engine offers it and the classic
	// builder otherwise. The empty Mode means ModeAuto.
	ModeAuto Mode = "auto"
	// ModeBuildKit always uses BuildKit; a build fails when the engine
	// lacks it.
	ModeBuildKit Mode = "buildkit"
	// ModeClassic always uses the engine's classic (legacy) builder.
	ModeClassic Mode = "classic"
)

// Validate reports an error for a Mode other than auto, buildkit, classic
// or empty.
func (m Mode) Validate() error {
	switch m {
	case "", ModeAuto, ModeBuildKit, ModeClassic:
		return nil
	}
	return fmt.Errorf("unknown builder mode %q: use auto, buildkit or classic", string(m))
}

// cleanupTimeout bounds the engine calls made after the caller's context is
// done: build cancel, container kill and removal.
const cleanupTimeout = 30 * time.Second

// Builder builds images and runs test containers on one Docker engine. It
// is safe for concurrent use.
type Builder struct {
	cli  Client
	mode Mode
}

// New returns a Builder using cli in the given mode (empty means ModeAuto).
// An invalid mode makes every Build fail with the error of Mode.Validate.
func New(cli Client, mode Mode) *Builder {
	if mode == "" {
		mode = ModeAuto
	}
	return &Builder{cli: cli, mode: mode}
}

// BuildOptions describes one image build.
type BuildOptions struct {
	// Context is the build context as an uncompressed tar stream. It is
	// streamed to the engine, never buffered. When it is an io.Closer, Build
	// closes it before returning, also when it fails early, so that the
	// writer of an io.Pipe is never left blocked.
	Context io.Reader
	// Dockerfile is the Dockerfile's path inside the tar; empty means
	// "Dockerfile".
	Dockerfile string
	// Target is the stage of a multi-stage Dockerfile to build; empty means
	// the last stage.
	Target string
	// BuildArgs are the --build-arg values.
	BuildArgs map[string]string
	// SecretArgs are build args whose values never appear in the build log,
	// in an error or in the image's labels. A key may not also be in
	// BuildArgs.
	SecretArgs map[string]string
	// Labels are set on the image.
	Labels map[string]string
	// Tags are the local image references the result is tagged with, such as
	// "slipway-local/web:build-42".
	Tags []string
	// NoCache disables the build cache.
	NoCache bool
	// Pull always pulls newer versions of the base images.
	Pull bool
	// Platform builds for that platform ("linux/arm64"), as `docker build
	// --platform`; "" is the engine's own. BuildKit then sets TARGETOS,
	// TARGETARCH and TARGETPLATFORM.
	Platform string
	// Secrets are BuildKit secret mounts, value by id, served to the
	// engine through the build session only (RUN
	// --mount=type=secret,id=ID): they reach no layer, history entry or
	// label, and the build log and errors show them as "***". The classic
	// builder fails with ErrNeedsBuildKit.
	Secrets map[string]string
	// SSHAgent is the socket of an SSH agent forwarded to RUN
	// --mount=type=ssh steps (id "default"); "" forwards none. The classic
	// builder fails with ErrNeedsBuildKit.
	SSHAgent string
	// CacheFrom are images whose layers BuildKit may reuse, as `docker
	// build --cache-from`; pulled with Auth's credentials. The classic
	// builder ignores them (and says so in the log).
	CacheFrom []string
	// InlineCache writes BuildKit's cache metadata into the image
	// (BUILDKIT_INLINE_CACHE=1), for later builds' CacheFrom.
	InlineCache bool
	// Auth gives BuildKit registry credentials (base images, CacheFrom);
	// nil: anonymous pulls.
	Auth AuthFunc
}

// Image is a built image.
type Image struct {
	// ID is the image ID, "sha256:<64 hex>".
	ID string
	// Steps counts the Dockerfile instructions a BuildKit build ran,
	// CachedSteps those taken from the engine's build cache (0 and 0 with
	// the classic builder).
	Steps, CachedSteps int
}

// ErrBuildFailed is matched (errors.Is) by every error of a build that the
// engine ran and rejected: a Dockerfile error, a failing RUN step, a missing
// file. Errors reaching the engine, cancellation and log write errors do
// not match it.
var ErrBuildFailed = errors.New("build failed")

// ErrSecretInLabels is matched by the error of a build whose labels would
// carry the value of a secret build arg. Such an image is removed.
var ErrSecretInLabels = errors.New("image label contains a secret build arg value")

// BuildError is the engine's reason for a failed build, with secret values
// redacted. It matches ErrBuildFailed.
type BuildError struct {
	// Message is the engine's error message.
	Message string
}

// Error returns the engine's message. Like every error of Build it carries
// no "build: " prefix: the caller names the step (the pipeline's stage does).
func (e *BuildError) Error() string { return e.Message }

// Is reports whether target is ErrBuildFailed.
func (e *BuildError) Is(target error) bool { return target == ErrBuildFailed }

// UsesBuildKit reports whether Build would use BuildKit on this engine. In
// ModeAuto it asks the engine: BuildKit when the engine advertises it as its
// builder (the Builder-Version header of /_ping is "2"), or when it runs
// Linux with API version 1.39 or newer (the docker CLI's rule, since engines
// before 23.0 advertise nothing); classic otherwise. In ModeBuildKit it
// fails when the engine cannot run BuildKit.
func (b *Builder) UsesBuildKit(ctx context.Context) (bool, error) {
	if err := b.mode.Validate(); err != nil {
		return false, err
	}
	if b.mode == ModeClassic {
		return false, nil
	}
	ping, err := b.cli.Ping(ctx)
	if err != nil {
		return false, fmt.Errorf("ping docker engine: %w", err)
	}
	ok := engineHasBuildKit(ping)
	if b.mode == ModeBuildKit && !ok {
		return false, fmt.Errorf("builder mode buildkit: the engine (API %s, %s) has no BuildKit; use mode classic or auto", ping.APIVersion, ping.OSType)
	}
	return ok, nil
}

func engineHasBuildKit(ping types.Ping) bool {
	if ping.BuilderVersion == build.BuilderBuildKit {
		return true
	}
	return ping.OSType == "linux" && ping.APIVersion != "" && versions.GreaterThanOrEqualTo(ping.APIVersion, "1.39")
}

// Build builds an image from opts and writes the build log to log line by
// line as the engine reports it, with the values of opts.SecretArgs
// replaced by "***". It returns the image's ID once the engine has built
// and tagged it.
//
// An error the engine reports matches ErrBuildFailed and keeps the engine's
// message (see BuildError). When ctx is done the build is canceled on the
// engine and Build returns promptly with an error wrapping ctx's cause. A
// failed write to log aborts the build.
func (b *Builder) Build(ctx context.Context, opts BuildOptions, log io.Writer) (Image, error) {
	if c, ok := opts.Context.(io.Closer); ok {
		// The engine has read what it wanted by the time Build returns.
		defer c.Close()
	}
	useBuildKit, err := b.UsesBuildKit(ctx)
	if err != nil {
		return Image{}, err
	}
	if opts.Context == nil {
		return Image{}, errors.New("no build context")
	}
	if what := needsBuildKit(opts); len(what) > 0 && !useBuildKit {
		return Image{}, fmt.Errorf("%s: %w, but this build uses the classic builder: set builder to auto or buildkit, with an engine that has BuildKit (Docker 18.09 or newer on Linux)", strings.Join(what, ", "), ErrNeedsBuildKit)
	}
	secrets := secretValues(opts.SecretArgs, opts.Secrets)
	args := make(map[string]*string, len(opts.BuildArgs)+len(opts.SecretArgs))
	for k, v := range opts.BuildArgs {
		args[k] = &v
	}
	for k, v := range opts.SecretArgs {
		if _, ok := args[k]; ok {
			return Image{}, fmt.Errorf("build arg %s is both a plain and a secret build arg", k)
		}
		args[k] = &v
	}
	if key, arg := labelLeak(opts.Labels, opts.SecretArgs); key != "" {
		return Image{}, fmt.Errorf("label %s holds the value of secret build arg %s: %w", key, arg, ErrSecretInLabels)
	}

	bo := build.ImageBuildOptions{
		Tags:        opts.Tags,
		Dockerfile:  opts.Dockerfile,
		Target:      opts.Target,
		BuildArgs:   args,
		Labels:      opts.Labels,
		NoCache:     opts.NoCache,
		PullParent:  opts.Pull,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Platform:    opts.Platform,
	}

	lw := newLogWriter(log, secrets)
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	if useBuildKit {
		bo.Version = build.BuilderBuildKit
		bo.BuildID = rand.Text()
		withCache(&bo, opts)
		as, err := attachables(opts)
		if err != nil {
			return Image{}, err
		}
		stop, err := b.startSession(reqCtx, &bo, as)
		if err != nil {
			return Image{}, err
		}
		defer stop()
	} else if len(opts.CacheFrom) > 0 || opts.InlineCache {
		if err := lw.line("cache: the classic builder neither reads nor writes a registry cache; building with the engine's own cache only"); err != nil {
			return Image{}, err
		}
	}

	id, err := b.run(reqCtx, opts.Context, bo, lw)
	if ctx.Err() != nil {
		if useBuildKit {
			b.cancelBuild(ctx, bo.BuildID)
		}
		return Image{}, context.Cause(ctx)
	}
	if err != nil {
		return Image{}, err
	}
	if err := b.checkLabels(ctx, id, opts.SecretArgs); err != nil {
		return Image{}, err
	}
	return Image{ID: id, Steps: lw.steps, CachedSteps: lw.cached}, nil
}

// startSession opens the BuildKit session that newer engines require for
// every BuildKit build (and 20.10 accepts) over the engine's /session
// endpoint. stop closes it and waits for it to end.
func (b *Builder) startSession(ctx context.Context, bo *build.ImageBuildOptions, as []session.Attachable) (stop func(), err error) {
	sess, err := session.NewSession(ctx, rand.Text())
	if err != nil {
		return nil, fmt.Errorf("buildkit session: %w", err)
	}
	for _, a := range as {
		sess.Allow(a)
	}
	sessCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// An error here (an engine without /session) surfaces as the
		// build's own error, so it is not reported twice.
		_ = sess.Run(sessCtx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return b.cli.DialHijack(ctx, "/session", proto, meta)
		})
	}()
	bo.SessionID = sess.ID()
	return func() {
		cancel()
		sess.Close()
		<-done
	}, nil
}

// inlineCacheArg is the build arg by which BuildKit writes its cache
// metadata into the image's config.
const inlineCacheArg = "BUILDKIT_INLINE_CACHE"

// withCache sets the registry cache of a BuildKit build: the images to
// import, and the inline export unless the build args set it already.
func withCache(bo *build.ImageBuildOptions, opts BuildOptions) {
	bo.CacheFrom = opts.CacheFrom
	if _, set := bo.BuildArgs[inlineCacheArg]; opts.InlineCache && !set {
		one := "1"
		bo.BuildArgs[inlineCacheArg] = &one
	}
}

// cancelBuild asks the engine to stop the BuildKit build id; closing the
// request alone leaves BuildKit's solver running on some engines.
func (b *Builder) cancelBuild(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// Best effort: the build may have ended already, and the request's
	// closed connection stops it too.
	_ = b.cli.BuildCancel(ctx, id)
}

// run sends the build request and decodes the engine's answer into lw.
func (b *Builder) run(ctx context.Context, tar io.Reader, bo build.ImageBuildOptions, lw *logWriter) (string, error) {
	resp, err := b.cli.ImageBuild(ctx, tar, bo)
	if err != nil {
		if ctx.Err() != nil || client.IsErrConnectionFailed(err) {
			return "", err
		}
		return "", &BuildError{Message: lw.redact(strings.TrimPrefix(err.Error(), "Error response from daemon: "))}
	}
	defer resp.Body.Close()
	return decodeBuild(resp.Body, lw)
}

// checkLabels removes the built image and fails when one of its labels (set
// by the caller or by a LABEL instruction) carries a secret build arg value.
func (b *Builder) checkLabels(ctx context.Context, id string, secretArgs map[string]string) error {
	if len(secretArgs) == 0 {
		return nil
	}
	img, err := b.cli.ImageInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", id, err)
	}
	var labels map[string]string
	if img.Config != nil {
		labels = img.Config.Labels
	}
	key, arg := labelLeak(labels, secretArgs)
	if key == "" {
		return nil
	}
	rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := b.cli.ImageRemove(rmCtx, id, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
		return fmt.Errorf("label %s holds the value of secret build arg %s (removing the image failed: %v): %w", key, arg, err, ErrSecretInLabels)
	}
	return fmt.Errorf("label %s holds the value of secret build arg %s, the image was removed: %w", key, arg, ErrSecretInLabels)
}

// labelLeak returns the first label (in key order, redacted) whose key or
// value contains a secret arg's value, and that arg's name.
func labelLeak(labels, secretArgs map[string]string) (label, arg string) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for name, v := range secretArgs {
			if v != "" && (strings.Contains(labels[k], v) || strings.Contains(k, v)) {
				return strings.ReplaceAll(k, v, redact.Mask), name
			}
		}
	}
	return "", ""
}
