package source_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/source"
	"github.com/slipwayci/slipway/source/gitfixture"
)

// wedgeDeadline is how long a Checkout may take after its fetch was meant to
// stop (fetch_timeout, cancel) before the test calls it wedged.
const wedgeDeadline = 60 * time.Second

// fakeUploadPack puts a git-upload-pack first on PATH that runs script (sh)
// while the file it returns says "fake", and the real git-upload-pack once it
// says "real". The script can write its child's PID to $CHILD.
func fakeUploadPack(t *testing.T, script string) (mode, child string) {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	real := filepath.Join(strings.TrimSpace(string(out)), "git-upload-pack")
	dir := t.TempDir()
	mode, child = filepath.Join(dir, "mode"), filepath.Join(dir, "child.pid")
	if err := os.WriteFile(mode, []byte("fake"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("#!/bin/sh\nREAL=%q\nCHILD=%q\nif [ \"$(cat %q)\" = real ]; then exec \"$REAL\" \"$@\"; fi\n%s\n", real, child, mode, script)
	if err := os.WriteFile(filepath.Join(dir, "git-upload-pack"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return mode, child
}

// checkoutWithin runs Checkout and fails the test when it has not returned
// within wedgeDeadline.
func checkoutWithin(t *testing.T, ctx context.Context, c *source.Cache, req source.Request) (*source.Checkout, error) {
	t.Helper()
	type result struct {
		co  *source.Checkout
		err error
	}
	done := make(chan result, 1)
	go func() {
		co, err := c.Checkout(ctx, req)
		done <- result{co, err}
	}()
	select {
	case r := <-done:
		if r.co != nil {
			t.Cleanup(func() { r.co.Close() })
		}
		return r.co, r.err
	case <-time.After(wedgeDeadline):
		t.Fatalf("Checkout of %s still running after %s: the fetch is wedged", req.URL, wedgeDeadline)
		return nil, nil
	}
}

// waitGone waits until the process whose PID is in file has ended (or is a
// zombie nobody reaps, which holds no pipe).
func waitGone(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the fake git-upload-pack never started its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("git-upload-pack's child %d is still running after the fetch returned: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bigRepo returns a repository whose pack is much larger than what the fake
// upload-packs let through.
func bigRepo(t *testing.T) *gitfixture.Repo {
	t.Helper()
	repo := gitfixture.New(t)
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	repo.Commit(t, "main", map[string]string{"Dockerfile": "FROM scratch\n", "blob.bin": string(blob)}, "big")
	return repo
}

// TestFetchThatStallsOrBreaksOffReturns: a file:// fetch whose
// git-upload-pack stalls, or breaks off mid-pack and keeps writing, returns
// (fetch_timeout, cancel, or the pack error), kills upload-pack and its
// children, and leaves the project's cache usable by the next fetch.
func TestFetchThatStallsOrBreaksOffReturns(t *testing.T) {
	tests := []struct {
		name   string
		script string
		// cancel cancels the Checkout's context once the child started,
		// as a canceled build or SIGTERM does.
		cancel bool
		// stalls: the fetch ends by its fetch_timeout (10s: the same
		// cache's next fetch, a real one, must fit in it on a loaded
		// machine); the others get an hour, so that a slow start is
		// never taken for a stall (checkoutWithin still bounds them).
		stalls  bool
		wantErr error
		wantMsg string
	}{
		{
			name: "stalls before advertising",
			// The PID file appears whole (renamed into place): the
			// test reads it as soon as it exists.
			script:  `sleep 300 & echo $! > "$CHILD.tmp"; mv "$CHILD.tmp" "$CHILD"; wait`,
			stalls:  true,
			wantErr: source.ErrFetchTimeout,
			wantMsg: "no answer within",
		},
		{
			name:    "stalls and is canceled",
			script:  `sleep 300 & echo $! > "$CHILD.tmp"; mv "$CHILD.tmp" "$CHILD"; wait`,
			cancel:  true,
			wantErr: context.Canceled,
		},
		{
			name: "breaks off mid-pack and keeps writing",
			// The real upload-pack's first bytes (refs, the start of
			// the pack), then garbage as fast as the pipe takes it.
			// The child is started first, so it is there whenever
			// the fetch gives up.
			script:  `sleep 300 & echo $! > "$CHILD.tmp"; mv "$CHILD.tmp" "$CHILD"; "$REAL" "$@" | dd bs=1 count=3000 2>/dev/null; yes garbage; wait`,
			wantErr: source.ErrRemoteFailed,
		},
		{
			name:    "stalls mid-pack",
			script:  `sleep 300 & echo $! > "$CHILD.tmp"; mv "$CHILD.tmp" "$CHILD"; "$REAL" "$@" | dd bs=1 count=3000 2>/dev/null; wait`,
			stalls:  true,
			wantErr: source.ErrFetchTimeout,
			wantMsg: "no answer within",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := bigRepo(t)
			mode, child := fakeUploadPack(t, tt.script)
			timeout := time.Hour
			if tt.stalls {
				timeout = 10 * time.Second
			}
			c := newCache(t, source.Options{FetchTimeout: timeout})
			req := source.Request{Project: "wedge", URL: repo.URL(), Ref: "main"}

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				go func() {
					for ctx.Err() == nil {
						if _, err := os.Stat(child); err == nil {
							cancel()
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			}
			_, err := checkoutWithin(t, ctx, c, req)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
				t.Fatalf("Checkout = %v, want %v %s", err, tt.wantErr, tt.wantMsg)
			}
			if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("error holds a control character: %q", err)
			}
			waitGone(t, child)

			// The project's lock is free and its cache usable.
			if err := os.WriteFile(mode, []byte("real"), 0o600); err != nil {
				t.Fatal(err)
			}
			co, err := checkoutWithin(t, t.Context(), c, req)
			if err != nil {
				t.Fatalf("Checkout after the broken fetch: %v", err)
			}
			if got, err := os.ReadFile(filepath.Join(co.Dir, "blob.bin")); err != nil || len(got) != 1<<20 {
				t.Errorf("blob.bin after the broken fetch: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestFetchSaysWhatUploadPackSaid: a git-upload-pack that fails on its own
// side is quoted, control characters escaped, instead of being called
// unreachable.
func TestFetchSaysWhatUploadPackSaid(t *testing.T) {
	repo := bigRepo(t)
	fakeUploadPack(t, `printf 'fatal: cannot write the pack: No space left on device\a\000\n' >&2; exit 128`)
	c := newCache(t, source.Options{FetchTimeout: time.Minute})
	_, err := checkoutWithin(t, t.Context(), c, source.Request{Project: "said", URL: repo.URL(), Ref: "main"})
	if !errors.Is(err, source.ErrRemoteFailed) {
		t.Fatalf("Checkout = %v, want ErrRemoteFailed", err)
	}
	want := `the remote said: fatal: cannot write the pack: No space left on device\x07\x00`
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("Checkout = %q, want it to say %q", err, want)
	}
	if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Errorf("error holds a control character: %q", err)
	}
}
