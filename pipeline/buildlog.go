package pipeline

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// Log is a build's log: an append-only file (or the store's log writer)
// capped at a byte limit. The first
// half of the limit is written through to the file as it arrives (so a
// follower sees it live); past that, only the newest half-limit bytes are
// kept, in a ring, and written after an omission marker when the log is
// closed. A test that prints 1 GB therefore costs at most the limit on disk
// and half of it in memory.
//
// Log is safe for concurrent use: stages and the engine's streams may write at
// once.
type Log struct {
	mu      sync.Mutex
	f       io.WriteCloser
	echo    io.Writer
	headMax int64
	head    int64
	ring    []byte
	ringPos int
	ringLen int
	omitted int64
	closed  bool
}

// OpenLog creates (or truncates) the log file at path. limit caps the file's
// size (values under 1 KiB are raised to 1 KiB). Every byte written is also
// copied to echo when it is non-nil (the CLI's progress on stderr), capped or
// not.
func OpenLog(path string, limit int64, echo io.Writer) (*Log, error) {
	if limit < 1024 {
		limit = 1024
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open build log: %w", err)
	}
	return NewLog(f, limit, echo), nil
}

// NewLog is OpenLog writing to w (store.CreateLog: a file, or chunks in
// PostgreSQL that every replica reads); Close closes w.
func NewLog(w io.WriteCloser, limit int64, echo io.Writer) *Log {
	if limit < 1024 {
		limit = 1024
	}
	return &Log{f: w, echo: echo, headMax: limit / 2, ring: make([]byte, limit-limit/2)}
}

// Write appends p. It never fails because of the cap; it fails only when the
// file cannot be written.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.echo != nil {
		_, _ = l.echo.Write(p) // progress display is best effort
	}
	n := len(p)
	if room := l.headMax - l.head; room > 0 {
		k := min(int64(len(p)), room)
		if _, err := l.f.Write(p[:k]); err != nil {
			return 0, fmt.Errorf("write build log: %w", err)
		}
		l.head += k
		p = p[k:]
	}
	l.keepTail(p)
	return n, nil
}

// keepTail appends p to the ring, counting what falls out of it.
func (l *Log) keepTail(p []byte) {
	size := len(l.ring)
	if len(p) >= size {
		l.omitted += int64(l.ringLen) + int64(len(p)-size)
		copy(l.ring, p[len(p)-size:])
		l.ringPos, l.ringLen = 0, size
		return
	}
	if over := l.ringLen + len(p) - size; over > 0 {
		l.omitted += int64(over)
		l.ringPos = (l.ringPos + over) % size
		l.ringLen -= over
	}
	end := (l.ringPos + l.ringLen) % size
	k := copy(l.ring[end:], p)
	copy(l.ring, p[k:])
	l.ringLen += len(p)
}

// Printf writes a formatted line (a newline is added when missing).
func (l *Log) Printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if len(s) == 0 || s[len(s)-1] != '\n' {
		s += "\n"
	}
	_, _ = l.Write([]byte(s))
}

// Close writes the kept tail, after a marker saying how much was omitted, and
// closes the file. Close is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var werr error
	if l.ringLen > 0 {
		if l.omitted > 0 {
			_, werr = fmt.Fprintf(l.f, "\n[slipway: %d bytes of output omitted; the log keeps its head and tail (log_limit)]\n", l.omitted)
		}
		start := (l.ringPos) % len(l.ring)
		first := l.ring[start:min(start+l.ringLen, len(l.ring))]
		if _, err := l.f.Write(first); err != nil && werr == nil {
			werr = err
		}
		if rest := l.ringLen - len(first); rest > 0 {
			if _, err := l.f.Write(l.ring[:rest]); err != nil && werr == nil {
				werr = err
			}
		}
	}
	if err := l.f.Close(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("close build log: %w", werr)
	}
	return nil
}
