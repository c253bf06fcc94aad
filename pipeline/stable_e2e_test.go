package pipeline_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

// TestStableForRollsBackLateFailures: with a 5 s update monitor the swarm
// reports both updates converged; with stable_for: 15s slipway keeps
// watching, sees the image turn unhealthy at ~8 s (HEALTHCHECK) and, in a
// second image, exit 3 at 8 s, rolls the service back to the previous
// digest and fails the build with the reason.
func TestStableForRollsBackLateFailures(t *testing.T) {
	cli := swarmtest.Manager(t)
	stack, svcName, w := swarmWorld(t, fixture.Options{}, ", stable_for: 15s")
	const dockerfile = "FROM scratch\nCOPY app /app\nCOPY ctx/ /ctx/\nENTRYPOINT [\"/app\"]\n"
	w.Repo.Commit(t, "main", map[string]string{"Dockerfile": dockerfile + "CMD [\"-sleep\", \"1h\"]\n"}, "v1")
	svc := openService(t, w)
	v1 := buildOK(t, svc, pipeline.BuildRequest{Project: "fixture", Ref: "main", NoDeploy: true})
	v1Ref := w.Image + ":main@" + v1.Digest
	spec := swarmtest.Spec(svcName, v1Ref, 1, map[string]string{swarmtest.StackLabel: stack})
	spec.UpdateConfig.Monitor = 5 * time.Second
	appID := swarmtest.CreateService(t, cli, spec, "")
	swarmtest.WaitRunning(t, cli, appID, 1, 90*time.Second)

	for _, tc := range []struct {
		name, dockerfile string
		reason           []string
	}{
		{"unhealthy at 8s", dockerfile + "CMD [\"-sleep\", \"1h\"]\nHEALTHCHECK --interval=1s --timeout=3s --retries=1 CMD [\"/app\", \"-healthy-for\", \"8s\"]\n",
			[]string{"unhealthy: unhealthy on purpose after"}},
		{"exits 3 at 8s", dockerfile + "CMD [\"-exit-after\", \"8s\", \"3\"]\n", []string{"exited 3 at 8s"}},
	} {
		w.Repo.Commit(t, "main", map[string]string{"Dockerfile": tc.dockerfile}, tc.name)
		var log bytes.Buffer
		b, err := svc.BuildNow(t.Context(), pipeline.BuildRequest{Project: "fixture", Ref: "main"}, &log)
		if err == nil || b.Status != store.StatusFailed {
			t.Fatalf("%s: build status %s err %v, want failed\n%s", tc.name, b.Status, err, log.String())
		}
		if len(b.Deploys) != 1 || b.Deploys[0].Status != pipeline.DeployRolledBack {
			t.Fatalf("%s: deploys = %+v, want rolled_back\n%s", tc.name, b.Deploys, log.String())
		}
		t.Logf("%s: %s", tc.name, b.Deploys[0].Error)
		for _, want := range tc.reason {
			if !strings.Contains(b.Deploys[0].Error, want) {
				t.Errorf("%s: rollback reason %q, want it to contain %q", tc.name, b.Deploys[0].Error, want)
			}
		}
		if !strings.Contains(log.String(), "stable_for") {
			t.Errorf("%s: the build log does not tell about the stable_for watch:\n%s", tc.name, log.String())
		}
		got, _, err := cli.ServiceInspectWithRaw(t.Context(), appID, swarm.ServiceInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := got.Spec.TaskTemplate.ContainerSpec.Image; img != v1Ref {
			t.Errorf("%s: after the rollback the service runs %s, want v1's %s", tc.name, img, v1Ref)
		}
		swarmtest.WaitRunning(t, cli, appID, 1, 90*time.Second)
	}
}
