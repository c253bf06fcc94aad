package deploy_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/testenv"
)

// testTimeout bounds one rollout in the tests; a converging single-node
// update takes a few seconds with the 1s monitor of swarmtest.Spec.
const testTimeout = 90 * time.Second

// connectLocal connects a Target to the local engine.
func connectLocal(t *testing.T, cli *client.Client) *deploy.Target {
	t.Helper()
	target, err := deploy.Connect(t.Context(), "local", config.DeployTarget{Hosts: []string{cli.DaemonHost()}})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { target.Close() })
	return target
}

// logBuffer collects a rollout's log lines safely for -race.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func inspect(t *testing.T, cli *client.Client, id string) swarm.Service {
	t.Helper()
	svc, _, err := cli.ServiceInspectWithRaw(context.Background(), id, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatalf("inspect service %s: %v", id, err)
	}
	return svc
}

// runningImages returns the spec images of the service's tasks that run
// and are wanted running.
func runningImages(t *testing.T, cli *client.Client, id string) []string {
	t.Helper()
	tasks, err := cli.TaskList(context.Background(), swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatalf("list tasks: %v", err)
	}
	var images []string
	for _, task := range tasks {
		if task.Status.State == swarm.TaskStateRunning {
			images = append(images, task.Spec.ContainerSpec.Image)
		}
	}
	return images
}

// pinnedTo reports whether a spec image is pinned to img's digest.
func pinnedTo(image string, img deploy.Image) bool {
	return strings.HasSuffix(image, "@"+img.Digest)
}

