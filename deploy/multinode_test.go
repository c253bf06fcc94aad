//go:build multinode

// The three-node swarm of /work/shared/multinode-swarm.md: three dockerd
// processes, each in its own network namespace on one Linux bridge, joined
// into one swarm (a manager and two workers), pulling from the test's
// registry through the bridge. It needs root, iproute2, iptables, nsenter
// and dockerd, and changes the host's networking for its duration (a
// bridge, namespaces and one DOCKER-USER rule, all removed at the end), so
// it is built only with -tags multinode:
//
//	go test -tags multinode -run TestMultiNode -v ./deploy/
package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/testenv"
)

// node is one dockerd of the test swarm.
type node struct {
	addr string // in the bridge's subnet
	dir  string // data-root, exec-root, socket, log
	cli  *client.Client
	cmd  *exec.Cmd
}

func (n *node) host() string { return "unix://" + filepath.Join(n.dir, "docker.sock") }

func TestMultiNode(t *testing.T) {
	hostCli := testenv.Docker(t)
	images := swarmtest.PushImages(t, hostCli)

	lan := testenv.NewLAN(t, "sw")
	// The host dockerd's FORWARD policy drops traffic between the
	// namespaces otherwise.
	testenv.Run(t, "iptables", "-I", "DOCKER-USER", "-i", lan.Bridge, "-o", lan.Bridge, "-j", "ACCEPT")
	testenv.CleanupRun(t, "iptables", "-D", "DOCKER-USER", "-i", lan.Bridge, "-o", lan.Bridge, "-j", "ACCEPT")

	// The registry, reached by the nodes through the bridge: a proxy on
	// the bridge address in front of the loopback registry.
	ln, err := net.Listen("tcp", lan.Gateway+":0")
	if err != nil {
		t.Fatal(err)
	}
	upstream, _ := url.Parse("http://" + images.Host)
	proxy := &http.Server{Handler: httputil.NewSingleHostReverseProxy(upstream)}
	go proxy.Serve(ln)
	t.Cleanup(func() { proxy.Close() })
	regHost := ln.Addr().String()
	viaBridge := func(img deploy.Image) deploy.Image {
		img.Repo = regHost + strings.TrimPrefix(img.Repo, images.Host)
		return img
	}
	v1, v2, bad := viaBridge(images.V1), viaBridge(images.V2), viaBridge(images.Bad)

	root, err := os.MkdirTemp("/tmp", "sw") // short: containerd's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })

	nodes := make([]*node, 3)
	for i := range nodes {
		ns, addr := lan.Join(i)
		n := &node{addr: addr, dir: filepath.Join(root, fmt.Sprint(i))}
		nodes[i] = n
		startNode(t, n, ns, regHost)
	}

	// One manager, two workers.
	ctx := t.Context()
	mgr := nodes[0]
	if _, err := mgr.cli.SwarmInit(ctx, swarm.InitRequest{ListenAddr: mgr.addr + ":2377", AdvertiseAddr: mgr.addr}); err != nil {
		t.Fatalf("swarm init: %v", err)
	}
	sw, err := mgr.cli.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		joinSwarm(t, n, mgr.addr, sw.JoinTokens.Worker)
	}
	waitNodesReady(t, mgr.cli, 3)

	target, err := deploy.Connect(ctx, "multinode", config.DeployTarget{Hosts: []string{nodes[1].host(), mgr.host()}})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer target.Close()
	if got := target.Host(); got != mgr.host() {
		t.Errorf("Connect chose %s, want the manager %s (the first host is a worker)", got, mgr.host())
	}

	name := testenv.Name(t, "web")
	spec := swarmtest.Spec(name, v1.Ref(), 3, nil)
	spec.TaskTemplate.Placement = &swarm.Placement{MaxReplicas: 1}
	spec.UpdateConfig.Monitor = 5 * time.Second // the swarm's default
	resp, err := mgr.cli.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{EncodedRegistryAuth: images.Auth})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	t.Cleanup(func() { mgr.cli.ServiceRemove(context.Background(), resp.ID) })
	swarmtest.WaitRunning(t, mgr.cli, resp.ID, 3, 3*time.Minute)

	var log logBuffer
	start := time.Now()
	res := target.Rollout(ctx, name, v2, deploy.RolloutOptions{Timeout: 3 * time.Minute, Rollback: true, RegistryAuth: images.Auth, Log: &log})
	t.Logf("rolling update of 3 replicas on 3 nodes: %s, %+v; log:\n%s", time.Since(start), res, log.String())
	if res.Status != deploy.StatusConverged {
		t.Fatalf("Rollout = %+v, want converged", res)
	}
	tasks, err := mgr.cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", resp.ID), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, task := range tasks {
		if task.Status.State != swarm.TaskStateRunning || !pinnedTo(task.Spec.ContainerSpec.Image, v2) {
			t.Errorf("task %s on node %s: %s %s, want running v2", task.ID, task.NodeID, task.Status.State, task.Spec.ContainerSpec.Image)
		}
		seen[task.NodeID] = true
	}
	if len(seen) != 3 {
		t.Errorf("v2 runs on %d nodes, want 3", len(seen))
	}

	log = logBuffer{}
	start = time.Now()
	res = target.Rollout(ctx, name, bad, deploy.RolloutOptions{Timeout: 3 * time.Minute, Rollback: true, RegistryAuth: images.Auth, Log: &log})
	t.Logf("failing update and rollback on 3 nodes: %s, %+v; log:\n%s", time.Since(start), res, log.String())
	if res.Status != deploy.StatusRolledBack {
		t.Fatalf("Rollout = %+v, want rolled_back", res)
	}
	swarmtest.WaitRunning(t, mgr.cli, resp.ID, 3, 3*time.Minute)
	svc, _, err := mgr.cli.ServiceInspectWithRaw(ctx, resp.ID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := svc.Spec.TaskTemplate.ContainerSpec.Image; !pinnedTo(img, v2) {
		t.Errorf("after the rollback the service runs %q, want v2", img)
	}
}

