//go:build multinode

// Two builders as on machines of their own (see
// /work/shared/multinode-swarm.md): each a dockerd in its own network
// namespace, reached over tcp:// on the namespace's address through one
// Linux bridge, pushing to the test's loopback registry through a
// forwarder inside its namespace. It needs root, iproute2, nsenter and
// dockerd, and changes the host's networking for its duration (a bridge,
// two namespaces and their veths, all removed at the end; no iptables
// rule: only the host talks to the namespaces), so it is built only with
// -tags multinode:
//
//	go test -tags multinode -run TestMultiNodeBuilders -v ./builders/
package builders_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
)

// TestMultiNodeBuilders: builders main and second are engines in network
// namespaces of their own. Two builds of each of two projects land on
// their sticky builders and the second build of each reuses the cache;
// with second stopped, its project builds on main and its tag is pushed.
func TestMultiNodeBuilders(t *testing.T) {
	w := fixture.New(t, fixture.Options{})
	lan := testenv.NewLAN(t, "bl")

	engines := map[string]*testenv.Engine{}
	var builders strings.Builder
	for i, name := range []string{"main", "second"} {
		ns, addr := lan.Join(i)
		forwardInto(t, ns, w.Reg.Host)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		e, err := testenv.StartEngineIn(ctx, ns, addr)
		cancel()
		if err != nil {
			t.Fatalf("builder %s in %s: %v", name, ns, err)
		}
		t.Cleanup(func() {
			if err := e.Close(); err != nil {
				t.Errorf("stop builder %s: %v", name, err)
			}
		})
		engines[name] = e
		fmt.Fprintf(&builders, "  - {name: %s, host: %q, tls: {insecure: true}, concurrency: 1}\n", name, e.Host)
	}

	onMain, onSecond := stickyNames(t)
	image := func(project string) string { return w.Image + "-" + project }
	var projects strings.Builder
	for _, name := range []string{onMain, onSecond} {
		fmt.Fprintf(&projects, "  - {name: %s, repo: %q, image: %q, test: {command: [\"-selftest\"], timeout: 1m}}\n", name, w.Repo.URL(), image(name))
	}
	cfgPath := filepath.Join(w.Dir, "builders.yaml")
	cfg := fmt.Sprintf("data_dir: %q\nbuild_timeout: 5m\nbuilders:\n%sprojects:\n%s", filepath.Join(w.Dir, "data"), builders.String(), projects.String())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := (&pool{cfgPath: cfgPath}).service(t)
	digest := func(project string) string {
		reg := *w
		reg.T, reg.Image = t, image(project)
		return reg.Digest("main")
	}

	for round := range 2 {
		for project, want := range map[string]string{onMain: "main", onSecond: "second"} {
			b, _ := build(t, svc, project)
			if b.Builder != want || b.BuilderReason != "sticky builder of "+project {
				t.Errorf("build %d of %s ran on %q (%s), want %s, its sticky builder", b.ID, project, b.Builder, b.BuilderReason, want)
			}
			if round == 1 && !strings.Contains(buildLog(t, svc, b.ID), "CACHED") {
				t.Errorf("second build of %s on %s used no cached step", project, want)
			}
			if got := digest(project); got != b.Digest {
				t.Errorf("the registry's main tag of %s is %s, want build %d's %s", project, got, b.ID, b.Digest)
			}
		}
	}

	// second's machine goes away: its project falls back to main.
	if err := engines["second"].Stop(); err != nil {
		t.Fatal(err)
	}
	b, _ := build(t, svc, onSecond)
	if b.Builder != "main" || !strings.HasPrefix(b.BuilderReason, "least loaded (0/1 builds): sticky builder second is unhealthy: ") {
		t.Errorf("with second stopped the build ran on %q (%s), want main because second is unhealthy", b.Builder, b.BuilderReason)
	}
	if got := digest(onSecond); got != b.Digest {
		t.Errorf("the registry's main tag of %s is %s, want the fallback build's %s", onSecond, got, b.Digest)
	}
}

// forwardInto makes the registry at host (127.0.0.1:PORT) answer at the
// same address inside network namespace ns, so that an engine there
// pushes to it as to a loopback registry, as slipway reads it back.
func forwardInto(t *testing.T, ns, host string) {
	t.Helper()
	type listened struct {
		ln  net.Listener
		err error
	}
	got := make(chan listened, 1)
	go func() {
		// This thread enters ns and is never unlocked: it ends with the
		// goroutine. The listening socket stays in ns.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			got <- listened{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			got <- listened{err: fmt.Errorf("enter %s: %w", ns, err)}
			return
		}
		ln, err := net.Listen("tcp", host)
		got <- listened{ln, err}
	}()
	l := <-got
	if l.err != nil {
		t.Fatalf("registry forwarder in %s: %v", ns, l.err)
	}
	t.Cleanup(func() { l.ln.Close() })
	go func() {
		for {
			c, err := l.ln.Accept()
			if err != nil {
				return
			}
			go pipe(c, host)
		}
	}()
}

// pipe copies between c and a new connection to host until both sides
// are done.
func pipe(c net.Conn, host string) {
	defer c.Close()
	up, err := net.Dial("tcp", host)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	<-done
}
