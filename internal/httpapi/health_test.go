package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHealthzNeverAsksReady(t *testing.T) {
	var calls atomic.Int32
	h := newOpsHarness(t, OpsConfig{Ready: func(context.Context) error {
		calls.Add(1)
		return errors.New("database down")
	}}, nil)

	rec := h.get("/healthz")
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"status\":\"ok\"}\n" {
		t.Errorf("/healthz = %d %q, want 200 {\"status\":\"ok\"}", rec.Code, rec.Body.String())
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if rec := h.do(httptest.NewRequest(http.MethodHead, "/healthz", nil)); rec.Code != http.StatusOK {
		t.Errorf("HEAD /healthz = %d, want 200", rec.Code)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("/healthz called Ready %d times, want 0", n)
	}
	if got := h.logs.entries(t, "request")[0]["route"]; got != "/healthz" {
		t.Errorf("route = %v, want /healthz", got)
	}
}

func TestReadyzReady(t *testing.T) {
	var deadline time.Duration
	h := newOpsHarness(t, OpsConfig{
		ReadyTimeout: 300 * time.Millisecond,
		Ready: func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			if !ok {
				return errors.New("no deadline")
			}
			deadline = time.Until(d)
			return nil
		},
	}, nil)

	rec := h.get("/readyz")
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"status\":\"ready\"}\n" {
		t.Errorf("/readyz = %d %q, want 200 {\"status\":\"ready\"}", rec.Code, rec.Body.String())
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if deadline <= 0 || deadline > 300*time.Millisecond {
		t.Errorf("Ready's context deadline was %v away, want within ReadyTimeout (300ms)", deadline)
	}
}

func TestReadyzNotReady(t *testing.T) {
	for name, ready := range map[string]func(context.Context) error{
		"error": func(context.Context) error {
			return errors.New("dial tcp db.internal:5432: connection refused")
		},
		"hangs past the timeout": func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newOpsHarness(t, OpsConfig{Ready: ready, ReadyTimeout: 50 * time.Millisecond}, nil)
			start := time.Now()
			rec := h.get("/readyz", "X-Request-ID", "probe-1")
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("/readyz took %v", elapsed)
			}
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503", rec.Code)
			}
			want := `{"type":"about:blank","title":"Service Unavailable","status":503,` +
				`"detail":"the server is not ready to take traffic","instance":"/readyz"}` + "\n"
			if rec.Body.String() != want {
				t.Errorf("body = %q, want %q", rec.Body.String(), want)
			}
			for k, v := range map[string]string{
				"Content-Type":  "application/problem+json",
				"Retry-After":   "5",
				"Cache-Control": "no-store",
			} {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			e := h.logs.onlyEntry(t, "not ready")
			if e["level"] != "WARN" || e["request_id"] != "probe-1" || e["error"] == "" {
				t.Errorf("log = %v, want WARN with request_id probe-1 and the error", e)
			}
			if strings.Contains(rec.Body.String(), "db.internal") {
				t.Error("the 503 body names the database host")
			}
		})
	}
}

// TestReadyzFollowsShutdown checks that readiness follows Ready from one
// request to the next, as it does when the server starts shutting down.
func TestReadyzFollowsShutdown(t *testing.T) {
	var stopping atomic.Bool
	h := newOpsHarness(t, OpsConfig{Ready: func(context.Context) error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	}}, nil)
	if rec := h.get("/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("before shutdown: %d, want 200", rec.Code)
	}
	stopping.Store(true)
	if rec := h.get("/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("during shutdown: %d, want 503", rec.Code)
	}
	if rec := h.get("/healthz"); rec.Code != http.StatusOK {
		t.Errorf("/healthz during shutdown: %d, want 200", rec.Code)
	}
}