// startNode starts a dockerd in the network namespace ns and waits for it.
// It is stopped (by its PID) when the test ends.
func startNode(t *testing.T, n *node, ns, registry string) {
	t.Helper()
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(n.dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	n.cmd = exec.Command("nsenter", "--net=/var/run/netns/"+ns, "dockerd",
		"--data-root", filepath.Join(n.dir, "data"),
		"--exec-root", filepath.Join(n.dir, "exec"),
		"--pidfile", filepath.Join(n.dir, "docker.pid"),
		"-H", n.host(),
		"--bridge", "none", "--iptables=false", "--ip-masq=false",
		"--insecure-registry", registry)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		n.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		if n.cli != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			n.cli.SwarmLeave(ctx, true) // this test's own swarm
			cancel()
			n.cli.Close()
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			n.cmd.Process.Kill()
			<-exited
		}
	})
	cli, err := client.NewClientWithOpts(client.WithHost(n.host()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		if _, err := cli.Ping(ctx); err == nil {
			n.cli = cli
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(n.dir, "dockerd.log"))
			t.Fatalf("dockerd in %s exited:\n%s", ns, b)
		case <-ctx.Done():
			b, _ := os.ReadFile(filepath.Join(n.dir, "dockerd.log"))
			t.Fatalf("dockerd in %s did not answer within a minute:\n%s", ns, b)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// joinSwarm joins n to the swarm as a worker, retrying a join that timed
// out after leaving.
func joinSwarm(t *testing.T, n *node, manager, token string) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err = n.cli.SwarmJoin(ctx, swarm.JoinRequest{ListenAddr: n.addr + ":2377", AdvertiseAddr: n.addr, RemoteAddrs: []string{manager + ":2377"}, JoinToken: token})
		cancel()
		if err == nil {
			return
		}
		ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
		n.cli.SwarmLeave(ctx, true)
		cancel()
	}
	t.Fatalf("node %s: swarm join: %v", n.addr, err)
}

// waitNodesReady waits until the manager sees n ready nodes.
func waitNodesReady(t *testing.T, cli *client.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for {
		nodes, err := cli.NodeList(ctx, swarm.NodeListOptions{})
		ready := 0
		for _, nd := range nodes {
			if nd.Status.State == swarm.NodeStateReady {
				ready++
			}
		}
		if err == nil && ready == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d nodes ready after 2 minutes (%v)", ready, n, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
