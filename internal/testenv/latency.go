package testenv

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ReportLatencies reports the median and the 99th percentile of lat (in
// any order; sorted in place) as the benchmark metrics p50-ms and p99-ms.
// Nothing is reported for no latencies.
func ReportLatencies(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
}

// RunSenders calls send(n) for n = 1…b.N from senders goroutines at once,
// timing each call, then reports the p50-ms and p99-ms latency and the rate
// (as unit, e.g. "deliveries/s") of the calls that returned nil, and
// returns how many did not. The benchmark timer runs only meanwhile.
func RunSenders(b *testing.B, senders int, unit string, send func(n int64) error) (failed int64) {
	b.Helper()
	var (
		seq, fails atomic.Int64
		mu         sync.Mutex
		lat        []time.Duration
		wg         sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Go(func() {
			var mine []time.Duration
			for {
				n := seq.Add(1)
				if n > int64(b.N) {
					break
				}
				t0 := time.Now()
				if err := send(n); err != nil {
					fails.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	ReportLatencies(b, lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), unit)
	}
	return fails.Load()
}
