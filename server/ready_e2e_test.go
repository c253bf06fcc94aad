package server_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/slipwayci/slipway/config"
)

// tmpfs mounts a tmpfs of size bytes on a fresh directory, unmounted when
// the test ends (after everything registered later, such as a server using
// it). The test needs root, as the other real components do.
func tmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs on %s (the test needs root): %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// fill writes zeros to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v, want ENOSPC", path, err)
			}
			break
		}
	}
	// What is left is less than one chunk: take it too.
	for n := len(chunk) / 2; n >= 512; n /= 2 {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
}

func TestReadyzFailsWhileTheDataDirIsFull(t *testing.T) {
	w := helloWorldWorld(t, setup{})
	dataDir := filepath.Join(tmpfs(t, 8<<20), "data")
	c := serve(t, w, func(cfg *config.Config) { cfg.DataDir = dataDir })
	readyz := func() (int, string) {
		resp, err := c.http.Get(c.base + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ping := func(id string) (int, hookAnswer) {
		return c.deliver(delivery{"ping", id, payload(t, "ping.json"), "sign"})
	}

	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with room in data_dir: %d %s, want 200", code, body)
	}
	if code, a := ping("ready-1"); code != http.StatusOK {
		t.Fatalf("ping with room in data_dir: %d %+v, want 200", code, a)
	}

	filler := filepath.Join(dataDir, "filler")
	fill(t, filler)
	// The store really refuses writes now: deliveries are answered 500...
	if code, a := ping("full-1"); code != http.StatusInternalServerError {
		t.Fatalf("ping with data_dir full: %d %+v, want 500 (is the file system full?)", code, a)
	}
	// ...and readiness says so, so a load balancer stops sending them here.
	code, body := readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no space left") {
		t.Errorf("/readyz with data_dir full: %d %s, want 503 naming the lack of space", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Errorf("/readyz after making room: %d %s, want 200", code, body)
	}
	if code, a := ping("ready-2"); code != http.StatusOK {
		t.Errorf("ping after making room: %d %+v, want 200", code, a)
	}
}
