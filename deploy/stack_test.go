package deploy_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/testenv"
)

// stackTarget returns a Target on the engine, a stack name of the test
// (removed when it ends) and the directory of the stack files.
func stackTarget(t *testing.T, cli *client.Client) (target *deploy.Target, stack, workDir string) {
	t.Helper()
	stack = testenv.Name(t, "stack")
	swarmtest.RemoveStackAtCleanup(t, cli, stack)
	workDir, err := filepath.Abs(filepath.Join("testdata", "stack"))
	if err != nil {
		t.Fatal(err)
	}
	return connectLocal(t, cli), stack, workDir
}

func TestDeployStack(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	images := swarmtest.PushImages(t, cli)
	sidecar := images.PushRepo(t, images.Host+"/"+testenv.Name(t, "sidecar"), "1", "sidecar", "serve")
	target, stack, workDir := stackTarget(t, cli)
	var log logBuffer
	opts := deploy.StackOptions{
		Rollout: deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: images.Auth, Log: &log},
		Env:     map[string]string{"WEB_IMAGE": images.Repo, "SIDECAR_IMAGE": sidecar.Ref()},
	}
	web, side := stack+"_web", stack+"_sidecar"
	files := []string{"base.yml", "web.yml"}

	var wantPrevious *deploy.Image // checked when set
	deployStack := func(t *testing.T, files []string, img deploy.Image, opts deploy.StackOptions) map[string]string {
		t.Helper()
		results, err := target.DeployStack(t.Context(), stack, files, workDir, img, opts)
		t.Logf("log:\n%s", log.String())
		if err != nil {
			t.Fatalf("DeployStack: %v", err)
		}
		got := map[string]string{}
		for _, r := range results {
			got[r.Service] = r.Status
			if r.OfImage != (r.Service == web) {
				t.Errorf("%s: OfImage %v, want it set for the service of the project's image only", r.Service, r.OfImage)
			}
			if r.Service == web && wantPrevious != nil && !pinnedTo(r.Previous, *wantPrevious) {
				t.Errorf("%s: Previous %q, want %s (what it ran before)", r.Service, r.Previous, wantPrevious.Tag)
			}
			if r.Error != "" {
				t.Errorf("%s: %s", r.Service, r.Error)
			}
		}
		return got
	}

	// The first deploy creates everything.
	got := deployStack(t, files, images.V1, opts)
	if diff := cmp.Diff(map[string]string{web: deploy.StatusConverged, side: deploy.StatusConverged}, got); diff != "" {
		t.Fatalf("first deploy's results (-want +got):\n%s", diff)
	}
	nw, err := cli.NetworkInspect(t.Context(), stack+"_front", network.InspectOptions{})
	if err != nil {
		t.Fatalf("the stack's network: %v", err)
	}
	if nw.Driver != "overlay" || !nw.Attachable || nw.Labels[swarmtest.StackLabel] != stack {
		t.Errorf("network %s: driver %q attachable %v labels %v, want an attachable overlay of the stack", nw.Name, nw.Driver, nw.Attachable, nw.Labels)
	}
	first := inspect(t, cli, web)
	cs := first.Spec.TaskTemplate.ContainerSpec
	if !pinnedTo(cs.Image, images.V1) {
		t.Errorf("web's image %q, want pinned to v1", cs.Image)
	}
	if !slices.Contains(cs.Env, "GREETING=hello") || len(cs.Secrets) != 1 || len(cs.Configs) != 1 {
		t.Errorf("web's env %q, secrets %d, configs %d: web.yml was not merged", cs.Env, len(cs.Secrets), len(cs.Configs))
	}
	if got, want := inspect(t, cli, side).Spec.TaskTemplate.ContainerSpec.Image, sidecar.Ref(); got != want {
		t.Errorf("sidecar's image %q, want %q as written", got, want)
	}
	swarmtest.WaitRunning(t, cli, web, 1, testTimeout)
	sideBefore := inspect(t, cli, side)

	// A new digest changes web's image and nothing else.
	wantPrevious = &images.V1
	got = deployStack(t, files, images.V2, opts)
	wantPrevious = nil
	if diff := cmp.Diff(map[string]string{web: deploy.StatusConverged, side: deploy.StatusUnchanged}, got); diff != "" {
		t.Fatalf("second deploy's results (-want +got):\n%s", diff)
	}
	second := inspect(t, cli, web)
	if img := second.Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(img, images.V2) {
		t.Errorf("web's image %q, want pinned to v2", img)
	}
	if diff := cmp.Diff(first.Spec, second.Spec, cmpopts.IgnoreFields(swarm.ContainerSpec{}, "Image")); diff != "" {
		t.Errorf("web's spec changed beyond the image (-first +second):\n%s", diff)
	}
	for _, img := range runningImages(t, cli, web) {
		if !pinnedTo(img, images.V2) {
			t.Errorf("a task of web runs %q, want v2", img)
		}
	}
	if got, want := inspect(t, cli, side).Version, sideBefore.Version; got != want {
		t.Errorf("sidecar's version %v, want %v (untouched)", got, want)
	}

	// The same deploy again changes nothing.
	got = deployStack(t, files, images.V2, opts)
	if diff := cmp.Diff(map[string]string{web: deploy.StatusUnchanged, side: deploy.StatusUnchanged}, got); diff != "" {
		t.Fatalf("repeated deploy's results (-want +got):\n%s", diff)
	}
	if got, want := inspect(t, cli, web).Version, second.Version; got != want {
		t.Errorf("web's version %v, want %v (untouched)", got, want)
	}

	// Without prune, a service left out of the files stays; with it, it
	// goes.
	got = deployStack(t, []string{"base.yml"}, images.V2, opts)
	if _, ok := got[side]; ok {
		t.Errorf("results %v name the sidecar, which base.yml does not have", got)
	}
	if !serviceExists(t, side) {
		t.Error("the sidecar was removed without prune")
	}
	opts.Prune = true
	deployStack(t, []string{"base.yml"}, images.V2, opts)
	if serviceExists(t, side) {
		t.Error("prune left the sidecar")
	}

	if strings.Contains(log.String(), images.Password) {
		t.Error("the registry password reached the log")
	}
}

