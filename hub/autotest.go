package hub

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gopkg.in/yaml.v3"
)

// Client is the subset of a Docker engine client that Autotest uses. A
// *client.Client created with client.WithAPIVersionNegotiation satisfies
// it.
type Client interface {
	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkRemove(ctx context.Context, networkID string) error
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
}

var _ Client = (*client.Client)(nil)

// AutotestLabel is set on every container, network and volume Autotest
// creates, with the test project's name as its value. The containers also
// carry compose's own com.docker.compose.* labels.
const AutotestLabel = "io.slipway.autotest"

// SutService is the service whose exit code decides an autotest.
const SutService = "sut"

// cleanupTimeout bounds the engine calls that remove a test project.
const cleanupTimeout = 60 * time.Second

// logDrainTimeout bounds the wait for sut's remaining output once it has
// exited.
const logDrainTimeout = 10 * time.Second

// pollInterval is how often a dependency's health or exit is checked.
const pollInterval = 200 * time.Millisecond

// maxComposeFile caps the size of a test file.
const maxComposeFile = 1 << 20

// ErrAutotestFailed is matched (errors.Is) by the error of a test file
// whose sut service exited with a non-zero code; errors.As gives the
// *AutotestError.
var ErrAutotestFailed = errors.New("autotest failed")

// ErrAutotestTimeout is matched by the error of a test file that did not
// finish within AutotestOptions.Timeout.
var ErrAutotestTimeout = errors.New("autotest timed out")

// ErrAutotestUnsupported is matched by the error of a test file that uses
// a compose feature Autotest refuses: one that reaches the host (bind
// mounts, privileged, host namespaces, devices, external networks or
// volumes, files outside the checkout) or one it does not implement.
var ErrAutotestUnsupported = errors.New("unsupported in autotest")

// AutotestError is the error of a test file whose sut exited non-zero. It
// matches ErrAutotestFailed.
type AutotestError struct {
	// File is the test file's name, such as "docker-compose.test.yml".
	File string
	// ExitCode is sut's exit code.
	ExitCode int
}

// Error returns "autotest docker-compose.test.yml: sut exited with code 1".
func (e *AutotestError) Error() string {
	return fmt.Sprintf("autotest %s: sut exited with code %d", e.File, e.ExitCode)
}

// Is reports whether target is ErrAutotestFailed.
func (e *AutotestError) Is(target error) bool { return target == ErrAutotestFailed }

// ServiceBuild asks the caller to build the image of a test service that
// builds something other than the image under test.
type ServiceBuild struct {
	// Service is the service's name.
	Service string
	// Context is the build context directory (absolute, inside
	// AutotestOptions.Root).
	Context string
	// Dockerfile is the Dockerfile relative to Context.
	Dockerfile string
	// Target is the build stage; "" for the last.
	Target string
	// Args are the service's build args.
	Args map[string]string
	// Tag is the local reference to tag the image with; Autotest removes
	// it afterwards.
	Tag string
}

// AutotestOptions describe one autotest run.
type AutotestOptions struct {
	// ContextDir is the directory that holds the Dockerfile and the test
	// files (Hub: "in the same directory that contains the Dockerfile"),
	// usually the build context. Relative paths in a test file are taken
	// from it. Required.
	ContextDir string
	// Dockerfile is the path of the Dockerfile of the image under test,
	// absolute or relative to ContextDir. A service whose build names the
	// same context directory and Dockerfile runs Image instead of being
	// built. Default "Dockerfile".
	Dockerfile string
	// Root confines every file a test file reads (env_file, label_file,
	// build contexts); usually the checkout. Default ContextDir.
	Root string
	// Image is the image under test as the engine knows it (a local tag
	// or an image ID). IMAGE_NAME in the test files is this image.
	// Required.
	Image string
	// Env is the environment the test files see: ${VAR} interpolation and
	// `environment: [VAR]` take values from it and from the .env file next
	// to the test file (as docker-compose reads it; Env wins), never from
	// slipway's own environment. Pass Hub's variables (HookEnv.Vars) and the project's
	// build environment; IMAGE_NAME is always set to Image.
	Env map[string]string
	// Secrets are variables like Env (they win over it) whose values are
	// replaced by "***" in the log.
	Secrets map[string]string
	// Timeout bounds each test file from the start of its first container
	// to sut's exit. Default 0: only ctx bounds it.
	Timeout time.Duration
	// Project prefixes the compose project names of the run; file n (from
	// 1) runs as "<Project>-<n>". It is normalised to compose's project
	// name rules and must be unique among concurrent runs, e.g.
	// "slipway-at-42". Default "slipway-at-" and random hex.
	Project string
	// Labels are added to every container, network and volume.
	Labels map[string]string
	// BuildService builds a service's image other than the image under
	// test. Default nil: such a service fails the autotest with
	// ErrAutotestUnsupported.
	BuildService func(ctx context.Context, b ServiceBuild, log io.Writer) error
}

