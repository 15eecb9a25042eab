package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sseBlock is one block of an event stream, up to a blank line: an event
// (Event and Data set), an id-only block, or comments.
type sseBlock struct {
	ID, Event, Data string
	HasID           bool
	Retry           string
	Comments        []string
}

// sseStream reads an open event stream in the background.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	blocks chan sseBlock // closed at the end of the stream
	cancel context.CancelFunc
}

// liveServer serves e over real HTTP, which streams need. Every stream is
// ended before the server closes.
func liveServer(t *testing.T, e *apiEnv, config func(*http.Server)) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(e.srv)
	if config != nil {
		config(ts.Config)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(e.srv.CloseStreams) // runs first
	return ts
}

// requestStream sends GET path with user's token and lastID as
// Last-Event-ID (when not empty). The request lives until cancel.
func requestStream(t *testing.T, e *apiEnv, ts *httptest.Server, path, user, lastID string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+e.token(user))
	r.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		r.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := ts.Client().Do(r)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	return resp, cancel
}

// openStream opens user's event stream and checks its headers.
func openStream(t *testing.T, e *apiEnv, ts *httptest.Server, user, lastID string) *sseStream {
	t.Helper()
	resp, cancel := requestStream(t, e, ts, "/api/events", user, lastID)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/events: %d %s", resp.StatusCode, body)
	}
	for name, want := range map[string]string{
		"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
	} {
		wantHeader(t, resp.Header, name, want)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Fatal("no X-Request-ID")
	}
	s := &sseStream{t: t, resp: resp, blocks: make(chan sseBlock, 100), cancel: cancel}
	go s.read()
	return s
}

func (s *sseStream) read() {
	defer close(s.blocks)
	br := bufio.NewReader(s.resp.Body)
	var b sseBlock
	seen := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if seen {
				s.blocks <- b
			}
			b, seen = sseBlock{}, false
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			b.Comments = append(b.Comments, value)
		case "id":
			b.ID, b.HasID = value, true
		case "event":
			b.Event = value
		case "data":
			if b.Data != "" {
				b.Data += "\n"
			}
			b.Data += value
		case "retry":
			b.Retry = value
		default:
			s.t.Errorf("unknown field in the stream: %q", line)
		}
	}
}

// streamWait bounds every wait for a block.
const streamWait = 5 * time.Second

// next returns the next block, failing the test at the end of the stream.
func (s *sseStream) next() sseBlock {
	s.t.Helper()
	select {
	case b, ok := <-s.blocks:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return b
	case <-time.After(streamWait):
		s.t.Fatal("no block within 5 s")
	}
	return sseBlock{}
}

// nextEvent returns the next block with an event, skipping heartbeats.
func (s *sseStream) nextEvent() sseBlock {
	s.t.Helper()
	for {
		if b := s.next(); b.Event != "" {
			return b
		}
	}
}

// start reads the opening block: the retry field and the position.
func (s *sseStream) start() string {
	s.t.Helper()
	b := s.next()
	if b.Retry != "2000" || !b.HasID || b.ID == "" || b.Event != "" || b.Data != "" {
		s.t.Fatalf("opening block %+v, want retry 2000 and an id only", b)
	}
	return b.ID
}

