package packaging

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/internal/testenv"
)

// stackConfig is the slipway.yaml the stack test delivers as a Docker
// config: the example of deploy/stack.yml's header, with only the webhook
// secret, through its *_file key under /run/secrets/.
const stackConfig = `listen: ":8080"
data_dir: /data
github:
  webhook_secret_file: /run/secrets/github_webhook_secret
deploy_targets:
  local: {hosts: ["unix:///var/run/docker.sock"]}
projects:
  - name: hello
    repo: https://git.invalid/hello.git
    image: registry.invalid/hello
`

// engineFault is the task error of moby/moby#48783: an engine under memory
// pressure fails to remount a task's secrets tmpfs read-only. The same
// task started again runs (deploy's rollouts count it the same way).
const engineFault = "unable to remount dir as readonly"

// deployStack deploys deploy/stack.yml with image ref as `docker stack
// deploy` does and waits until the service's task reports healthy and
// slipway inside reaches the engine through the mounted socket (/readyz).
// The engine becomes a single-node swarm manager first when it is not one.
func deployStack(t *testing.T, docker *client.Client, ref string) {
	t.Helper()
	ctx := t.Context()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker CLI is needed for docker stack deploy: %v", err)
	}
	info, err := docker.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Swarm.ControlAvailable {
		if info.Swarm.LocalNodeState != swarm.LocalNodeStateInactive {
			t.Fatalf("the engine is a swarm worker (%s), not a manager: cannot deploy a stack", info.Swarm.LocalNodeState)
		}
		if _, err := docker.SwarmInit(ctx, swarm.InitRequest{ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1"}); err != nil {
			t.Fatalf("make the engine a swarm manager: %v", err)
		}
	}

	var st syscall.Stat_t
	if err := syscall.Stat("/var/run/docker.sock", &st); err != nil {
		t.Fatalf("stat the docker socket: %v", err)
	}
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	// Only the webhook secret, as the header says: the others are optional.
	if err := os.WriteFile(filepath.Join(secrets, "github_webhook_secret"), []byte("stack-webhook-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "slipway.yaml")
	if err := os.WriteFile(cfgFile, []byte(stackConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	stack := testenv.Name(t, "slw")
	env := append(os.Environ(),
		"SLIPWAY_IMAGE="+ref,
		"SLIPWAY_PORT="+strconv.Itoa(freePort(t)),
		"DOCKER_GID="+strconv.FormatUint(uint64(st.Gid), 10),
		"SLIPWAY_CONFIG_FILE="+cfgFile,
		"SLIPWAY_SECRETS_DIR="+secrets,
		"SLIPWAY_STACK="+stack,
	)
	stackFilePath, err := filepath.Abs(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	service := stack + "_slipway"
	t.Cleanup(func() { removeStack(t, docker, stack) })
	cmd := exec.CommandContext(ctx, "docker", "stack", "deploy", "--resolve-image", "never", "-c", stackFilePath, stack)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}

	taskContainer := ""
	waitUntil(t, 3*time.Minute, "the stack's slipway task reports healthy", func() (bool, string) {
		tasks, err := docker.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", service))})
		if err != nil {
			return false, err.Error()
		}
		var states []string
		for _, task := range tasks {
			states = append(states, fmt.Sprintf("%s %s %s", task.Status.State, task.Status.Message, task.Status.Err))
			if task.Status.State == swarm.TaskStateFailed || task.Status.State == swarm.TaskStateRejected {
				// The engine's fault, not the stack's: the swarm starts
				// another task (restart policy any).
				if strings.Contains(task.Status.Err, engineFault) {
					continue
				}
				t.Fatalf("task of %s: %s (%s)", service, task.Status.State, task.Status.Err)
			}
			if task.Status.State != swarm.TaskStateRunning || task.Status.ContainerStatus == nil {
				continue
			}
			insp, err := docker.ContainerInspect(ctx, task.Status.ContainerStatus.ContainerID)
			if err != nil || insp.State.Health == nil {
				states = append(states, fmt.Sprint("container: ", err))
				continue
			}
			states = append(states, "health "+insp.State.Health.Status)
			if insp.State.Health.Status == "healthy" {
				taskContainer = insp.ID
				return true, ""
			}
		}
		return false, strings.Join(states, "; ")
	})

	insp, err := docker.ContainerInspect(ctx, taskContainer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(insp.Config.User, "10001:") {
		t.Errorf("the task runs as %q, want the image's user 10001 with the socket's group", insp.Config.User)
	}
	// /readyz pings the engine through the mounted socket: the user and
	// group of the stack file can use it.
	if code, out := execIn(t, docker, taskContainer, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/readyz"); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("/readyz inside the task: exit %d %s", code, out)
	}
	if code, out := execIn(t, docker, taskContainer, "cat", "/run/secrets/github_webhook_secret"); code != 0 || out != "stack-webhook-secret" {
		t.Errorf("the github_webhook_secret secret inside the task: exit %d %q", code, out)
	}
	// Every config and secret of the stack is named after it: a second
	// slipway stack on the swarm makes its own.
	owned := filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+stack))
	secretList, err := docker.SecretList(ctx, swarm.SecretListOptions{Filters: owned})
	if err != nil {
		t.Fatal(err)
	}
	configList, err := docker.ConfigList(ctx, swarm.ConfigListOptions{Filters: owned})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range secretList {
		names = append(names, s.Spec.Name)
	}
	for _, c := range configList {
		names = append(names, c.Spec.Name)
	}
	slices.Sort(names)
	if want := []string{stack + "_github_webhook_secret", stack + "_slipway_yaml_1"}; !slices.Equal(names, want) {
		t.Errorf("the stack's secrets and configs are %v, want %v", names, want)
	}
}

// execIn runs cmd in a container and returns its exit code and output.
func execIn(t *testing.T, docker *client.Client, id string, cmd ...string) (int, string) {
	t.Helper()
	ctx := t.Context()
	ex, err := docker.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: true})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	att, err := docker.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: true})
	if err != nil {
		t.Fatalf("exec %v: attach: %v", cmd, err)
	}
	out, _ := io.ReadAll(att.Reader)
	att.Close()
	var code int
	waitUntil(t, 30*time.Second, fmt.Sprintf("exec %v ends", cmd), func() (bool, string) {
		res, err := docker.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			return false, err.Error()
		}
		code = res.ExitCode
		return !res.Running, "running"
	})
	return code, strings.TrimSpace(string(out))
}

// removeStack removes the stack, then its data volume once no container
// uses it any more.
func removeStack(t *testing.T, docker *client.Client, stack string) {
	out, err := exec.Command("docker", "stack", "rm", stack).CombinedOutput()
	if err != nil {
		t.Logf("docker stack rm %s: %v\n%s", stack, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		cs, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+stack))})
		if err == nil && len(cs) == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	for ctx.Err() == nil {
		err := docker.VolumeRemove(ctx, stack+"_data", true)
		if err == nil || client.IsErrNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Logf("remove volume %s_data: %v", stack, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// freePort returns a TCP port that nothing listens on right now, below the
// kernel's ephemeral range: the stack publishes it through the swarm's
// routing mesh, which takes the host's connections to it (loopback
// included) whoever listens there, and every other test's listener binds
// :0, so gets a port of that range.
func freePort(t *testing.T) int {
	t.Helper()
	first := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				first = n
			}
		}
	}
	const lowest = 10000
	if first <= lowest+100 {
		t.Fatalf("the ephemeral port range starts at %d: no room below it for the stack's published port", first)
	}
	for range 100 {
		port := lowest + rand.IntN(first-lowest)
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatalf("no free port between %d and %d", lowest, first)
	return 0
}