// FindTestFiles returns the autotest files in dir in the order Hub runs
// them: docker-compose.test.yml first, then every other *.test.yml file in
// lexical order. Only regular files count (a symbolic link counts when it
// points to one).
func FindTestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("find autotest files: %w", err)
	}
	var first string
	var rest []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".test.yml") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if name == "docker-compose.test.yml" {
			first = name
			continue
		}
		rest = append(rest, name)
	}
	sort.Strings(rest)
	var out []string
	if first != "" {
		out = append(out, filepath.Join(dir, first))
	}
	for _, n := range rest {
		out = append(out, filepath.Join(dir, n))
	}
	return out, nil
}

// Autotest runs Hub's autotest: every test file of FindTestFiles in order,
// stopping at the first that fails; ran is false when there is none.
//
// Each file is parsed with compose-go as project "<Project>-<n>"; only sut
// and the services it depends on (transitively) run, in dependency order,
// honouring service_started, service_healthy and
// service_completed_successfully. A service that builds ContextDir with
// Dockerfile, or whose image is ${IMAGE_NAME}, runs opts.Image. Images
// missing on the engine are pulled anonymously (pull_policy never forbids
// it); a failed pull fails the run. The services share the project's
// bridge networks, where each is reachable by its name, aliases and
// container_name; ports are not published.
//
// The output of every container goes to log, each line prefixed with
// "<service> | " and the values of opts.Secrets replaced by "***". The
// file fails with an *AutotestError (ErrAutotestFailed)
// unless sut exits 0, with ErrAutotestTimeout after opts.Timeout, with
// ErrAutotestUnsupported for features reaching the host. Whatever happens,
// even when ctx is done, the project's containers (with their anonymous
// volumes), networks, named volumes and service images are removed before
// Autotest returns; they are found by AutotestLabel. log is written from
// one goroutine at a time.
func Autotest(ctx context.Context, cli Client, opts AutotestOptions, log io.Writer) (ran bool, err error) {
	if opts.ContextDir == "" {
		return false, errors.New("autotest: no context directory")
	}
	if opts.Image == "" {
		return false, errors.New("autotest: no image under test")
	}
	files, err := FindTestFiles(opts.ContextDir)
	if err != nil {
		return false, err
	}
	if len(files) == 0 {
		return false, nil
	}
	o, err := opts.withDefaults()
	if err != nil {
		return true, err
	}
	out := &syncWriter{w: log}
	secrets := secretValues(o.Secrets)
	for i, f := range files {
		r := &run{cli: cli, opts: o, file: f, name: filepath.Base(f), project: fmt.Sprintf("%s-%d", o.Project, i+1), log: out, secrets: secrets}
		if err := r.do(ctx); err != nil {
			return true, err
		}
	}
	return true, nil
}

