package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The token the fake API accepts; it must never reach a log.
const opsTestToken = "SECRET-TOKEN-b6f1c0de"

// opsHarness is the operational layer around a small stand-in for the task
// API, with its log captured as JSON.
type opsHarness struct {
	ops     *ops
	handler http.Handler
	logs    *logSink
}

// newOpsHarness builds the layer from cfg (its Logger is replaced) around a
// mux holding the operational routes and api under /api/.
func newOpsHarness(t *testing.T, cfg OpsConfig, api http.Handler) *opsHarness {
	t.Helper()
	logs := &logSink{}
	cfg.Logger = jsonLogger(logs)
	o := newOps(cfg)
	mux := http.NewServeMux()
	o.register(mux)
	if api != nil {
		mux.Handle("/api/", api)
	}
	return &opsHarness{ops: o, handler: o.wrap(mux), logs: logs}
}

// do serves req and returns the recorded response.
func (h *opsHarness) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

// get serves a GET of target with the given header pairs.
func (h *opsHarness) get(target string, headerPairs ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headerPairs); i += 2 {
		req.Header.Set(headerPairs[i], headerPairs[i+1])
	}
	return h.do(req)
}

// fakeAPI stands in for the task API: it fills in the route and the user as
// the real one does, refuses requests without the test token, and answers
// with the headers a task response carries.
func fakeAPI() http.Handler {
	mux := http.NewServeMux()
	task := func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		info.Route = "/api/tasks/{id}"
		if r.Header.Get("Authorization") != "Bearer "+opsTestToken {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"status":401}`)
			return
		}
		info.UserID = "user-1"
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		_, _ = io.WriteString(w, `{"id":42}`)
	}
	mux.HandleFunc("GET /api/tasks/{id}", task)
	mux.HandleFunc("PATCH /api/tasks/{id}", task)
	return mux
}

// logSink collects log output; handlers may log from server goroutines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// jsonLogger logs everything, as JSON, to w.
func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (s *logSink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Reset()
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// entries returns the JSON log records whose msg is msg.
func (s *logSink) entries(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(s.String()) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		if e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// onlyEntry returns the single record whose msg is msg.
func (s *logSink) onlyEntry(t *testing.T, msg string) map[string]any {
	t.Helper()
	es := s.entries(t, msg)
	if len(es) != 1 {
		t.Fatalf("got %d %q log records, want 1; log:\n%s", len(es), msg, s.String())
	}
	return es[0]
}

// TestWrapAroundAPIRequest follows one authenticated cross-origin call
// through every layer: the response, the access log line and the metrics.
func TestWrapAroundAPIRequest(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{CORSOrigins: []string{"http://localhost:3000"}}, fakeAPI())

	rec := h.get("/api/tasks/42",
		"Origin", "http://localhost:3000",
		"X-Request-ID", "trace-7",
		"Authorization", "Bearer "+opsTestToken)

	if rec.Code != http.StatusOK || rec.Body.String() != `{"id":42}` {
		t.Fatalf("got %d %q, want 200 {\"id\":42}", rec.Code, rec.Body.String())
	}
	wantHeaders := map[string]string{
		"X-Request-Id":                     "trace-7",
		"Etag":                             `"v1"`,
		"Access-Control-Allow-Origin":      "http://localhost:3000",
		"Access-Control-Allow-Credentials": "true",
		"X-Content-Type-Options":           "nosniff",
		"Cache-Control":                    "no-store",
	}
	for k, v := range wantHeaders {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	line := h.logs.onlyEntry(t, "request")
	if line["route"] != "/api/tasks/{id}" || line["user_id"] != "user-1" || line["request_id"] != "trace-7" {
		t.Errorf("access log = %v, want route /api/tasks/{id}, user user-1, id trace-7", line)
	}

	metrics := scrape(t, h)
	wantSeries(t, metrics, `todod_http_requests_total{method="GET",route="/api/tasks/{id}",status="200"}`, "1")
}

// TestOpsRoutesRefuseOtherMethods checks that the operational routes answer
// only GET and HEAD, with a 405 problem naming them.
func TestOpsRoutesRefuseOtherMethods(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, nil)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/docs", "/docs/", "/docs/init.js"} {
		t.Run(path, func(t *testing.T) {
			rec := h.do(httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", rec.Code)
			}
			if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
				t.Errorf("Allow = %q, want %q", got, "GET, HEAD")
			}
			if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", got)
			}
			want := `{"type":"about:blank","title":"Method Not Allowed","status":405,` +
				`"detail":"method POST is not allowed here; use GET or HEAD","instance":"` + path + `"}` + "\n"
			if rec.Body.String() != want {
				t.Errorf("body = %q, want %q", rec.Body.String(), want)
			}
		})
	}
}

// TestNewOpsDefaults checks that a zero OpsConfig gives a working layer.
func TestNewOpsDefaults(t *testing.T) {
	o := newOps(OpsConfig{})
	if o.cfg.Registry == nil || o.cfg.Logger == nil {
		t.Fatal("newOps left the registry or the logger nil")
	}
	if o.cfg.ReadyTimeout != defaultReadyTimeout {
		t.Errorf("ReadyTimeout = %v, want %v", o.cfg.ReadyTimeout, defaultReadyTimeout)
	}
	mux := http.NewServeMux()
	o.register(mux)
	rec := httptest.NewRecorder()
	o.wrap(mux).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"status\":\"ready\"}\n" {
		t.Errorf("/readyz with no Ready func = %d %q, want 200 ready", rec.Code, rec.Body.String())
	}
}
