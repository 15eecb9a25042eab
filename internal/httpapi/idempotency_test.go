package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// idem sends c with Idempotency-Key key.
func (e *apiEnv) idem(c call, key string) *httptest.ResponseRecorder {
	e.t.Helper()
	c.header = append(c.header, "Idempotency-Key", key)
	return e.do(c)
}

// wantReplay checks that a replay has the status, headers and body of the
// first response, marked as replayed.
func wantReplay(t *testing.T, first, again *httptest.ResponseRecorder) {
	t.Helper()
	if again.Code != first.Code {
		t.Fatalf("replay status %d, want %d", again.Code, first.Code)
	}
	wantBody(t, again.Body.String(), first.Body.String())
	for _, h := range []string{"Location", "ETag", "Content-Type"} {
		wantHeader(t, again.Header(), h, first.Header().Get(h))
	}
	wantHeader(t, first.Header(), "Idempotent-Replayed", "")
	wantHeader(t, again.Header(), "Idempotent-Replayed", "true")
}

// countTasks is the number of user's tasks.
func (e *apiEnv) countTasks(user string) string {
	e.t.Helper()
	return e.mustDo(call{method: "GET", path: "/api/tasks?count=true", user: user}, http.StatusOK).Header().Get("X-Total-Count")
}

func testIdempotentCreate(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	create := call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"Buy milk"}`}
	first := e.idem(create, "k1")
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	wantBody(t, first.Body.String(), taskJSON())
	wantHeader(t, first.Header(), "Location", "/api/tasks/1")
	wantHeader(t, first.Header(), "ETag", `"1.1"`)

	// The task changes; a retry still gets the first response, and no task.
	e.clock.Advance(time.Hour)
	e.mustDo(call{method: "PATCH", path: "/api/tasks/1", user: "alice", body: `{"title":"Buy oat milk"}`}, http.StatusOK)
	for range 2 {
		wantReplay(t, first, e.idem(create, "k1"))
	}
	if n := e.countTasks("alice"); n != "1" {
		t.Fatalf("%s tasks after retries, want 1", n)
	}

	// The same key with another request: another body (even the same JSON
	// spelt differently), or the other path style.
	for _, c := range []call{
		{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"Buy bread"}`},
		{method: "POST", path: "/api/tasks", user: "alice", body: `{ "title": "Buy milk" }`},
		{method: "POST", path: "/api/alice/tasks", user: "alice", body: `{"title":"Buy milk"}`},
	} {
		p := decodeProblem(t, e.idem(c, "k1"), http.StatusUnprocessableEntity)
		wantBody(t, p.Detail, "this Idempotency-Key was used for a different request (another body, task or route); use a new key for a new request")
		wantErrors(t, p, "header.Idempotency-Key: was used for a different request")
	}
	// Keys belong to their user.
	w := e.idem(call{method: "POST", path: "/api/tasks", user: "bob", body: `{"title":"Buy milk"}`}, "k1")
	if w.Code != http.StatusCreated || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("bob with alice's key: %d %v", w.Code, w.Header())
	}
	wantHeader(t, w.Header(), "Location", "/api/tasks/2")

	// A request that fails keeps nothing: its key is still free.
	decodeProblem(t, e.idem(call{method: "POST", path: "/api/alice/tasks", user: "alice", body: `{"title":""}`}, "k2"), http.StatusUnprocessableEntity)
	w = e.idem(call{method: "POST", path: "/api/alice/tasks", user: "alice", body: `{"title":"Call mum"}`}, "k2")
	if w.Code != http.StatusCreated {
		t.Fatalf("a key after a failed request: %d %s", w.Code, w.Body)
	}
	wantHeader(t, w.Header(), "Location", "/api/alice/tasks/3")
	wantReplay(t, w, e.idem(call{method: "POST", path: "/api/alice/tasks", user: "alice", body: `{"title":"Call mum"}`}, "k2"))

	// Malformed keys, refused before any store call.
	v := newAPIEnv(t, noStore(t)) // never reaches a store
	for _, key := range []string{strings.Repeat("k", 256), "two words", "clé", "tab\there"} {
		p := decodeProblem(t, v.idem(call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"a"}`}, key), http.StatusUnprocessableEntity)
		if len(p.Errors) != 1 || p.Errors[0].Location != "header.Idempotency-Key" {
			t.Fatalf("key %q: errors %+v", key, p.Errors)
		}
	}
	w = e.idem(call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"longest key"}`}, strings.Repeat("~", 255))
	if w.Code != http.StatusCreated {
		t.Fatalf("a key of 255 characters: %d %s", w.Code, w.Body)
	}
}

