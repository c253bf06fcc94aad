package pipeline_test

import (
	"bytes"
	"regexp"
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
// reports both updates converged; with stable_for: 30s slipway keeps
// watching, sees the image turn unhealthy at ~15 s (HEALTHCHECK) and, in a
// second image, exit 3 at 15 s, rolls the service back to the previous
// digest and fails the build with the reason. (15 s, well past the
// monitor's 5 s: a loaded swarm may call the update completed seconds
// late, and it must have done so before the failure.)
func TestStableForRollsBackLateFailures(t *testing.T) {
	cli := swarmtest.Manager(t)
	stack, svcName, w := swarmWorld(t, fixture.Options{}, ", stable_for: 30s")
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
		// reason matches the rollback's reason; the time a task ran is
		// the engine's, later than 15s on a loaded machine.
		reason *regexp.Regexp
	}{
		{"unhealthy at 15s", dockerfile + "CMD [\"-sleep\", \"1h\"]\nHEALTHCHECK --interval=1s --timeout=3s --retries=1 CMD [\"/app\", \"-healthy-for\", \"15s\"]\n",
			regexp.MustCompile(`unhealthy: unhealthy on purpose after`)},
		{"exits 3 at 15s", dockerfile + "CMD [\"-exit-after\", \"15s\", \"3\"]\n", regexp.MustCompile(`exited 3 at (1[5-9]|2[0-9])s`)},
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
		if !tc.reason.MatchString(b.Deploys[0].Error) {
			t.Errorf("%s: rollback reason %q, want it to match %q", tc.name, b.Deploys[0].Error, tc.reason)
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
