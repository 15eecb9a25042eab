package httpapi

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// idProbe records the request id the handler sees.
func idProbe(seen *string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = infoFrom(r.Context()).ID
	})
}

func TestRequestIDTakenFromRequest(t *testing.T) {
	for _, id := range []string{
		"a",
		"0",
		"trace-7",
		"A-Z.a_z:0-9",
		"01HZX3Q5V8K7J2M4N6P8R0T2W4",
		strings.Repeat("x", 128),
	} {
		t.Run(id[:min(len(id), 20)], func(t *testing.T) {
			var seen string
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/api/tasks", nil)
			req.Header.Set("X-Request-ID", id)
			newOps(OpsConfig{}).wrap(idProbe(&seen)).ServeHTTP(rec, req)
			if got := rec.Header().Get("X-Request-ID"); got != id {
				t.Errorf("response X-Request-ID = %q, want %q", got, id)
			}
			if seen != id {
				t.Errorf("requestInfo.ID = %q, want %q", seen, id)
			}
		})
	}
}

func TestRequestIDGeneratedWhenAbsentOrMalformed(t *testing.T) {
	for name, id := range map[string]string{
		"absent":    "",
		"too long":  strings.Repeat("x", 129),
		"space":     "a b",
		"semicolon": "a;b",
		"comma":     "a,b",
		"slash":     "a/b",
		"quote":     `a"b`,
		"newline":   "a\nb",
		"non-ascii": "идентификатор",
		"html":      "<script>",
	} {
		t.Run(name, func(t *testing.T) {
			var seen string
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/api/tasks", nil)
			if id != "" {
				req.Header["X-Request-Id"] = []string{id}
			}
			newOps(OpsConfig{}).wrap(idProbe(&seen)).ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-ID")
			if !generatedID.MatchString(got) {
				t.Errorf("response X-Request-ID = %q, want 32 hex digits", got)
			}
			if seen != got {
				t.Errorf("requestInfo.ID = %q, response says %q", seen, got)
			}
		})
	}
}

func TestRequestIDsAreDistinct(t *testing.T) {
	o := newOps(OpsConfig{})
	var seen string
	h := o.wrap(idProbe(&seen))
	ids := map[string]bool{}
	for range 100 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		ids[seen] = true
	}
	if len(ids) != 100 {
		t.Errorf("100 requests got %d distinct ids", len(ids))
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, fakeAPI())
	common := map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"X-Frame-Options":              "DENY",
		"Referrer-Policy":              "no-referrer",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Cross-Origin-Opener-Policy":   "same-origin",
	}
	apiCase := map[string]string{
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"Cache-Control":           "no-store",
	}
	docsPage := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
			"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		"Cache-Control": "no-cache",
	}
	docsAssetHeaders := maps.Clone(docsPage)
	docsAssetHeaders["Cache-Control"] = "public, max-age=31536000, immutable"

	for _, tc := range []struct {
		path   string
		status int
		want   map[string]string
	}{
		{"/api/tasks/42", http.StatusUnauthorized, apiCase},
		{"/api/nothing-here", http.StatusNotFound, apiCase},
		{"/healthz", http.StatusOK, apiCase},
		{"/readyz", http.StatusOK, apiCase},
		{"/metrics", http.StatusOK, apiCase},
		{"/docs", http.StatusOK, docsPage},
		{"/docs/", http.StatusOK, docsPage},
		{"/docs/swagger-ui.css", http.StatusOK, docsAssetHeaders},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := h.get(tc.path)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			for k, v := range common {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for k, v := range tc.want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := rec.Header().Get("Strict-Transport-Security"); got != "" {
				t.Errorf("Strict-Transport-Security over plain HTTP = %q, want none", got)
			}
		})
	}

	t.Run("https", func(t *testing.T) {
		rec := h.get("https://api.example.com/healthz")
		if got := rec.Header().Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("Strict-Transport-Security = %q, want max-age=31536000", got)
		}
	})
}