// ended reports whether the stream ends within streamWait.
func (s *sseStream) ended() bool {
	deadline := time.After(streamWait)
	for {
		select {
		case _, ok := <-s.blocks:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// wantEvent checks an event: its type, its data exactly, and that its id is
// the change cursor of the first change after since (the previous event's
// id) in list-changes. The test writes nothing between the event and this
// check, so that change is the event's own.
func wantEvent(t *testing.T, e *apiEnv, user string, b sseBlock, typ, data, since string) {
	t.Helper()
	if b.Event != typ || b.Data != data {
		t.Fatalf("event %s %s\nwant %s %s", b.Event, b.Data, typ, data)
	}
	q := "?limit=1"
	if since != "" {
		q += "&since=" + since
	}
	if c := e.changes(user, q); c.Cursor != b.ID {
		t.Fatalf("event id %s, want the change cursor %s", b.ID, c.Cursor)
	}
}

// taskEventData is the data of a task.created or task.updated event of
// task id as it is now.
func taskEventData(e *apiEnv, user, typ string, id int64) string {
	return `{"type":"` + typ + `","task":` + e.taskBody(user, id) + `}`
}

// Each user's stream carries that user's changes, each as it happens, and
// never another user's. The test waits for every event before the next
// write: a stream reads the current state, so changes made in a burst may
// reach it merged.
func testEventsIsolation(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	ts := liveServer(t, e, nil)
	a := openStream(t, e, ts, "alice", "")
	aPos := a.start()
	b := openStream(t, e, ts, "bob", "")
	bPos := b.start()

	e.create("alice", `{"title":"a1"}`) // 1
	a1 := a.nextEvent()
	wantEvent(t, e, "alice", a1, "task.created", `{"type":"task.created","task":`+strings.TrimSuffix(taskJSON("title", `"a1"`), "\n")+`}`, aPos)
	e.create("bob", `{"title":"b1"}`) // 2
	b1 := b.nextEvent()
	wantEvent(t, e, "bob", b1, "task.created", taskEventData(e, "bob", "task.created", 2), bPos)
	e.mustDo(call{method: "PATCH", path: "/api/tasks/1", user: "alice", body: `{"priority":"high"}`}, http.StatusOK)
	a2 := a.nextEvent()
	wantEvent(t, e, "alice", a2, "task.updated", `{"type":"task.updated","task":`+e.taskBody("alice", 1)+`}`, a1.ID)
	e.mustDo(call{method: "DELETE", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
	a3 := a.nextEvent()
	wantEvent(t, e, "alice", a3, "task.deleted", `{"type":"task.deleted","id":1}`, a2.ID)
	e.mustDo(call{method: "PATCH", path: "/api/tasks/2/complete", user: "bob"}, http.StatusOK)
	b2 := b.nextEvent()
	wantEvent(t, e, "bob", b2, "task.updated", taskEventData(e, "bob", "task.updated", 2), b1.ID)
	e.create("alice", `{"title":"a2"}`) // 3
	wantEvent(t, e, "alice", a.nextEvent(), "task.created", taskEventData(e, "alice", "task.created", 3), a3.ID)

	// The user path style, and a bulk change: one event per task, in the
	// order of ids.
	e.create("alice", `{"title":"a3"}`) // 4
	u := openStream(t, e, ts, "alice", "")
	u.start()
	e.mustDo(call{method: "POST", path: "/api/tasks/bulk", user: "alice", body: `{"action":"complete","ids":[4,3]}`}, http.StatusOK)
	for _, id := range []int64{4, 3} {
		if got := u.nextEvent(); got.Data != taskEventData(e, "alice", "task.updated", id) {
			t.Fatalf("bulk event %s, want task %d", got.Data, id)
		}
	}
	resp, _ := requestStream(t, e, ts, "/api/alice/events", "alice", "")
	wantHeader(t, resp.Header, "Content-Type", "text/event-stream")
	resp, _ = requestStream(t, e, ts, "/api/bob/events", "alice", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice on /api/bob/events: %d", resp.StatusCode)
	}
}

// A client that reconnects with Last-Event-ID gets every change it missed,
// in order, then the live ones: no gap, no repeat.
func testEventsResume(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	ts := liveServer(t, e, nil)
	s := openStream(t, e, ts, "alice", "")
	start := s.start()
	s.cancel()
	if !s.ended() {
		t.Fatal("the stream did not end with its request")
	}

	e.create("alice", `{"title":"one"}`) // 1
	e.create("alice", `{"title":"two"}`) // 2
	e.mustDo(call{method: "DELETE", path: "/api/tasks/1", user: "alice"}, http.StatusOK)

	r := openStream(t, e, ts, "alice", start)
	if got := r.start(); got != start {
		t.Fatalf("a resumed stream opens at %s, want %s", got, start)
	}
	created := r.nextEvent()
	wantEvent(t, e, "alice", created, "task.created", taskEventData(e, "alice", "task.created", 2), start)
	deleted := r.nextEvent()
	wantEvent(t, e, "alice", deleted, "task.deleted", `{"type":"task.deleted","id":1}`, created.ID)
	e.create("alice", `{"title":"three"}`) // 3
	live := r.nextEvent()
	wantEvent(t, e, "alice", live, "task.created", taskEventData(e, "alice", "task.created", 3), deleted.ID)
	r.cancel()

	// From the middle: the rest, once each.
	m := openStream(t, e, ts, "alice", created.ID)
	m.start()
	if got := m.nextEvent(); got.ID != deleted.ID {
		t.Fatalf("resumed after %s: first event %s, want %s", created.ID, got.ID, deleted.ID)
	}
	if got := m.nextEvent(); got.ID != live.ID {
		t.Fatalf("resumed after %s: second event %s, want %s", created.ID, got.ID, live.ID)
	}
	m.cancel()

	// Without Last-Event-ID: from now on, no replay.
	n := openStream(t, e, ts, "alice", "")
	if got := n.start(); got != live.ID {
		t.Fatalf("a new stream opens at %s, want the latest change %s", got, live.ID)
	}
	e.mustDo(call{method: "PATCH", path: "/api/tasks/3/complete", user: "alice"}, http.StatusOK)
	wantEvent(t, e, "alice", n.nextEvent(), "task.updated", taskEventData(e, "alice", "task.updated", 3), live.ID)

	// A bad Last-Event-ID is a 422 before the stream starts.
	bobs := openStream(t, e, ts, "bob", "").start()
	edited := start[:31] + "A"
	if edited == start {
		edited = start[:31] + "B"
	}
	for _, bad := range []string{"garbage", bobs, edited, "42"} {
		resp, _ := requestStream(t, e, ts, "/api/events", "alice", bad)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get("Content-Type") != problemContentType {
			t.Fatalf("Last-Event-ID %q: %d %s", bad, resp.StatusCode, body)
		}
		var p gotProblem
		if err := json.Unmarshal(body, &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Location != "header.Last-Event-ID" {
			t.Fatalf("Last-Event-ID %q: %s", bad, body)
		}
	}
}

func testEventsHeartbeatAndClose(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open, func(c *Config) { c.EventHeartbeat = 20 * time.Millisecond })
	ts := liveServer(t, e, nil)
	s := openStream(t, e, ts, "alice", "")
	s.start()
	for range 3 {
		if b := s.next(); len(b.Comments) != 1 || b.Comments[0] != "ping" || b.HasID || b.Event != "" {
			t.Fatalf("heartbeat %+v, want the comment ping alone", b)
		}
	}
	// HEAD answers the headers and ends.
	r, _ := http.NewRequest(http.MethodHead, ts.URL+"/api/events", nil)
	r.Header.Set("Authorization", "Bearer "+e.token("alice"))
	resp, err := ts.Client().Do(r)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD /api/events: %v %v", resp, err)
	}
	resp.Body.Close()

	e.srv.CloseStreams()
	if !s.ended() {
		t.Fatal("CloseStreams did not end the stream")
	}
	resp, _ = requestStream(t, e, ts, "/api/events", "alice", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a stream after CloseStreams: %d %s", resp.StatusCode, body)
	}
	e.srv.CloseStreams() // twice is fine
}

func testEventsLimit(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open, func(c *Config) { c.MaxStreamsPerUser = 2 })
	ts := liveServer(t, e, nil)
	first := openStream(t, e, ts, "alice", "")
	first.start()
	openStream(t, e, ts, "alice", "").start()
	resp, _ := requestStream(t, e, ts, "/api/alice/events", "alice", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("a third stream: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `"detail":"this user already has 2 event streams open; close one (one stream per tab is plenty) or retry later"`) {
		t.Fatalf("429 body %s", body)
	}
	openStream(t, e, ts, "bob", "").start()

	// Once a stream ends, its slot is free again.
	first.cancel()
	deadline := time.Now().Add(streamWait)
	for {
		resp, cancel := requestStream(t, e, ts, "/api/events", "alice", "")
		if resp.StatusCode == http.StatusOK {
			break
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a stream ended: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The server's WriteTimeout and ReadTimeout bound whole requests and
// responses; a stream outlives both.
func testEventsWriteTimeout(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open, func(c *Config) { c.EventHeartbeat = 50 * time.Millisecond })
	ts := liveServer(t, e, func(s *http.Server) { s.WriteTimeout, s.ReadTimeout = 200*time.Millisecond, 200*time.Millisecond })
	s := openStream(t, e, ts, "alice", "")
	pos := s.start()
	time.Sleep(4 * 200 * time.Millisecond)
	e.create("alice", `{"title":"late"}`)
	wantEvent(t, e, "alice", s.nextEvent(), "task.created", taskEventData(e, "alice", "task.created", 1), pos)
}

// The stream's pieces, without a connection.
func TestStreamHub(t *testing.T) {
	h := newStreamHub(0)
	if h.max != DefaultMaxStreamsPerUser {
		t.Fatalf("default max %d", h.max)
	}
	h = newStreamHub(2)
	r1, err1 := h.acquire("alice")
	r2, err2 := h.acquire("alice")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := h.acquire("alice"); err != errTooManyStreams {
		t.Fatalf("third: %v", err)
	}
	rb, err := h.acquire("bob")
	if err != nil {
		t.Fatal(err)
	}
	r1()
	r1() // a second release does not free another slot
	r3, err := h.acquire("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.acquire("alice"); err != errTooManyStreams {
		t.Fatalf("after one release and one acquire: %v", err)
	}
	r2()
	r3()
	rb()
	if len(h.perUser) != 0 {
		t.Fatalf("counts left: %v", h.perUser)
	}
	h.close()
	h.close()
	select {
	case <-h.closing:
	default:
		t.Fatal("close did not close the channel")
	}
	if _, err := h.acquire("carol"); err != errStreamsClosed {
		t.Fatalf("after close: %v", err)
	}
}

func TestEventsNeedAToken(t *testing.T) {
	e := newAPIEnv(t, noStore(t))
	for _, path := range []string{"/api/events", "/api/alice/events"} {
		decodeProblem(t, e.do(call{method: "GET", path: path}), http.StatusUnauthorized)
	}
}
