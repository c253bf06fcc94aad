package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/slipwayci/slipway/deploy/probe"
)

// Probe is an HTTP check of a service after it converged, run from a
// short-lived container attached to one of the service's attachable
// networks on the manager slipway deploys through.
type Probe struct {
	probe.Check
	// Executable is a static Linux executable that runs the check as
	// `EXE probe URL -status N -timeout D`: slipway's own or slipway-probe.
	// It is copied into a FROM scratch image (slipway-probe:<hash of the
	// executable>) built on the manager's engine the first time, so nothing
	// is pulled. Default: the running executable.
	Executable string
}

// proberLabel marks the prober images and containers slipway makes.
const proberLabel = "io.slipway.probe"

// probeReady checks, before a service is touched, that p can run against
// it: a valid check and an attachable network.
func (t *Target) probeReady(ctx context.Context, service string, p *Probe) error {
	if p == nil {
		return nil
	}
	if err := p.Validate(); err != nil {
		return err
	}
	svc, _, err := t.cli.ServiceInspectWithRaw(ctx, service, swarm.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %q: %w", service, err)
	}
	_, err = t.probeNetwork(ctx, svc)
	return err
}

// probeNetwork returns the name of the service's first attachable network
// (one of its stack first), or an error saying how to make one attachable.
func (t *Target) probeNetwork(ctx context.Context, svc swarm.Service) (string, error) {
	attached := svc.Spec.TaskTemplate.Networks
	if len(attached) == 0 {
		return "", fmt.Errorf("service %s is on no network: a probe runs in a container attached to the service's network; attach the service to an attachable overlay network", svc.Spec.Name)
	}
	var names, refused []string
	for _, a := range attached {
		nw, err := t.cli.NetworkInspect(ctx, a.Target, network.InspectOptions{})
		if err != nil {
			return "", fmt.Errorf("inspect network %s of service %s: %w", a.Target, svc.Spec.Name, err)
		}
		if !nw.Attachable {
			refused = append(refused, nw.Name)
			continue
		}
		if nw.Labels[stackLabel] != "" && nw.Labels[stackLabel] == svc.Spec.Labels[stackLabel] {
			names = append([]string{nw.Name}, names...)
		} else {
			names = append(names, nw.Name)
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("the networks of service %s (%s) are not attachable, so no probe container can join them: set `attachable: true` on the network in the compose file (or create it with `docker network create --driver overlay --attachable`)", svc.Spec.Name, strings.Join(refused, ", "))
	}
	return names[0], nil
}

// probe runs p against the converged service, writing the probe's output
// to opts.Log; it returns why the probe failed, "" when it passed.
func (t *Target) probe(ctx context.Context, ch *change, p Probe, opts RolloutOptions) string {
	svc, _, err := t.cli.ServiceInspectWithRaw(ctx, ch.id, swarm.ServiceInspectOptions{})
	if err != nil {
		return fmt.Sprintf("probe: inspect service: %v", err)
	}
	nw, err := t.probeNetwork(ctx, svc)
	if err != nil {
		return "probe: " + err.Error()
	}
	img, err := t.proberImage(ctx, p.Executable)
	if err != nil {
		return "probe: " + err.Error()
	}
	c := p.Check
	if c.Status == 0 {
		c.Status = probe.DefaultStatus
	}
	if c.Timeout <= 0 {
		c.Timeout = probe.DefaultTimeout
	}
	fmt.Fprintf(opts.Log, "%s: probe: GET %s from network %s, want %d within %s\n", ch.name, c.URL, nw, c.Status, c.Timeout)
	out, code, err := t.runProber(ctx, img, nw, ch.name, c)
	for _, line := range out {
		fmt.Fprintf(opts.Log, "%s: probe: %s\n", ch.name, line)
	}
	switch {
	case err != nil:
		return "probe: " + err.Error()
	case code == 0:
		return ""
	case len(out) > 0:
		return "probe: " + strings.TrimPrefix(out[len(out)-1], "probe failed: ")
	}
	return fmt.Sprintf("probe: the probe container exited %d without output", code)
}

// runProber runs the prober image on network and returns its output lines
// and exit code. The container is removed whatever happens.
func (t *Target) runProber(ctx context.Context, img, nw, service string, c probe.Check) ([]string, int, error) {
	// The prober gives up after c.Timeout; this bounds a prober that hangs.
	ctx, cancel := context.WithTimeout(ctx, c.Timeout+30*time.Second)
	defer cancel()
	cfg := &container.Config{
		Image:  img,
		Cmd:    []string{"probe", c.URL, "-status", strconv.Itoa(c.Status), "-timeout", c.Timeout.String()},
		Labels: map[string]string{proberLabel: service},
	}
	created, err := t.cli.ContainerCreate(ctx, cfg, &container.HostConfig{NetworkMode: container.NetworkMode(nw)}, nil, nil, "")
	if err != nil {
		return nil, 0, fmt.Errorf("create the probe container on network %s: %w", nw, err)
	}
	defer func() {
		rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = t.cli.ContainerRemove(rm, created.ID, container.RemoveOptions{Force: true})
	}()
	waitC, errC := t.cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := t.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return nil, 0, fmt.Errorf("start the probe container: %w", err)
	}
	var code int
	select {
	case res := <-waitC:
		if res.Error != nil {
			return nil, 0, fmt.Errorf("wait for the probe container: %s", res.Error.Message)
		}
		code = int(res.StatusCode)
	case err := <-errC:
		return nil, 0, fmt.Errorf("wait for the probe container: %w", err)
	}
	logs, err := t.cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, code, fmt.Errorf("read the probe's output: %w", err)
	}
	defer logs.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, logs); err != nil {
		return nil, code, fmt.Errorf("read the probe's output: %w", err)
	}
	var lines []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, code, nil
}

// ProberRef is the name of the prober image of an executable:
// slipway-probe:<the first 16 hex digits of its SHA-256>.
func ProberRef(exe []byte) string {
	sum := sha256.Sum256(exe)
	return "slipway-probe:" + hex.EncodeToString(sum[:])[:16]
}

// proberImage returns the prober image of exe (default: the running
// executable) on the target's engine, building it FROM scratch when it is
// not there yet.
func (t *Target) proberImage(ctx context.Context, exe string) (string, error) {
	if exe == "" {
		self, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find slipway's executable for the prober image: %w (set probe_executable)", err)
		}
		exe = self
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		return "", fmt.Errorf("read the probe executable: %w (set probe_executable to a static slipway or slipway-probe)", err)
	}
	ref := ProberRef(bin)
	if _, err := t.cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect the prober image %s: %w", ref, err)
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	dockerfile := []byte("FROM scratch\nCOPY probe /probe\nLABEL " + proberLabel + "=prober\nENTRYPOINT [\"/probe\"]\n")
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"probe", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := t.cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("build the prober image %s on %s: %w", ref, t.host, err)
	}
	defer resp.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil); err != nil {
		return "", fmt.Errorf("build the prober image %s on %s: %w", ref, t.host, err)
	}
	return ref, nil
}
