package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/server"
	"github.com/slipwayci/slipway/store"
	"github.com/slipwayci/slipway/webhook"
)

// BenchmarkWebhookAck measures how fast a running slipway acknowledges
// signed GitHub deliveries on loopback: latency p50/p99 and deliveries/s,
// with 1, 8 and 32 concurrent senders (the deliveries of concurrent senders
// share group commits). The deliveries are recorded
// but build nothing (pings, and pushes of a repository no project tracks),
// so the figures are the webhook path alone: body read, HMAC check, parse,
// decision and the durable record. Afterwards every delivery answered 2xx
// must be in the store. On PostgreSQL it runs one and three replicas
// (separate servers, data_dirs and pools on one database), the senders
// spreading the deliveries round-robin over them.
//
//	go test -run '^$' -bench WebhookAck -benchtime 2000x ./server
func BenchmarkWebhookAck(b *testing.B) {
	senderCounts := []int{1, 8, 32}
	for _, senders := range senderCounts {
		b.Run(fmt.Sprintf("sqlite/senders=%d", senders), func(b *testing.B) { benchmarkWebhookAck(b, senders, "", 1) })
	}
	for _, replicas := range []int{1, 3} {
		for _, senders := range senderCounts {
			b.Run(fmt.Sprintf("postgres/replicas=%d/senders=%d", replicas, senders), func(b *testing.B) {
				database := testenv.StartPostgresForTest(b, testenv.PostgresOptions{Durable: true}).NewDatabase(b)
				benchmarkWebhookAck(b, senders, database, replicas)
			})
		}
	}
}

func benchmarkWebhookAck(b *testing.B, senders int, database string, replicas int) {
	w := fixture.New(b, fixture.Options{Extra: fmt.Sprintf("github:\n  webhook_secret: %q\n", webhookSecret.Value())})
	cfg, err := config.Load(w.ConfigPath())
	if err != nil {
		b.Fatal(err)
	}
	cfg.Database = config.Secret(database)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var (
		bases []string
		stops []func()
	)
	stop := func() {
		for _, s := range stops {
			s()
		}
	}
	for r := range replicas {
		rcfg := *cfg
		if r > 0 {
			rcfg.DataDir = filepath.Join(b.TempDir(), fmt.Sprint("replica-", r))
		}
		base, stop := benchServe(b, &rcfg)
		bases = append(bases, base)
		stops = append(stops, stop)
	}

	type signed struct {
		event string
		body  []byte
		sig   string
	}
	var bodies []signed
	for _, p := range []struct{ event, file string }{{"ping", "ping.json"}, {"push", "push-new-branch.json"}} {
		body, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", p.file))
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, signed{p.event, body, webhook.Signature(webhookSecret, body)})
	}

	failed := testenv.RunSenders(b, senders, "deliveries/s", func(n int64) error {
		d := bodies[n%int64(len(bodies))]
		req, _ := http.NewRequest(http.MethodPost, bases[n%int64(len(bases))]+"/hooks/github", bytes.NewReader(d.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", d.event)
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", n))
		req.Header.Set("X-Hub-Signature-256", d.sig)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	accepted := int64(b.N) - failed

	stop()
	if failed > 0 {
		b.Errorf("%d deliveries were not accepted", failed)
	}
	st, err := store.OpenDatabase(context.Background(), database, cfg.DataDir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	recorded, err := st.CountDeliveries(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if int64(recorded) != accepted {
		b.Errorf("%d deliveries answered 2xx, %d recorded", accepted, recorded)
	}
}

// benchServe runs server.Run with cfg on a loopback listener and returns
// its base URL once it answers, and a stop that ends it and waits (also
// called when the benchmark ends).
func benchServe(b *testing.B, cfg *config.Config) (base string, stop func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, cfg, zerolog.New(io.Discard), server.Options{Listener: ln, Grace: time.Second})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.Errorf("server.Run: %v", err)
			}
		})
	}
	b.Cleanup(stop)
	base = "http://" + ln.Addr().String()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return base, stop
		}
		if time.Now().After(deadline) {
			b.Fatalf("server does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
