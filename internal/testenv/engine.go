package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// Engine is an extra Docker engine beside the main one: its own dockerd
// with its own socket, data root, exec root and bridge (never --bridge
// none, which would delete the main engine's docker0), for tests of several
// builders. Containers on it have no route out; builds of fixtures and
// pushes to registries on 127.0.0.1 need none. Its image store and build
// cache are its own.
type Engine struct {
	// Host is the engine's endpoint, unix://DIR/docker.sock.
	Host   string
	dir    string
	bridge string
	// netns is the network namespace dockerd runs in ("": the host's).
	netns string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when cmd has been waited for.
	exited chan struct{}
}

// StartEngine creates a bridge and starts a dockerd on it in a new
// temporary directory, waiting until it answers. Close stops it and
// removes both.
func StartEngine(ctx context.Context) (*Engine, error) {
	if _, err := exec.LookPath("dockerd"); err != nil {
		return nil, errors.New("no dockerd on PATH: install docker.io (scripts/test-env.sh does)")
	}
	dir, err := os.MkdirTemp("", "slipway-engine-")
	if err != nil {
		return nil, err
	}
	e := &Engine{Host: "unix://" + filepath.Join(dir, "docker.sock"), dir: dir}
	if err := e.addBridge(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := e.Start(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// StartEngineIn starts a dockerd in the network namespace netns (made by
// `ip netns add`), as on a machine of its own: it listens on
// tcp://addr:2375 (plain HTTP; addr is the namespace's address) and its
// default bridge is the namespace's docker0, not the host's. It waits
// until the engine answers. Close stops it and removes its directory; the
// namespace is the caller's.
func StartEngineIn(ctx context.Context, netns, addr string) (*Engine, error) {
	for _, bin := range []string{"dockerd", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("no %s on PATH: install docker.io and util-linux", bin)
		}
	}
	dir, err := os.MkdirTemp("", "slipway-engine-")
	if err != nil {
		return nil, err
	}
	e := &Engine{Host: "tcp://" + net.JoinHostPort(addr, "2375"), dir: dir, netns: netns}
	if err := e.Start(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// addBridge creates the engine's bridge on a free 172.31.X.0/24.
func (e *Engine) addBridge(ctx context.Context) error {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	e.bridge = "slipe" + hex.EncodeToString(b[:])
	used, _ := exec.CommandContext(ctx, "ip", "-4", "addr").Output()
	for x := 200 + int(b[0])%50; x < 256; x++ {
		cidr := fmt.Sprintf("172.31.%d.1/24", x)
		if strings.Contains(string(used), fmt.Sprintf("172.31.%d.", x)) {
			continue
		}
		for _, args := range [][]string{
			{"link", "add", "name", e.bridge, "type", "bridge"},
			{"addr", "add", cidr, "dev", e.bridge},
			{"link", "set", e.bridge, "up"},
		} {
			if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
				exec.Command("ip", "link", "del", e.bridge).Run()
				return fmt.Errorf("ip %s: %w: %s (tests of several engines need root and iproute2)", strings.Join(args, " "), err, out)
			}
		}
		return nil
	}
	return errors.New("no free 172.31.X.0/24 for the extra engine's bridge")
}

// Start starts the engine's dockerd (again, after Stop or Kill, on the same
// data) and waits until it answers.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	log, err := os.OpenFile(filepath.Join(e.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	args := []string{"dockerd", "--host", e.Host,
		"--data-root", filepath.Join(e.dir, "data"), "--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "docker.pid"), "--iptables=false", "--ip-masq=false"}
	if e.bridge != "" {
		args = append(args, "--bridge", e.bridge)
	}
	if e.netns != "" {
		// nsenter, not ip netns exec, which remounts /sys and leaves
		// dockerd without its cgroups. Inside the namespace dockerd makes
		// the namespace's own docker0.
		args = append([]string{"nsenter", "--net=/var/run/netns/" + e.netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: Close stops dockerd and its containerd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(e.exited)
	return e.waitReady(ctx)
}

// waitReady waits up to a minute for the engine to answer a ping.
func (e *Engine) waitReady(ctx context.Context) error {
	cli, err := e.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Ping(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("dockerd exited at start; its log:\n%s", e.logTail())
		case <-ctx.Done():
			return fmt.Errorf("dockerd did not answer within a minute (%v); its log:\n%s", err, e.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail is the end of the engine's log.
func (e *Engine) logTail() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Client returns a client of the engine with API version negotiation.
func (e *Engine) Client() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	// Settled before the client is shared (see Docker).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli.NegotiateAPIVersion(ctx)
	return cli, nil
}

// Stop stops dockerd gracefully (SIGTERM) and waits for it to exit.
func (e *Engine) Stop() error { return e.signal(syscall.SIGTERM) }

// Kill kills dockerd and its containerd at once (SIGKILL), as on a
// crashed engine host, and waits for both to exit. Containers it ran keep
// running in their shims until they exit or the engine is started again.
func (e *Engine) Kill() error {
	// containerd runs in a session of its own: kill it by its PID file
	// too, or the next Start finds it holding its state.
	b, _ := os.ReadFile(filepath.Join(e.dir, "exec", "containerd", "containerd.pid"))
	err := e.signal(syscall.SIGKILL)
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 1 {
		syscall.Kill(pid, syscall.SIGKILL)
		deadline := time.Now().Add(time.Minute)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return err
}

func (e *Engine) signal(sig syscall.Signal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return nil
	}
	pid := e.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal dockerd %d: %w", pid, err)
	}
	select {
	case <-e.exited:
	case <-time.After(time.Minute):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-e.exited
	}
	// containerd and shims may outlive a graceful dockerd by a moment.
	syscall.Kill(-pid, syscall.SIGKILL)
	e.cmd = nil
	return nil
}

// Close stops the engine and removes its bridge and directory.
func (e *Engine) Close() error {
	err := e.Stop()
	if e.bridge != "" {
		exec.Command("ip", "link", "del", e.bridge).Run()
	}
	// dockerd mounts its data root on itself (and may leave more mounts
	// below it): unmount them, deepest first, before removing.
	unmountUnder(e.dir)
	if rerr := os.RemoveAll(e.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// unmountUnder lazily unmounts every mount point at or below dir, the
// deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// EngineShared starts one extra engine for a test binary on first use
// (Get) and stops it when Stop is called from TestMain after m.Run.
type EngineShared struct {
	once sync.Once
	e    *Engine
	err  error
}

// Get returns the shared extra engine, starting it on the first call. An
// engine that cannot start fails the test, never skips it.
func (s *EngineShared) Get(t testing.TB) *Engine {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.e, s.err = StartEngine(ctx)
	})
	if s.err != nil {
		t.Fatalf("extra Docker engine: %v", s.err)
	}
	return s.e
}

// Stop stops and removes the engine if it was started.
func (s *EngineShared) Stop() error {
	if s.e == nil {
		return nil
	}
	return s.e.Close()
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}
