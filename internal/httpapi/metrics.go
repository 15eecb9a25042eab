package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opsMetrics holds the server's Prometheus metrics, on a registry of its own
// so that two servers in one process (tests) never collide.
type opsMetrics struct {
	reg          *prometheus.Registry
	log          *slog.Logger
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	authFailures *prometheus.CounterVec
	jwks         *prometheus.CounterVec
}

func newOpsMetrics(reg *prometheus.Registry, version string, extra []prometheus.Collector, log *slog.Logger) *opsMetrics {
	m := &opsMetrics{reg: reg, log: log}
	m.requests = registerMetric(m, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "todod_http_requests_total",
		Help: "HTTP requests answered, by method, route template and status.",
	}, []string{"method", "route", "status"}))
	m.duration = registerMetric(m, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "todod_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by method and route template.",
		// Requests take milliseconds: fine steps from 0.5 ms to 100 ms, then
		// coarser ones up to 10 s for slow queries.
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
	}, []string{"method", "route"}))
	m.inFlight = registerMetric(m, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "todod_http_requests_in_flight",
		Help: "HTTP requests being answered now (open event streams included).",
	}))
	m.authFailures = registerMetric(m, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "todod_auth_failures_total",
		Help: "Requests refused for a missing or invalid token, by reason.",
	}, []string{"reason"}))
	m.jwks = registerMetric(m, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "todod_jwks_refreshes_total",
		Help: "Fetches of the JWKS, by result (success or failure).",
	}, []string{"result"}))
	// Both results exist from the start, so an alert on failures can tell
	// "none yet" from "not exported".
	m.jwks.WithLabelValues("success")
	m.jwks.WithLabelValues("failure")

	buildInfo := registerMetric(m, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "todod_build_info",
		Help: "Always 1; the version label says which build is running.",
	}, []string{"version"}))
	buildInfo.WithLabelValues(version).Set(1)

	registerMetric(m, collectors.NewGoCollector())
	registerMetric(m, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range extra {
		registerMetric(m, c)
	}
	return m
}

// registerMetric adds c to the registry. If an equal collector is already there
// (a registry shared by two servers), that one is used, so both count into
// the same series; any other error is logged and c is kept unexported rather
// than stopping the server over a metric.
func registerMetric[C prometheus.Collector](m *opsMetrics, c C) C {
	err := m.reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	m.log.Error("metric not registered", "error", err)
	return c
}

// observe counts one finished request. Event streams are counted but not
// timed: a stream open for hours would swamp the latency histogram.
func (m *opsMetrics) observe(method, route string, status int, elapsed time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	if route == "/api/events" || route == "/api/{user_id}/events" {
		return
	}
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// authFailure counts a refused token by its reason code.
func (m *opsMetrics) authFailure(reason string) {
	if reason == "" {
		reason = "unknown"
	}
	m.authFailures.WithLabelValues(reason).Inc()
}

// jwksRefresh counts one JWKS fetch.
func (m *opsMetrics) jwksRefresh(ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	m.jwks.WithLabelValues(result).Inc()
}

// handler serves the registry in the Prometheus exposition format.
func (m *opsMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{m.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// promLogger lets promhttp report gathering errors through slog.
type promLogger struct{ log *slog.Logger }

// Println logs a promhttp error.
func (l promLogger) Println(v ...any) {
	l.log.Error("serving metrics", "error", fmt.Sprint(v...))
}

// methodLabel keeps the method label to the standard methods: a client can
// send any token as a method, and each would become a new time series.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}
