package swarmtest

import (
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// Proxy is an engine endpoint for deploy targets: a unix socket that
// forwards each connection to the local engine's socket and counts them,
// so a test sees how many connections a client opened. It can be taken
// down (its socket and connections closed) and brought up again on the
// same path, as a manager that restarts.
type Proxy struct {
	// Host is the endpoint's URL (unix://…) for deploy_targets hosts.
	Host string

	t        testing.TB
	path     string
	engine   string
	latency  time.Duration
	accepted atomic.Int64

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy of cli's engine (a unix socket endpoint) that
// delays each chunk sent to the engine by latency (0 for none), as a
// manager that far away would. It is closed when the test ends.
func NewProxy(t testing.TB, cli *client.Client, latency time.Duration) *Proxy {
	t.Helper()
	u, err := url.Parse(cli.DaemonHost())
	if err != nil || u.Scheme != "unix" {
		t.Fatalf("the engine's endpoint %q is not a unix socket: the proxy needs one", cli.DaemonHost())
	}
	p := &Proxy{t: t, path: shortSocket(t, "engine.sock"), engine: u.Path, latency: latency, conns: map[net.Conn]bool{}}
	p.Host = "unix://" + p.path
	p.Up()
	t.Cleanup(func() {
		p.Down()
		p.wg.Wait()
	})
	return p
}

// shortSocket returns a socket path in a new directory removed when the
// test ends; it is short, as a unix socket path must be (108 bytes),
// which a test's TempDir may not be.
func shortSocket(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "swt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name)
}

// Connections returns how many connections the proxy has accepted.
func (p *Proxy) Connections() int64 { return p.accepted.Load() }

// Up listens on the proxy's socket (again, after Down).
func (p *Proxy) Up() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	os.Remove(p.path)
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.serve(ln)
}

// Down closes the proxy's socket and every connection through it: the
// endpoint refuses connections until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		e, err := net.Dial("unix", p.engine)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // taken down meanwhile
			p.mu.Unlock()
			c.Close()
			e.Close()
			return
		}
		p.conns[c], p.conns[e] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(e, c, p.latency)
		go p.pipe(c, e, 0)
	}
}

// pipe copies from src to dst, each chunk after delay, and closes both
// when either side ends.
func (p *Proxy) pipe(dst, src net.Conn, delay time.Duration) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
		src.Close()
		dst.Close()
	}()
	if delay == 0 {
		io.Copy(dst, src)
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			time.Sleep(delay)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Silent is an engine endpoint that accepts connections and never answers,
// as a manager behind a firewall that drops packets: a client of it waits
// until its own deadline.
type Silent struct {
	// Host is the endpoint's URL (unix://…).
	Host     string
	accepted atomic.Int64
}

// NewSilent starts a Silent endpoint, closed when the test ends.
func NewSilent(t testing.TB) *Silent {
	t.Helper()
	path := shortSocket(t, "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Silent{Host: "unix://" + path}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

// Connections returns how many connections the endpoint has accepted.
func (s *Silent) Connections() int64 { return s.accepted.Load() }
