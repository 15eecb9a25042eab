package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/sqlite"
	"github.com/todod/todod/internal/todo"
)

// The hot paths of a request, with allocations: a task and a 100-task list
// page encoded as the API writes them, and whole requests through the Server
// on a SQLite store with a real HS256 token. BENCHMARKS.md records their
// numbers; token verification has its own benchmarks in internal/auth.
//
//	go test -run '^$' -bench . -benchmem ./internal/httpapi

// benchSecret signs the benchmark tokens.
const benchSecret = "httpapi-bench-secret-0123456789abcdef"

// benchTask is a task with every field set, as a busy user's tasks look: a
// description, tags, a due date and a completion time.
func benchTask(id int64) todo.Task {
	at := time.Date(2026, 11, 25, 17, 0, 0, 123456000, time.UTC).Add(time.Duration(id) * time.Second)
	desc := "Two litres, semi-skimmed, from the shop on the corner"
	due := at.Add(48 * time.Hour)
	done := at.Add(time.Hour)
	return todo.Task{
		ID: id, UserID: "Xq3bT9kLm2Vn8RpW4sYc6HdJ0aEfGu1i", Title: "Buy milk and bread for the weekend #" + strconv.FormatInt(id, 10),
		Description: &desc, Completed: true, Priority: todo.PriorityHigh, Tags: []string{"home", "shop"},
		DueAt: &due, CompletedAt: &done, CreatedAt: at, UpdatedAt: done, Version: 3,
	}
}

// benchMarshal encodes v exactly as a response body is encoded: through the
// API's application/json format.
func benchMarshal(b *testing.B, s *Server, v any) {
	b.Helper()
	if err := s.api.Marshal(io.Discard, "application/json", v); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTaskJSON is the body of get-task and of every write: the store's
// task turned into the API's shape and encoded.
func BenchmarkTaskJSON(b *testing.B) {
	s := NewServer(Config{})
	t := benchTask(42)
	b.ReportAllocs()
	for b.Loop() {
		body := taskFrom(t)
		benchMarshal(b, s, &body)
	}
}

// BenchmarkListJSON100 is the body of a full list page: 100 tasks, converted
// as list-tasks converts them and encoded.
func BenchmarkListJSON100(b *testing.B) {
	s := NewServer(Config{})
	tasks := make([]todo.Task, 100)
	for i := range tasks {
		tasks[i] = benchTask(int64(i + 1))
	}
	b.ReportAllocs()
	for b.Loop() {
		benchMarshal(b, s, tasksFrom(tasks))
	}
}

// benchEnv is a Server on a fresh, migrated SQLite file with a real HS256
// verifier (its token cache on, as in production) and no logging: the access
// log is off at the level benchmarks run todod with.
type benchEnv struct {
	srv   *Server
	token string
}

func newBenchEnv(b *testing.B, user string) *benchEnv {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	v, err := auth.New(auth.Config{Secret: []byte(benchSecret)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	tok, err := auth.Mint([]byte(benchSecret), user, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(Config{Store: st, Auth: v, Logger: slog.New(slog.DiscardHandler)})
	return &benchEnv{srv: srv, token: "Bearer " + tok}
}

// do serves one request and fails unless it answers want.
func (e *benchEnv) do(b *testing.B, method, path, body string, want int) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", e.token)
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, want, w.Body)
	}
	return w
}

// seed creates n tasks shaped like loadgen's, and returns the id of the last.
func (e *benchEnv) seed(b *testing.B, n int) string {
	var id string
	for i := range n {
		w := e.do(b, "POST", "/api/tasks", fmt.Sprintf(`{"title":"plan sprint review pull request #%d","description":"email team read chapter walk dog"}`, i), http.StatusCreated)
		id = strings.TrimPrefix(w.Header().Get("Location"), "/api/tasks/")
	}
	return id
}

// BenchmarkRoundTrip is a whole request through the Server: the operational
// layer (request id, security headers, CORS, metrics, recovery), token
// verification, huma's parameter binding, the store on SQLite and the JSON
// response, as loadgen sends them (the plan's path style). healthz is the
// operational layer alone, for comparison. create includes SQLite's commit
// (synchronous=FULL: an fsync per write), so it measures the disk too. Each
// iteration also builds its request and recorder (a few allocations that a
// real server spends differently).
func BenchmarkRoundTrip(b *testing.B) {
	const user = "Xq3bT9kLm2Vn8RpW4sYc6HdJ0aEfGu1i"
	coll := "/api/" + user + "/tasks"
	b.Run("healthz", func(b *testing.B) {
		e := newBenchEnv(b, user)
		b.ReportAllocs()
		for b.Loop() {
			e.do(b, "GET", "/healthz", "", http.StatusOK)
		}
	})
	b.Run("create", func(b *testing.B) {
		e := newBenchEnv(b, user)
		body := `{"title":"buy milk call mom write report #1-1","description":"fix bug review pull request plan sprint"}`
		b.ReportAllocs()
		for b.Loop() {
			e.do(b, "POST", coll, body, http.StatusCreated)
		}
	})
	b.Run("get", func(b *testing.B) {
		e := newBenchEnv(b, user)
		id := e.seed(b, 10)
		b.ReportAllocs()
		for b.Loop() {
			e.do(b, "GET", coll+"/"+id, "", http.StatusOK)
		}
	})
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("list-%d", n), func(b *testing.B) {
			e := newBenchEnv(b, user)
			e.seed(b, n)
			b.ReportAllocs()
			for b.Loop() {
				e.do(b, "GET", coll, "", http.StatusOK)
			}
		})
	}
}