func testIdempotentComplete(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	e.create("alice", `{"title":"Buy milk"}`) // 1
	e.create("alice", `{"title":"Walk"}`)     // 2
	toggle := call{method: "PATCH", path: "/api/tasks/1/complete", user: "alice", ct: "application/json"}

	// A toggle retried is not undone.
	first := e.idem(toggle, "c1")
	if first.Code != http.StatusOK {
		t.Fatalf("first toggle: %d %s", first.Code, first.Body)
	}
	wantHeader(t, first.Header(), "ETag", `"1.2"`)
	wantReplay(t, first, e.idem(toggle, "c1"))
	got := e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
	wantHeader(t, got.Header(), "ETag", `"1.2"`)
	if decodeObject(t, got.Body.Bytes())["completed"] != true {
		t.Fatal("the retried toggle reopened the task")
	}

	// With If-Match: the retry's If-Match is stale by then, and it is still
	// a replay, not a 412.
	conditional := toggle
	conditional.header = []string{"If-Match", `"1.2"`}
	second := e.idem(conditional, "c2")
	wantHeader(t, second.Header(), "ETag", `"1.3"`)
	wantReplay(t, second, e.idem(conditional, "c2"))

	// Another task, or another body, under a used key.
	for _, c := range []call{
		{method: "PATCH", path: "/api/tasks/2/complete", user: "alice", ct: "application/json"},
		{method: "PATCH", path: "/api/tasks/1/complete", user: "alice", body: `{"completed":true}`},
		{method: "PATCH", path: "/api/alice/tasks/1/complete", user: "alice", ct: "application/json"},
	} {
		p := decodeProblem(t, e.idem(c, "c1"), http.StatusUnprocessableEntity)
		wantErrors(t, p, "header.Idempotency-Key: was used for a different request")
	}

	// Failures keep nothing: a 404 and a 412 leave their keys free.
	decodeProblem(t, e.idem(call{method: "PATCH", path: "/api/tasks/99/complete", user: "alice", body: `{"completed":true}`}, "c3"), http.StatusNotFound)
	decodeProblem(t, e.idem(call{method: "PATCH", path: "/api/tasks/2/complete", user: "alice", body: `{"completed":true}`,
		header: []string{"If-Match", `"2.7"`}}, "c4"), http.StatusPreconditionFailed)
	set := call{method: "PATCH", path: "/api/tasks/2/complete", user: "alice", body: `{"completed":true}`}
	w := e.idem(set, "c4")
	if w.Code != http.StatusOK {
		t.Fatalf("a key after a 412: %d %s", w.Code, w.Body)
	}
	wantReplay(t, w, e.idem(set, "c4"))
	wantHeader(t, e.mustDo(call{method: "GET", path: "/api/tasks/2", user: "alice"}, http.StatusOK).Header(), "ETag", `"2.2"`)
}

