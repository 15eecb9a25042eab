package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/auth/authtest"
	"github.com/todod/todod/internal/sqlite"
	"github.com/todod/todod/internal/todo"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/openapi.golden.json")

// apiSecret signs the HS256 tokens of these tests.
const apiSecret = "httpapi-test-secret-0123456789abcdef"

// apiEpoch is the clock of every test server at its start.
var apiEpoch = time.Date(2026, 11, 25, 17, 0, 0, 123456000, time.UTC)

// apiEnv is a Server on a fresh SQLite file, with a real HS256 verifier and a
// clock the test moves.
type apiEnv struct {
	t     testing.TB
	srv   *Server
	store todo.Store // the real store, under any wrapper the test installed
	clock *authtest.Clock
	logs  *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openTestStore opens a migrated SQLite store in a temp file, closed at cleanup.
func openTestStore(t testing.TB, now func() time.Time) todo.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "todo.db"), sqlite.Options{Now: now})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// newAPIEnv starts a server; opts may change its Config (wrap the store,
// replace the authenticator, set a rate limit).
func newAPIEnv(t testing.TB, opts ...func(*Config)) *apiEnv {
	t.Helper()
	clock := authtest.NewClock(apiEpoch)
	st := openTestStore(t, clock.Now)
	v, err := auth.New(auth.Config{Secret: []byte(apiSecret), Now: clock.Now})
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	t.Cleanup(v.Close)
	logs := &syncBuffer{}
	cfg := Config{
		Store:   st,
		Auth:    v,
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     clock.Now,
		Version: "test",
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &apiEnv{t: t, srv: NewServer(cfg), store: st, clock: clock, logs: logs}
}

// token mints a valid HS256 token for sub, as frontends do with BETTER_AUTH_SECRET.
func (e *apiEnv) token(sub string) string {
	e.t.Helper()
	tok, err := auth.Mint([]byte(apiSecret), sub, time.Hour, e.clock.Now())
	if err != nil {
		e.t.Fatalf("mint: %v", err)
	}
	return tok
}

// call is one request of a table row.
type call struct {
	method string
	path   string
	user   string // token subject; "" sends no Authorization header
	body   string
	// ct is the Content-Type; "" means application/json when there is a
	// body, "-" means none.
	ct     string
	header []string // name, value pairs
}

func (e *apiEnv) do(c call) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r := newRequest(e.t, e, c.method, c.path, c.user, body)
	switch {
	case c.ct == "-":
	case c.ct != "":
		r.Header.Set("Content-Type", c.ct)
	case c.body != "":
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		r.Header.Add(c.header[i], c.header[i+1])
	}
	return serve(e, r)
}

// newRequest builds a request with a token for user ("" for none).
func newRequest(t testing.TB, e *apiEnv, method, path, user string, body io.Reader) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, path, body)
	if user != "" {
		r.Header.Set("Authorization", "Bearer "+e.token(user))
	}
	return r
}

func serve(e *apiEnv, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

// mustDo runs c and fails unless it answers status.
func (e *apiEnv) mustDo(c call, status int) *httptest.ResponseRecorder {
	e.t.Helper()
	w := e.do(c)
	if w.Code != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, w.Code, status, w.Body)
	}
	return w
}

// create makes a task for user from a JSON body and returns it decoded.
func (e *apiEnv) create(user, body string) map[string]any {
	e.t.Helper()
	w := e.mustDo(call{method: "POST", path: "/api/tasks", user: user, body: body}, http.StatusCreated)
	return decodeObject(e.t, w.Body.Bytes())
}

func decodeObject(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// problem is a decoded problem body.
type gotProblem struct {
	Type     string    `json:"type"`
	Title    string    `json:"title"`
	Status   int       `json:"status"`
	Detail   string    `json:"detail"`
	Instance string    `json:"instance"`
	Errors   []gotItem `json:"errors"`
}

type gotItem struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Value    any    `json:"value"`
}

// decodeProblem checks that w is a problem response of the given status and
// returns it. Unknown members fail the test: the shape is the contract.
func decodeProblem(t *testing.T, w *httptest.ResponseRecorder, status int) gotProblem {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, w.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	var p gotProblem
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", w.Body, err)
	}
	if p.Type != "about:blank" || p.Status != status || p.Title != statusTitle(status) || p.Detail == "" || p.Instance == "" {
		t.Fatalf("problem %+v: type, status, title, detail and instance must be set", p)
	}
	return p
}