func TestRollout(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	images := swarmtest.PushImages(t, cli)
	target := connectLocal(t, cli)

	// newService creates a running service of v1 in stack.
	newService := func(t *testing.T, stack string, replicas uint64, mutate func(*swarm.ServiceSpec)) (id, name string) {
		t.Helper()
		name = testenv.Name(t, "svc")
		spec := swarmtest.Spec(name, images.V1.Ref(), replicas, map[string]string{swarmtest.StackLabel: stack})
		if mutate != nil {
			mutate(&spec)
		}
		id = swarmtest.CreateService(t, cli, spec, images.Auth)
		swarmtest.WaitRunning(t, cli, id, int(replicas), testTimeout)
		return id, name
	}

	// failsLate gives a service whose new task fails at once a monitor
	// long enough for the swarm to hear of the failure: on a loaded
	// machine the task's exit may be reported seconds after it ran, past
	// the 1s monitor, and the update would be called completed.
	failsLate := func(s *swarm.ServiceSpec) { s.UpdateConfig.Monitor = 10 * time.Second }

	t.Run("converges on the new digest and leaves other stacks alone", func(t *testing.T) {
		t.Parallel()
		stack := testenv.Name(t, "stack")
		id, name := newService(t, stack, 2, nil)
		otherID, _ := newService(t, testenv.Name(t, "other"), 1, nil)
		otherBefore := inspect(t, cli, otherID)

		names, err := target.Services(t.Context(), stack, nil, images.Repo)
		if err != nil {
			t.Fatalf("Services: %v", err)
		}
		if got, want := strings.Join(names, ","), name; got != want {
			t.Fatalf("Services found %q, want %q", got, want)
		}
		var log logBuffer
		start := time.Now()
		res := target.Rollout(t.Context(), names[0], images.V2, deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: images.Auth, Log: &log})
		t.Logf("rollout took %s; log:\n%s", time.Since(start), log.String())
		if res.Status != deploy.StatusConverged || res.Error != "" {
			t.Fatalf("Rollout = %+v, want converged", res)
		}
		svc := inspect(t, cli, id)
		if got := svc.Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, images.V2) {
			t.Errorf("spec image %q, want pinned to %s", got, images.V2.Digest)
		}
		imgs := runningImages(t, cli, id)
		if len(imgs) != 2 {
			t.Errorf("running tasks' images %q, want 2 tasks", imgs)
		}
		for _, img := range imgs {
			if !pinnedTo(img, images.V2) {
				t.Errorf("a running task runs %q, want %s", img, images.V2.Digest)
			}
		}
		if got, want := inspect(t, cli, otherID).Version, otherBefore.Version; got != want {
			t.Errorf("the other stack's service changed: version %v, want %v", got, want)
		}
		if strings.Contains(log.String(), images.Password) || strings.Contains(res.Error, images.Password) {
			t.Error("the registry password reached the log or the result")
		}
	})

	t.Run("a failing image is rolled back and v1 keeps running", func(t *testing.T) {
		t.Parallel()
		id, name := newService(t, testenv.Name(t, "stack"), 1, failsLate)
		before := inspect(t, cli, id)
		var log logBuffer
		res := target.Rollout(t.Context(), name, images.Bad, deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: images.Auth, Log: &log})
		t.Logf("log:\n%s", log.String())
		if res.Status != deploy.StatusRolledBack || res.Error == "" {
			t.Fatalf("Rollout = %+v, want rolled_back with a reason", res)
		}
		if !strings.Contains(res.Error, "paused") {
			t.Errorf("reason %q does not say the update paused", res.Error)
		}
		svc := inspect(t, cli, id)
		if got, want := svc.Spec.TaskTemplate.ContainerSpec.Image, before.Spec.TaskTemplate.ContainerSpec.Image; got != want {
			t.Errorf("spec image after rollback %q, want v1's %q", got, want)
		}
		swarmtest.WaitRunning(t, cli, id, 1, testTimeout)
		if strings.Contains(log.String(), images.Password) || strings.Contains(res.Error, images.Password) {
			t.Error("the registry password reached the log or the result")
		}
	})

	t.Run("an update whose task fails because of the engine is made again", func(t *testing.T) {
		t.Parallel()
		once := images.Push(t, "once", "once", "fail-once")
		mark := t.TempDir()
		id, name := newService(t, testenv.Name(t, "stack"), 1, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: mark, Target: "/mark"}}
			failsLate(s)
		})
		var log logBuffer
		// The engine's own faults cannot be caused at will: the first
		// task's exit stands for one here.
		opts := deploy.WithEngineFaults(deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: images.Auth, Log: &log}, "non-zero exit (1)")
		res := target.Rollout(t.Context(), name, once, opts)
		t.Logf("log:\n%s", log.String())
		if res.Status != deploy.StatusConverged || res.Error != "" {
			t.Fatalf("Rollout = %+v, want converged on the second try", res)
		}
		if !strings.Contains(log.String(), "retry 1 of 2") || strings.Contains(log.String(), "retry 2 of 2") {
			t.Errorf("log does not say the update was made again once")
		}
		if !pinnedTo(res.Previous, images.V1) {
			t.Errorf("Previous %q, want v1 (what ran before the deploy)", res.Previous)
		}
		if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, once) {
			t.Errorf("spec image %q, want pinned to the new image", got)
		}
		for _, img := range runningImages(t, cli, id) {
			if !pinnedTo(img, once) {
				t.Errorf("a running task runs %q, want the new image", img)
			}
		}
	})

	t.Run("an engine fault that does not go away is rolled back after two retries", func(t *testing.T) {
		t.Parallel()
		id, name := newService(t, testenv.Name(t, "stack"), 1, failsLate)
		var log logBuffer
		opts := deploy.WithEngineFaults(deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: images.Auth, Log: &log}, "non-zero exit (1)")
		res := target.Rollout(t.Context(), name, images.Bad, opts)
		t.Logf("log:\n%s", log.String())
		if res.Status != deploy.StatusRolledBack || !strings.Contains(res.Error, "non-zero exit (1)") {
			t.Fatalf("Rollout = %+v, want rolled_back naming the task's failure", res)
		}
		if got := strings.Count(log.String(), "rolled back\n"); got != 3 || !strings.Contains(log.String(), "retry 2 of 2") {
			t.Errorf("log has %d rollbacks, want 3 (the update and two retries)", got)
		}
		if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, images.V1) {
			t.Errorf("spec image %q, want back on v1", got)
		}
		swarmtest.WaitRunning(t, cli, id, 1, testTimeout)
	})

	t.Run("a failing image without rollback is a failure", func(t *testing.T) {
		t.Parallel()
		id, name := newService(t, testenv.Name(t, "stack"), 1, failsLate)
		res := target.Rollout(t.Context(), name, images.Bad, deploy.RolloutOptions{Timeout: testTimeout, Rollback: false})
		if res.Status != deploy.StatusFailed || res.Error == "" {
			t.Fatalf("Rollout = %+v, want failed with a reason", res)
		}
		if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, images.Bad) {
			t.Errorf("spec image %q, want left on the bad image (no rollback)", got)
		}
	})

	t.Run("the service's own failure_action rollback is never success", func(t *testing.T) {
		t.Parallel()
		id, name := newService(t, testenv.Name(t, "stack"), 1, func(s *swarm.ServiceSpec) {
			s.UpdateConfig.FailureAction = swarm.UpdateFailureActionRollback
			failsLate(s)
		})
		var log logBuffer
		res := target.Rollout(t.Context(), name, images.Bad, deploy.RolloutOptions{Timeout: testTimeout, Rollback: false, Log: &log})
		t.Logf("log:\n%s", log.String())
		if res.Status != deploy.StatusRolledBack || res.Error == "" {
			t.Fatalf("Rollout = %+v, want rolled_back with a reason", res)
		}
		if !strings.Contains(res.Error, "rolled") || !strings.Contains(res.Error, "non-zero exit (1)") {
			t.Errorf("reason %q does not give the swarm's reason and the task's failure", res.Error)
		}
		if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, images.V1) {
			t.Errorf("spec image %q, want back on v1", got)
		}
		swarmtest.WaitRunning(t, cli, id, 1, testTimeout)
	})

	t.Run("an update that outlives the timeout is rolled back", func(t *testing.T) {
		t.Parallel()
		// The swarm watches each new task for an hour before it calls the
		// update completed: the deploy's 3s run out first.
		id, name := newService(t, testenv.Name(t, "stack"), 1, func(s *swarm.ServiceSpec) {
			s.UpdateConfig.Monitor = time.Hour
		})
		res := target.Rollout(t.Context(), name, images.V2, deploy.RolloutOptions{Timeout: 3 * time.Second, RollbackTimeout: testTimeout, Rollback: true})
		if res.Status != deploy.StatusRolledBack || !strings.Contains(res.Error, "did not converge within 3s") {
			t.Fatalf("Rollout = %+v, want rolled_back after the timeout", res)
		}
		if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, images.V1) {
			t.Errorf("spec image %q, want back on v1", got)
		}
	})

	t.Run("a service already at the digest is unchanged", func(t *testing.T) {
		t.Parallel()
		name := testenv.Name(t, "svc")
		id := swarmtest.CreateService(t, cli, swarmtest.Spec(name, images.V2.Ref(), 1, nil), images.Auth)
		swarmtest.WaitRunning(t, cli, id, 1, testTimeout)
		before := inspect(t, cli, id)
		// Another tag of the same digest is the same image.
		img := images.V2
		img.Tag = "another-tag"
		res := target.Rollout(t.Context(), name, img, deploy.RolloutOptions{Timeout: testTimeout, Rollback: true})
		if res.Status != deploy.StatusUnchanged || res.Error != "" {
			t.Fatalf("Rollout = %+v, want unchanged", res)
		}
		if got, want := inspect(t, cli, id).Version, before.Version; got != want {
			t.Errorf("service version %v, want %v (untouched)", got, want)
		}
	})

	t.Run("a service with 0 replicas converges at once", func(t *testing.T) {
		t.Parallel()
		name := testenv.Name(t, "svc")
		id := swarmtest.CreateService(t, cli, swarmtest.Spec(name, images.V1.Ref(), 0, nil), images.Auth)
		start := time.Now()
		res := target.Rollout(t.Context(), name, images.V2, deploy.RolloutOptions{Timeout: testTimeout, Rollback: true})
		if res.Status != deploy.StatusConverged {
			t.Fatalf("Rollout = %+v, want converged", res)
		}
		// About a poll: far below the timeout it would wait out if it
		// watched for tasks (with room for a loaded engine's API calls).
		if took := time.Since(start); took > testTimeout/2 {
			t.Errorf("Rollout of a 0-replica service took %s, want about a poll, not its %s timeout", took, testTimeout)
		}
		if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, images.V2) {
			t.Errorf("spec image %q, want pinned to v2", got)
		}
	})

	t.Run("a service whose tasks cannot run does not hang the deploy", func(t *testing.T) {
		t.Parallel()
		name := testenv.Name(t, "svc")
		spec := swarmtest.Spec(name, images.V1.Ref(), 1, nil)
		spec.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.labels.slipway-test-nowhere==1"}}
		swarmtest.CreateService(t, cli, spec, images.Auth)
		start := time.Now()
		// 10s each: the swarm's scheduler reports "no suitable node" in
		// time on a loaded machine too.
		res := target.Rollout(t.Context(), name, images.V2, deploy.RolloutOptions{Timeout: 10 * time.Second, RollbackTimeout: 10 * time.Second, Rollback: true})
		if res.Succeeded() || !strings.Contains(res.Error, "no suitable node") {
			t.Errorf("Rollout = %+v, want a failure naming the scheduling problem", res)
		}
		if took := time.Since(start); took > 60*time.Second {
			t.Errorf("Rollout took %s, want about its two 10s timeouts", took)
		}
	})

	t.Run("credentials reach the agents", func(t *testing.T) {
		t.Parallel()
		// An image only the registry has: the agent must pull it with the
		// credentials the rollout forwards (the service has none).
		private := images.Push(t, "private", "private", "serve")
		images.RemoveLocal(t, private)
		name := testenv.Name(t, "svc")
		id := swarmtest.CreateService(t, cli, swarmtest.Spec(name, images.V1.Ref(), 1, nil), "")
		swarmtest.WaitRunning(t, cli, id, 1, testTimeout)
		res := target.Rollout(t.Context(), name, private, deploy.RolloutOptions{Timeout: testTimeout, Rollback: true, RegistryAuth: images.Auth})
		if res.Status != deploy.StatusConverged {
			t.Fatalf("Rollout = %+v, want converged", res)
		}
		for _, img := range runningImages(t, cli, id) {
			if !pinnedTo(img, private) {
				t.Errorf("a running task runs %q, want %s", img, private.Digest)
			}
		}
	})

	t.Run("concurrent rollouts of one image both converge", func(t *testing.T) {
		t.Parallel()
		id, name := newService(t, testenv.Name(t, "stack"), 1, nil)
		results := make([]deploy.Result, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				results[i] = target.Rollout(t.Context(), name, images.V2, deploy.RolloutOptions{Timeout: testTimeout, Rollback: true})
			})
		}
		wg.Wait()
		for i, res := range results {
			if !res.Succeeded() {
				t.Errorf("rollout %d = %+v, want converged or unchanged", i, res)
			}
		}
		if got := inspect(t, cli, id).Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(got, images.V2) {
			t.Errorf("spec image %q, want pinned to v2", got)
		}
	})
}

