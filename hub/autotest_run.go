package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
)

// images builds or finds the image of every service.
func (r *run) images(ctx context.Context, plan []*service) error {
	seen := make(map[string]bool)
	for _, s := range plan {
		if s.build != nil {
			r.builtImages = append(r.builtImages, s.build.Tag)
			r.logf("building the image of service %s from %s", s.name, r.rel(s.build.Context))
			out := newPrefixWriter(r.log, "build "+s.name+" | ", r.secrets)
			err := r.opts.BuildService(ctx, *s.build, out)
			if ferr := out.flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return r.errorf("service %s: build: %w", s.name, err)
			}
			continue
		}
		if seen[s.cfg.Image] {
			continue
		}
		seen[s.cfg.Image] = true
		if err := r.ensureImage(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// ensureImage pulls a service's image when the engine lacks it, as compose
// does with pull_policy missing; "always" pulls even when present, "never"
// never pulls. The image under test is never pulled.
func (r *run) ensureImage(ctx context.Context, s *service) error {
	ref := s.cfg.Image
	if s.pull != types.PullPolicyAlways || s.underTest {
		_, err := r.cli.ImageInspect(ctx, ref)
		switch {
		case err == nil:
			return nil
		case !cerrdefs.IsNotFound(err):
			return r.errorf("service %s: inspect image %s: %w", s.name, ref, err)
		case s.underTest:
			return r.errorf("service %s: the image under test %s is not on the engine", s.name, ref)
		case s.pull == types.PullPolicyNever:
			return r.errorf("service %s: image %s is not on the engine and its pull_policy is never", s.name, ref)
		}
	}
	r.logf("pulling %s for service %s", ref, s.name)
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return r.errorf("service %s: image %s is not on the engine and pulling it failed: %w", s.name, ref, err)
	}
	defer rc.Close()
	out := newPrefixWriter(r.log, "pull "+s.name+" | ", nil)
	err = jsonmessage.DisplayJSONMessagesStream(rc, out, 0, false, nil)
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return r.errorf("service %s: image %s is not on the engine and pulling it failed: %w", s.name, ref, err)
	}
	return nil
}

// ourLabels are the labels of every container, network and volume of the
// project: the test file's own, then opts.Labels, then the project's, which
// no other may replace (cleanup finds resources by them).
func (r *run) ourLabels(fromFile map[string]string) map[string]string {
	l := make(map[string]string, len(fromFile)+len(r.opts.Labels)+2)
	for k, v := range fromFile {
		l[k] = v
	}
	for k, v := range r.opts.Labels {
		l[k] = v
	}
	l[AutotestLabel] = r.project
	l["com.docker.compose.project"] = r.project
	return l
}

// resources creates the project's networks and named volumes.
func (r *run) resources(ctx context.Context, p *types.Project, plan []*service) error {
	nets := make(map[string]bool)
	vols := make(map[string]bool)
	for _, s := range plan {
		for _, ep := range s.networks {
			nets[ep.network] = true
		}
		for _, m := range s.host.Mounts {
			if m.Type == mount.TypeVolume && m.Source != "" {
				vols[m.Source] = true
			}
		}
	}
	for _, key := range sortedKeys(p.Networks) {
		n := p.Networks[key]
		if !nets[n.Name] {
			continue
		}
		_, err := r.cli.NetworkCreate(ctx, n.Name, network.CreateOptions{
			Driver:   "bridge",
			Internal: n.Internal,
			Labels:   r.ourLabels(mergeLabels(n.Labels, map[string]string{"com.docker.compose.network": key})),
		})
		if err != nil {
			return r.errorf("create network %s: %w", n.Name, err)
		}
	}
	for _, key := range sortedKeys(p.Volumes) {
		v := p.Volumes[key]
		if !vols[v.Name] {
			continue
		}
		_, err := r.cli.VolumeCreate(ctx, volume.CreateOptions{
			Name:   v.Name,
			Driver: "local",
			Labels: r.ourLabels(mergeLabels(v.Labels, map[string]string{"com.docker.compose.volume": key})),
		})
		if err != nil {
			return r.errorf("create volume %s: %w", v.Name, err)
		}
	}
	return nil
}

