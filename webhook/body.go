package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Anyone can send a body to the webhook route, and its signature can only
// be checked once the whole body is in, so the memory of the bodies being
// read is bounded for all requests together, not per request. A body takes
// room for its Content-Length from one of two pools before a byte of it is
// read: small bodies (GitHub's push payloads are tens of KiB) from a pool of
// their own, larger ones and bodies of unknown length from a pool of one
// maximum-size body. Stalled senders of large bodies therefore hold at most
// maxBody bytes (the HTTP server's read timeout ends them), and they never
// delay a small delivery.
const (
	// smallBody is the largest Content-Length taken from the small pool.
	smallBody = 256 << 10
	// smallPool is the room of all small bodies read at once.
	smallPool = 16 << 20
	// bodyWait is how long a body waits for room before it is refused
	// with 503. GitHub gives up on a delivery after 10 s.
	bodyWait = 10 * time.Second
	// firstAlloc bounds the buffer allocated up front from a
	// Content-Length, so that a claimed size costs little until sent.
	firstAlloc = 1 << 20
)

// errBusy means there was no room for the body within bodyWait.
var errBusy = errors.New("too many webhook bodies being received at once")

// errTooLarge reports a Content-Length over the limit, refused unread.
var errTooLarge = errors.New("body too large")

// smallBuffers holds the buffers of the bodies read from the small pool
// (at most smallBody+bufferStep bytes each), so that a delivery does not
// allocate its body anew: a push payload is ~10 KiB, as much as go-github
// allocates to parse it. Idle buffers are freed by the garbage collector
// like any sync.Pool's.
var smallBuffers = sync.Pool{New: func() any { return new([]byte) }}

// bufferStep is the size a pooled body buffer is a multiple of.
const bufferStep = 16 << 10

// bodyBudget bounds the memory of the bodies being read. It is safe for
// concurrent use.
type bodyBudget struct {
	maxBody      int64
	small, large *semaphore.Weighted
	wait         time.Duration // bodyWait
}

func newBodyBudget(maxBody int64) *bodyBudget {
	return &bodyBudget{maxBody: maxBody, small: semaphore.NewWeighted(smallPool), large: semaphore.NewWeighted(maxBody), wait: bodyWait}
}

// reserve takes room for a body of length n (-1: unknown) and returns the
// function that gives it back. n must be at most maxBody.
func (b *bodyBudget) reserve(ctx context.Context, n int64) (release func(), err error) {
	pool, size := b.large, b.maxBody
	switch {
	case n == 0:
		return func() {}, nil
	case n > 0 && n <= min(smallBody, b.maxBody):
		pool, size = b.small, n
	case n > 0:
		size = n
	}
	// Without contention (TryAcquire fails while others wait, so the
	// order stays first come, first served) no timer is set up.
	if !pool.TryAcquire(size) {
		if err := b.acquire(ctx, pool, size); err != nil {
			return nil, err
		}
	}
	return func() { pool.Release(size) }, nil
}

// acquire waits at most b.wait for size of pool.
func (b *bodyBudget) acquire(ctx context.Context, pool *semaphore.Weighted, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := pool.Acquire(ctx, size); err != nil {
		return errBusy
	}
	return nil
}

// read reads r's whole body within the budget, refusing more than maxBody
// bytes (413) while reading at most maxBody+1 of them. The buffer grows
// with what is sent, not with what Content-Length claims. release gives
// the room back once the body is no longer needed; it is nil on error.
func (b *bodyBudget) read(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	if r.ContentLength > b.maxBody {
		return nil, nil, errTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, func() {}, nil
	}
	release, err = b.reserve(r.Context(), r.ContentLength)
	if err != nil {
		return nil, nil, err
	}
	limit := b.maxBody
	if r.ContentLength >= 0 {
		limit = r.ContentLength
	}
	var buf []byte
	if r.ContentLength > 0 && r.ContentLength <= smallBody {
		// The usual delivery: its buffer comes from smallBuffers and goes
		// back there once released (bodies are not kept: the parsed
		// event and the records copy what they need). Capped at
		// limit+1, as if freshly made.
		p := smallBuffers.Get().(*[]byte)
		if int64(cap(*p)) < limit+1 {
			// Rounded up so that the buffer fits the next few sizes too.
			*p = make([]byte, (limit+1+bufferStep-1)/bufferStep*bufferStep)
		}
		buf = (*p)[: 0 : limit+1]
		free := release
		release = func() {
			free()
			smallBuffers.Put(p)
		}
	} else {
		buf = make([]byte, 0, min(limit, firstAlloc)+1)
	}
	rd := http.MaxBytesReader(w, r.Body, b.maxBody)
	defer rd.Close()
	for {
		if len(buf) == cap(buf) {
			// Grow towards the limit, never past it: the budget was taken
			// for the limit.
			next := make([]byte, len(buf), min(2*int64(cap(buf)), limit+1))
			copy(next, buf)
			buf = next
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, release, nil
		}
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("read body: %w", err)
		}
	}
}