// blockingStore holds the first idempotent create inside its transaction
// (in Render) until release is closed.
type blockingStore struct {
	todo.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (s *blockingStore) CreateTaskOnce(ctx context.Context, userID string, t todo.NewTask, idem todo.Idempotency) (todo.SavedResponse, bool, error) {
	render := idem.Render
	s.once.Do(func() {
		idem.Render = func(t todo.Task) (todo.SavedResponse, error) {
			close(s.entered)
			<-s.release
			return render(t)
		}
	})
	return s.Store.CreateTaskOnce(ctx, userID, t, idem)
}

// Duplicates that arrive while the first request is in progress never
// create a second task: each is a 409 (retry later) or, once the first is
// done, its replay.
func testIdempotentConcurrent(t *testing.T, open storeOpener) {
	bs := &blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvOn(t, open, func(c *Config) {
		bs.Store = c.Store
		c.Store = bs
	})
	tok := e.token("alice")
	request := func() *http.Request {
		r := httptest.NewRequest("POST", "/api/tasks", strings.NewReader(`{"title":"once"}`))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", "same")
		return r
	}
	var firstAnswer *httptest.ResponseRecorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		firstAnswer = serve(e, request())
	}()
	<-bs.entered

	const dups = 6
	answers := make([]*httptest.ResponseRecorder, dups)
	var wg sync.WaitGroup
	for i := range dups {
		r := request()
		wg.Go(func() { answers[i] = serve(e, r) })
	}
	// Give the duplicates time to reach the store while the first is held.
	// Whether they get there in time or not, every assertion below holds:
	// the wait only makes the 409 path likely.
	time.Sleep(100 * time.Millisecond)
	close(bs.release)
	<-done
	wg.Wait()

	if firstAnswer.Code != http.StatusCreated || firstAnswer.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", firstAnswer.Code, firstAnswer.Header(), firstAnswer.Body)
	}
	var statuses []string
	for _, w := range answers {
		switch w.Code {
		case http.StatusConflict:
			p := decodeProblem(t, w, http.StatusConflict)
			wantBody(t, p.Detail, "a request with this Idempotency-Key is still being processed; retry after 1 s to get its response")
			wantHeader(t, w.Header(), "Retry-After", "1")
		case http.StatusCreated:
			wantReplay(t, firstAnswer, w)
		default:
			t.Fatalf("a duplicate answered %d %s", w.Code, w.Body)
		}
		statuses = append(statuses, fmt.Sprint(w.Code))
	}
	if n := e.countTasks("alice"); n != "1" {
		t.Fatalf("%s tasks, want 1; duplicates answered %v", n, statuses)
	}
}

// The store's idempotency errors, as the client sees them.
func TestIdempotencyErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		detail string
		header string
	}{
		{fmt.Errorf("x: %w", todo.ErrIdempotencyInFlight), http.StatusConflict,
			"a request with this Idempotency-Key is still being processed; retry after 1 s to get its response", "1"},
		{fmt.Errorf("x: %w", todo.ErrIdempotencyMismatch), http.StatusUnprocessableEntity,
			"this Idempotency-Key was used for a different request (another body, task or route); use a new key for a new request", ""},
		{&todo.ValidationError{Errors: []todo.FieldError{{Field: "Idempotency-Key", Message: "is too long"}}}, http.StatusUnprocessableEntity,
			"header.Idempotency-Key: is too long", ""},
		{fmt.Errorf("x: %w", todo.ErrUnavailable), http.StatusServiceUnavailable, "the database is unavailable right now; retry shortly", "1"},
	} {
		e := newAPIEnv(t, func(c *Config) { c.Store = &onceErrStore{Store: c.Store, err: tc.err} })
		e.create("alice", `{"title":"a"}`)
		for _, c := range []call{
			{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"a"}`},
			{method: "PATCH", path: "/api/tasks/1/complete", user: "alice"},
		} {
			w := e.idem(c, "k")
			p := decodeProblem(t, w, tc.status)
			wantBody(t, p.Detail, tc.detail)
			wantHeader(t, w.Header(), "Retry-After", tc.header)
		}
	}
}

// onceErrStore fails every idempotent write with err.
type onceErrStore struct {
	todo.Store
	err error
}

func (s *onceErrStore) CreateTaskOnce(context.Context, string, todo.NewTask, todo.Idempotency) (todo.SavedResponse, bool, error) {
	return todo.SavedResponse{}, false, s.err
}

func (s *onceErrStore) CompleteTaskOnce(context.Context, string, int64, *bool, int64, todo.Idempotency) (todo.SavedResponse, bool, error) {
	return todo.SavedResponse{}, false, s.err
}

// Without Idempotency-Key a write is the plain store call, and with one it is
// only the idempotent call: no extra database work either way.
func TestIdempotencyOnlyWithTheHeader(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	rec := func(m string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, m)
		return nil
	}
	e := newAPIEnv(t, func(c *Config) { c.Store = &recordingStore{hookStore: hookStore{Store: c.Store, hook: rec}} })
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := calls
		calls = nil
		return out
	}
	e.create("alice", `{"title":"a"}`)
	e.mustDo(call{method: "PATCH", path: "/api/tasks/1/complete", user: "alice"}, http.StatusOK)
	if got := take(); !slices.Equal(got, []string{"CreateTask", "CompleteTask"}) {
		t.Fatalf("without the header: %v", got)
	}
	e.idem(call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"a"}`}, "k")
	e.idem(call{method: "PATCH", path: "/api/tasks/1/complete", user: "alice"}, "k2")
	if got := take(); !slices.Equal(got, []string{"CreateTaskOnce", "CompleteTaskOnce"}) {
		t.Fatalf("with the header: %v", got)
	}
}

