package basewatch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the watcher's counters.
type metrics struct {
	checks   *prometheus.CounterVec
	changes  prometheus.Counter
	rebuilds prometheus.Counter
	retries  prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_base_image_checks_total",
			Help: "Registry HEAD requests of watched base images, by result (ok, error).",
		}, []string{"result"}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_base_image_changes_total",
			Help: "New digests seen for watched base images.",
		}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_base_image_rebuilds_total",
			Help: "Rebuilds queued because a base image got a new digest, retries included.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_base_image_retries_total",
			Help: "Rebuilds queued again because the rebuild on a new base digest failed.",
		}),
	}
}

func (m *metrics) checked(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.checks.WithLabelValues(result).Inc()
}

var watchedDesc = prometheus.NewDesc("slipway_base_images_watched", "Base images the watcher checks (at its last pass).", nil, nil)

// Collector returns the watcher's metrics: slipway_base_images_watched,
// slipway_base_image_checks_total{result}, slipway_base_image_changes_total,
// slipway_base_image_rebuilds_total and slipway_base_image_retries_total.
func (w *Watcher) Collector() prometheus.Collector { return collector{w} }

type collector struct{ w *Watcher }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- watchedDesc
	c.w.m.checks.Describe(ch)
	c.w.m.changes.Describe(ch)
	c.w.m.rebuilds.Describe(ch)
	c.w.m.retries.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.w.mu.Lock()
	n := c.w.watched
	c.w.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(watchedDesc, prometheus.GaugeValue, float64(n))
	c.w.m.checks.Collect(ch)
	c.w.m.changes.Collect(ch)
	c.w.m.rebuilds.Collect(ch)
	c.w.m.retries.Collect(ch)
}
