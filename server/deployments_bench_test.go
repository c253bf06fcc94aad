package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayci/slipway/config"
	"github.com/slipwayci/slipway/deploy/swarmtest"
	"github.com/slipwayci/slipway/internal/fixture"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/pipeline"
)

const (
	// benchTargets is how many deploy targets the deployments benchmarks
	// read.
	benchTargets = 3
	// benchImage is the image of their service (which runs no task).
	benchImage = "127.0.0.1:1/none:v1"
)

// BenchmarkDeployments measures reading what runs on the deploy bindings'
// services with three deploy targets, each a proxy of the local engine
// that counts connections (conns/op), without and with a latency on each
// chunk sent to the engine (a manager some way off):
//
//   - read: pipeline.Service.Deployments, what one uncached request does;
//
//   - request: GET /api/v1/deployments of a running server, with one
//     client and with eight at once.
//
//     go test -run '^$' -bench Deployments -benchtime 100x ./server
func BenchmarkDeployments(b *testing.B) {
	cli := swarmtest.Manager(b)
	service := testenv.Name(b, "deps")
	swarmtest.CreateService(b, cli, swarmtest.Spec(service, benchImage, 0, nil), "")
	for _, latency := range []time.Duration{0, 10 * time.Millisecond} {
		proxies := make([]*swarmtest.Proxy, benchTargets)
		var targets, binds strings.Builder
		targets.WriteString("deploy_targets:\n")
		for i := range proxies {
			proxies[i] = swarmtest.NewProxy(b, cli, latency)
			fmt.Fprintf(&targets, "  t%d:\n    hosts: [%q]\n", i, proxies[i].Host)
			fmt.Fprintf(&binds, "      - {target: t%d, services: [%q], on: [\"branch:main\"]}\n", i, service)
		}
		w := fixture.New(b, fixture.Options{Extra: targets.String(), ProjectExtra: "    deploy:\n" + binds.String()})
		cfg, err := config.Load(w.ConfigPath())
		if err != nil {
			b.Fatal(err)
		}
		conns := func() int64 {
			var n int64
			for _, p := range proxies {
				n += p.Connections()
			}
			return n
		}
		name := fmt.Sprintf("latency=%s", latency)
		b.Run("read/"+name, func(b *testing.B) {
			svc, err := pipeline.Open(b.Context(), cfg, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			before := conns()
			b.ResetTimer()
			for range b.N {
				states, err := svc.Deployments(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				checkBenchStates(b, states, service)
			}
			b.StopTimer()
			b.ReportMetric(float64(conns()-before)/float64(b.N), "conns/op")
		})
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("request/clients=%d/%s", clients, name), func(b *testing.B) {
				base, _ := benchServe(b, cfg)
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
				var lastErr atomic.Value
				before := conns()
				failed := testenv.RunSenders(b, clients, "requests/s", func(int64) error {
					resp, err := client.Get(base + "/api/v1/deployments")
					if err != nil {
						return err
					}
					var states []pipeline.ServiceState
					err = json.NewDecoder(resp.Body).Decode(&states)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || len(states) != benchTargets || states[0].Image != benchImage {
						err = fmt.Errorf("GET /api/v1/deployments: %d %+v %v", resp.StatusCode, states, err)
						lastErr.Store(err)
						return err
					}
					return nil
				})
				b.StopTimer()
				if failed > 0 {
					b.Errorf("%d requests failed: %v", failed, lastErr.Load())
				}
				b.ReportMetric(float64(conns()-before)/float64(b.N), "conns/op")
			})
		}
	}
}

// checkBenchStates fails the benchmark unless every target's row shows the
// service's image.
func checkBenchStates(b *testing.B, states []pipeline.ServiceState, service string) {
	b.Helper()
	if len(states) != benchTargets {
		b.Fatalf("%d services, want %d: %+v", len(states), benchTargets, states)
	}
	for _, st := range states {
		if st.Service != service || st.Image != benchImage {
			b.Fatalf("%+v, want %s running %s", st, service, benchImage)
		}
	}
}
