package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// LAN is a Linux bridge on a free /24 of the RFC 2544 benchmark range
// (198.18.0.0/15, nobody's) with network namespaces on it, each joined by
// a veth pair: machines of their own on one network, for multinode tests
// (see /work/shared/multinode-swarm.md). The host has the bridge's
// address. Everything is removed when the test ends. It needs root and
// iproute2.
type LAN struct {
	// Bridge is the bridge's name; Gateway the host's address on it.
	Bridge, Gateway string
	t               testing.TB
	prefix, id      string
	subnet          string // "198.18.X"
}

// NewLAN creates the bridge. prefix (two letters) names the bridge
// "br"+prefix+ID, and the namespaces and veths of Join.
func NewLAN(t testing.TB, prefix string) *LAN {
	t.Helper()
	used, _ := exec.Command("ip", "-4", "addr").Output()
	rnd := make([]byte, 4)
	l := &LAN{t: t, prefix: prefix}
	for {
		if _, err := rand.Read(rnd); err != nil {
			t.Fatal(err)
		}
		l.subnet = fmt.Sprintf("198.%d.%d", 18+rnd[2]&1, rnd[3])
		if !strings.Contains(string(used), " "+l.subnet+".") {
			break
		}
	}
	l.id = hex.EncodeToString(rnd[:2])
	l.Bridge, l.Gateway = "br"+prefix+l.id, l.subnet+".1"
	Run(t, "ip", "link", "add", l.Bridge, "type", "bridge")
	CleanupRun(t, "ip", "link", "del", l.Bridge)
	Run(t, "ip", "addr", "add", l.Gateway+"/24", "dev", l.Bridge)
	Run(t, "ip", "link", "set", l.Bridge, "up")
	return l
}

// Join adds network namespace number i (from 0) to the LAN, its loopback
// up, and returns its name and its address, .i+2 of the LAN's /24.
func (l *LAN) Join(i int) (ns, addr string) {
	t := l.t
	t.Helper()
	ns, addr = fmt.Sprintf("%s%s-%d", l.prefix, l.id, i), fmt.Sprintf("%s.%d", l.subnet, i+2)
	hostEnd, nsEnd := fmt.Sprintf("v%s%sh%d", l.prefix, l.id, i), fmt.Sprintf("v%s%sn%d", l.prefix, l.id, i)
	Run(t, "ip", "netns", "add", ns)
	CleanupRun(t, "ip", "netns", "del", ns)
	Run(t, "ip", "link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd)
	Run(t, "ip", "link", "set", nsEnd, "netns", ns)
	Run(t, "ip", "link", "set", hostEnd, "master", l.Bridge, "up")
	Run(t, "ip", "-n", ns, "addr", "add", addr+"/24", "dev", nsEnd)
	Run(t, "ip", "-n", ns, "link", "set", nsEnd, "up")
	Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns, addr
}

// Run runs a command and fails the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// CleanupRun runs a teardown command when the test ends, reporting a
// failure.
func CleanupRun(t testing.TB, name string, args ...string) {
	t.Cleanup(func() {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Errorf("teardown: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	})
}
