// Package testenv gives tests the real components they run against: the
// Docker engine, a registry on loopback and static binaries for FROM scratch
// images. A missing component fails the test with what to do; it never skips,
// so CI cannot pass without the real thing.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// Docker returns a client of the local engine (DOCKER_HOST or the default
// socket) with API version negotiation, failing the test when no engine
// answers within 10 seconds.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("no Docker engine answers (%v): run `bash .ci/run` once or start dockerd (see README, Testing)", err)
	}
	// Settle the API version now: the client's lazy negotiation races
	// when its first requests come from several goroutines.
	cli.NegotiateAPIVersion(ctx)
	return cli
}

// Name returns a name unique to this test run, usable for images, containers,
// services and networks: prefix + a lower-case sanitised test name + random
// hex.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	n := strings.ToLower(t.Name())
	n = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, n)
	if len(n) > 30 {
		n = n[len(n)-30:]
	}
	return strings.Trim(prefix+"-"+strings.Trim(n, "-"), "-") + "-" + hex.EncodeToString(b)
}

// RandomHex returns 24 random hex digits, for values a test must not find
// where they do not belong (secrets) or must find only from this run.
func RandomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// StaticBinary compiles the Go program src (a main package's source) with
// CGO_ENABLED=0 and returns the binary's path, for FROM scratch images.
func StaticBinary(t testing.TB, src string) string {
	t.Helper()
	return StaticBinaryFor(t, src, "")
}

// StaticBinaryFor is StaticBinary for GOARCH goarch ("" = the
// toolchain's default), e.g. an arm64 binary for a multi-platform image.
func StaticBinaryFor(t testing.TB, src, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fixture\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod", "GOWORK=off")
	if goarch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build static fixture binary: %v\n%s", err, b)
	}
	return out
}
