package pipeline_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
)

// TestRebuildOfAnUnchangedCommitKeepsItsDigest builds one commit twice with
// each builder: the image is stamped with the commit's time (the created
// label, SOURCE_DATE_EPOCH for a Dockerfile that declares it), so the second
// build gives the same digest, moves no tag, and its deploy finds the
// service already at that digest and restarts nothing.
func TestRebuildOfAnUnchangedCommitKeepsItsDigest(t *testing.T) {
	cli := swarmtest.Manager(t)
	for _, mode := range []string{"classic", "buildkit"} {
		t.Run(mode, func(t *testing.T) {
			stack := testenv.Name(t, "stk")
			svcName := stack + "_app"
			w := fixture.New(t, fixture.Options{
				Extra: fmt.Sprintf("builder: %s\ndeploy_targets:\n  local:\n    hosts: [\"unix:///var/run/docker.sock\"]\n", mode),
				ProjectExtra: fmt.Sprintf(`    deploy:
      - {target: local, stack: %q, services: [%q], on: ["branch:main"], deploy_timeout: 90s}
`, stack, svcName),
			})
			head := w.Repo.Commit(t, "main", map[string]string{
				"Dockerfile": "FROM scratch\nARG SOURCE_DATE_EPOCH\nCOPY app /app\nCOPY ctx/ /ctx/\nLABEL io.slipway.test.epoch=$SOURCE_DATE_EPOCH\nENTRYPOINT [\"/app\"]\n",
			}, "declare SOURCE_DATE_EPOCH")
			epoch, err := strconv.ParseInt(strings.TrimSpace(w.Repo.Git(t, "show", "-s", "--format=%ct", head)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			svc := openService(t, w)

			first := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main", NoDeploy: true})
			img, err := w.Docker.ImageInspect(t.Context(), w.Image+":main")
			if err != nil {
				t.Fatal(err)
			}
			for label, want := range map[string]string{
				"org.opencontainers.image.created": time.Unix(epoch, 0).UTC().Format(time.RFC3339),
				"io.slipway.test.epoch":            strconv.FormatInt(epoch, 10),
			} {
				if got := img.Config.Labels[label]; got != want {
					t.Errorf("label %s = %q, want the commit's time %q", label, got, want)
				}
			}

			spec := swarmtest.Spec(svcName, w.Image+":main@"+first.Digest, 1, map[string]string{"com.docker.stack.namespace": stack})
			spec.TaskTemplate.ContainerSpec.Args = []string{"-sleep", "1h"}
			id := swarmtest.CreateService(t, cli, spec, "")
			swarmtest.WaitRunning(t, cli, id, 1, 90*time.Second)
			before, _, err := cli.ServiceInspectWithRaw(t.Context(), id, swarm.ServiceInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}

			second := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main"})
			if second.Digest != first.Digest {
				t.Fatalf("the second build of %s has digest %s, want the first's %s", head[:7], second.Digest, first.Digest)
			}
			checkDigests(t, w, map[string]string{"main": first.Digest, "latest": first.Digest, "main-" + head[:7]: first.Digest})
			if len(second.Deploys) != 1 || second.Deploys[0].Status != pipeline.DeployConverged {
				t.Fatalf("deploys = %+v, want %s converged", second.Deploys, svcName)
			}
			after, _, err := cli.ServiceInspectWithRaw(t.Context(), id, swarm.ServiceInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after.Version.Index != before.Version.Index {
				t.Errorf("the service was updated (version %d → %d, image %s): the deploy restarted it", before.Version.Index, after.Version.Index, after.Spec.TaskTemplate.ContainerSpec.Image)
			}
		})
	}
}
