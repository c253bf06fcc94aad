package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// registryBinary is the distribution v2 registry of the Debian package
// docker-registry.
const registryBinary = "/usr/bin/docker-registry"

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// Username and Password turn on htpasswd (basic) auth. Default: no auth.
	Username, Password string
	// NotifyURL, when set, gets the registry's notification envelopes
	// (one endpoint, events sent at once), with NotifyHeaders.
	NotifyURL     string
	NotifyHeaders map[string]string
}

// Registry is a distribution v2 registry serving plain HTTP on loopback. The
// engine treats 127.0.0.0/8 registries as insecure, so `docker push
// HOST/x:tag` works without TLS.
type Registry struct {
	// Host is "127.0.0.1:PORT", as in image references.
	Host string
	// Dir is the storage root (filesystem driver; deletes enabled).
	Dir string
	// LogFile is the registry's log (level warn).
	LogFile string
}

// StartRegistry runs /usr/bin/docker-registry with filesystem storage in a
// temporary directory and waits until it answers GET /v2/. The process is
// killed when the test ends. A missing binary or a registry that never
// answers fails the test.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	if _, err := os.Stat(registryBinary); err != nil {
		t.Fatalf("no registry binary at %s (%v): apt-get install docker-registry", registryBinary, err)
	}
	dir := t.TempDir()
	r := &Registry{Dir: filepath.Join(dir, "storage"), LogFile: filepath.Join(dir, "registry.log")}
	if err := os.Mkdir(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	auth := ""
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", opts.Username, hash), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: slipway-test\n    path: %q\n", htpasswd)
	}
	if opts.NotifyURL != "" {
		var hdr strings.Builder
		for k, v := range opts.NotifyHeaders {
			fmt.Fprintf(&hdr, "        %s: [%q]\n", k, v)
		}
		auth += fmt.Sprintf("notifications:\n  endpoints:\n    - name: slipway\n      url: %q\n      timeout: 2s\n      threshold: 5\n      backoff: 200ms\n      headers:\n%s", opts.NotifyURL, hdr.String())
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	// id marks this registry's answers: a port taken by another test's
	// registry between the probe and the bind must not pass for ours.
	id := hex.EncodeToString(secret[:8])

	// The free port is found by listening on :0 and closing; another process
	// may take it before the registry binds, so a bind failure is retried.
	var lastLog []byte
	for attempt := 0; attempt < 5; attempt++ {
		host, err := freeLoopbackAddr()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		cfg := filepath.Join(dir, "config.yml")
		body := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
  secret: %q
  headers:
    X-Slipway-Test-Registry: [%q]
%s`, r.Dir, host, hex.EncodeToString(secret), id, auth)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		ok, log := runRegistry(t, cfg, host, id, r.LogFile)
		if ok {
			r.Host = host
			return r
		}
		lastLog = log
		if !bytes.Contains(log, []byte("address already in use")) {
			break
		}
	}
	t.Fatalf("registry did not start; its log:\n%s", lastLog)
	return nil
}

// runRegistry starts the registry and waits for it to answer. On success the
// process is left running with a cleanup that kills it; on failure it is
// stopped and its log returned.
func runRegistry(t testing.TB, cfg, host, id, logFile string) (bool, []byte) {
	t.Helper()
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(registryBinary, "serve", cfg)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", registryBinary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is reported through the log
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if answers(ctx, client, host, id) {
			t.Cleanup(stop)
			return true, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			return false, append(log, fmt.Sprintf("(%s exited: %v)\n", registryBinary, cmd.ProcessState)...)
		case <-ctx.Done():
			stop()
			log, _ := os.ReadFile(logFile)
			return false, append(log, fmt.Sprintf("(no answer from http://%s/v2/ within 30s)\n", host)...)
		case <-tick.C:
		}
	}
}

// answers reports whether the registry marked id answers GET /v2/ with 200
// or 401.
func answers(ctx context.Context, client *http.Client, host, id string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.Header.Get("X-Slipway-Test-Registry") == id &&
		(resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized)
}

// ClosedAddr returns "127.0.0.1:PORT" of a port nothing listens on (free a
// moment ago): an endpoint that is down.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// freeLoopbackAddr returns "127.0.0.1:PORT" of a port that was free a moment
// ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