// withDefaults fills in and checks the options.
func (o AutotestOptions) withDefaults() (AutotestOptions, error) {
	var err error
	if o.ContextDir, err = filepath.Abs(o.ContextDir); err != nil {
		return o, fmt.Errorf("autotest: %w", err)
	}
	if o.Dockerfile == "" {
		o.Dockerfile = "Dockerfile"
	}
	if !filepath.IsAbs(o.Dockerfile) {
		o.Dockerfile = filepath.Join(o.ContextDir, o.Dockerfile)
	}
	if o.Root == "" {
		o.Root = o.ContextDir
	}
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		return o, fmt.Errorf("autotest: %w", err)
	}
	if o.Project == "" {
		o.Project = "slipway-at-" + strings.ToLower(rand.Text()[:10])
	}
	o.Project = loader.NormalizeProjectName(o.Project)
	if o.Project == "" {
		return o, errors.New("autotest: project prefix has no usable character ([a-z0-9_-])")
	}
	env := make(map[string]string, len(o.Env)+1)
	for k, v := range o.Env {
		env[k] = v
	}
	for k, v := range o.Secrets {
		env[k] = v
	}
	env[EnvImageName] = o.Image
	o.Env = env
	return o, nil
}

// run is one test file's run.
type run struct {
	cli     Client
	opts    AutotestOptions
	file    string // absolute path
	name    string // base name, for messages
	project string
	log     io.Writer // a syncWriter
	secrets []string  // values redacted in container output

	builtImages []string // tags made by BuildService, removed afterwards
}

// service is one service of the plan, in start order.
type service struct {
	name      string
	cfg       *container.Config
	host      *container.HostConfig
	networks  []endpoint // the first is given at create, the rest connected
	deps      types.DependsOnConfig
	tty       bool
	build     *ServiceBuild // non-nil: built through BuildService
	pull      string        // compose pull_policy
	id        string        // container ID once created
	logDone   chan struct{} // closed when its log stream ended
	underTest bool
}

// endpoint is a network a service joins.
type endpoint struct {
	network string // engine name
	cfg     *network.EndpointSettings
}

func (r *run) errorf(format string, args ...any) error {
	return fmt.Errorf("autotest %s: "+format, append([]any{r.name}, args...)...)
}

func (r *run) unsupported(format string, args ...any) error {
	return fmt.Errorf("autotest %s: "+format+": %w", append(append([]any{r.name}, args...), ErrAutotestUnsupported)...)
}

func (r *run) logf(format string, args ...any) {
	// A log that cannot be written is noticed where container output is
	// copied; this progress line is not worth failing the test for.
	_, _ = fmt.Fprintf(r.log, "autotest: "+format+"\n", args...)
}

// do runs one test file and always removes what it created.
func (r *run) do(ctx context.Context) (err error) {
	project, err := r.load(ctx)
	if err != nil {
		return err
	}
	plan, err := r.plan(project)
	if err != nil {
		return err
	}
	names := make([]string, len(plan))
	for i, s := range plan {
		names[i] = s.name
	}
	r.logf("running %s as project %s: %s", r.name, r.project, strings.Join(names, ", "))

	defer func() {
		if cerr := r.cleanup(ctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := r.images(ctx, plan); err != nil {
		return err
	}
	runCtx := ctx
	if r.opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, r.opts.Timeout, fmt.Errorf("%w after %s", ErrAutotestTimeout, r.opts.Timeout))
		defer cancel()
	}
	if err := r.resources(runCtx, project, plan); err != nil {
		return r.ctxErr(ctx, runCtx, err)
	}
	return r.ctxErr(ctx, runCtx, r.start(runCtx, plan))
}

// ctxErr turns an error caused by the end of runCtx into the timeout error
// or ctx's cause.
func (r *run) ctxErr(ctx, runCtx context.Context, err error) error {
	if err == nil || runCtx.Err() == nil {
		return err
	}
	if ctx.Err() != nil {
		return r.errorf("%w", context.Cause(ctx))
	}
	return r.errorf("%w: sut did not finish; raise the test timeout if it needs longer", context.Cause(runCtx))
}

