package builders

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	healthyDesc = prometheus.NewDesc("slipway_builder_healthy", "1 when the builder's engine answered its last health check, else 0.", []string{"builder"}, nil)
	drainDesc   = prometheus.NewDesc("slipway_builder_draining", "1 while the builder is drained (takes no new builds).", []string{"builder"}, nil)
	runDesc     = prometheus.NewDesc("slipway_builder_running_builds", "Builds running on the builder.", []string{"builder"}, nil)
	slotsDesc   = prometheus.NewDesc("slipway_builder_concurrency", "Builds the builder may run at once.", []string{"builder"}, nil)
	buildsDesc  = prometheus.NewDesc("slipway_builder_builds_total", "Build attempts that ended on the builder, by result (succeeded, failed, canceled).", []string{"builder", "result"}, nil)
	stepsDesc   = prometheus.NewDesc("slipway_builder_steps_total", "Dockerfile steps BuildKit ran on the builder.", []string{"builder"}, nil)
	cachedDesc  = prometheus.NewDesc("slipway_builder_cached_steps_total", "Dockerfile steps the builder took from its build cache; cache reuse is this over slipway_builder_steps_total.", []string{"builder"}, nil)
	failDesc    = prometheus.NewDesc("slipway_builder_failures_total", "Failures on the builder by kind: build (build attempts that failed on it, whatever the cause), engine_lost (a build found its engine gone, at placement or mid-build, and marked it unhealthy).", []string{"builder", "kind"}, nil)
	queuedDesc  = prometheus.NewDesc("slipway_builder_queued_builds", "Builds waiting for a builder slot, every matching builder being full, counted on their sticky builder.", []string{"builder"}, nil)
)

// Kinds of slipway_builder_failures_total, and the result of Record they
// count.
const (
	failureBuild      = "build"
	failureEngineLost = "engine_lost"
	resultFailed      = "failed"
)

// Collector returns a Prometheus collector of the builders' state and
// counters, read at each scrape.
func (p *Pool) Collector() prometheus.Collector { return collector{p} }

type collector struct{ p *Pool }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{healthyDesc, drainDesc, runDesc, slotsDesc, buildsDesc, stepsDesc, cachedDesc, failDesc, queuedDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, m := range p.members {
		name := m.cfg.Name
		ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, b2f(m.healthy), name)
		ch <- prometheus.MustNewConstMetric(drainDesc, prometheus.GaugeValue, b2f(m.draining), name)
		ch <- prometheus.MustNewConstMetric(runDesc, prometheus.GaugeValue, float64(len(m.running)), name)
		ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(max(m.cfg.Concurrency, 1)), name)
		for _, r := range slices.Sorted(maps.Keys(m.results)) {
			ch <- prometheus.MustNewConstMetric(buildsDesc, prometheus.CounterValue, float64(m.results[r]), name, r)
		}
		ch <- prometheus.MustNewConstMetric(stepsDesc, prometheus.CounterValue, float64(m.steps), name)
		ch <- prometheus.MustNewConstMetric(cachedDesc, prometheus.CounterValue, float64(m.cached), name)
		ch <- prometheus.MustNewConstMetric(failDesc, prometheus.CounterValue, float64(m.results[resultFailed]), name, failureBuild)
		ch <- prometheus.MustNewConstMetric(failDesc, prometheus.CounterValue, float64(m.lost), name, failureEngineLost)
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(m.queued), name)
	}
}
