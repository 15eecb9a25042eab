package httpapi

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestJWKSRefreshedIsCounted(t *testing.T) {
	s := NewServer(Config{Ops: OpsConfig{Registry: prometheus.NewRegistry()}})
	s.JWKSRefreshed(true)
	s.JWKSRefreshed(false)
	s.JWKSRefreshed(false)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`todod_jwks_refreshes_total{result="success"} 1`, `todod_jwks_refreshes_total{result="failure"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestEventStreamsAreCountedNotTimed(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewServer(Config{Ops: OpsConfig{Registry: reg}})
	s.ops.metrics.observe("GET", "/api/events", 200, 3*time.Hour)
	s.ops.metrics.observe("GET", "/api/{user_id}/events", 200, time.Hour)
	s.ops.metrics.observe("GET", "/api/tasks", 200, time.Millisecond)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`todod_http_requests_total{method="GET",route="/api/events",status="200"} 1`,
		`todod_http_request_duration_seconds_count{method="GET",route="/api/tasks"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `todod_http_request_duration_seconds_count{method="GET",route="/api/events"}`) ||
		strings.Contains(body, `todod_http_request_duration_seconds_count{method="GET",route="/api/{user_id}/events"}`) {
		t.Error("event streams must not be timed")
	}
}
