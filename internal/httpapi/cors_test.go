package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const frontend = "http://localhost:3000"

// preflight builds a browser's preflight for method on path from origin.
func preflight(path, origin, method, headers string) *http.Request {
	req := httptest.NewRequest(http.MethodOptions, path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return req
}

var corsResponseHeaders = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Max-Age", "Access-Control-Expose-Headers",
}

// TestPreflightAllowedOrigin checks that preflights are answered before
// routing and authentication on every kind of /api path, with the whole
// policy listed so one answer covers later calls.
func TestPreflightAllowedOrigin(t *testing.T) {
	apiCalled := false
	h := newOpsHarness(t, OpsConfig{CORSOrigins: []string{frontend}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			apiCalled = true
			w.WriteHeader(http.StatusUnauthorized)
		}))

	for _, tc := range []struct{ path, method string }{
		{"/api/tasks", "POST"},
		{"/api/tasks/", "GET"},
		{"/api/user-1/tasks/", "GET"},
		{"/api/tasks/42", "DELETE"},
		{"/api/tasks/42", "PUT"},
		{"/api/user-1/tasks/42/complete", "PATCH"},
		{"/api/events", "GET"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := h.do(preflight(tc.path, frontend, tc.method, "authorization,content-type,if-match"))
			if rec.Code != http.StatusNoContent {
				t.Fatalf("status = %d, want 204", rec.Code)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":      frontend,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     "GET, POST, PUT, PATCH, DELETE, OPTIONS",
				"Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match, If-None-Match, " +
					"Idempotency-Key, X-Request-ID, Last-Event-ID",
				"Access-Control-Max-Age": "600",
				"Vary":                   "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
			}
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !generatedID.MatchString(rec.Header().Get("X-Request-ID")) {
				t.Errorf("preflight has no X-Request-ID")
			}
			if rec.Body.Len() != 0 {
				t.Errorf("preflight body = %q, want empty", rec.Body.String())
			}
		})
	}
	if apiCalled {
		t.Error("a preflight reached the API handler")
	}
	for _, e := range h.logs.entries(t, "request") {
		if e["route"] != "preflight" || e["status"] != 204.0 {
			t.Errorf("preflight access log = %v, want route preflight, status 204", e)
		}
	}
}

func TestPreflightRefused(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{CORSOrigins: []string{frontend}}, fakeAPI())
	for name, req := range map[string]*http.Request{
		"other origin":       preflight("/api/tasks", "https://evil.example", "GET", "authorization"),
		"origin prefix":      preflight("/api/tasks", "http://localhost:30000", "GET", "authorization"),
		"null origin":        preflight("/api/tasks", "null", "GET", "authorization"),
		"header not allowed": preflight("/api/tasks", frontend, "GET", "authorization,x-evil"),
		"method not allowed": preflight("/api/tasks", frontend, "PROPFIND", ""),
	} {
		t.Run(name, func(t *testing.T) {
			rec := h.do(req)
			if rec.Code != http.StatusNoContent {
				t.Errorf("status = %d, want 204", rec.Code)
			}
			for _, k := range corsResponseHeaders {
				if got := rec.Header().Get(k); got != "" {
					t.Errorf("%s = %q, want none", k, got)
				}
			}
		})
	}
}

func TestCORSActualRequest(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{CORSOrigins: []string{frontend, "https://app.example.com"}}, fakeAPI())

	t.Run("allowed origin", func(t *testing.T) {
		rec := h.get("/api/tasks/42", "Origin", "https://app.example.com", "Authorization", "Bearer "+opsTestToken)
		want := map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example.com",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    "Etag, Location, Link, X-Total-Count, X-Request-Id, Retry-After, Idempotent-Replayed",
			"Vary":                             "Origin",
			"Access-Control-Allow-Methods":     "",
			"Access-Control-Max-Age":           "",
		}
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	})

	t.Run("error responses too", func(t *testing.T) {
		rec := h.get("/api/tasks/42", "Origin", frontend)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("Access-Control-Allow-Origin") != frontend {
			t.Errorf("401 = %d with Allow-Origin %q; a frontend must be able to read it",
				rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
		}
	})

	for name, origin := range map[string]string{"disallowed origin": "https://evil.example", "no origin": ""} {
		t.Run(name, func(t *testing.T) {
			rec := h.get("/api/tasks/42", "Origin", origin, "Authorization", "Bearer "+opsTestToken)
			if rec.Code != http.StatusOK {
				t.Errorf("status = %d, want 200 (CORS is the browser's check)", rec.Code)
			}
			for _, k := range corsResponseHeaders {
				if got := rec.Header().Get(k); got != "" {
					t.Errorf("%s = %q, want none", k, got)
				}
			}
			if got := rec.Header().Get("Vary"); got != "Origin" {
				t.Errorf("Vary = %q, want Origin", got)
			}
		})
	}
}

func TestCORSOriginConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		origins []string
		origin  string
		allowed bool
		warned  bool // the configuration is logged as ignored
	}{
		{"none configured allows none", nil, frontend, false, false},
		{"trailing slash in config", []string{frontend + "/"}, frontend, true, false},
		{"spaces in config", []string{" " + frontend + " "}, frontend, true, false},
		{"scheme matters", []string{"https://app.example.com"}, "http://app.example.com", false, false},
		{"port matters", []string{frontend}, "http://localhost:3001", false, false},
		{"star is refused", []string{"*"}, "https://evil.example", false, true},
		{"star beside a real origin", []string{"*", frontend}, frontend, true, true},
		{"wildcard subdomain", []string{"https://*.example.com"}, "https://preview-42.example.com", true, false},
		{"wildcard is no suffix match", []string{"https://*.example.com"}, "https://evil-example.com", false, false},
		{"path in config", []string{frontend + "/app"}, frontend, false, true},
		{"no scheme in config", []string{"localhost:3000"}, frontend, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newOpsHarness(t, OpsConfig{CORSOrigins: tc.origins}, fakeAPI())
			rec := h.do(preflight("/api/tasks", tc.origin, "GET", "authorization"))
			got := rec.Header().Get("Access-Control-Allow-Origin")
			if tc.allowed && got != tc.origin || !tc.allowed && got != "" {
				t.Errorf("Allow-Origin = %q, allowed should be %v", got, tc.allowed)
			}
			warned := strings.Contains(h.logs.String(), `"level":"WARN","msg":"CORS origin`)
			if warned != tc.warned {
				t.Errorf("warned about the configuration: %v, want %v; log:\n%s", warned, tc.warned, h.logs.String())
			}
		})
	}
}

// TestBrowserCORS has a real browser call the API from another origin with a
// token and a method that needs a preflight, as a frontend does, and checks
// that the CORS answers and the security headers (Cross-Origin-Resource-Policy
// among them) let the allowed origin read the response and nobody else.
func TestBrowserCORS(t *testing.T) {
	chromium := requireChromium(t)

	var (
		mu   sync.Mutex
		seen []string
		api  http.Handler // the layer under test, configured per case
	)
	recordAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		h := api
		mu.Unlock()
		h.ServeHTTP(w, r)
	})
	serveCase := func(origins ...string) {
		mu.Lock()
		defer mu.Unlock()
		api = newOpsHarness(t, OpsConfig{CORSOrigins: origins}, fakeAPI()).handler
		seen = nil
	}
	saw := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(seen, ", ")
	}
	// Another loopback address makes the API a different origin and site.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	apiSrv := httptest.NewUnstartedServer(recordAPI)
	apiSrv.Listener.Close()
	apiSrv.Listener = ln
	apiSrv.Start()
	defer apiSrv.Close()

	page := fmt.Sprintf(`<!doctype html><body><pre id="out">pending</pre><script>
fetch(%q, {method: "PATCH", headers: {"Authorization": "Bearer %s",
  "Content-Type": "application/json", "If-Match": "\"v1\""}, body: "{}"})
  .then(r => r.text().then(b => { document.getElementById("out").textContent =
    "status=" + r.status + " etag=" + r.headers.get("ETag") + " body=" + b; }))
  .catch(e => { document.getElementById("out").textContent = "error=" + e.name; });
</script></body>`, apiSrv.URL+"/api/tasks/42", opsTestToken)
	pageSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer pageSrv.Close()

	t.Run("allowed origin", func(t *testing.T) {
		serveCase(pageSrv.URL)
		run := runChromium(t, chromium, pageSrv.URL+"/")
		if want := `status=200 etag="v1" body={"id":42}`; !strings.Contains(run.dom, want) {
			t.Errorf("page shows %q, want %q", outText(run.dom), want)
		}
		if got := saw(); got != "OPTIONS /api/tasks/42, PATCH /api/tasks/42" {
			t.Errorf("API saw %s, want the preflight then the PATCH", got)
		}
	})

	t.Run("other origin", func(t *testing.T) {
		serveCase(frontend)
		run := runChromium(t, chromium, pageSrv.URL+"/")
		if want := "error=TypeError"; !strings.Contains(run.dom, want) {
			t.Errorf("page shows %q, want %q", outText(run.dom), want)
		}
		if got := saw(); got != "OPTIONS /api/tasks/42" {
			t.Errorf("API saw %s, want only the refused preflight", got)
		}
	})
}

// outText is the text of the page's <pre id="out">, for failure messages.
func outText(dom string) string {
	_, after, _ := strings.Cut(dom, `<pre id="out">`)
	text, _, _ := strings.Cut(after, "</pre>")
	return text
}
