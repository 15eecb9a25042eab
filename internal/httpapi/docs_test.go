package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	strongETag = regexp.MustCompile(`^"[0-9a-f]{32}"$`)
	assetRef   = regexp.MustCompile(`(?:src|href)="(/docs/[^"?]+)\?v=([0-9a-f]+)"`)
)

// embedded returns an embedded docs file.
func embedded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := docsFiles.ReadFile("docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDocsEmbedsOnlyWhatIsServed keeps the binary small: source maps, the
// standalone preset and the other bundles of swagger-ui-dist stay out.
func TestDocsEmbedsOnlyWhatIsServed(t *testing.T) {
	var names []string
	var total int64
	err := fs.WalkDir(docsFiles, "docs", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		names = append(names, strings.TrimPrefix(path, "docs/"))
		total += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"LICENSE", "NOTICE", "index.html", "init.js", "swagger-ui-bundle.js",
		"swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css"}
	if !slices.Equal(names, want) {
		t.Errorf("embedded files = %v, want %v", names, want)
	}
	if total > 2<<20 {
		t.Errorf("embedded docs take %d bytes, want under 2 MiB", total)
	}
}

func TestDocsPage(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, nil)
	for _, path := range []string{"/docs", "/docs/", "/docs/index.html"} {
		t.Run(path, func(t *testing.T) {
			rec := h.get(path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			for k, v := range map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Cache-Control":           "no-cache",
				"Content-Security-Policy": docsCSP,
				"X-Frame-Options":         "DENY",
			} {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if etag := rec.Header().Get("ETag"); !strongETag.MatchString(etag) {
				t.Errorf("ETag = %q, want a strong hash", etag)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `<div id="swagger-ui"></div>`) {
				t.Errorf("page has no Swagger UI mount point:\n%s", body)
			}
			// The CSP forbids inline scripts, so the page must have none.
			if n, m := strings.Count(body, "<script"), strings.Count(body, `<script src="/docs/`); n != m || n != 2 {
				t.Errorf("page has %d <script> tags, %d of them external; want 2 external:\n%s", n, m, body)
			}
			refs := assetRef.FindAllStringSubmatch(body, -1)
			var got []string
			for _, ref := range refs {
				got = append(got, ref[1])
				sum := sha256.Sum256(embedded(t, strings.TrimPrefix(ref[1], "/docs/")))
				if want := hex.EncodeToString(sum[:])[:12]; ref[2] != want {
					t.Errorf("%s is versioned %s, want %s (its content hash)", ref[1], ref[2], want)
				}
			}
			want := []string{"/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js"}
			if !slices.Equal(got, want) {
				t.Errorf("page references %v, want %v", got, want)
			}
		})
	}
}

func TestDocsAssets(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, nil)
	for name, contentType := range map[string]string{
		"swagger-ui-bundle.js":             "text/javascript; charset=utf-8",
		"init.js":                          "text/javascript; charset=utf-8",
		"swagger-ui.css":                   "text/css; charset=utf-8",
		"LICENSE":                          "text/plain; charset=utf-8",
		"NOTICE":                           "text/plain; charset=utf-8",
		"swagger-ui-bundle.js.LICENSE.txt": "text/plain; charset=utf-8",
	} {
		t.Run(name, func(t *testing.T) {
			rec := h.get("/docs/" + name + "?v=anything")
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if !bytes.Equal(rec.Body.Bytes(), embedded(t, name)) {
				t.Error("body differs from the embedded file")
			}
			for k, v := range map[string]string{
				"Content-Type":            contentType,
				"Cache-Control":           "public, max-age=31536000, immutable",
				"Content-Security-Policy": docsCSP,
				"X-Content-Type-Options":  "nosniff",
			} {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			etag := rec.Header().Get("ETag")
			if !strongETag.MatchString(etag) {
				t.Fatalf("ETag = %q, want a strong hash", etag)
			}

			again := h.get("/docs/"+name, "If-None-Match", etag)
			if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Errorf("revalidation = %d with %d bytes, want 304 and no body", again.Code, again.Body.Len())
			}
			if stale := h.get("/docs/"+name, "If-None-Match", `"0123"`); stale.Code != http.StatusOK {
				t.Errorf("stale If-None-Match = %d, want 200", stale.Code)
			}
		})
	}
}

func TestDocsUnknownFile(t *testing.T) {
	h := newOpsHarness(t, OpsConfig{}, nil)
	for _, path := range []string{"/docs/nope.js", "/docs/swagger-ui-bundle.js.map", "/docs/docs/init.js", "/docs/index.html/x"} {
		rec := h.get(path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s = %d, want 404", path, rec.Code)
			continue
		}
		want := `{"type":"about:blank","title":"Not Found","status":404,` +
			`"detail":"no such documentation file","instance":"` + path + `"}` + "\n"
		if rec.Body.String() != want {
			t.Errorf("%s body = %q, want %q", path, rec.Body.String(), want)
		}
	}
}

// docsTestSpec is the smallest OpenAPI document shaped like todod's: a bearer
// security scheme and two operations.
const docsTestSpec = `{"openapi":"3.1.0","info":{"title":"todod","version":"test"},
"components":{"securitySchemes":{"bearerAuth":{"type":"http","scheme":"bearer","bearerFormat":"JWT"}}},
"security":[{"bearerAuth":[]}],
"paths":{
 "/api/tasks":{"get":{"operationId":"list-tasks","summary":"List tasks","responses":{"200":{"description":"the tasks"}}}},
 "/api/tasks/{id}":{"delete":{"operationId":"delete-task","summary":"Delete a task",
   "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],
   "responses":{"200":{"description":"deleted"}}}}}}`