// load reads and parses the test file with compose-go, keeping sut and its
// dependencies.
func (r *run) load(ctx context.Context) (*types.Project, error) {
	if err := r.confined(r.file); err != nil {
		return nil, err
	}
	content, err := r.readFile()
	if err != nil {
		return nil, err
	}
	env, err := r.environment()
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(r.file),
		ConfigFiles: []types.ConfigFile{{Filename: r.file, Content: content}},
		Environment: env,
	}
	project, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName(r.project, true)
		// env_file and label_file are read below, once their paths are
		// known to stay inside Root.
		o.SkipResolveEnvironment = true
		o.SkipResolveLabels = true
	})
	if err != nil {
		return nil, r.errorf("parse: %w", err)
	}
	if _, ok := project.Services[SutService]; !ok {
		return nil, r.errorf("no %q service: Hub runs the sut service and decides by its exit code", SutService)
	}
	project, err = project.WithSelectedServices([]string{SutService})
	if err != nil {
		return nil, r.errorf("select sut: %w", err)
	}
	project = project.WithoutUnnecessaryResources()
	for _, s := range project.Services {
		for _, f := range s.EnvFiles {
			if err := r.confined(f.Path); err != nil {
				return nil, err
			}
		}
		for _, f := range s.LabelFiles {
			if err := r.confined(f); err != nil {
				return nil, err
			}
		}
	}
	if project, err = project.WithServicesEnvironmentResolved(false); err != nil {
		return nil, r.errorf("env_file: %w", err)
	}
	if project, err = project.WithServicesLabelsResolved(false); err != nil {
		return nil, r.errorf("label_file: %w", err)
	}
	return project, nil
}

// environment is what the test file is interpolated with: the .env file
// next to it, as docker-compose reads it, under opts.Env.
func (r *run) environment() (types.Mapping, error) {
	env := types.Mapping{}
	dotEnv := filepath.Join(filepath.Dir(r.file), ".env")
	if fi, err := os.Stat(dotEnv); err == nil && fi.Mode().IsRegular() {
		if err := r.confined(dotEnv); err != nil {
			return nil, err
		}
		lookup := func(k string) (string, bool) { v, ok := r.opts.Env[k]; return v, ok }
		vars, err := dotenv.ReadFile(dotEnv, lookup)
		if err != nil {
			return nil, r.errorf("read .env: %w", err)
		}
		for k, v := range vars {
			env[k] = v
		}
	}
	for k, v := range r.opts.Env {
		env[k] = v
	}
	return env, nil
}

