package pipeline_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestPushBuildRollsOutToSwarm: a service of the registry's v1 image is
// updated by a build of a new commit of main to the new digest, pinned,
// through a branch:main binding that a build of another branch does not
// match; a
// service of another stack running the same image is left alone; a build
// whose image fails to start is rolled back and reported so.
func TestPushBuildRollsOutToSwarm(t *testing.T) {
	cli := swarmtest.Manager(t)
	// v3's image has ENTRYPOINT ["/app", "-fail"] for the service; its
	// test stage names the program itself and passes.
	stack, svcName, w := swarmWorld(t, fixture.Options{TestEntrypoint: []string{"/app"}}, "")
	other := testenv.Name(t, "other")
	svc := openService(t, w)

	// v1: built and pushed with --no-deploy, then run as two services.
	var log bytes.Buffer
	v1, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "main", NoDeploy: true}, &log)
	if err != nil {
		t.Fatalf("v1 build: %v\n%s", err, log.String())
	}
	v1Ref := w.Image + ":main@" + v1.Digest
	app := swarmtest.Spec(svcName, v1Ref, 1, map[string]string{"com.docker.stack.namespace": stack})
	app.TaskTemplate.ContainerSpec.Args = []string{"-sleep", "1h"}
	appID := swarmtest.CreateService(t, cli, app, "")
	bystander := swarmtest.Spec(other+"_app", v1Ref, 1, map[string]string{"com.docker.stack.namespace": other})
	bystander.TaskTemplate.ContainerSpec.Args = []string{"-sleep", "1h"}
	otherID := swarmtest.CreateService(t, cli, bystander, "")
	swarmtest.WaitRunning(t, cli, appID, 1, 90*time.Second)
	swarmtest.WaitRunning(t, cli, otherID, 1, 90*time.Second)
	otherBefore, _, err := cli.ServiceInspectWithRaw(t.Context(), otherID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A build of another branch does not match the branch:main binding:
	// it pushes and deploys nothing.
	w.Repo.Commit(t, "feature", map[string]string{"ctx/kept.txt": "feature\n"}, "feature")
	log.Reset()
	feature, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "feature"}, &log)
	if err != nil || feature.Status != store.StatusSucceeded {
		t.Fatalf("feature build: %s %v\n%s", feature.Status, err, log.String())
	}
	if len(feature.Deploys) != 0 {
		t.Errorf("the build of branch feature deployed %+v, want nothing (binding branch:main)", feature.Deploys)
	}
	if unchanged, _, err := cli.ServiceInspectWithRaw(t.Context(), appID, swarm.ServiceInspectOptions{}); err != nil {
		t.Fatal(err)
	} else if img := unchanged.Spec.TaskTemplate.ContainerSpec.Image; img != v1Ref {
		t.Errorf("after the feature build the service runs %s, want still %s", img, v1Ref)
	}

	// v2: a new commit of main; its build deploys through branch:main.
	w.Repo.Commit(t, "main", map[string]string{"ctx/kept.txt": "v2\n"}, "v2")
	log.Reset()
	v2, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "main"}, &log)
	if err != nil || v2.Status != store.StatusSucceeded {
		t.Fatalf("v2 build: %s %v\n%s", v2.Status, err, log.String())
	}
	if len(v2.Deploys) != 1 || v2.Deploys[0].Status != pipeline.DeployConverged || v2.Deploys[0].Service != svcName {
		t.Fatalf("deploys = %+v, want %s converged", v2.Deploys, svcName)
	}
	got, _, err := cli.ServiceInspectWithRaw(t.Context(), appID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := got.Spec.TaskTemplate.ContainerSpec.Image
	if !strings.HasPrefix(img, w.Image+":") || !strings.HasSuffix(img, "@"+v2.Digest) {
		t.Errorf("service image = %s, want %s:<tag>@%s", img, w.Image, v2.Digest)
	}
	if args := got.Spec.TaskTemplate.ContainerSpec.Args; strings.Join(args, " ") != "-sleep 1h" {
		t.Errorf("service args changed to %v", args)
	}
	tasks, err := cli.TaskList(t.Context(), swarm.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("service", appID), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || tasks[0].Status.State != swarm.TaskStateRunning || tasks[0].Spec.ContainerSpec.Image != img {
		t.Errorf("running tasks = %+v, want one running %s", tasks, img)
	}
	otherAfter, _, err := cli.ServiceInspectWithRaw(t.Context(), otherID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if otherAfter.Version.Index != otherBefore.Version.Index {
		t.Errorf("the service of stack %s was touched: version %d → %d", other, otherBefore.Version.Index, otherAfter.Version.Index)
	}

	// A commit whose image cannot run the service's command: rolled back
	// to v2, the build fails its deploy, the image stays pushed.
	w.Repo.Commit(t, "main", map[string]string{
		"Dockerfile": "FROM scratch\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\", \"-fail\"]\n",
	}, "v3 exits at once")
	log.Reset()
	v3, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "main"}, &log)
	if err == nil || v3.Status != store.StatusFailed {
		t.Fatalf("v3 build: status %s err %v, want a failed deploy\n%s", v3.Status, err, log.String())
	}
	if v3.Digest == "" || w.Digest("main") != v3.Digest {
		t.Errorf("v3's image is not reported pushed: digest %q, registry main %q", v3.Digest, w.Digest("main"))
	}
	if len(v3.Deploys) != 1 || v3.Deploys[0].Status != pipeline.DeployRolledBack || v3.Deploys[0].Error == "" {
		t.Fatalf("v3 deploys = %+v, want rolled_back with a reason", v3.Deploys)
	}
	back, _, err := cli.ServiceInspectWithRaw(t.Context(), appID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Spec.TaskTemplate.ContainerSpec.Image != img {
		t.Errorf("after the rollback the service runs %s, want v2's %s", back.Spec.TaskTemplate.ContainerSpec.Image, img)
	}
	swarmtest.WaitRunning(t, cli, appID, 1, 90*time.Second)
}

// swarmWorld is a fixture world whose project deploys main to the service
// stack_app of a new stack on the local swarm (deploy_timeout 90s, more
// binding keys in extra, such as ", stable_for: 15s", where {service}
// stands for the service's name); the deploy target
// is added to o's Extra, ProjectExtra is set here.
func swarmWorld(t *testing.T, o fixture.Options, extra string) (stack, service string, w *fixture.World) {
	t.Helper()
	stack = testenv.Name(t, "stk")
	service = stack + "_app"
	o.Extra = `deploy_targets:
  local:
    hosts: ["unix:///var/run/docker.sock"]
` + o.Extra
	o.ProjectExtra = fmt.Sprintf(`    deploy:
      - {target: local, stack: %q, services: [%q], on: ["branch:main"], deploy_timeout: 90s%s}
`, stack, service, strings.ReplaceAll(extra, "{service}", service))
	return stack, service, fixture.New(t, o)
}
