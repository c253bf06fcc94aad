package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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

// ReadLog returns build id's log from byte offset to its current end (empty
// when there is nothing new, or no log at all).
func (s *Store) ReadLog(ctx context.Context, id, offset int64) ([]byte, error) {
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
		p, err := io.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("read log of build %d: %w", id, err)
		}
		return p, nil
	}
	rs, err := s.db.query(ctx, `SELECT "offset", data FROM build_logs
		WHERE build_id = ? AND "offset" + length(data) > ? ORDER BY "offset"`, id, offset)
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
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read log of build %d: %w", id, err)
	}
	return out, nil
}
