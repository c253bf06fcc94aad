package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/store"
)

// deployCmd runs `slipway deploy --json fixture ARGS...` in-process and
// returns the exit code, the decoded result and stderr.
func deployCmd(t *testing.T, w *fixture.World, args ...string) (int, store.Build, string) {
	t.Helper()
	return runForResult(t, append([]string{"deploy", "--config", w.ConfigPath(), "--json", "fixture"}, args...))
}

// serviceImage is the image a swarm service's spec runs.
func serviceImage(t *testing.T, cli *client.Client, id string) (string, uint64) {
	t.Helper()
	svc, _, err := cli.ServiceInspectWithRaw(t.Context(), id, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.TaskTemplate.ContainerSpec.Image, svc.Version.Index
}

// `slipway deploy --tag` is the manual rollback: it rolls an image already
// in the registry out again, pinned by digest, without building or moving
// a tag.
func TestDeployTagRollsBack(t *testing.T) {
	cli := swarmtest.Manager(t)
	stack := testenv.Name(t, "stk")
	svcName := stack + "_app"
	w := fixture.New(t, fixture.Options{
		Extra: "deploy_targets:\n  local:\n    hosts: [\"unix:///var/run/docker.sock\"]\n",
		ProjectExtra: fmt.Sprintf("    deploy:\n      - {target: local, stack: %q, services: [%q], on: [\"branch:main\"], deploy_timeout: 90s}\n",
			stack, svcName),
	})

	// v1 is built and pushed without a deploy, then run as the service.
	code, v1, stderr := build(t, w, "--no-deploy")
	if code != 0 {
		t.Fatalf("v1 build exited %d:\n%s", code, stderr)
	}
	spec := swarmtest.Spec(svcName, w.Image+":main@"+v1.Digest, 1, map[string]string{"com.docker.stack.namespace": stack})
	spec.TaskTemplate.ContainerSpec.Args = []string{"-sleep", "1h"}
	id := swarmtest.CreateService(t, cli, spec, "")
	swarmtest.WaitRunning(t, cli, id, 1, 90*time.Second)

	// v2 is built and deployed by its build.
	w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": "v2\n"}, "v2")
	code, v2, stderr := build(t, w)
	if code != 0 || len(v2.Deploys) != 1 || v2.Deploys[0].Status != "converged" {
		t.Fatalf("v2 build exited %d deploys %+v:\n%s", code, v2.Deploys, stderr)
	}
	if img, _ := serviceImage(t, cli, id); !strings.HasSuffix(img, "@"+v2.Digest) {
		t.Fatalf("after v2's build the service runs %s, want @%s", img, v2.Digest)
	}

	// Roll back to v1 by its immutable tag.
	v1Tag := "main-" + v1.Commit[:7]
	code, b, stderr := deployCmd(t, w, "--tag", v1Tag)
	if code != 0 {
		t.Fatalf("slipway deploy --tag %s exited %d:\n%s", v1Tag, code, stderr)
	}
	if b.Status != store.StatusSucceeded || b.Trigger != store.TriggerManual || b.Digest != v1.Digest {
		t.Errorf("deploy result: status %s trigger %s digest %s, want a succeeded manual deploy of %s", b.Status, b.Trigger, b.Digest, v1.Digest)
	}
	for _, s := range b.Stages {
		if s.Name != "deploy" {
			t.Errorf("slipway deploy ran stage %s, want only deploy", s.Name)
		}
	}
	if len(b.Deploys) != 1 || b.Deploys[0].Service != svcName || b.Deploys[0].Status != "converged" {
		t.Errorf("deploys = %+v, want %s converged", b.Deploys, svcName)
	}
	img, version := serviceImage(t, cli, id)
	if !strings.HasPrefix(img, w.Image+":") || !strings.HasSuffix(img, "@"+v1.Digest) {
		t.Errorf("after the rollback the service runs %s, want %s:<tag>@%s", img, w.Image, v1.Digest)
	}
	swarmtest.WaitRunning(t, cli, id, 1, 90*time.Second)
	// A rollback builds and tags nothing: main still names v2.
	if got := w.Digest("main"); got != v2.Digest {
		t.Errorf("main = %s after the rollback, want v2's %s", got, v2.Digest)
	}

	// A tag the registry does not have: a clear error, the service untouched.
	code, _, stderr = deployCmd(t, w, "--tag", "no-such-tag")
	if code == 0 || !strings.Contains(stderr, "no-such-tag") {
		t.Errorf("slipway deploy --tag no-such-tag exited %d, want a failure naming the tag:\n%s", code, stderr)
	}
	if after, v := serviceImage(t, cli, id); after != img || v != version {
		t.Errorf("a failed deploy changed the service: %s (version %d), want %s (version %d)", after, v, img, version)
	}
}
