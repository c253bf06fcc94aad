package deploy_test

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/testenv"
)

// BenchmarkRollout compares Rollout, from the call to converged, with
// `docker service update --image` (which waits for convergence too) for
// the same kind of change on the local swarm: each iteration rolls a
// one-replica service from v1 to v2 with Rollout and back with the CLI.
// Run it with bench/deploy.sh.
func BenchmarkRollout(b *testing.B) {
	cli := swarmtest.Manager(b)
	images := swarmtest.PushImages(b, cli)
	target, err := deploy.Connect(context.Background(), "local", config.DeployTarget{Hosts: []string{cli.DaemonHost()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { target.Close() })
	for _, monitor := range []time.Duration{time.Second, 5 * time.Second} {
		b.Run(fmt.Sprintf("monitor=%s", monitor), func(b *testing.B) {
			name := testenv.Name(b, "bench")
			spec := swarmtest.Spec(name, images.V1.Ref(), 1, nil)
			spec.UpdateConfig.Monitor = monitor
			id := swarmtest.CreateService(b, cli, spec, images.Auth)
			swarmtest.WaitRunning(b, cli, id, 1, time.Minute)
			var slipway, docker time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				res := target.Rollout(context.Background(), name, images.V2, deploy.RolloutOptions{Timeout: time.Minute})
				slipway += time.Since(start)
				if res.Status != deploy.StatusConverged {
					b.Fatalf("Rollout = %+v", res)
				}
				start = time.Now()
				out, err := exec.Command("docker", "-H", cli.DaemonHost(), "service", "update", "--detach=false", "--quiet", "--image", images.V1.Ref(), name).CombinedOutput()
				docker += time.Since(start)
				if err != nil {
					b.Fatalf("docker service update: %v\n%s", err, out)
				}
			}
			b.ReportMetric(slipway.Seconds()/float64(b.N), "rollout-s/op")
			b.ReportMetric(docker.Seconds()/float64(b.N), "cli-s/op")
		})
	}
}
