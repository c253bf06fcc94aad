package server

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipwayci/slipway/store"
)

// Metrics are slipway's Prometheus metrics. They are registered on the
// registerer given to NewMetrics, never on a global one.
type Metrics struct {
	builds     *prometheus.CounterVec
	stages     *prometheus.HistogramVec
	queueDepth prometheus.Gauge
	deliveries *prometheus.CounterVec
	// steps and cachedSteps count the Dockerfile steps of BuildKit builds
	// and those taken from a layer cache, by project.
	steps, cachedSteps *prometheus.CounterVec
}

// NewMetrics creates and registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_builds_total",
			Help: "Builds that ended, by project and result.",
		}, []string{"project", "result"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_stage_duration_seconds",
			Help:    "Duration of build stages, by stage and result.",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"stage", "result"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slipway_queue_depth",
			Help: "Builds waiting in the queue.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_webhook_deliveries_total",
			Help: "GitHub webhook deliveries, by outcome.",
		}, []string{"outcome"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_build_steps_total",
			Help: "Dockerfile steps of finished BuildKit builds, by project.",
		}, []string{"project"}),
		cachedSteps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_build_cached_steps_total",
			Help: "Dockerfile steps of finished BuildKit builds taken from a layer cache (the engine's or projects[].cache.from), by project; cache reuse is this over slipway_build_steps_total.",
		}, []string{"project"}),
	}
	reg.MustRegister(m.builds, m.stages, m.queueDepth, m.deliveries, m.steps, m.cachedSteps)
	return m
}

// BuildCache counts the steps of a finished BuildKit build and those
// taken from a cache.
func (m *Metrics) BuildCache(project string, cached, total int) {
	m.steps.WithLabelValues(project).Add(float64(total))
	m.cachedSteps.WithLabelValues(project).Add(float64(cached))
}

// BuildFinished counts a finished build and observes its stages.
func (m *Metrics) BuildFinished(project string, status store.Status, stages []store.Stage) {
	m.builds.WithLabelValues(project, string(status)).Inc()
	for _, s := range stages {
		m.stages.WithLabelValues(s.Name, string(s.Status)).Observe(float64(s.DurationMS) / 1000)
	}
}

// QueueDepth sets the queue depth gauge.
func (m *Metrics) QueueDepth(n int) { m.queueDepth.Set(float64(n)) }

// Delivery counts a webhook delivery by outcome.
func (m *Metrics) Delivery(outcome string) { m.deliveries.WithLabelValues(outcome).Inc() }

// RegisterReplica adds this replica's share of the work in st to reg:
// slipway_replica_builds_running (running builds this replica claimed, read
// from the store at each scrape) and slipway_lease_takeovers_total (builds
// this replica put back because their replica's lease expired).
func RegisterReplica(reg prometheus.Registerer, st *store.Store) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "slipway_replica_builds_running",
			Help: "Running builds claimed by this replica.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := st.RunningHere(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "slipway_lease_takeovers_total",
			Help: "Builds this replica put back because the lease of the replica running them expired.",
		}, func() float64 { return float64(st.Takeovers()) }),
	)
}