func TestPanicBecomesProblem(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{CORSOrigins: []string{"http://localhost:3000"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			infoFrom(r.Context()).Route = "/api/boom"
			// Headers of a response that will never be sent.
			w.Header().Set("ETag", `"v9"`)
			w.Header().Set("Location", "/api/tasks/9")
			w.Header().Set("Content-Type", "application/json")
			panic(errors.New("pq: password authentication failed for user hunter2"))
		}))

	rec := h.get("/api/boom", "X-Request-ID", "req-boom", "Origin", "http://localhost:3000")

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	want := `{"type":"about:blank","title":"Internal Server Error","status":500,` +
		`"detail":"internal error (request id req-boom)","instance":"/api/boom"}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body = %q, want %q", rec.Body.String(), want)
	}
	for k, v := range map[string]string{
		"Content-Type":                     "application/problem+json",
		"X-Request-Id":                     "req-boom",
		"X-Content-Type-Options":           "nosniff",
		"Cache-Control":                    "no-store",
		"Access-Control-Allow-Origin":      "http://localhost:3000",
		"Access-Control-Allow-Credentials": "true",
		"Etag":                             "",
		"Location":                         "",
	} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	e := h.logs.onlyEntry(t, "panic serving request")
	if e["level"] != "ERROR" || e["request_id"] != "req-boom" {
		t.Errorf("panic log = %v, want level ERROR, request_id req-boom", e)
	}
	if p, _ := e["panic"].(string); !strings.Contains(p, "hunter2") {
		t.Errorf("panic log value = %q, want the panic's text", p)
	}
	if s, _ := e["stack"].(string); !strings.Contains(s, "TestPanicBecomesProblem") {
		t.Errorf("panic log stack does not name the panicking function:\n%s", s)
	}
	access := h.logs.onlyEntry(t, "request")
	if access["status"] != 500.0 || access["level"] != "INFO" {
		t.Errorf("access log = %v, want status 500 at INFO", access)
	}
}

// TestPanicAfterWriteCutsConnection checks that a panic after the status line
// was sent aborts the connection, so the client sees a broken response rather
// than a complete-looking one.
func TestPanicAfterWriteCutsConnection(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"partial":`)
		http.NewResponseController(w).Flush()
		panic("half way")
	}))
	srv := httptest.NewServer(h.handler)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/stream")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("reading the body succeeded with %q; want an error from the cut connection", body)
	}
	srv.Close() // waits for the handler, and so for its access log line

	access := h.logs.onlyEntry(t, "request")
	if access["status"] != 200.0 || access["aborted"] != true {
		t.Errorf("access log = %v, want status 200, aborted", access)
	}
	if e := h.logs.onlyEntry(t, "panic serving request"); e["panic"] != "half way" {
		t.Errorf("panic log = %v", e)
	}
}

// TestAbortHandlerPassesThrough checks that http.ErrAbortHandler reaches
// net/http unchanged and is not reported as a bug.
func TestAbortHandlerPassesThrough(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", p)
			}
		}()
		h.get("/api/abort")
	}()
	if n := len(h.logs.entries(t, "panic serving request")); n != 0 {
		t.Errorf("ErrAbortHandler logged as a panic %d times", n)
	}
	access := h.logs.onlyEntry(t, "request")
	if access["status"] != 500.0 || access["aborted"] != true {
		t.Errorf("access log = %v, want status 500, aborted", access)
	}
}

func TestAccessLogLine(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, fakeAPI())
	req := httptest.NewRequest(http.MethodGet, "/api/tasks/42?access_token=QUERY-SECRET&q=x", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	req.Header.Set("Authorization", "Bearer "+opsTestToken)
	req.Header.Set("X-Request-ID", "req-log")
	rec := h.do(req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}

	e := h.logs.onlyEntry(t, "request")
	keys := slices.Sorted(maps.Keys(e))
	wantKeys := []string{"bytes", "duration_ms", "level", "method", "msg", "path", "remote",
		"request_id", "route", "status", "time", "user_id"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("access log keys = %v, want %v", keys, wantKeys)
	}
	want := map[string]any{
		"level":      "INFO",
		"request_id": "req-log",
		"method":     "GET",
		"route":      "/api/tasks/{id}",
		"path":       "/api/tasks/42",
		"status":     200.0,
		"bytes":      float64(len(`{"id":42}`)),
		"user_id":    "user-1",
		"remote":     "192.0.2.7:5555",
	}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("access log %s = %v, want %v", k, e[k], v)
		}
	}
	if d, ok := e["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %v, want a non-negative number", e["duration_ms"])
	}
	for _, secret := range []string{opsTestToken, "QUERY-SECRET", "Authorization", "Bearer"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, h.logs.String())
		}
	}
}

func TestAccessLogWithoutUser(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, fakeAPI())
	h.get("/api/tasks/42", "Authorization", "Bearer wrong-"+opsTestToken)
	e := h.logs.onlyEntry(t, "request")
	if e["status"] != 401.0 || e["user_id"] != "" || e["route"] != "/api/tasks/{id}" {
		t.Errorf("access log = %v, want status 401, empty user_id, route /api/tasks/{id}", e)
	}
	if strings.Contains(h.logs.String(), opsTestToken) {
		t.Errorf("log contains the refused token:\n%s", h.logs.String())
	}
}