// TestDocsInBrowser loads /docs in headless Chromium with every host but the
// loopback unresolvable, and checks that Swagger UI rendered the operations,
// that the page broke none of its CSP, and that every request the page made
// went to the server itself.
func TestDocsInBrowser(t *testing.T) {
	chromium := requireChromium(t)

	var mu sync.Mutex
	var seen []string
	h := newOpsHarness(t, OpsConfig{}, nil)
	mux := http.NewServeMux()
	h.ops.register(mux)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(docsTestSpec))
	})
	srv := httptest.NewServer(h.ops.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		mux.ServeHTTP(w, r)
	})))
	defer srv.Close()

	run := runChromium(t, chromium, srv.URL+"/docs/")

	for _, want := range []string{"list-tasks", "delete-task", "/api/tasks/{id}", "List tasks", "Authorize"} {
		if !strings.Contains(run.dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	for _, bad := range []string{"Content Security Policy", "Uncaught"} {
		if strings.Contains(run.console, bad) {
			t.Errorf("browser console reports %q:\n%s", bad, run.console)
		}
	}
	if len(run.pageRequests) < 4 {
		t.Errorf("the page made %d requests (%v); want its 3 assets and the spec", len(run.pageRequests), run.pageRequests)
	}
	for _, u := range run.pageRequests {
		if !strings.HasPrefix(u, srv.URL+"/") {
			t.Errorf("the page requested %s, outside the server", u)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	allowed := []string{"/docs/", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js", "/openapi.json"}
	for _, p := range seen {
		if !slices.Contains(allowed, p) {
			t.Errorf("the server saw a request for %s", p)
		}
	}
	for _, p := range allowed {
		if !slices.Contains(seen, p) {
			t.Errorf("the server never saw %s (requests: %v)", p, seen)
		}
	}
}

// TestDocsRenderTodoSpec loads /docs of the real server, so a construct of
// todod's own OpenAPI document that Swagger UI cannot render shows up here.
func TestDocsRenderTodoSpec(t *testing.T) {
	chromium := requireChromium(t)
	srv := httptest.NewServer(NewServer(Config{Version: "test"}))
	defer srv.Close()

	run := runChromium(t, chromium, srv.URL+"/docs/")
	for _, want := range []string{"list-tasks", "create-task", "/api/tasks/{id}", "Authorize"} {
		if !strings.Contains(run.dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if run.console != "" {
		t.Errorf("browser console:\n%s", run.console)
	}
	for _, u := range run.pageRequests {
		if !strings.HasPrefix(u, srv.URL+"/") {
			t.Errorf("the page requested %s, outside the server", u)
		}
	}
}

// requireChromium returns the path of chromium, skipping the test when it is
// not installed unless TEST_REQUIRE_CHROMIUM=1 demands it.
func requireChromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		msg := "chromium not found (install it with: apt-get install -y chromium)"
		if os.Getenv("TEST_REQUIRE_CHROMIUM") == "1" {
			t.Fatal(msg + "; TEST_REQUIRE_CHROMIUM=1 requires it")
		}
		t.Skip(msg + "; skipping the browser test")
	}
	return path
}

// browserRun is what headless Chromium reported about one page load.
type browserRun struct {
	dom          string   // the DOM once scripts have run
	console      string   // Chromium's log, console messages included
	pageRequests []string // URLs requested by the page (not by the browser itself)
}

// runChromium loads url in a fresh headless Chromium profile in which only
// loopback hosts resolve, and returns the rendered DOM, the console and the
// URLs the page requested, as recorded in Chromium's network log.
func runChromium(t *testing.T, chromium, url string) browserRun {
	t.Helper()
	dir, err := os.MkdirTemp("", "todod-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Chromium's helper processes may still be writing as it exits; a
	// leftover temp directory is not worth failing the test over.
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	netlog := filepath.Join(dir, "netlog.json")

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE 127.0.0.2",
		"--log-net-log="+netlog,
		"--enable-logging=stderr", "--v=0",
		"--virtual-time-budget=10000",
		"--dump-dom", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return browserRun{
		dom:          stdout.String(),
		console:      consoleLines(stderr.String()),
		pageRequests: pageRequests(t, netlog),
	}
}

// consoleLines keeps the lines of Chromium's log that report the page's
// console; the rest is the browser talking about itself.
func consoleLines(log string) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if strings.Contains(line, ":CONSOLE") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// pageRequests reads a Chromium net log and returns the URLs of requests
// started on behalf of a page. Those carry the page's origin as initiator;
// the browser's own requests (update checks and the like, which the resolver
// rules stop anyway) carry none, and neither does the navigation itself.
func pageRequests(t *testing.T, netlog string) []string {
	t.Helper()
	raw, err := os.ReadFile(netlog)
	if err != nil {
		t.Fatalf("chromium wrote no net log: %v", err)
	}
	var log struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int             `json:"type"`
			Params json.RawMessage `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &log); err != nil {
		t.Fatalf("chromium's net log: %v", err)
	}
	startJob, ok := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	if !ok {
		t.Fatal("chromium's net log has no URL_REQUEST_START_JOB events")
	}
	var urls []string
	for _, e := range log.Events {
		if e.Type != startJob || e.Params == nil {
			continue
		}
		var p struct {
			URL       string `json:"url"`
			Initiator string `json:"initiator"`
		}
		if err := json.Unmarshal(e.Params, &p); err != nil {
			t.Fatalf("chromium's net log: %v", err)
		}
		if p.URL != "" && p.Initiator != "" && p.Initiator != "not an origin" {
			urls = append(urls, p.URL)
		}
	}
	return urls
}