func serviceExists(t *testing.T, name string) bool {
	t.Helper()
	cli := testenv.Docker(t)
	list, err := cli.ServiceList(context.Background(), swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(list, func(s swarm.Service) bool { return s.Spec.Name == name })
}

func TestDeployStackNewServiceEngineFault(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	images := swarmtest.PushImages(t, cli)
	once := images.Push(t, "once", "once", "fail-once")
	target, stack, workDir := stackTarget(t, cli)
	var log logBuffer
	opts := deploy.StackOptions{
		// The engine's own faults cannot be caused at will: the first
		// task's exit stands for one here.
		Rollout: deploy.WithEngineFaults(deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: images.Auth, Log: &log}, "non-zero exit (1)"),
		Env:     map[string]string{"WEB_IMAGE": images.Repo, "MARK_DIR": t.TempDir()},
	}
	results, err := target.DeployStack(t.Context(), stack, []string{"once.yml"}, workDir, once, opts)
	t.Logf("log:\n%s", log.String())
	if err != nil {
		t.Fatalf("DeployStack: %v", err)
	}
	if len(results) != 1 || results[0].Status != deploy.StatusConverged || results[0].Error != "" {
		t.Fatalf("results %+v, want the new service converged on the swarm's second task", results)
	}
	if !strings.Contains(log.String(), "waiting for the swarm's next task (1 of 2)") {
		t.Error("log does not say the failed first task was passed over")
	}
	for _, img := range runningImages(t, cli, stack+"_once") {
		if !pinnedTo(img, once) {
			t.Errorf("a running task runs %q, want the new image", img)
		}
	}
}