// recordingStore is a hookStore that also sees the idempotent writes.
type recordingStore struct {
	hookStore
}

func (s *recordingStore) CreateTaskOnce(ctx context.Context, userID string, t todo.NewTask, idem todo.Idempotency) (todo.SavedResponse, bool, error) {
	if err := s.hook("CreateTaskOnce"); err != nil {
		return todo.SavedResponse{}, false, err
	}
	return s.Store.CreateTaskOnce(ctx, userID, t, idem)
}

func (s *recordingStore) CompleteTaskOnce(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64, idem todo.Idempotency) (todo.SavedResponse, bool, error) {
	if err := s.hook("CompleteTaskOnce"); err != nil {
		return todo.SavedResponse{}, false, err
	}
	return s.Store.CompleteTaskOnce(ctx, userID, id, completed, ifVersion, idem)
}

func TestRequestFingerprint(t *testing.T) {
	base := requestFingerprint("POST", "/api/tasks", 0, []byte(`{"title":"a"}`))
	if len(base) != 64 {
		t.Fatalf("fingerprint %q", base)
	}
	if again := requestFingerprint("POST", "/api/tasks", 0, []byte(`{"title":"a"}`)); again != base {
		t.Fatal("the same request has two fingerprints")
	}
	seen := map[string]string{base: "base"}
	for name, fp := range map[string]string{
		"method": requestFingerprint("PATCH", "/api/tasks", 0, []byte(`{"title":"a"}`)),
		"route":  requestFingerprint("POST", "/api/{user_id}/tasks", 0, []byte(`{"title":"a"}`)),
		"id":     requestFingerprint("POST", "/api/tasks", 1, []byte(`{"title":"a"}`)),
		"body":   requestFingerprint("POST", "/api/tasks", 0, []byte(`{"title":"b"}`)),
		"empty":  requestFingerprint("POST", "/api/tasks", 0, nil),
		// Field boundaries are part of it: moving a byte from one field to
		// the next is another request.
		"shifted": requestFingerprint("POS", "T/api/tasks", 0, []byte(`{"title":"a"}`)),
	} {
		if prev, dup := seen[fp]; dup {
			t.Fatalf("%s and %s share a fingerprint", name, prev)
		}
		seen[fp] = name
	}
}

// savedTask refuses what Render could not have written.
func TestSavedTask(t *testing.T) {
	body, _ := json.Marshal(taskFrom(todo.Task{ID: 1, UserID: "alice", Title: "a", Priority: todo.PriorityNone}))
	if _, err := savedTask(todo.SavedResponse{Status: 201, Body: body}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []todo.SavedResponse{
		{Status: 201, Body: []byte(`{"id":1,"extra":true}`)},
		{Status: 201, Body: []byte(`not json`)},
		{Status: 500, Body: body},
	} {
		if _, err := savedTask(bad); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}
