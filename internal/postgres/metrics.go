package postgres

import (
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reports pgxpool's statistics as Prometheus metrics.
type poolCollector struct {
	s                                                 *Store
	total, idle, acquired, constructing, max          *prometheus.Desc
	acquires, canceled, emptyAcquires, acquireSeconds *prometheus.Desc
}

// Collectors exposes the connection pool's statistics (todod_db_pool_*).
func (s *Store) Collectors() []prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("todod_db_pool_"+name, help, nil, nil)
	}
	return []prometheus.Collector{&poolCollector{
		s:              s,
		total:          d("connections", "Open connections in the pool."),
		idle:           d("idle_connections", "Idle connections in the pool."),
		acquired:       d("acquired_connections", "Connections in use."),
		constructing:   d("constructing_connections", "Connections being opened."),
		max:            d("max_connections", "The pool's size limit."),
		acquires:       d("acquires_total", "Connections handed out."),
		canceled:       d("canceled_acquires_total", "Waits for a connection that were cancelled or timed out."),
		emptyAcquires:  d("empty_acquires_total", "Acquires that had to wait because no connection was idle."),
		acquireSeconds: d("acquire_wait_seconds_total", "Total time spent waiting for a connection."),
	}}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.constructing, c.max, c.acquires, c.canceled, c.emptyAcquires, c.acquireSeconds} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.total, float64(st.TotalConns()))
	gauge(c.idle, float64(st.IdleConns()))
	gauge(c.acquired, float64(st.AcquiredConns()))
	gauge(c.constructing, float64(st.ConstructingConns()))
	gauge(c.max, float64(st.MaxConns()))
	counter(c.acquires, float64(st.AcquireCount()))
	counter(c.canceled, float64(st.CanceledAcquireCount()))
	counter(c.emptyAcquires, float64(st.EmptyAcquireCount()))
	counter(c.acquireSeconds, st.AcquireDuration().Seconds())
}