func TestServices(t *testing.T) {
	t.Parallel()
	cli := swarmtest.Manager(t)
	images := swarmtest.NewRegistry(t, cli)
	v1 := images.Push(t, "v1", "v1", "serve")
	target := connectLocal(t, cli)
	stack := testenv.Name(t, "stack")
	create := func(name, stack, image string) {
		swarmtest.CreateService(t, cli, swarmtest.Spec(name, image, 0, map[string]string{swarmtest.StackLabel: stack}), "")
	}
	create(stack+"_web", stack, v1.Ref())
	create(stack+"_api", stack, v1.Repo+":other-tag")
	create(stack+"_cache", stack, images.Host+"/something/else:1")
	other := testenv.Name(t, "other")
	create(other+"_web", other, v1.Ref())

	tests := []struct {
		name     string
		stack    string
		services []string
		want     string
		wantErr  string
	}{
		{name: "discovered by stack and repository", stack: stack, want: stack + "_api," + stack + "_web"},
		{name: "named in full", stack: stack, services: []string{stack + "_cache"}, want: stack + "_cache"},
		{name: "named short within the stack", stack: stack, services: []string{"web"}, want: stack + "_web"},
		{name: "named without a stack", services: []string{other + "_web"}, want: other + "_web"},
		{name: "missing", stack: stack, services: []string{"nope"}, wantErr: `service "nope" not found`},
		{name: "of another stack", stack: stack, services: []string{other + "_web"}, wantErr: "belongs to stack"},
		{name: "stack without the image", stack: other + "-none", wantErr: "has no services"},
		{name: "neither", wantErr: "names neither services nor a stack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := target.Services(t.Context(), tt.stack, tt.services, v1.Repo)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Services error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Services: %v", err)
			}
			if g := strings.Join(got, ","); g != tt.want {
				t.Errorf("Services = %q, want %q", g, tt.want)
			}
		})
	}
}
