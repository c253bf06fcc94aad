package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testenv"
)

// BenchmarkClaimLatency measures how long a queued build waits for an idle
// replica: from Enqueue's return on one store to ClaimNext's return on
// another (on SQLite, the same store: one replica). The idle claimer waits
// on QueueSignal with a 2 s poll, as the queue's workers would. PostgreSQL
// runs durable (fsync on), as SQLite does (synchronous=FULL).
//
//	go test -run '^$' -bench ClaimLatency -benchtime 300x ./store
func BenchmarkClaimLatency(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := Open(b.Context(), filepath.Join(b.TempDir(), "data"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchmarkClaimLatency(b, s, s)
	})
	b.Run("postgres", func(b *testing.B) {
		database := testenv.StartPostgresForTest(b, testenv.PostgresOptions{Durable: true}).NewDatabase(b)
		producer, err := OpenDatabase(b.Context(), database, b.TempDir(), Options{Replica: "producer"})
		if err != nil {
			b.Fatal(err)
		}
		defer producer.Close()
		claimer, err := OpenDatabase(b.Context(), database, b.TempDir(), Options{Replica: "claimer"})
		if err != nil {
			b.Fatal(err)
		}
		defer claimer.Close()
		select {
		case <-claimer.listening:
		case <-time.After(30 * time.Second):
			b.Fatal("the claimer's listener did not connect")
		}
		benchmarkClaimLatency(b, producer, claimer)
	})
}

func benchmarkClaimLatency(b *testing.B, producer, claimer *Store) {
	ctx, cancel := context.WithCancel(b.Context())
	claimed := make(chan time.Time)
	stopped := make(chan struct{})
	defer func() {
		cancel()
		<-stopped
	}()
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			ch := claimer.QueueSignal()
			got, ok, err := claimer.ClaimNext(ctx)
			if err != nil {
				return
			}
			if !ok {
				select {
				case <-ch:
				case <-time.After(2 * time.Second):
				case <-ctx.Done():
				}
				continue
			}
			at := time.Now()
			if _, err := claimer.SetStatus(ctx, got.ID, nil, StatusSucceeded, ""); err != nil {
				return
			}
			select {
			case claimed <- at:
			case <-ctx.Done():
			}
		}
	}()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if _, _, _, err := producer.Enqueue(ctx, Build{Project: "web", Trigger: TriggerPush, Ref: fmt.Sprint("refs/heads/b", i)}, EnqueueOptions{}); err != nil {
			b.Fatal(err)
		}
		queued := time.Now()
		var at time.Time
		select {
		case at = <-claimed:
		case <-stopped:
			b.Fatal("the claimer stopped")
		}
		lat = append(lat, at.Sub(queued))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
}
