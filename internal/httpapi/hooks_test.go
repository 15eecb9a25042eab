package httpapi

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

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
