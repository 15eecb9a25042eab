package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// scrape returns the exposition served at /metrics.
func scrape(t *testing.T, h *opsHarness) string {
	t.Helper()
	rec := h.get("/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("/metrics Content-Type = %q, want the text exposition format", ct)
	}
	return rec.Body.String()
}

// wantSeries fails unless the exposition has series (name and labels as
// printed) with the given value.
func wantSeries(t *testing.T, exposition, series, value string) {
	t.Helper()
	for line := range strings.Lines(exposition) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			if got := strings.TrimSpace(rest); got != value {
				t.Errorf("%s = %s, want %s", series, got, value)
			}
			return
		}
	}
	t.Errorf("no series %s in:\n%s", series, exposition)
}

func TestRequestMetrics(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{CORSOrigins: []string{frontend}}, fakeAPI())
	h.get("/api/tasks/41", "Authorization", "Bearer "+opsTestToken)
	h.get("/api/tasks/42", "Authorization", "Bearer "+opsTestToken)
	h.get("/api/tasks/43")
	h.get("/api/nothing/9876")
	h.do(preflight("/api/tasks/44", frontend, "DELETE", "authorization"))
	h.do(httptest.NewRequest("PROPFIND", "/api/tasks/45", nil))

	m := scrape(t, h)
	for series, value := range map[string]string{
		`todod_http_requests_total{method="GET",route="/api/tasks/{id}",status="200"}`:                 "2",
		`todod_http_requests_total{method="GET",route="/api/tasks/{id}",status="401"}`:                 "1",
		`todod_http_requests_total{method="GET",route="unmatched",status="404"}`:                       "1",
		`todod_http_requests_total{method="OPTIONS",route="preflight",status="204"}`:                   "1",
		`todod_http_requests_total{method="OTHER",route="unmatched",status="405"}`:                     "1",
		`todod_http_request_duration_seconds_count{method="GET",route="/api/tasks/{id}"}`:              "3",
		`todod_http_request_duration_seconds_bucket{method="GET",route="/api/tasks/{id}",le="0.0005"}`: "",
		`todod_http_request_duration_seconds_bucket{method="GET",route="/api/tasks/{id}",le="+Inf"}`:   "3",
		`todod_http_requests_in_flight`: "1", // the scrape itself
	} {
		if value == "" {
			if !strings.Contains(m, series+" ") {
				t.Errorf("no series %s", series)
			}
			continue
		}
		wantSeries(t, m, series, value)
	}
	for _, raw := range []string{"/api/tasks/41", "/api/nothing/9876", "PROPFIND"} {
		if strings.Contains(m, raw) {
			t.Errorf("exposition contains the raw value %q", raw)
		}
	}

	// The scrape counts itself once it is done.
	wantSeries(t, scrape(t, h), `todod_http_requests_total{method="GET",route="/metrics",status="200"}`, "1")
}

func TestInFlightGauge(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := newOpsHarness(t, OpsConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.get("/api/slow")
	}()
	<-entered
	wantSeries(t, scrape(t, h), "todod_http_requests_in_flight", "2")
	close(release)
	<-done
	wantSeries(t, scrape(t, h), "todod_http_requests_in_flight", "1")
}

func TestAuthAndJWKSMetrics(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, nil)

	m := scrape(t, h)
	wantSeries(t, m, `todod_jwks_refreshes_total{result="success"}`, "0")
	wantSeries(t, m, `todod_jwks_refreshes_total{result="failure"}`, "0")

	h.ops.authFailure("token_expired")
	h.ops.authFailure("token_expired")
	h.ops.authFailure("bad_signature")
	h.ops.authFailure("")
	h.ops.jwksRefresh(true)
	h.ops.jwksRefresh(false)
	h.ops.jwksRefresh(true)

	m = scrape(t, h)
	for series, value := range map[string]string{
		`todod_auth_failures_total{reason="token_expired"}`: "2",
		`todod_auth_failures_total{reason="bad_signature"}`: "1",
		`todod_auth_failures_total{reason="unknown"}`:       "1",
		`todod_jwks_refreshes_total{result="success"}`:      "2",
		`todod_jwks_refreshes_total{result="failure"}`:      "1",
	} {
		wantSeries(t, m, series, value)
	}
}

func TestRuntimeAndExtraCollectors(t *testing.T) {
	pool := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "todod_db_pool_open_connections",
		Help: "Open connections.",
	}, func() float64 { return 3 })
	h := newOpsHarness(t, OpsConfig{Version: "v1.2.3", Collectors: []prometheus.Collector{pool}}, nil)

	m := scrape(t, h)
	wantSeries(t, m, "todod_db_pool_open_connections", "3")
	wantSeries(t, m, `todod_build_info{version="v1.2.3"}`, "1")
	for _, name := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_start_time_seconds "} {
		if !strings.Contains(m, "\n"+name) {
			t.Errorf("no %s series", strings.TrimSpace(name))
		}
	}
	if strings.Contains(h.logs.String(), "metric not registered") {
		t.Errorf("registration errors:\n%s", h.logs.String())
	}
}

// TestSharedRegistry checks that two servers on one registry (a caller's
// choice) neither fail nor split their counts.
func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &logSink{}
	a := newOps(OpsConfig{Registry: reg, Logger: jsonLogger(logs)})
	b := newOps(OpsConfig{Registry: reg, Logger: jsonLogger(logs)})
	a.authFailure("token_expired")
	b.authFailure("token_expired")

	h := &opsHarness{ops: a, logs: logs}
	mux := http.NewServeMux()
	a.register(mux)
	h.handler = a.wrap(mux)
	wantSeries(t, scrape(t, h), `todod_auth_failures_total{reason="token_expired"}`, "2")
	if strings.Contains(logs.String(), "metric not registered") {
		t.Errorf("registration errors:\n%s", logs.String())
	}
}