func TestRouteLabel(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/named/", func(_ http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).Route = "/named/{x}"
	})
	h := &opsHarness{logs: &logSink{}}
	h.ops = newOps(OpsConfig{Logger: jsonLogger(h.logs)})
	h.handler = h.ops.wrap(mux)

	for _, tc := range []struct{ path, route string }{
		{"/things/1234", "/things/{id}"}, // the mux's pattern, without its method
		{"/named/abc", "/named/{x}"},     // set by the handler
		{"/nowhere/5678", "unmatched"},   // never the raw path
	} {
		h.logs.reset()
		h.get(tc.path)
		if got := h.logs.onlyEntry(t, "request")["route"]; got != tc.route {
			t.Errorf("%s: route = %v, want %q", tc.path, got, tc.route)
		}
	}
}

func TestTrackedWriterStatusAndBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(w http.ResponseWriter)
		status int
		bytes  int64
	}{
		{"nothing written", func(http.ResponseWriter) {}, 200, 0},
		{"write implies 200", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "hello") }, 200, 5},
		{"explicit status", func(w http.ResponseWriter) { w.WriteHeader(201); _, _ = io.WriteString(w, "ab") }, 201, 2},
		{"1xx is not the answer", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(204) }, 204, 0},
		{"second WriteHeader ignored", func(w http.ResponseWriter) { w.WriteHeader(404); w.WriteHeader(200) }, 404, 0},
		{"flush implies 200", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := &trackedWriter{ResponseWriter: httptest.NewRecorder()}
			tc.handle(tw)
			status := tw.status
			if status == 0 {
				status = http.StatusOK
			}
			if status != tc.status || tw.bytes != tc.bytes {
				t.Errorf("status, bytes = %d, %d; want %d, %d", status, tw.bytes, tc.status, tc.bytes)
			}
		})
	}
}

// TestTrackedWriterReachesConnection checks that streaming handlers can flush
// and extend deadlines through the layer, as server-sent events need.
func TestTrackedWriterReachesConnection(t *testing.T) {
	errs := make(chan error, 2)
	srv := httptest.NewServer(newOps(OpsConfig{}).wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs <- rc.SetWriteDeadline(time.Time{}) // no deadline
		_, _ = io.WriteString(w, "data: 1\n\n")
		errs <- rc.Flush()
	})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("ResponseController through the layer: %v", err)
		}
	}
}

// TestPanicRestoresOuterHeaders checks that the 500 of a panic carries the
// headers of the outer layers exactly as they set them, whatever the handler
// did to them first: a value replaced, appended to (into the spare capacity
// of the outer layer's slice) or deleted, and headers added. Past the
// headers a snapshot holds in place, it clones them instead.
func TestPanicRestoresOuterHeaders(t *testing.T) {
	for _, extra := range []int{0, 30} {
		o := newOps(OpsConfig{})
		h := o.recoverPanic(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hd := w.Header()
			hd.Set("Cache-Control", "max-age=60")
			hd.Del("X-Frame-Options")
			hd.Add("Vary", "Accept")
			hd.Set("Etag", `"1.1"`)
			hd.Set("X-Extra-0", "changed")
			panic("boom")
		}))
		rec := httptest.NewRecorder()
		outer := rec.Header()
		outer.Set("Cache-Control", "no-store")
		outer.Set("X-Frame-Options", "DENY")
		outer["Vary"] = append(make([]string, 0, 4), "Origin")
		for i := range extra {
			outer.Set("X-Extra-"+strconv.Itoa(i), "v")
		}
		r := httptest.NewRequest("GET", "/api/tasks/1", nil)
		r = r.WithContext(withRequestInfo(r.Context(), &requestInfo{ID: "req-1"}))
		h.ServeHTTP(rec, r)

		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("%d extra: status %d", extra, rec.Code)
		}
		want := http.Header{
			"Cache-Control":   {"no-store"},
			"X-Frame-Options": {"DENY"},
			"Vary":            {"Origin"},
			"Content-Type":    {"application/problem+json"},
		}
		for i := range extra {
			want.Set("X-Extra-"+strconv.Itoa(i), "v")
		}
		if !reflect.DeepEqual(rec.Header(), want) {
			t.Errorf("%d extra: headers\n%v\nwant\n%v", extra, rec.Header(), want)
		}
	}
}