// wantErrors compares a problem's errors with want, as "location: message" lines.
func wantErrors(t *testing.T, p gotProblem, want ...string) {
	t.Helper()
	got := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		got[i] = e.Location + ": " + e.Message
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestOpenAPIGolden(t *testing.T) {
	got, err := OpenAPIDocument("test")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "openapi.golden.json")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/httpapi -run TestOpenAPIGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the OpenAPI document changed; review and run go test ./internal/httpapi -run TestOpenAPIGolden -update\n%s",
			firstDifference(string(want), string(got)))
	}
}

func firstDifference(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n- " + w + "\n+ " + g
		}
	}
	return ""
}

// hookStore wraps a store: hook runs before every call and, when it returns
// an error, the call fails with it instead of reaching the store.
type hookStore struct {
	todo.Store
	hook func(method string) error
}

// withStoreHook installs a hookStore around the test server's store.
func withStoreHook(hook func(method string) error) func(*Config) {
	return func(c *Config) { c.Store = &hookStore{Store: c.Store, hook: hook} }
}

// noStore makes every store call fail the test: for answers that must be
// decided before any database access.
func noStore(t *testing.T) func(*Config) {
	return withStoreHook(func(method string) error {
		t.Errorf("the store was called (%s)", method)
		return todo.ErrUnavailable
	})
}

func (s *hookStore) CreateTask(ctx context.Context, userID string, nt todo.NewTask) (todo.Task, error) {
	if err := s.hook("CreateTask"); err != nil {
		return todo.Task{}, err
	}
	return s.Store.CreateTask(ctx, userID, nt)
}

func (s *hookStore) GetTask(ctx context.Context, userID string, id int64) (todo.Task, error) {
	if err := s.hook("GetTask"); err != nil {
		return todo.Task{}, err
	}
	return s.Store.GetTask(ctx, userID, id)
}

func (s *hookStore) UpdateTask(ctx context.Context, userID string, id int64, p todo.TaskPatch, ifVersion int64) (todo.Task, error) {
	if err := s.hook("UpdateTask"); err != nil {
		return todo.Task{}, err
	}
	return s.Store.UpdateTask(ctx, userID, id, p, ifVersion)
}

func (s *hookStore) CompleteTask(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64) (todo.Task, error) {
	if err := s.hook("CompleteTask"); err != nil {
		return todo.Task{}, err
	}
	return s.Store.CompleteTask(ctx, userID, id, completed, ifVersion)
}

func (s *hookStore) DeleteTask(ctx context.Context, userID string, id int64, ifVersion int64) (todo.Task, error) {
	if err := s.hook("DeleteTask"); err != nil {
		return todo.Task{}, err
	}
	return s.Store.DeleteTask(ctx, userID, id, ifVersion)
}

func (s *hookStore) ListTasks(ctx context.Context, userID string, f todo.TaskFilter) (todo.TaskPage, error) {
	if err := s.hook("ListTasks"); err != nil {
		return todo.TaskPage{}, err
	}
	return s.Store.ListTasks(ctx, userID, f)
}

func (s *hookStore) CountTasks(ctx context.Context, userID string, f todo.TaskFilter) (int64, error) {
	if err := s.hook("CountTasks"); err != nil {
		return 0, err
	}
	return s.Store.CountTasks(ctx, userID, f)
}

func TestRouting(t *testing.T) {
	e := newAPIEnv(t, noStore(t))
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"DELETE", "/api/tasks", 405, "GET, HEAD, POST"},
		{"PUT", "/api/alice/tasks/", 405, "GET, HEAD, POST"},
		{"POST", "/api/tasks/1", 405, "DELETE, GET, HEAD, PATCH, PUT"},
		{"POST", "/api/alice/tasks/1", 405, "DELETE, GET, HEAD, PATCH, PUT"},
		{"GET", "/api/tasks/1/complete", 405, "PATCH"},
		{"DELETE", "/api/alice/tasks/1/complete/", 405, "PATCH"},
		{"OPTIONS", "/api/tasks", 405, "GET, HEAD, POST"},
		{"POST", "/openapi.json", 405, "GET, HEAD"},
		{"GET", "/nope", 404, ""},
		{"GET", "/api", 404, ""},
		{"GET", "/api/", 404, ""},
		{"GET", "/api/tasks//", 404, ""},
		{"GET", "/api/tasks/1/other", 404, ""},
		{"GET", "/api/alice/bob/tasks", 404, ""},
		{"PATCH", "/api/alice/tasks/1/complete/extra", 404, ""},
		{"GET", "/openapi.yaml", 404, ""},
		{"GET", "/openapi-3.0.json", 404, ""},
		{"GET", "/schemas/Task.json", 404, ""},
	} {
		w := e.do(call{method: tc.method, path: tc.path, user: "alice"})
		p := decodeProblem(t, w, tc.status)
		wantHeader(t, w.Header(), "Allow", tc.allow)
		shown := tc.path // as routed: one trailing slash dropped under /api/
		if len(shown) > len("/api/") && strings.HasPrefix(shown, "/api/") {
			shown = strings.TrimSuffix(shown, "/")
		}
		want := "no route for " + shown
		if tc.status == 405 {
			want = "method " + tc.method + " is not allowed on " + shown + "; allowed: " + tc.allow
		}
		if p.Detail != want {
			t.Errorf("%s %s: detail %q, want %q", tc.method, tc.path, p.Detail, want)
		}
	}
}

