package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
)

// Key returns the random key stored under name, generating size random
// bytes the first time. Every process and replica sharing the database gets
// the same key, also after restarts: the first to store it wins. A stored
// key of another size is an error (its name is taken by something else).
func (s *Store) Key(ctx context.Context, name string, size int) ([]byte, error) {
	if name == "" || size <= 0 {
		return nil, errors.New("key: empty name or size")
	}
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	var key []byte
	err := s.write(ctx, func(tx querier) error {
		if _, err := tx.exec(ctx, `INSERT INTO keys (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			name, fresh, nanos(s.now())); err != nil {
			return err
		}
		return tx.queryRow(ctx, `SELECT value FROM keys WHERE name = ?`, name).Scan(&key)
	})
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	if len(key) != size {
		return nil, fmt.Errorf("key %s: stored with %d bytes, want %d", name, len(key), size)
	}
	return key, nil
}