// readFile reads the test file, turning the version 1 format (services at
// the top level, as Hub's early examples have it) into the current one and
// refusing include and extends from other files, which would read files
// before they could be confined.
func (r *run) readFile() ([]byte, error) {
	f, err := os.Open(r.file)
	if err != nil {
		return nil, r.errorf("%w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxComposeFile+1))
	if err != nil {
		return nil, r.errorf("%w", err)
	}
	if len(b) > maxComposeFile {
		return nil, r.errorf("larger than %d bytes", maxComposeFile)
	}
	var top map[string]any
	if err := yaml.Unmarshal(b, &top); err != nil {
		return nil, r.errorf("parse: %w", err)
	}
	if _, ok := top["include"]; ok {
		return nil, r.unsupported("include")
	}
	services, hasServices := top["services"].(map[string]any)
	if !hasServices && top["version"] == nil && len(top) > 0 {
		// Version 1: every top-level key is a service.
		v1 := make(map[string]any, len(top))
		for k, v := range top {
			if _, ok := v.(map[string]any); !ok {
				return nil, r.errorf("parse: top-level %q is neither a compose key nor a service", k)
			}
			v1[k] = v
		}
		services = v1
		if b, err = yaml.Marshal(map[string]any{"services": v1}); err != nil {
			return nil, r.errorf("convert version 1 file: %w", err)
		}
	}
	for name, s := range services {
		if m, ok := s.(map[string]any); ok {
			if ext, ok := m["extends"].(map[string]any); ok && ext["file"] != nil {
				return nil, r.unsupported("service %s: extends from another file", name)
			}
		}
	}
	return b, nil
}

// confined fails unless p, with symbolic links resolved, is inside Root.
// A path that does not exist is judged by its parent's real path.
func (r *run) confined(p string) error {
	root, err := filepath.EvalSymlinks(r.opts.Root)
	if err != nil {
		return r.errorf("%w", err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return r.errorf("%w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, os.ErrNotExist) {
		dir, derr := filepath.EvalSymlinks(filepath.Dir(abs))
		if derr != nil {
			dir = filepath.Dir(abs)
		}
		real, err = filepath.Join(dir, filepath.Base(abs)), nil
	}
	if err != nil {
		return r.errorf("%w", err)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return r.unsupported("%s is outside the repository", p)
	}
	return nil
}

// plan translates the project into containers, in start order. It touches
// no engine, so every refusal comes before anything is created.
func (r *run) plan(p *types.Project) ([]*service, error) {
	order, err := startOrder(p)
	if err != nil {
		return nil, r.errorf("%w", err)
	}
	var out []*service
	for _, name := range order {
		s, err := r.convert(p, p.Services[name])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// startOrder sorts the services so that each comes after what it depends
// on, ties broken by name.
func startOrder(p *types.Project) ([]string, error) {
	pending := make(map[string]int)
	dependents := make(map[string][]string)
	for name, s := range p.Services {
		pending[name] += 0
		for dep := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				continue // an optional dependency left out
			}
			pending[name]++
			dependents[dep] = append(dependents[dep], name)
		}
	}
	var ready, order []string
	for name, n := range pending {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		name := ready[0]
		ready = ready[1:]
		order = append(order, name)
		for _, d := range dependents[name] {
			if pending[d]--; pending[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(order) != len(pending) {
		var cyc []string
		for name, n := range pending {
			if n > 0 {
				cyc = append(cyc, name)
			}
		}
		sort.Strings(cyc)
		return nil, fmt.Errorf("depends_on cycle between %s", strings.Join(cyc, ", "))
	}
	return order, nil
}

// convert turns one service into container settings, refusing what would
// reach the host.
func (r *run) convert(p *types.Project, s types.ServiceConfig) (*service, error) {
	refuse := func(what string) error { return r.unsupported("service %s: %s", s.Name, what) }
	switch {
	case s.Privileged:
		return nil, refuse("privileged")
	case len(s.CapAdd) > 0:
		return nil, refuse("cap_add")
	case len(s.Devices) > 0 || len(s.DeviceCgroupRules) > 0 || len(s.Gpus) > 0:
		return nil, refuse("devices")
	case s.NetworkMode != "" || s.Net != "":
		return nil, refuse("network_mode")
	case s.Pid != "" || s.Ipc != "" || s.Uts != "" || s.UserNSMode != "" || s.Cgroup != "" || s.CgroupParent != "":
		return nil, refuse("host namespaces (pid, ipc, uts, userns_mode, cgroup)")
	case len(s.SecurityOpt) > 0:
		return nil, refuse("security_opt")
	case len(s.VolumesFrom) > 0:
		return nil, refuse("volumes_from")
	case len(s.Secrets) > 0 || len(s.Configs) > 0:
		return nil, refuse("secrets and configs (they mount host files)")
	case len(s.ExternalLinks) > 0:
		return nil, refuse("external_links")
	case s.UseAPISocket:
		return nil, refuse("use_api_socket")
	case s.Provider != nil || len(s.Models) > 0:
		return nil, refuse("provider and models")
	case s.Runtime != "" || s.Isolation != "":
		return nil, refuse("runtime and isolation")
	case len(s.PreStart) > 0 || len(s.PostStart) > 0 || len(s.PreStop) > 0:
		return nil, refuse("lifecycle hooks (pre_start, post_start, pre_stop)")
	}

	if len(s.Ports) > 0 {
		r.logf("service %s: ports are not published; services reach it as %s:PORT", s.Name, s.Name)
	}
	svc := &service{name: s.Name, deps: s.DependsOn, tty: s.Tty, pull: s.PullPolicy}
	img := s.Image
	switch {
	case s.Build != nil && r.buildsUnderTest(s.Build):
		img, svc.underTest = r.opts.Image, true
	case s.Build != nil:
		if s.Build.DockerfileInline != "" {
			return nil, refuse("build.dockerfile_inline")
		}
		if err := r.confined(s.Build.Context); err != nil {
			return nil, fmt.Errorf("service %s: build: %w", s.Name, err)
		}
		if err := r.confined(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			return nil, fmt.Errorf("service %s: build: %w", s.Name, err)
		}
		if r.opts.BuildService == nil {
			return nil, refuse(fmt.Sprintf("build of %s with %s (only the image under test, built from %s, can be used)",
				s.Build.Context, s.Build.Dockerfile, r.rel(r.opts.Dockerfile)))
		}
		args := make(map[string]string)
		for k, v := range s.Build.Args {
			if v != nil {
				args[k] = *v
			}
		}
		img = r.project + "-" + s.Name + ":autotest"
		svc.build = &ServiceBuild{Service: s.Name, Context: s.Build.Context, Dockerfile: s.Build.Dockerfile, Target: s.Build.Target, Args: args, Tag: img}
	case img == r.opts.Image:
		svc.underTest = true
	case img == "":
		return nil, r.errorf("service %s has neither image nor build", s.Name)
	}

	labels := r.ourLabels(s.Labels)
	labels["com.docker.compose.service"] = s.Name
	labels["com.docker.compose.container-number"] = "1"
	labels["com.docker.compose.oneoff"] = "False"
	var env []string
	for k, v := range s.Environment {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	sort.Strings(env)
	svc.cfg = &container.Config{
		Image:       img,
		Env:         env,
		WorkingDir:  s.WorkingDir,
		User:        s.User,
		Labels:      labels,
		Hostname:    s.Hostname,
		Domainname:  s.DomainName,
		Tty:         s.Tty,
		StopSignal:  s.StopSignal,
		Healthcheck: healthConfig(s.HealthCheck),
	}
	if s.Command != nil {
		svc.cfg.Cmd = []string(s.Command)
	}
	if s.Entrypoint != nil {
		svc.cfg.Entrypoint = []string(s.Entrypoint)
		if len(s.Entrypoint) == 0 {
			// The engine's way of saying "no entrypoint".
			svc.cfg.Entrypoint = []string{""}
		}
	}

	host := &container.HostConfig{
		Init:           s.Init,
		ReadonlyRootfs: s.ReadOnly,
		ShmSize:        int64(s.ShmSize),
		ExtraHosts:     s.ExtraHosts.AsList(":"),
		DNS:            s.DNS,
		DNSSearch:      s.DNSSearch,
		DNSOptions:     s.DNSOpts,
		CapDrop:        s.CapDrop,
		GroupAdd:       s.GroupAdd,
	}
	host.Memory = int64(s.MemLimit)
	host.NanoCPUs = int64(float64(s.CPUS) * 1e9)
	if s.PidsLimit != 0 {
		host.PidsLimit = &s.PidsLimit
	}
	if len(s.Tmpfs) > 0 {
		host.Tmpfs = make(map[string]string)
		for _, t := range s.Tmpfs {
			path, opts, _ := strings.Cut(t, ":")
			host.Tmpfs[path] = opts
		}
	}
	for _, v := range s.Volumes {
		m, err := r.mount(p, s.Name, v)
		if err != nil {
			return nil, err
		}
		host.Mounts = append(host.Mounts, m)
	}
	svc.host = host

	eps, err := r.endpoints(p, s)
	if err != nil {
		return nil, err
	}
	svc.networks = eps
	if len(eps) > 0 {
		host.NetworkMode = container.NetworkMode(eps[0].network)
	}
	return svc, nil
}

// buildsUnderTest reports whether a build section builds the image under
// test: the context is ContextDir and the Dockerfile is opts.Dockerfile.
func (r *run) buildsUnderTest(b *types.BuildConfig) bool {
	if b.DockerfileInline != "" || b.Target != "" {
		return false
	}
	ctxDir := filepath.Clean(b.Context)
	if ctxDir != r.opts.ContextDir {
		return false
	}
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(ctxDir, df)
	}
	return filepath.Clean(df) == filepath.Clean(r.opts.Dockerfile)
}

// rel shows p relative to Root in messages.
func (r *run) rel(p string) string {
	if rel, err := filepath.Rel(r.opts.Root, p); err == nil {
		return rel
	}
	return p
}

// mount translates a service volume; bind mounts are refused.
func (r *run) mount(p *types.Project, svc string, v types.ServiceVolumeConfig) (mount.Mount, error) {
	switch v.Type {
	case types.VolumeTypeVolume:
		m := mount.Mount{Type: mount.TypeVolume, Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Source == "" {
			return m, nil // anonymous, removed with the container
		}
		vol, ok := p.Volumes[v.Source]
		if !ok {
			return m, r.errorf("service %s: volume %q is not declared", svc, v.Source)
		}
		if vol.External {
			return m, r.unsupported("service %s: external volume %s", svc, v.Source)
		}
		if (vol.Driver != "" && vol.Driver != "local") || len(vol.DriverOpts) > 0 {
			return m, r.unsupported("service %s: volume %s with a driver or driver_opts", svc, v.Source)
		}
		m.Source = vol.Name
		return m, nil
	case types.VolumeTypeTmpfs:
		return mount.Mount{Type: mount.TypeTmpfs, Target: v.Target}, nil
	case types.VolumeTypeBind:
		return mount.Mount{}, r.unsupported("service %s: bind mount of %s (it would reach the slipway host; copy the files into the image or use a named volume)", svc, v.Source)
	default:
		return mount.Mount{}, r.unsupported("service %s: volume of type %s", svc, v.Type)
	}
}

// endpoints lists the networks a service joins, the highest priority
// first, then by name.
func (r *run) endpoints(p *types.Project, s types.ServiceConfig) ([]endpoint, error) {
	keys := make([]string, 0, len(s.Networks))
	for k := range s.Networks {
		keys = append(keys, k)
	}
	prio := func(k string) int {
		if c := s.Networks[k]; c != nil {
			return c.Priority
		}
		return 0
	}
	sort.Slice(keys, func(i, j int) bool {
		if pi, pj := prio(keys[i]), prio(keys[j]); pi != pj {
			return pi > pj
		}
		return keys[i] < keys[j]
	})
	var out []endpoint
	for i, k := range keys {
		n, ok := p.Networks[k]
		if !ok {
			return nil, r.errorf("service %s: network %q is not declared", s.Name, k)
		}
		switch {
		case bool(n.External):
			return nil, r.unsupported("service %s: external network %s", s.Name, k)
		case n.Driver != "" && n.Driver != "bridge":
			return nil, r.unsupported("service %s: network %s with driver %s (only bridge)", s.Name, k, n.Driver)
		case len(n.DriverOpts) > 0 || n.Ipam.Driver != "" || len(n.Ipam.Config) > 0:
			return nil, r.unsupported("service %s: network %s with driver_opts or ipam", s.Name, k)
		}
		c := s.Networks[k]
		var aliases []string
		if c == nil || c.UseServiceNameAlias == nil || *c.UseServiceNameAlias {
			aliases = append(aliases, s.Name)
		}
		if s.ContainerName != "" {
			aliases = append(aliases, s.ContainerName)
		}
		if c != nil {
			if c.Ipv4Address != "" || c.Ipv6Address != "" || c.MacAddress != "" || len(c.LinkLocalIPs) > 0 || len(c.DriverOpts) > 0 {
				return nil, r.unsupported("service %s: fixed addresses or driver_opts on network %s", s.Name, k)
			}
			aliases = append(aliases, c.Aliases...)
		}
		ep := &network.EndpointSettings{Aliases: aliases}
		if i == 0 {
			for _, l := range s.Links {
				target, alias, ok := strings.Cut(l, ":")
				if !ok {
					alias = target
				}
				ep.Links = append(ep.Links, r.containerName(target)+":"+alias)
			}
		}
		out = append(out, endpoint{network: n.Name, cfg: ep})
	}
	return out, nil
}

// containerName is the name of a service's container.
func (r *run) containerName(svc string) string { return r.project + "-" + svc + "-1" }

// healthConfig translates a compose healthcheck.
func healthConfig(h *types.HealthCheckConfig) *container.HealthConfig {
	if h == nil {
		return nil
	}
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	hc := &container.HealthConfig{Test: h.Test}
	if h.Interval != nil {
		hc.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		hc.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		hc.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		hc.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc
}
