package testenv

import (
	"slices"
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