// Collection paths with a trailing slash are served, never redirected, and
// the route recorded for logs and metrics is the template.
func TestTrailingSlashAndRoute(t *testing.T) {
	e := newAPIEnv(t)
	e.mustDo(call{method: "POST", path: "/api/alice/tasks/", user: "alice", body: `{"title":"a"}`}, http.StatusCreated)
	for _, path := range []string{"/api/tasks/", "/api/alice/tasks/", "/api/alice/tasks/1/", "/api/tasks/1/"} {
		e.mustDo(call{method: "GET", path: path, user: "alice"}, http.StatusOK)
	}
	e.mustDo(call{method: "PATCH", path: "/api/alice/tasks/1/complete/", user: "alice", ct: "application/json"}, http.StatusOK)
	logs := e.logs.String()
	for _, want := range []string{
		`"route":"/api/{user_id}/tasks"`, `"route":"/api/tasks/{id}"`, `"route":"/api/{user_id}/tasks/{id}/complete"`,
		`"path":"/api/alice/tasks/1/"`, `"user_id":"alice"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newAPIEnv(t, noStore(t))
	w := e.mustDo(call{method: "GET", path: "/openapi.json"}, http.StatusOK)
	wantHeader(t, w.Header(), "Content-Type", "application/json")
	spec, err := e.srv.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Body.Bytes(), spec) {
		t.Fatal("/openapi.json is not Server.OpenAPI()")
	}
	e.mustDo(call{method: "HEAD", path: "/openapi.json"}, http.StatusOK)

	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Security    []map[string][]string `json:"security"`
			RequestBody *struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"requestBody"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas         map[string]json.RawMessage `json:"schemas"`
			SecuritySchemes map[string]struct {
				Type, Scheme, BearerFormat string
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Version != "test" {
		t.Fatalf("openapi %q version %q", doc.OpenAPI, doc.Info.Version)
	}
	if s := doc.Components.SecuritySchemes["bearerAuth"]; s.Type != "http" || s.Scheme != "bearer" || s.BearerFormat != "JWT" {
		t.Fatalf("bearerAuth %+v", s)
	}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			ids[op.OperationID] = true
			if !strings.HasPrefix(path, "/api/") {
				continue // an operational route, needing no token: see TestOpenAPIDescribesTheContract
			}
			if len(op.Security) != 1 || op.Security[0]["bearerAuth"] == nil {
				t.Errorf("%s %s: security %v", method, path, op.Security)
			}
			for _, code := range []string{"401", "429", "500", "503"} {
				if op.Responses[code] == nil {
					t.Errorf("%s %s: no %s response", method, path, code)
				}
			}
			if strings.Contains(path, "{user_id}") && op.Responses["403"] == nil {
				t.Errorf("%s %s: no 403 response", method, path)
			}
			if (method == "post" || method == "put" || method == "patch") && (op.RequestBody == nil || op.RequestBody.Content["application/json"] == nil) {
				t.Errorf("%s %s: request body not documented", method, path)
			}
		}
	}
	for _, id := range []string{"list-tasks", "create-task", "get-task", "update-task", "patch-task", "delete-task", "complete-task",
		"list-changes", "bulk-tasks", "get-task-stats", "stream-events"} {
		if !ids[id] || !ids[id+"-for-user"] {
			t.Errorf("operation %s or %s-for-user missing", id, id)
		}
	}
	for _, id := range []string{"healthz", "readyz", "metrics", "openapi", "docs"} {
		if !ids[id] {
			t.Errorf("operation %s missing", id)
		}
	}
	if len(ids) != 27 {
		t.Errorf("%d operations, want 27", len(ids))
	}
	for _, name := range []string{"Task", "TaskCreate", "TaskUpdate", "TaskCompletion", "TaskDeleted", "Problem", "ProblemItem"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s missing", name)
		}
	}
	if bytes.Contains(spec, []byte(`"$schema"`)) || bytes.Contains(spec, []byte("ErrorModel")) {
		t.Error("the document describes huma's $schema field or its ErrorModel")
	}
}

func TestMuxAdapterServesOwnRoutes(t *testing.T) {
	own := http.NewServeMux()
	own.HandleFunc("GET /x", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	w := httptest.NewRecorder()
	(&muxAdapter{own: own, perUser: http.NewServeMux()}).ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != http.StatusTeapot {
		t.Fatalf("status %d", w.Code)
	}
}

// twoPassRouter is s's routing as it was before the muxes had fallbacks: own
// asked first and perUser second, each matching the request again to serve
// it, and Allow gathered from the 405 answers of both. It is the reference
// TestRoutingMatchesTwoPassRouter holds Server.route to.
func twoPassRouter(s *Server) http.Handler {
	own, perUser := http.NewServeMux(), http.NewServeMux()
	api := newAPI(&muxAdapter{own: own, perUser: perUser}, "test")
	api.UseMiddleware(s.apiMiddleware)
	s.routes(api)
	own.Handle("GET /openapi.json", routed("/openapi.json", http.HandlerFunc(s.serveSpec)))
	s.ops.register(own)
	allowed := func(miss http.Handler, r *http.Request) []string {
		rec := httptest.NewRecorder()
		miss.ServeHTTP(rec, r)
		if rec.Code != http.StatusMethodNotAllowed {
			return nil
		}
		var out []string
		for m := range strings.SplitSeq(rec.Header().Get("Allow"), ",") {
			if m = strings.TrimSpace(m); m != "" {
				out = append(out, m)
			}
		}
		return out
	}
	return s.ops.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > len("/api/") && strings.HasPrefix(p, "/api/") && strings.HasSuffix(p, "/") {
			r = r.WithContext(r.Context())
			u := *r.URL
			u.Path = p[:len(p)-1]
			u.RawPath = strings.TrimSuffix(u.RawPath, "/")
			r.URL = &u
		}
		ownMiss, pattern := own.Handler(r)
		if pattern != "" {
			own.ServeHTTP(w, r)
			return
		}
		userMiss, pattern := perUser.Handler(r)
		if pattern != "" {
			perUser.ServeHTTP(w, r)
			return
		}
		allow := allowed(ownMiss, r)
		for _, m := range allowed(userMiss, r) {
			if !slices.Contains(allow, m) {
				allow = append(allow, m)
			}
		}
		s.writeNotRouted(w, r, allow)
	}))
}

// routingPaths are paths around every route: both path styles, the user ids
// and ids that are also words of the routes (/api/tasks/tasks…), trailing
// slashes, escapes, and paths that are not in clean form.
func routingPaths() []string {
	paths := []string{
		"/", "/nope", "/api", "/api/", "/api//", "/healthz", "/healthz/", "/readyz", "/metrics", "/docs", "/docs/", "/docs/nope",
		"/openapi.json", "/openapi.json/", "/api/tasks//", "/api//tasks", "//api/tasks", "/api/./tasks", "/api/x/../tasks",
		"/api/tasks/1/..", "/api/alice/tasks/./1", "/api/tasks/1/complete/.", "/api/nope/../alice/tasks/1/complete",
		"/api/x/../nope", "/api//nope", "/api/tasks/%31", "/api/al%69ce/tasks", "/api/tasks%2F1", "/api/t%61sks/1/complete",
		"/api/alice/tasks/1/complete", "/api/tasks/tasks/1/complete", "/api/events/tasks/1/complete",
		"/api/alice/tasks/1/complete/extra", "/api/tasks/1/complete/extra",
	}
	words := []string{"tasks", "events", "alice", "1", "complete", "stats"}
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if depth == 0 {
			return
		}
		for _, w := range words {
			p := prefix + "/" + w
			paths = append(paths, p, p+"/")
			walk(p, depth-1)
		}
	}
	walk("/api", 3)
	return paths
}

// TestRoutingMatchesTwoPassRouter checks that matching each request once
// routes every method and path exactly as asking both muxes in turn did:
// the same status, Allow, Location and body.
func TestRoutingMatchesTwoPassRouter(t *testing.T) {
	e := newAPIEnv(t)
	ref := twoPassRouter(e.srv)
	token := "Bearer " + e.token("alice")
	n := 0
	for _, path := range routingPaths() {
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"} {
			trimmed := strings.TrimSuffix(path, "/")
			stream := (method == "GET" || method == "HEAD") && (trimmed == "/api/events" || trimmed == "/api/alice/events")
			var got, want *httptest.ResponseRecorder
			for _, h := range []http.Handler{e.srv, ref} {
				r := httptest.NewRequest(method, path, nil)
				if stream {
					// An event stream stays open until its request ends.
					ctx, cancel := context.WithCancel(r.Context())
					cancel()
					r = r.WithContext(ctx)
				}
				r.Header.Set("Authorization", token)
				r.Header.Set("X-Request-ID", "route-test")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				got, want = want, w
			}
			n++
			sameBody := got.Body.String() == want.Body.String() ||
				strings.HasPrefix(path, "/metrics") && got.Code == http.StatusOK // the counters moved
			if got.Code != want.Code || !sameBody {
				t.Errorf("%s %s: %d %.200q, want %d %.200q", method, path, got.Code, got.Body, want.Code, want.Body)
				continue
			}
			for _, k := range []string{"Allow", "Location", "Content-Type", "ETag"} {
				if got.Header().Get(k) != want.Header().Get(k) {
					t.Errorf("%s %s: %s %q, want %q", method, path, k, got.Header().Get(k), want.Header().Get(k))
				}
			}
		}
	}
	if n < 3000 {
		t.Fatalf("only %d requests compared", n)
	}
}

// TestUnroutedRequestsAreUnmatched checks that requests no route takes are
// logged (and counted) under the route "unmatched", not under the pattern
// of the muxes' fallbacks, and served ones under their template.
func TestUnroutedRequestsAreUnmatched(t *testing.T) {
	for _, tc := range []struct{ method, path, route string }{
		{"GET", "/nope", "unmatched"},
		{"GET", "/api/alice/nope", "unmatched"},
		{"DELETE", "/api/alice/tasks", "unmatched"},
		{"POST", "/openapi.json", "unmatched"},
		{"GET", "/api//nope", "unmatched"},
		{"GET", "/api/alice/tasks", "/api/{user_id}/tasks"},
		{"POST", "/api/tasks/tasks", "/api/{user_id}/tasks"},
		{"GET", "/api/tasks/tasks", "/api/tasks/{id}"},
	} {
		e := newAPIEnv(t)
		e.do(call{method: tc.method, path: tc.path, user: "alice"})
		if want := `"route":"` + tc.route + `"`; !strings.Contains(e.logs.String(), want) {
			t.Errorf("%s %s: access log lacks %s:\n%s", tc.method, tc.path, want, e.logs)
		}
	}
}

func TestIsCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/api/tasks": true, "/api/tasks/": true, "/docs/": true, "/api/tasks/%31": true,
		"": false, "*": false, "api/tasks": false, "//api": false, "/api//tasks": false, "/api/tasks//": false,
		"/api/./tasks": false, "/api/x/../tasks": false, "/api/tasks/.": false, "/api/tasks/..": false, "/api/tasks/./": false,
	} {
		if got := isCleanPath(p); got != want {
			t.Errorf("isCleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestMuxAdapterRecordsOwnSegments checks the first segments route relies
// on to send a path straight to perUser, and that a wildcard among them
// turns that off.
func TestMuxAdapterRecordsOwnSegments(t *testing.T) {
	a := &muxAdapter{own: http.NewServeMux(), perUser: http.NewServeMux()}
	noop := func(huma.Context) {}
	for _, p := range []string{"/api/tasks", "/api/tasks/{id}", "/api/events", "/api/{user_id}/tasks", "/healthz"} {
		a.Handle(&huma.Operation{Method: http.MethodGet, Path: p}, noop)
	}
	if !slices.Equal(a.ownAPISegments, []string{"tasks", "events"}) || a.wildcard {
		t.Fatalf("segments %q, wildcard %v", a.ownAPISegments, a.wildcard)
	}
	a.Handle(&huma.Operation{Method: http.MethodPost, Path: "/api/{kind}/x"}, noop)
	if !a.wildcard {
		t.Fatal("a wildcard first segment was not noticed")
	}
	if got := NewServer(Config{}).ownAPISegments; !slices.Equal(got, []string{"tasks", "events"}) {
		t.Fatalf("the server's own segments are %q", got)
	}
}