func mergeLabels(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// start creates and starts the services in order, waits for sut and
// returns its verdict. Every log follower it starts has ended when it
// returns.
func (r *run) start(ctx context.Context, plan []*service) error {
	logCtx, stopLogs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopLogs()
		wg.Wait()
	}()
	var sutLogErr error
	byName := make(map[string]*service, len(plan))
	for _, s := range plan {
		byName[s.name] = s
	}

	var waitC <-chan container.WaitResponse
	var waitErrC <-chan error
	waitCtx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	for _, s := range plan {
		for _, dep := range sortedKeys(s.deps) {
			d, ok := byName[dep]
			if !ok {
				continue
			}
			if err := r.waitFor(ctx, s.name, d, s.deps[dep].Condition); err != nil {
				return err
			}
		}
		netCfg := &network.NetworkingConfig{}
		if len(s.networks) > 0 {
			netCfg.EndpointsConfig = map[string]*network.EndpointSettings{s.networks[0].network: s.networks[0].cfg}
		}
		created, err := r.cli.ContainerCreate(ctx, s.cfg, s.host, netCfg, nil, r.containerName(s.name))
		if err != nil {
			return r.errorf("service %s: create container: %w", s.name, err)
		}
		s.id = created.ID
		for _, ep := range s.networks[min(1, len(s.networks)):] {
			if err := r.cli.NetworkConnect(ctx, ep.network, s.id, ep.cfg); err != nil {
				return r.errorf("service %s: connect to network %s: %w", s.name, ep.network, err)
			}
		}
		if s.name == SutService {
			// Waiting for the next exit before the start cannot miss an
			// exit that comes before the wait request would.
			waitC, waitErrC = r.cli.ContainerWait(waitCtx, s.id, container.WaitConditionNextExit)
		}
		if err := r.cli.ContainerStart(ctx, s.id, container.StartOptions{}); err != nil {
			return r.errorf("service %s: start: %w", s.name, err)
		}
		s.logDone = make(chan struct{})
		wg.Add(1)
		go func(s *service) {
			defer wg.Done()
			defer close(s.logDone)
			err := r.copyLogs(logCtx, s)
			if s.name == SutService {
				sutLogErr = err
			}
		}(s)
	}
	sut := byName[SutService]

	select {
	case res := <-waitC:
		select {
		case <-sut.logDone:
		case <-time.After(logDrainTimeout):
		}
		if res.Error != nil && res.Error.Message != "" {
			return r.errorf("wait for sut: %s", res.Error.Message)
		}
		if res.StatusCode != 0 {
			return &AutotestError{File: r.name, ExitCode: int(res.StatusCode)}
		}
		// Read only once sut's follower ended or was given up on (then it
		// ends at the deferred stop before anything reads it again).
		select {
		case <-sut.logDone:
			if sutLogErr != nil {
				return r.errorf("write log: %w", sutLogErr)
			}
		default:
		}
		r.logf("%s passed: sut exited 0", r.name)
		return nil
	case err := <-waitErrC:
		if ctx.Err() != nil {
			return r.errorf("%w", context.Cause(ctx))
		}
		return r.errorf("wait for sut: %w", err)
	case <-ctx.Done():
		return r.errorf("%w", context.Cause(ctx))
	}
}

