package store

import (
	"context"
	"fmt"
	"path/filepath"
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
	testenv.ReportLatencies(b, lat)
}

// BenchmarkRecordDelivery measures the store's side of a webhook ack:
// RecordDeliveryAndEnqueue of a delivery that queues nothing, from 1, 8
// and 32 goroutines at once (group commit: the deliveries that arrive
// while a commit is in flight share the next one), p50/p99 and
// deliveries/s. Both backends durable (SQLite synchronous=FULL, PostgreSQL
// fsync on).
//
//	go test -run '^$' -bench RecordDelivery -benchtime 5000x ./store
func BenchmarkRecordDelivery(b *testing.B) {
	for _, backend := range []string{BackendSQLite, BackendPostgres} {
		for _, senders := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/senders=%d", backend, senders), func(b *testing.B) {
				database := ""
				if backend == BackendPostgres {
					database = testenv.StartPostgresForTest(b, testenv.PostgresOptions{Durable: true}).NewDatabase(b)
				}
				s, err := OpenDatabase(b.Context(), database, filepath.Join(b.TempDir(), "data"), Options{KeepLeases: -1})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				benchmarkRecordDelivery(b, s, senders)
			})
		}
	}
}

func benchmarkRecordDelivery(b *testing.B, s *Store, senders int) {
	testenv.RunSenders(b, senders, "deliveries/s", func(n int64) error {
		_, _, err := s.RecordDeliveryAndEnqueue(b.Context(), Delivery{ID: fmt.Sprint("bench-", n), Event: "ping"}, nil, EnqueueOptions{})
		if err != nil {
			b.Error(err)
		}
		return err
	})
}
