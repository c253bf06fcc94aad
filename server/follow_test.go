package server

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/store"
)

// followers is how many clients follow one build's log at once.
const followers = 100

// TestLogFollowersLeaveNoGoroutines: 100 clients following a running
// build's log cost a bounded number of goroutines that does not grow while
// they follow, and every one of them is gone once the clients disconnect.
func TestLogFollowersLeaveNoGoroutines(t *testing.T) {
	w := newDashWorld(t, "public", "")
	ctx := t.Context()
	b, err := w.store.Insert(ctx, store.Build{Project: "web", Trigger: store.TriggerManual, Ref: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.AppendLog(ctx, b.ID, []byte("line 1\n")); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	baseline := runtime.NumGoroutine()

	type follower struct {
		cancel context.CancelFunc
		lines  chan string
	}
	var (
		fs []follower
		wg sync.WaitGroup
	)
	defer func() {
		for _, f := range fs {
			f.cancel()
		}
		wg.Wait()
	}()
	url := fmt.Sprintf("%s/api/v1/builds/%d/log?follow=1", w.srv.URL, b.ID)
	for range followers {
		fctx, cancel := context.WithCancel(ctx)
		f := follower{cancel: cancel, lines: make(chan string, 8)}
		fs = append(fs, f)
		wg.Go(func() {
			defer close(f.lines)
			req, _ := http.NewRequestWithContext(fctx, http.MethodGet, url, nil)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				f.lines <- line
			}
		})
	}
	// readAll waits for every follower to get want.
	readAll := func(want string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for i, f := range fs {
			select {
			case got, ok := <-f.lines:
				if !ok || got != want {
					t.Fatalf("follower %d read %q (open %v), want %q", i, got, ok, want)
				}
			case <-timeout:
				t.Fatalf("follower %d did not get %q", i, want)
			}
		}
	}
	readAll("line 1\n")
	following := runtime.NumGoroutine()
	// Each follower is its handler's goroutine and its connection's, and
	// the client's side of it; nothing per poll.
	if per := float64(following-baseline) / followers; per > 6 {
		t.Errorf("%d goroutines for %d followers (%.1f each), want at most 6 each", following-baseline, followers, per)
	}
	for i := 2; i <= 4; i++ {
		line := fmt.Sprintf("line %d\n", i)
		if err := w.store.AppendLog(ctx, b.ID, []byte(line)); err != nil {
			t.Fatal(err)
		}
		readAll(line)
	}
	if later := runtime.NumGoroutine(); later > following+followers/10 {
		t.Errorf("goroutines grew from %d to %d while %d clients followed", following, later, followers)
	}

	for _, f := range fs {
		f.cancel()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+2 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines %s after the followers left, %d before they came:\n%s",
				n, "remain", baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