// waitFor waits until dep meets the depends_on condition of svc.
func (r *run) waitFor(ctx context.Context, svc string, dep *service, condition string) error {
	if condition == "" || condition == types.ServiceConditionStarted {
		return nil
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		st, err := r.cli.ContainerInspect(ctx, dep.id)
		if err != nil {
			if ctx.Err() != nil {
				return r.errorf("%w", context.Cause(ctx))
			}
			return r.errorf("service %s: inspect %s: %w", svc, dep.name, err)
		}
		if st.State == nil {
			return r.errorf("service %s: the engine reports no state for %s", svc, dep.name)
		}
		running := st.State.Running || st.State.Restarting
		switch condition {
		case types.ServiceConditionHealthy:
			switch {
			case st.State.Health == nil:
				return r.errorf("service %s waits for %s to be healthy, but %s has no healthcheck", svc, dep.name, dep.name)
			case st.State.Health.Status == container.Healthy:
				return nil
			case st.State.Health.Status == container.Unhealthy:
				return r.errorf("service %s waits for %s to be healthy, but it is unhealthy", svc, dep.name)
			case !running:
				return r.errorf("service %s waits for %s to be healthy, but it exited with code %d", svc, dep.name, st.State.ExitCode)
			}
		case types.ServiceConditionCompletedSuccessfully:
			if !running && st.State.Status == container.StateExited {
				if st.State.ExitCode != 0 {
					return r.errorf("service %s waits for %s to complete successfully, but it exited with code %d", svc, dep.name, st.State.ExitCode)
				}
				return nil
			}
		default:
			return r.unsupported("service %s: depends_on condition %q", svc, condition)
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return r.errorf("%w", context.Cause(ctx))
		}
	}
}

// copyLogs follows a container's output into the log, each line prefixed
// with the service's name.
func (r *run) copyLogs(ctx context.Context, s *service) error {
	rc, err := r.cli.ContainerLogs(ctx, s.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("follow %s: %w", s.name, err)
	}
	defer rc.Close()
	prefix := s.name + " | "
	stdout := newPrefixWriter(r.log, prefix, r.secrets)
	stderr := newPrefixWriter(r.log, prefix, r.secrets)
	if s.tty {
		_, err = io.Copy(stdout, rc)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if ferr := stdout.flush(); ferr != nil {
		return ferr
	}
	if ferr := stderr.flush(); ferr != nil {
		return ferr
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("follow %s: %w", s.name, err)
	}
	return nil
}

// cleanup removes every container, network, volume and service image of
// the project, found by label, with a context of its own so that it runs
// after ctx is done too.
func (r *run) cleanup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	errs := removeLabelled(ctx, r.cli, AutotestLabel+"="+r.project, func(string) bool { return true })
	for _, img := range r.builtImages {
		if _, err := r.cli.ImageRemove(ctx, img, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", img, err))
		}
	}
	if len(errs) > 0 {
		return r.errorf("clean up project %s: %w", r.project, errors.Join(errs...))
	}
	return nil
}

// PruneAutotests removes the containers (with their anonymous volumes),
// networks and volumes of every autotest project whose name starts with
// prefix ("" for all): what a slipway killed in the middle of an autotest
// left behind. Call it when no autotest of that prefix runs, e.g. at start.
// Images built through BuildService carry no label; their tags end in
// ":autotest".
func PruneAutotests(ctx context.Context, cli Client, prefix string) error {
	errs := removeLabelled(ctx, cli, AutotestLabel, func(project string) bool { return strings.HasPrefix(project, prefix) })
	if len(errs) > 0 {
		return fmt.Errorf("prune autotests: %w", errors.Join(errs...))
	}
	return nil
}

// removeLabelled removes the containers, then the networks, then the
// volumes that match the label filter and whose AutotestLabel value
// passes keep; a resource already gone is no error.
func removeLabelled(ctx context.Context, cli Client, label string, keep func(project string) bool) []error {
	f := filters.NewArgs(filters.Arg("label", label))
	var errs []error
	fail := func(what string, err error) {
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	fail("list containers", err)
	for _, c := range cs {
		if keep(c.Labels[AutotestLabel]) {
			fail("remove container "+c.ID, cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}))
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	fail("list networks", err)
	for _, n := range ns {
		if keep(n.Labels[AutotestLabel]) {
			fail("remove network "+n.Name, cli.NetworkRemove(ctx, n.ID))
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	fail("list volumes", err)
	for _, v := range vs.Volumes {
		if keep(v.Labels[AutotestLabel]) {
			fail("remove volume "+v.Name, cli.VolumeRemove(ctx, v.Name, true))
		}
	}
	return errs
}
