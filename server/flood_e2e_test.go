package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/store"
)

// memoryOf reads a field of /proc/PID/status (VmRSS, VmHWM) in bytes.
func memoryOf(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the memory of pid %d: %v", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/status %s: %v", pid, field, err)
		}
		return kb << 10
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// stalledSender opens a webhook request that claims a body of claimed
// bytes, sends up to send bytes of it as fast as the server takes them
// and then stalls, holding the connection open. It stops sending early
// when the server stops reading for 2 s or answers.
type stalledSender struct {
	conn net.Conn
	sent int64
	err  error // why it stopped sending before send bytes, if it did
}

func startStalledSender(addr string, i int, claimed, send int64) *stalledSender {
	s := &stalledSender{}
	s.conn, s.err = net.DialTimeout("tcp", addr, 5*time.Second)
	if s.err != nil {
		return s
	}
	head := fmt.Sprintf("POST /hooks/github HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
		"X-GitHub-Event: push\r\nX-GitHub-Delivery: flood-%d\r\nX-Hub-Signature-256: sha256=%064d\r\n\r\n", addr, claimed, i, 0)
	s.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, s.err = s.conn.Write([]byte(head)); s.err != nil {
		return s
	}
	chunk := []byte(strings.Repeat(" ", 64<<10))
	for s.sent < send {
		s.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := s.conn.Write(chunk[:min(int64(len(chunk)), send-s.sent)])
		s.sent += int64(n)
		if err != nil {
			s.err = err
			return s
		}
	}
	return s
}

// Bodies are read before their signature can be checked, so anyone can
// make slipway hold them: stalled senders must not exhaust its memory, and
// real deliveries must still get through while they stall.
func TestStalledWebhookSendersKeepMemoryBounded(t *testing.T) {
	const (
		senders = 50
		// Every other sender claims a body just under
		// github.max_payload's default and stalls after 8 MiB; the others
		// claim a push-sized body and stall after 150 KiB of it.
		bigClaim, bigSend     = 25<<20 - 1, 8 << 20
		smallClaim, smallSend = 200 << 10, 150 << 10
		maxRSS                = 150 << 20
	)
	bin := slipwayBinary(t)
	w := helloWorldWorld(t, setup{Listen: "${SLIPWAY_TEST_LISTEN}"})
	removeTestContainers(t, w)
	ch, c := startServe(t, bin, w)
	pid := ch.cmd.Process.Pid
	addr := strings.TrimPrefix(c.base, "http://")
	before := memoryOf(t, pid, "VmRSS")

	stalled := make([]*stalledSender, senders)
	var wg sync.WaitGroup
	for i := range stalled {
		claimed, send := int64(bigClaim), int64(bigSend)
		if i%2 == 1 {
			claimed, send = smallClaim, smallSend
		}
		wg.Go(func() { stalled[i] = startStalledSender(addr, i, claimed, send) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range stalled {
			if s.conn != nil {
				s.conn.Close()
			}
		}
	})
	var sent int64
	for _, s := range stalled {
		sent += s.sent
	}
	during := memoryOf(t, pid, "VmRSS")
	t.Logf("%d senders sent %d MiB and stall; serve's RSS %d MiB before, %d MiB now", senders, sent>>20, before>>20, during>>20)

	// Real deliveries get through while the senders stall.
	if code, a := c.deliver(delivery{"ping", "flood-ping", payload(t, "ping.json"), "sign"}); code != http.StatusOK {
		t.Errorf("ping while %d senders stall: %d %+v, want 200", senders, code, a)
	}
	code, a := c.deliver(delivery{"push", "flood-push", pushOf(t, w.Head), "sign"})
	if code != http.StatusAccepted || len(a.Builds) != 1 {
		t.Fatalf("push while %d senders stall: %d %+v, want 202 and one build", senders, code, a)
	}
	if b := c.waitFinished(a.Builds[0], buildTimeout); b.Status != store.StatusSucceeded {
		t.Errorf("the pushed build: %s, want succeeded", describe(b))
	}

	peak := memoryOf(t, pid, "VmHWM")
	t.Logf("serve's peak RSS %d MiB", peak>>20)
	if peak > maxRSS {
		t.Errorf("serve's RSS reached %d MiB with %d stalled senders (%d MiB before), want under %d MiB", peak>>20, senders, before>>20, maxRSS>>20)
	}
}
