package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// logChunk bounds one stored chunk of a build log in PostgreSQL.
const logChunk = 256 << 10

// AppendLog appends p to build id's log: to the file LogPath(id) on SQLite,
// as chunks of the build_logs table on PostgreSQL (so that every replica
// reads it). One writer per build at a time.
func (s *Store) AppendLog(ctx context.Context, id int64, p []byte) error {
	if s.kind == BackendSQLite {
		f, err := os.OpenFile(s.LogPath(id), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("append to log of build %d: %w", id, err)
		}
		if _, err := f.Write(p); err != nil {
			f.Close()
			return fmt.Errorf("append to log of build %d: %w", id, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("append to log of build %d: %w", id, err)
		}
		return nil
	}
	err := s.write(ctx, func(tx querier) error {
		_, err := appendLogChunks(ctx, tx, id, -1, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("append to log of build %d: %w", id, err)
	}
	return nil
}

// appendLogChunks stores p as chunks of build id's log at offset (the log's
// current size when offset < 0) and returns the offset after p.
func appendLogChunks(ctx context.Context, tx querier, id, offset int64, p []byte) (int64, error) {
	if offset < 0 {
		if err := tx.queryRow(ctx, `SELECT coalesce(max("offset" + length(data)), 0) FROM build_logs WHERE build_id = ?`, id).Scan(&offset); err != nil {
			return 0, err
		}
	}
	for len(p) > 0 {
		n := min(len(p), logChunk)
		if _, err := tx.exec(ctx, `INSERT INTO build_logs (build_id, "offset", data) VALUES (?, ?, ?)`, id, offset, p[:n]); err != nil {
			return 0, err
		}
		offset += int64(n)
		p = p[n:]
	}
	return offset, nil
}

// ReadLog returns at most max bytes (max <= 0: no bound) of build id's log
// from byte offset on; empty when there is nothing new, or no log at all.
// Any replica reads the logs of every replica's builds on PostgreSQL.
func (s *Store) ReadLog(ctx context.Context, id, offset int64, max int) ([]byte, error) {
	if s.kind == BackendSQLite {
		f, err := os.Open(s.LogPath(id))
		if errors.Is(err, os.ErrNotExist) {
			return []byte{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read log of build %d: %w", id, err)
		}
		defer f.Close()
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read log of build %d: %w", id, err)
		}
		var r io.Reader = f
		if max > 0 {
			r = io.LimitReader(f, int64(max))
		}
		p, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("read log of build %d: %w", id, err)
		}
		return p, nil
	}
	query, args := `SELECT "offset", data FROM build_logs
		WHERE build_id = ? AND "offset" + length(data) > ? ORDER BY "offset"`, []any{id, offset}
	if max > 0 {
		// Chunks hold at most logChunk bytes: enough rows for max.
		query, args = query+` LIMIT ?`, append(args, max/logChunk+2)
	}
	rs, err := s.db.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read log of build %d: %w", id, err)
	}
	defer rs.Close()
	out := []byte{}
	for rs.Next() {
		var (
			at   int64
			data []byte
		)
		if err := rs.Scan(&at, &data); err != nil {
			return nil, fmt.Errorf("read log of build %d: %w", id, err)
		}
		if at < offset {
			data = data[offset-at:]
		}
		out = append(out, data...)
		if max > 0 && len(out) >= max {
			out = out[:max]
			break
		}
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read log of build %d: %w", id, err)
	}
	return out, nil
}

// logFlushDelay bounds how long a written byte waits before a PostgreSQL
// log writer stores it, so that followers on any replica see it.
const logFlushDelay = 200 * time.Millisecond

// CreateLog starts build id's log anew (a new attempt replaces the last
// one's): the file LogPath(id) on SQLite; on PostgreSQL a writer that
// stores what it gets as build_logs chunks at least every 200 ms and at
// Close, so that every replica can serve and follow it. The writer is safe
// for concurrent use.
func (s *Store) CreateLog(ctx context.Context, id int64) (io.WriteCloser, error) {
	if s.kind == BackendSQLite {
		f, err := os.OpenFile(s.LogPath(id), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, fmt.Errorf("create log of build %d: %w", id, err)
		}
		return f, nil
	}
	if _, err := s.db.exec(ctx, `DELETE FROM build_logs WHERE build_id = ?`, id); err != nil {
		return nil, fmt.Errorf("create log of build %d: %w", id, err)
	}
	return &logWriter{s: s, id: id}, nil
}

// logWriter buffers a build's log and stores it in chunks.
type logWriter struct {
	s  *Store
	id int64

	mu     sync.Mutex
	buf    []byte
	offset int64       // of buf's first byte
	timer  *time.Timer // pending flush of buf, nil when none
	err    error       // the first failed flush; later writes fail with it
	closed bool
}

// Write buffers p; a full chunk is stored at once, the rest within
// logFlushDelay.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, os.ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= logChunk {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(logFlushDelay, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.timer = nil
			if !w.closed && w.err == nil {
				_ = w.flushLocked()
			}
		})
	}
	return len(p), nil
}

// flushLocked stores the buffer; w.mu is held.
func (w *logWriter) flushLocked() error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.buf) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.s.write(ctx, func(tx querier) error {
		_, err := appendLogChunks(ctx, tx, w.id, w.offset, w.buf)
		return err
	})
	if err != nil {
		w.err = fmt.Errorf("write log of build %d: %w", w.id, err)
		return w.err
	}
	w.offset += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// Close stores what is left. Close is idempotent.
func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	err := w.err
	if err == nil {
		err = w.flushLocked()
	}
	w.closed = true
	return err
}
