// Package swarmtest gives tests a swarm to deploy to: the local engine made
// a single-node swarm manager, small FROM scratch images pushed to a
// loopback registry, and services and stacks removed when the test ends.
//
// The swarm is shared: Manager initialises it when the engine is not in
// swarm mode and leaves it initialised, because the tests of several
// packages run against the same engine at once and leaving the swarm would
// remove the services of the others. Everything a test creates carries a
// unique name (testenv.Name) and is removed by t.Cleanup.
package swarmtest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/internal/testenv"
)

// StackLabel is the label of a stack's services, networks, secrets and
// configs.
const StackLabel = "com.docker.stack.namespace"

// Manager returns a client of the local engine (testenv.Docker), first
// making the engine a single-node swarm manager (advertise and listen on
// 127.0.0.1) when it is in no swarm. The swarm is left initialised when the
// test ends (see the package comment). An engine that is a worker, locked
// or in an error state fails the test.
func Manager(t testing.TB) *client.Client {
	t.Helper()
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := cli.Info(ctx)
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	if info.Swarm.LocalNodeState == swarm.LocalNodeStateInactive {
		_, err := cli.SwarmInit(ctx, swarm.InitRequest{ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1"})
		// Another package's test may have initialised it meanwhile.
		if err != nil && !strings.Contains(err.Error(), "already part of a swarm") {
			t.Fatalf("swarm init: %v", err)
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err = cli.Info(ctx)
		if err != nil {
			t.Fatalf("docker info: %v", err)
		}
		s := info.Swarm
		if s.LocalNodeState == swarm.LocalNodeStateActive && s.ControlAvailable {
			return cli
		}
		switch s.LocalNodeState {
		case swarm.LocalNodeStateLocked, swarm.LocalNodeStateError:
			t.Fatalf("the engine's swarm is %s (%s): unlock or repair it (`docker swarm leave --force` if nothing else uses it)", s.LocalNodeState, s.Error)
		case swarm.LocalNodeStateActive:
			t.Fatal("the engine is a swarm worker: deploy tests need a manager")
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the engine did not become a swarm manager within 60s (state %q)", s.LocalNodeState)
		case <-tick.C:
		}
	}
}

// app is the program of the test images: `serve` prints its variant and
// waits for SIGTERM (exiting at once, so updates do not wait out a stop
// grace period); `fail` exits 1 at once; `fail-once` exits 1 in the first
// task that mounts a host directory at /mark and serves in later ones;
// `http-NNN` serves HTTP on :8080, answering status NNN and its variant to
// every request, until SIGTERM.
const app = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fail" {
		fmt.Println("failing on purpose")
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "fail-once" {
		// The first task fails, later ones serve: the mark is kept in
		// /mark, a directory the service mounts from the host.
		if _, err := os.Stat("/mark/started"); err != nil {
			os.WriteFile("/mark/started", nil, 0o644)
			fmt.Println("failing once on purpose")
			os.Exit(1)
		}
	}
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "http-") {
		code, _ := strconv.Atoi(strings.TrimPrefix(os.Args[1], "http-"))
		go func() {
			err := http.ListenAndServe(":8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
				fmt.Fprintln(w, "variant", os.Getenv("VARIANT"), "answers", code)
			}))
			fmt.Println(err)
			os.Exit(1)
		}()
	}
	fmt.Println("serving", os.Getenv("VARIANT"))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
}
`

// Registry is a loopback registry with basic auth and the app binary, for
// pushing test images.
type Registry struct {
	*testenv.Registry
	// Username and Password are the registry's credentials.
	Username, Password string
	// Auth is the encoded X-Registry-Auth of the credentials.
	Auth string
	// Repo is a repository unique to the test on the registry.
	Repo string

	cli    *client.Client
	binary []byte
}

// NewRegistry starts a registry with basic auth and builds the app binary.
func NewRegistry(t testing.TB, cli *client.Client) *Registry {
	t.Helper()
	r := &Registry{cli: cli, Username: "deployer", Password: "pw-" + testenv.Name(t, "secret")}
	r.Registry = testenv.StartRegistry(t, testenv.RegistryOptions{Username: r.Username, Password: r.Password})
	// Registered before any service of the test: runs after they are gone.
	t.Cleanup(func() { r.removeImages(t) })
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: r.Username, Password: r.Password, ServerAddress: r.Host})
	if err != nil {
		t.Fatal(err)
	}
	r.Auth = auth
	r.Repo = r.Host + "/" + testenv.Name(t, "deploy")
	b, err := os.ReadFile(testenv.StaticBinary(t, app))
	if err != nil {
		t.Fatal(err)
	}
	r.binary = b
	return r
}

// Push builds an image of the app (variant sets its VARIANT variable and a
// label; cmd is one of the app's commands), pushes it as Repo:tag and
// returns it with its digest. Local images of the registry are removed when the test
// that made the Registry ends.
func (r *Registry) Push(t testing.TB, tag, variant, cmd string) deploy.Image {
	t.Helper()
	return r.PushRepo(t, r.Repo, tag, variant, cmd)
}

// PushRepo is Push to another repository of the registry (a full
// repository name, host included).
func (r *Registry) PushRepo(t testing.TB, repo, tag, variant, cmd string) deploy.Image {
	t.Helper()
	ctx := context.Background()
	ref := repo + ":" + tag
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY app /app\nENV VARIANT=%s\nLABEL io.slipway.test.variant=%s\nENTRYPOINT [\"/app\"]\nCMD [%q]\n", variant, variant, cmd)
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"app", 0o755, r.binary}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	// NoCache: tests build images of the same first steps at once, and a
	// classic build that takes a cached step finds its image gone when
	// another test's RemoveLocal pruned it ("unable to find image").
	resp, err := r.cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true, NoCache: true})
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	err = jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}

	push, err := r.cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: r.Auth})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	defer push.Close()
	var digest string
	err = jsonmessage.DisplayJSONMessagesStream(push, io.Discard, 0, false, func(m jsonmessage.JSONMessage) {
		var aux struct{ Digest string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
			digest = aux.Digest
		}
	})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if digest == "" {
		t.Fatalf("push %s: no digest in the engine's answer", ref)
	}
	return deploy.Image{Repo: repo, Tag: tag, Digest: digest}
}

// RemoveLocal removes the engine's copy of img, so that a task of it has to
// pull it from the registry.
func (r *Registry) RemoveLocal(t testing.TB, img deploy.Image) {
	t.Helper()
	ctx := context.Background()
	for _, ref := range []string{img.Repo + ":" + img.Tag, img.Repo + "@" + img.Digest} {
		_, err := r.cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !isNotFound(err) {
			t.Fatalf("remove %s: %v", ref, err)
		}
	}
}

// removeImages removes every local image of the registry: those built
// and pushed, and those the swarm's tasks pulled by digest.
func (r *Registry) removeImages(t testing.TB) {
	ctx := context.Background()
	imgs, err := r.cli.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		t.Errorf("list images: %v", err)
		return
	}
	prefix := r.Host + "/"
	for _, img := range imgs {
		refs := append(slices.Clone(img.RepoTags), img.RepoDigests...)
		if !slices.ContainsFunc(refs, func(ref string) bool { return strings.HasPrefix(ref, prefix) }) {
			continue
		}
		removeImage(t, r.cli, img.ID)
	}
}

// removeImage removes an image, waiting (up to a minute) while a container
// of a service removed moments ago (a pruned stack service, a task being
// shut down) still uses it. Leftovers are logged, not failed: they are
// hygiene, not what the test checks.
func removeImage(t testing.TB, cli *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := cli.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true})
		if err == nil || isNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Logf("remove image %s: %v", id, err)
			return
		case <-tick.C:
		}
	}
}

// ProbeExecutable builds slipway-probe as a static binary for the prober
// image of a deploy's probe and returns its path. A name unique to the test
// is appended to the binary (the kernel ignores bytes after an ELF's
// segments), so its prober image is the test's own; that image is removed
// when the test ends.
func ProbeExecutable(t testing.TB, cli *client.Client) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "slipway-probe")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/slipwayci/slipway/cmd/slipway-probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build slipway-probe: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "\n"+testenv.Name(t, "probe")+"\n"...)
	if err := os.WriteFile(out, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ref := deploy.ProberRef(b)
	t.Cleanup(func() { removeImage(t, cli, ref) })
	return out
}

// Images are the three images most deploy tests use, of one repository.
type Images struct {
	*Registry
	// V1 and V2 serve forever; they differ in a label and their output.
	V1, V2 deploy.Image
	// Bad exits 1 as soon as it starts.
	Bad deploy.Image
}

// PushImages starts a registry and pushes V1, V2 and Bad to it.
func PushImages(t testing.TB, cli *client.Client) *Images {
	t.Helper()
	r := NewRegistry(t, cli)
	return &Images{
		Registry: r,
		V1:       r.Push(t, "v1", "v1", "serve"),
		V2:       r.Push(t, "v2", "v2", "serve"),
		Bad:      r.Push(t, "bad", "bad", "fail"),
	}
}

// Spec returns the spec of a replicated service of image (a full
// reference) that updates and rolls back fast: one task at a time, 1s
// monitor, failure action pause, a 1s stop grace period.
func Spec(name, image string, replicas uint64, labels map[string]string) swarm.ServiceSpec {
	grace := time.Second
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: image, StopGracePeriod: &grace},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &grace},
		},
		Mode:           swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		UpdateConfig:   &swarm.UpdateConfig{Parallelism: 1, Monitor: time.Second, FailureAction: swarm.UpdateFailureActionPause, Order: swarm.UpdateOrderStopFirst},
		RollbackConfig: &swarm.UpdateConfig{Parallelism: 1, Monitor: time.Second, FailureAction: swarm.UpdateFailureActionPause, Order: swarm.UpdateOrderStopFirst},
	}
}

// CreateService creates a service (with auth forwarded to the agents) and
// removes it when the test ends. It returns the service's ID.
func CreateService(t testing.TB, cli *client.Client, spec swarm.ServiceSpec, auth string) string {
	t.Helper()
	resp, err := cli.ServiceCreate(context.Background(), spec, swarm.ServiceCreateOptions{EncodedRegistryAuth: auth})
	if err != nil {
		t.Fatalf("create service %s: %v", spec.Name, err)
	}
	t.Cleanup(func() { removeServices(t, cli, resp.ID) })
	return resp.ID
}

// WaitRunning waits until the service has n tasks running its current spec
// image and no other task wanted running, failing the test after timeout.
func WaitRunning(t testing.TB, cli *client.Client, id string, n int, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		svc, _, err := cli.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
		if err == nil {
			var tasks []swarm.Task
			tasks, err = cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id), filters.Arg("desired-state", "running"))})
			if err == nil {
				running := 0
				for _, task := range tasks {
					if task.Status.State == swarm.TaskStateRunning && task.Spec.ContainerSpec.Image == svc.Spec.TaskTemplate.ContainerSpec.Image {
						running++
					}
				}
				if running == n && len(tasks) == n {
					return
				}
				last = fmt.Sprintf("%d of %d tasks running, %d wanted running", running, n, len(tasks))
			}
		}
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("service %s: not %d tasks running within %s: %s", id, n, timeout, last)
		case <-tick.C:
		}
	}
}

// RemoveStackAtCleanup removes the stack's services, then its networks,
// secrets and configs, when the test ends.
func RemoveStackAtCleanup(t testing.TB, cli *client.Client, stack string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		label := filters.NewArgs(filters.Arg("label", StackLabel+"="+stack))
		svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: label})
		if err != nil {
			t.Errorf("list services of stack %s: %v", stack, err)
			return
		}
		ids := make([]string, len(svcs))
		for i, s := range svcs {
			ids[i] = s.ID
		}
		removeServices(t, cli, ids...)
		if secrets, err := cli.SecretList(ctx, swarm.SecretListOptions{Filters: label}); err == nil {
			for _, s := range secrets {
				_ = cli.SecretRemove(ctx, s.ID)
			}
		}
		if configs, err := cli.ConfigList(ctx, swarm.ConfigListOptions{Filters: label}); err == nil {
			for _, c := range configs {
				_ = cli.ConfigRemove(ctx, c.ID)
			}
		}
		removeNetworks(t, cli, label)
	})
}

// removeServices removes services and waits (up to two minutes: a loaded
// engine stops and removes containers slowly) until their containers are
// gone, so that their images and networks can go too.
func removeServices(t testing.TB, cli *client.Client, ids ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		if err := cli.ServiceRemove(ctx, id); err != nil && !isNotFound(err) {
			t.Errorf("remove service %s: %v", id, err)
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, id := range ids {
		for {
			cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.id="+id))})
			if err == nil && len(cs) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				t.Logf("containers of service %s still there after two minutes", id)
				return
			case <-tick.C:
			}
		}
	}
}

// removeNetworks removes networks, retrying (up to two minutes) while the
// swarm still detaches them from removed tasks.
func removeNetworks(t testing.TB, cli *client.Client, label filters.Args) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: label})
		if err != nil {
			t.Errorf("list networks: %v", err)
			return
		}
		var last error
		for _, n := range nets {
			if err := cli.NetworkRemove(ctx, n.ID); err != nil && !isNotFound(err) {
				last = err
			}
		}
		if last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("remove networks: %v", last)
			return
		case <-tick.C:
		}
	}
}

func isNotFound(err error) bool {
	return cerrdefs.IsNotFound(err)
}
