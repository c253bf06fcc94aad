package webhook

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBodyBudget(t *testing.T) {
	const maxBody = 4 << 20
	b := newBodyBudget(maxBody)
	b.wait = 50 * time.Millisecond
	ctx := t.Context()

	// A stalled sender of a large body holds the large pool...
	releaseLarge, err := b.reserve(ctx, maxBody)
	if err != nil {
		t.Fatalf("reserve a maximum body: %v", err)
	}
	// ...so another large body, or one of unknown length, waits and is
	// refused...
	for _, n := range []int64{smallBody + 1, -1} {
		if _, err := b.reserve(ctx, n); !errors.Is(err, errBusy) {
			t.Errorf("reserve %d while the large pool is held: %v, want errBusy", n, err)
		}
	}
	// ...while small bodies, GitHub's usual deliveries, go ahead.
	var releases []func()
	for range smallPool / smallBody {
		r, err := b.reserve(ctx, smallBody)
		if err != nil {
			t.Fatalf("reserve a small body while the large pool is held: %v", err)
		}
		releases = append(releases, r)
	}
	// The small pool has its own bound.
	if _, err := b.reserve(ctx, 1); !errors.Is(err, errBusy) {
		t.Errorf("reserve past the small pool: %v, want errBusy", err)
	}
	for _, r := range releases {
		r()
	}
	releaseLarge()
	if r, err := b.reserve(ctx, maxBody); err != nil {
		t.Errorf("reserve a maximum body once it was given back: %v", err)
	} else {
		r()
	}
}

func TestBodyBudgetReadGrowsWithWhatIsSent(t *testing.T) {
	const maxBody = 25 << 20
	b := newBodyBudget(maxBody)
	sent := strings.Repeat("x", 3000)
	// The request claims the maximum but sends 3000 bytes.
	r := httptest.NewRequest(http.MethodPost, "/hooks/github", strings.NewReader(sent))
	r.ContentLength = maxBody
	body, release, err := b.read(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if !bytes.Equal(body, []byte(sent)) {
		t.Errorf("read %d bytes, want the %d sent", len(body), len(sent))
	}
	if cap(body) > firstAlloc+1 {
		t.Errorf("a claimed %d bytes made a %d byte buffer, want at most %d", maxBody, cap(body), firstAlloc+1)
	}

	// A body read to its end grows past the first allocation exactly.
	big := bytes.Repeat([]byte("y"), 3*firstAlloc+5)
	r = httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(big))
	body, release, err = b.read(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if !bytes.Equal(body, big) || int64(cap(body)) > int64(len(big))+1 {
		t.Errorf("read %d bytes into %d, want %d into at most %d", len(body), cap(body), len(big), len(big)+1)
	}
}

func TestBodyBudgetReadReusesSmallBuffers(t *testing.T) {
	b := newBodyBudget(25 << 20)
	// Each body is read exactly, whatever was read into a reused buffer
	// before it, and its buffer never has room past Content-Length+1.
	for i, n := range []int{9000, 3000, 40000, 1, 3000, smallBody} {
		sent := bytes.Repeat([]byte{byte('a' + i)}, n)
		r := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(sent))
		body, release, err := b.read(httptest.NewRecorder(), r)
		if err != nil {
			t.Fatalf("read %d bytes: %v", n, err)
		}
		if !bytes.Equal(body, sent) || cap(body) > n+1 {
			t.Errorf("read %d bytes into %d, want the %d sent into at most %d", len(body), cap(body), n, n+1)
		}
		release()
	}
}
