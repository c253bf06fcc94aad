package deploy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/probe"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/testenv"
)

// probed returns the spec of a service of img on the network netID,
// resolved by DNS round robin: the test engine may lack the kernel's IPVS,
// which a service's virtual IP needs.
func probed(name, img, stack, netID string) swarm.ServiceSpec {
	spec := swarmtest.Spec(name, img, 1, map[string]string{swarmtest.StackLabel: stack})
	spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: netID}}
	spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}
	return spec
}

// overlay creates an overlay network of stack, removed when the test ends.
func overlay(t *testing.T, cli *client.Client, stack string, attachable bool) string {
	t.Helper()
	name := testenv.Name(t, "net")
	resp, err := cli.NetworkCreate(t.Context(), name, network.CreateOptions{Driver: "overlay", Attachable: attachable, Labels: map[string]string{swarmtest.StackLabel: stack}})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	// Registered before the services: removed after them.
	t.Cleanup(func() { _ = cli.NetworkRemove(t.Context(), resp.ID) })
	return resp.ID
}

// TestProbe: a probe of a service answering 500 rolls it back to the
// previous digest, one answering 200 converges; the probe's output is in
// the log and no probe container is left behind. A service whose network is
// not attachable is refused before it is touched.
func TestProbe(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	reg := swarmtest.NewRegistry(t, cli)
	v1 := reg.Push(t, "v1", "v1", "http-200")
	broken := reg.Push(t, "broken", "broken", "http-500")
	v2 := reg.Push(t, "v2", "v2", "http-200")
	exe := swarmtest.ProbeExecutable(t, cli)
	target := connectLocal(t, cli)

	stack := testenv.Name(t, "stack")
	netID := overlay(t, cli, stack, true)
	name := testenv.Name(t, "web")
	id := swarmtest.CreateService(t, cli, probed(name, v1.Ref(), stack, netID), reg.Auth)
	swarmtest.WaitRunning(t, cli, id, 1, testTimeout)

	// The probe gets 15s: a fresh container on the overlay network may
	// take seconds to reach the service by name on a loaded machine.
	opts := func(log *logBuffer) deploy.RolloutOptions {
		return deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: reg.Auth, Log: log,
			Probe: &deploy.Probe{Check: probe.Check{URL: "http://" + name + ":8080/healthz", Status: 200, Timeout: 15 * time.Second}, Executable: exe}}
	}

	var log logBuffer
	res := target.Rollout(t.Context(), name, broken, opts(&log))
	t.Logf("500: %+v; log:\n%s", res, log.String())
	if res.Status != deploy.StatusRolledBack || !strings.Contains(res.Error, "500") {
		t.Fatalf("Rollout of an image answering 500 = %+v, want rolled_back saying 500", res)
	}
	if !strings.Contains(log.String(), "probe: GET http://"+name+":8080/healthz: 500 Internal Server Error, want 200: variant broken answers 500") {
		t.Errorf("the log lacks the probe's output")
	}
	if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, v1) {
		t.Errorf("after the rollback the service runs %s, want v1 %s", got, v1.Digest)
	}
	swarmtest.WaitRunning(t, cli, id, 1, testTimeout)

	log = logBuffer{}
	res = target.Rollout(t.Context(), name, v2, opts(&log))
	t.Logf("200: %+v; log:\n%s", res, log.String())
	if res.Status != deploy.StatusConverged {
		t.Fatalf("Rollout of an image answering 200 = %+v, want converged", res)
	}
	if !strings.Contains(log.String(), "200 OK") {
		t.Errorf("the log lacks the probe's 200")
	}
	if left, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.slipway.probe="+name))}); err != nil {
		t.Fatal(err)
	} else if len(left) != 0 {
		t.Errorf("%d probe containers left behind", len(left))
	}

	t.Run("network not attachable", func(t *testing.T) {
		t.Parallel()
		stack := testenv.Name(t, "stack")
		netID := overlay(t, cli, stack, false)
		name := testenv.Name(t, "web")
		id := swarmtest.CreateService(t, cli, probed(name, v1.Ref(), stack, netID), reg.Auth)
		before := inspect(t, cli, id).Version
		var log logBuffer
		o := opts(&log)
		o.Probe.URL = "http://" + name + ":8080/"
		res := target.Rollout(t.Context(), name, v2, o)
		if res.Status != deploy.StatusFailed || !strings.Contains(res.Error, "not attachable") || !strings.Contains(res.Error, "attachable: true") {
			t.Errorf("Rollout = %+v, want failed saying the network is not attachable and how to fix it", res)
		}
		if got := inspect(t, cli, id).Version; got != before {
			t.Errorf("the service was touched: version %v, want %v", got, before)
		}
	})
}
