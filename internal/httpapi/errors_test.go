package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// Every operation in both path styles, with a body where one is needed.
func everyOperation() []call {
	var out []call
	for _, prefix := range []string{"/api", "/api/alice"} {
		out = append(out,
			call{method: "GET", path: prefix + "/tasks"},
			call{method: "GET", path: prefix + "/tasks?count=true"},
			call{method: "POST", path: prefix + "/tasks", body: `{"title":"a"}`},
			call{method: "GET", path: prefix + "/tasks/1"},
			call{method: "PUT", path: prefix + "/tasks/1", body: `{"title":"a"}`},
			call{method: "PATCH", path: prefix + "/tasks/1", body: `{"title":"a"}`},
			call{method: "PATCH", path: prefix + "/tasks/1/complete"},
			call{method: "DELETE", path: prefix + "/tasks/1"},
			call{method: "DELETE", path: prefix + "/tasks/1", header: []string{"If-Match", `"1.1", "1.2"`}},
		)
	}
	return out
}

func TestStoreUnavailable(t *testing.T) {
	for _, cause := range []error{
		fmt.Errorf("sqlite: get task: %w", todo.ErrUnavailable),
		fmt.Errorf("pool: %w", context.DeadlineExceeded),
	} {
		e := newAPIEnv(t, withStoreHook(func(string) error { return cause }))
		for _, c := range everyOperation() {
			c.user = "alice"
			w := e.do(c)
			p := decodeProblem(t, w, http.StatusServiceUnavailable)
			wantBody(t, p.Detail, "the database is unavailable right now; retry shortly")
			wantHeader(t, w.Header(), "Retry-After", "1")
		}
		if !strings.Contains(e.logs.String(), `"level":"WARN","msg":"storage unavailable"`) {
			t.Fatalf("503 not logged as a warning: %s", e.logs)
		}
	}
}

// An unexpected store error is a bug: a 500 whose body names only the
// request id, whatever the error says, and the cause in the log.
func TestStoreBugIsA500(t *testing.T) {
	secret := errors.New(`pq: relation "tasks" does not exist (SQLSTATE 42P01) at /srv/todod/internal/postgres/task.go:42`)
	e := newAPIEnv(t, withStoreHook(func(string) error { return secret }))
	for i, c := range everyOperation() {
		c.user = "alice"
		id := fmt.Sprintf("req-%d", i)
		c.header = append(c.header, "X-Request-ID", id)
		w := e.do(c)
		decodeProblem(t, w, http.StatusInternalServerError)
		path, _, _ := strings.Cut(c.path, "?")
		wantBody(t, w.Body.String(), `{"type":"about:blank","title":"Internal Server Error","status":500,`+
			`"detail":"internal error (request id `+id+`)","instance":"`+path+`"}`+"\n")
		if !strings.Contains(e.logs.String(), id) {
			t.Fatalf("%s %s: the log does not name %s", c.method, c.path, id)
		}
	}
	if !strings.Contains(e.logs.String(), `relation \"tasks\" does not exist`) {
		t.Fatalf("the cause is not logged: %s", e.logs)
	}
}

// A client that went away is not an error worth a log line at error level.
func TestClientGone(t *testing.T) {
	e := newAPIEnv(t, withStoreHook(func(string) error { return context.Canceled }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newRequest(t, e, "GET", "/api/tasks/1", "alice", nil).WithContext(ctx)
	w := serve(e, r)
	if w.Code != statusClientClosed {
		t.Fatalf("status %d, want %d", w.Code, statusClientClosed)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("logged as an error: %s", e.logs)
	}
}

func TestFinishProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *huma.ErrorModel
		want problem
	}{
		{"huma's validation", &huma.ErrorModel{Status: 422, Title: "Unprocessable Entity", Detail: "validation failed", Errors: []*huma.ErrorDetail{
			{Location: "query.limit", Message: "expected number <= 1000", Value: 5000}, nil,
		}}, problem{Type: "about:blank", Title: "Unprocessable Entity", Status: 422, Detail: "query.limit: expected number <= 1000",
			Instance: "/p", Errors: []problemItem{{Location: "query.limit", Message: "expected number <= 1000", Value: 5000}}}},
		{"huma's 500 with the error text", &huma.ErrorModel{Status: 500, Detail: "unexpected error occurred", Errors: []*huma.ErrorDetail{{Message: "sql: no rows"}}},
			problem{Type: "about:blank", Title: "Internal Server Error", Status: 500, Detail: "internal error (request id rid)", Instance: "/p"}},
		{"no status", &huma.ErrorModel{},
			problem{Type: "about:blank", Title: "Internal Server Error", Status: 500, Detail: "internal error (request id rid)", Instance: "/p"}},
		{"no detail", &huma.ErrorModel{Status: 404},
			problem{Type: "about:blank", Title: "Not Found", Status: 404, Detail: "not found", Instance: "/p"}},
		{"unknown status", &huma.ErrorModel{Status: 499},
			problem{Type: "about:blank", Title: "Client Closed Request", Status: 499, Detail: "client closed request", Instance: "/p"}},
		{"many errors", &huma.ErrorModel{Status: 422, Errors: []*huma.ErrorDetail{{Message: "a"}, {Location: "x", Message: "b"}, {Message: "c"}, {Message: "d"}, {Message: "e"}}},
			problem{Type: "about:blank", Title: "Unprocessable Entity", Status: 422, Detail: "a; x: b; c (and 2 more)", Instance: "/p",
				Errors: []problemItem{{Message: "a"}, {Location: "x", Message: "b"}, {Message: "c"}, {Message: "d"}, {Message: "e"}}}},
		{"kept", &huma.ErrorModel{Type: "about:blank", Title: "T", Status: 409, Detail: "d", Instance: "/i"},
			problem{Type: "about:blank", Title: "T", Status: 409, Detail: "d", Instance: "/i"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := finishProblem(tc.in, "/p", "rid")
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", tc.want) {
				t.Fatalf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
	if got := summarize(&problem{Status: 599}); got != "request failed with status 599" {
		t.Fatalf("summarize: %q", got)
	}
}
