package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// gate is an API handler that holds every request until it is opened, and
// counts the requests that reached it.
type gate struct {
	mu      sync.Mutex
	entered int
	arrived chan struct{} // one value per request that reached the handler
	open    chan struct{}
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}, 100), open: make(chan struct{})}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.entered++
	g.mu.Unlock()
	g.arrived <- struct{}{}
	select {
	case <-g.open:
	case <-r.Context().Done():
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}` + "\n"))
}

func (g *gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.entered
}

// waitArrivals waits until n more requests have reached the handler.
func (g *gate) waitArrivals(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("a request never reached the handler")
		}
	}
}

// async serves req in a goroutine; the recorder arrives on the channel.
func async(h http.Handler, req *http.Request) <-chan *httptest.ResponseRecorder {
	out := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		out <- rec
	}()
	return out
}

func receive(t *testing.T, c <-chan *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	select {
	case rec := <-c:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("no answer within 5 s")
		return nil
	}
}

func TestShedOverLimit(t *testing.T) {
	g := newGate()
	h := newOpsHarness(t, OpsConfig{
		MaxInFlight:  2,
		QueueTimeout: 50 * time.Millisecond,
		CORSOrigins:  []string{"http://localhost:3000"},
	}, g)

	held := []<-chan *httptest.ResponseRecorder{
		async(h.handler, httptest.NewRequest(http.MethodGet, "/api/tasks/1", nil)),
		async(h.handler, httptest.NewRequest(http.MethodGet, "/api/tasks/2", nil)),
	}
	g.waitArrivals(t, 2)

	req := httptest.NewRequest(http.MethodGet, "/api/tasks/3", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	start := time.Now()
	rec := h.do(req)
	waited := time.Since(start)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("third request: %d, want 503", rec.Code)
	}
	if waited < 50*time.Millisecond || waited > 2*time.Second {
		t.Errorf("shed after %v, want after the queue timeout of 50ms", waited)
	}
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("the 503 has Access-Control-Allow-Origin %q: a browser could not read it", got)
	}
	var p opsProblem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	want := opsProblem{Type: "about:blank", Title: "Service Unavailable", Status: 503,
		Detail: "the server is handling too many requests at once; retry shortly", Instance: "/api/tasks/3"}
	if p != want {
		t.Errorf("problem %+v, want %+v", p, want)
	}
	if n := g.count(); n != 2 {
		t.Errorf("%d requests reached the handler, want 2: the shed one must not", n)
	}

	// The probes, the metrics and the event streams are served while full.
	for _, path := range []string{"/healthz", "/readyz", "/api/events", "/api/user-1/events"} {
		if path == "/api/events" || path == "/api/user-1/events" {
			c := async(h.handler, httptest.NewRequest(http.MethodGet, path, nil))
			g.waitArrivals(t, 1)
			defer func() { receive(t, c) }()
			continue
		}
		if rec := h.get(path); rec.Code != http.StatusOK {
			t.Errorf("%s while full: %d, want 200", path, rec.Code)
		}
	}
	exposition := scrape(t, h)
	wantSeries(t, exposition, "todod_http_requests_shed_total", "1")
	wantSeries(t, exposition, `todod_http_requests_total{method="GET",route="unmatched",status="503"}`, "1")

	close(g.open)
	for _, c := range held {
		if rec := receive(t, c); rec.Code != http.StatusOK {
			t.Errorf("held request: %d, want 200", rec.Code)
		}
	}
	// The slots are free again.
	if rec := h.get("/api/tasks/4"); rec.Code != http.StatusOK {
		t.Errorf("after the load: %d, want 200", rec.Code)
	}
}

func TestShedWaitsForASlot(t *testing.T) {
	g := newGate()
	h := newOpsHarness(t, OpsConfig{MaxInFlight: 1, QueueTimeout: 5 * time.Second}, g)
	first := async(h.handler, httptest.NewRequest(http.MethodGet, "/api/tasks/1", nil))
	g.waitArrivals(t, 1)
	second := async(h.handler, httptest.NewRequest(http.MethodGet, "/api/tasks/2", nil))
	time.Sleep(50 * time.Millisecond)
	if n := g.count(); n != 1 {
		t.Fatalf("%d requests in the handler, want 1 while the second waits", n)
	}
	close(g.open)
	for _, c := range []<-chan *httptest.ResponseRecorder{first, second} {
		if rec := receive(t, c); rec.Code != http.StatusOK {
			t.Errorf("%d, want 200: a request that gets a slot within the queue timeout is served", rec.Code)
		}
	}
	if n := g.count(); n != 2 {
		t.Errorf("%d requests reached the handler, want 2", n)
	}
	wantSeries(t, scrape(t, h), "todod_http_requests_shed_total", "0")
}

func TestShedClientLeavesWhileWaiting(t *testing.T) {
	g := newGate()
	h := newOpsHarness(t, OpsConfig{MaxInFlight: 1, QueueTimeout: time.Minute}, g)
	first := async(h.handler, httptest.NewRequest(http.MethodGet, "/api/tasks/1", nil))
	g.waitArrivals(t, 1)

	ctx, cancel := context.WithCancel(context.Background())
	waiting := async(h.handler, httptest.NewRequest(http.MethodGet, "/api/tasks/2", nil).WithContext(ctx))
	time.Sleep(20 * time.Millisecond)
	cancel()
	if rec := receive(t, waiting); rec.Code != statusClientClosed {
		t.Errorf("a client that left while queued: %d, want %d", rec.Code, statusClientClosed)
	}
	close(g.open)
	receive(t, first)
	if n := g.count(); n != 1 {
		t.Errorf("%d requests reached the handler, want 1", n)
	}
	wantSeries(t, scrape(t, h), "todod_http_requests_shed_total", "0")
}

func TestShedOff(t *testing.T) {
	g := newGate()
	h := newOpsHarness(t, OpsConfig{}, g)
	const n = 20
	var held []<-chan *httptest.ResponseRecorder
	for range n {
		held = append(held, async(h.handler, httptest.NewRequest(http.MethodGet, "/api/tasks/1", nil)))
	}
	g.waitArrivals(t, n)
	close(g.open)
	for _, c := range held {
		if rec := receive(t, c); rec.Code != http.StatusOK {
			t.Errorf("%d, want 200 with no limit", rec.Code)
		}
	}
	if h.ops.limit != nil {
		t.Error("MaxInFlight 0 built a limit")
	}
	if l := newOps(OpsConfig{MaxInFlight: 1}).limit; l == nil || l.wait != DefaultQueueTimeout || cap(l.slots) != 1 {
		t.Errorf("MaxInFlight 1 without QueueTimeout: %+v, want 1 slot and a wait of %v", l, DefaultQueueTimeout)
	}
}

func TestUnlimited(t *testing.T) {
	for path, want := range map[string]bool{
		"/healthz":             true,
		"/readyz":              true,
		"/metrics":             true,
		"/api/events":          true,
		"/api/events/":         true,
		"/api/u1/events":       true,
		"/api/u1/events/":      true,
		"/api/tasks":           false,
		"/api/tasks/events":    true, // the user path style for a user named "tasks"
		"/api/u1/tasks":        false,
		"/api//events":         false,
		"/api/u1/events/x":     false,
		"/api/u1/tasks/events": false,
		"/docs":                false,
		"/openapi.json":        false,
		"/healthz/x":           false,
		"/events":              false,
	} {
		if got := unlimited(path); got != want {
			t.Errorf("unlimited(%q) = %v, want %v", path, got, want)
		}
	}
}
