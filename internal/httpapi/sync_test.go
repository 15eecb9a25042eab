package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/auth/authtest"
	"github.com/todod/todod/internal/todo"
)

// The tests of the sync routes (changes, bulk, stats, idempotency, events,
// concurrency) are written once, against a storeOpener, and run on SQLite
// here and on PostgreSQL in sync_pg_test.go.

// storeOpener opens a fresh, migrated store whose clock is now, closed when
// t ends.
type storeOpener func(t testing.TB, now func() time.Time) todo.Store

func sqliteOpener(t testing.TB, now func() time.Time) todo.Store { return openTestStore(t, now) }

// newEnvOn is newAPIEnv on a store of open.
func newEnvOn(t testing.TB, open storeOpener, opts ...func(*Config)) *apiEnv {
	t.Helper()
	clock := authtest.NewClock(apiEpoch)
	return newEnvWith(t, clock, open(t, clock.Now), opts...)
}

// newEnvWith is a server on st whose clock is clock: two of them on one
// database are two replicas.
func newEnvWith(t testing.TB, clock *authtest.Clock, st todo.Store, opts ...func(*Config)) *apiEnv {
	t.Helper()
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

// syncSuite is every behaviour of this file and of events_test.go and
// idempotency_test.go, by name, for both engines.
var syncSuite = []struct {
	name string
	run  func(*testing.T, storeOpener)
}{
	{"ChangesFeed", testChangesFeed},
	{"ChangesReplayReachesState", testChangesReplay},
	{"ChangesCursorExpired", testChangesCursorExpired},
	{"Bulk", testBulk},
	{"BulkAllOrNothing", testBulkAllOrNothing},
	{"Stats", testStats},
	{"ConditionalRequests", testConditionalRequests},
	{"LostUpdate", testLostUpdate},
	{"IdempotentCreate", testIdempotentCreate},
	{"IdempotentComplete", testIdempotentComplete},
	{"IdempotentConcurrent", testIdempotentConcurrent},
	{"EventsIsolation", testEventsIsolation},
	{"EventsResume", testEventsResume},
	{"EventsHeartbeatAndClose", testEventsHeartbeatAndClose},
	{"EventsLimit", testEventsLimit},
	{"EventsOutliveWriteTimeout", testEventsWriteTimeout},
}

func TestSyncSQLite(t *testing.T) {
	for _, tc := range syncSuite {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, sqliteOpener)
		})
	}
}

// ---- change cursors ----

func TestChangeCursor(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		pos    changePos
		length int
	}{
		{changePos{seq: 0}, 32}, {changePos{seq: 1}, 32}, {changePos{seq: 255}, 32}, {changePos{seq: 1 << 40}, 32},
		{changePos{seq: 1<<63 - 1}, 32},
		// A floor only goes in when it is above the position.
		{changePos{seq: 7, floor: 7}, 32}, {changePos{seq: 1}, 32},
		{changePos{seq: 0, floor: 1}, 43}, {changePos{seq: 6, floor: 7}, 43}, {changePos{seq: 1, floor: 1<<63 - 1}, 43},
	} {
		c := encodeChangeCursor(key, "alice", tc.pos)
		if len(c) != tc.length {
			t.Fatalf("cursor %q of %+v: %d characters, want %d", c, tc.pos, len(c), tc.length)
		}
		want := tc.pos
		if want.floor <= want.seq {
			want.floor = 0
		}
		got, err := decodeChangeCursor(key, "alice", c)
		if err != nil || got != want {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", tc.pos, got, err)
		}
		if _, err := decodeChangeCursor(key, "bob", c); err != errBadChangeCursor {
			t.Fatalf("alice's cursor accepted for bob: %v", err)
		}
		if _, err := decodeChangeCursor([]byte("another key of 32 bytes, really!"), "alice", c); err != errBadChangeCursor {
			t.Fatalf("a cursor of another key accepted: %v", err)
		}
	}
	// Every single-bit change of the raw cursor is refused, with or without
	// a floor.
	c := encodeChangeCursor(key, "alice", changePos{seq: 42})
	for _, cursor := range []string{c, encodeChangeCursor(key, "alice", changePos{seq: 42, floor: 50})} {
		raw, _ := base64.RawURLEncoding.DecodeString(cursor)
		for i := range raw {
			for bit := range 8 {
				b := slices.Clone(raw)
				b[i] ^= 1 << bit
				if _, err := decodeChangeCursor(key, "alice", base64.RawURLEncoding.EncodeToString(b)); err != errBadChangeCursor {
					t.Fatalf("%s: byte %d bit %d flipped: %v", cursor, i, bit, err)
				}
			}
		}
	}
	// A user id that ends where a sequence number starts is another user.
	if encodeChangeCursor(key, "alice", changePos{seq: 1}) == encodeChangeCursor(key, "alic", changePos{seq: 1}) {
		t.Fatal("cursors of two users are equal")
	}
	// A floor at or below the position is never issued, even correctly signed.
	var b [changeFloorCursorLen]byte
	binary.BigEndian.PutUint64(b[:8], 9)
	binary.BigEndian.PutUint64(b[8:16], 9)
	copy(b[16:], changeMAC(key, changeFloorCursorLabel, "alice", b[:16]))
	// The short form's MAC under the long form's label, and the reverse.
	var short [changeCursorLen]byte
	binary.BigEndian.PutUint64(short[:8], 9)
	copy(short[8:], changeMAC(key, changeFloorCursorLabel, "alice", short[:8]))
	for _, bad := range []string{"", "abc", c + "A", c[:31], c[:31] + "=", strings.Repeat("A", 32), "!" + c[1:],
		strings.Repeat("A", 43), base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"i":5}`)),
		base64.RawURLEncoding.EncodeToString(b[:]), base64.RawURLEncoding.EncodeToString(short[:])} {
		if _, err := decodeChangeCursor(key, "alice", bad); err != errBadChangeCursor {
			t.Errorf("%q: %v, want errBadChangeCursor", bad, err)
		}
	}
}

// ---- list-changes ----

type gotChanges struct {
	Tasks   []json.RawMessage `json:"tasks"`
	Deleted []struct {
		ID        int64  `json:"id"`
		DeletedAt string `json:"deleted_at"`
	} `json:"deleted"`
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"has_more"`
}

// changes calls list-changes and decodes the answer strictly.
func (e *apiEnv) changes(user, query string) gotChanges {
	e.t.Helper()
	w := e.mustDo(call{method: "GET", path: "/api/tasks/changes" + query, user: user}, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("changes: Content-Type %q", ct)
	}
	dec := json.NewDecoder(strings.NewReader(w.Body.String()))
	dec.DisallowUnknownFields()
	var c gotChanges
	if err := dec.Decode(&c); err != nil {
		e.t.Fatalf("changes %s: %v", w.Body, err)
	}
	if c.Tasks == nil || c.Deleted == nil {
		e.t.Fatalf("changes %s: tasks and deleted must be arrays", w.Body)
	}
	return c
}

// taskBody is GET /api/tasks/{id} of user: the exact JSON of the task now.
func (e *apiEnv) taskBody(user string, id int64) string {
	e.t.Helper()
	w := e.mustDo(call{method: "GET", path: "/api/tasks/" + strconv.FormatInt(id, 10), user: user}, http.StatusOK)
	return strings.TrimSuffix(w.Body.String(), "\n")
}

// taskIDs are the ids of raw tasks.
func taskIDs(t testing.TB, tasks []json.RawMessage) []int64 {
	t.Helper()
	ids := make([]int64, len(tasks))
	for i, raw := range tasks {
		var v struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		ids[i] = v.ID
	}
	return ids
}

func testChangesFeed(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	empty := e.changes("alice", "")
	if len(empty.Tasks)+len(empty.Deleted) != 0 || empty.HasMore || empty.Cursor == "" {
		t.Fatalf("a new user's changes: %+v", empty)
	}
	e.create("alice", `{"title":"one"}`)   // 1
	e.create("alice", `{"title":"two"}`)   // 2
	e.create("bob", `{"title":"bob's"}`)   // 3
	e.create("alice", `{"title":"three"}`) // 4
	e.mustDo(call{method: "PATCH", path: "/api/tasks/1", user: "alice", body: `{"title":"one!"}`}, http.StatusOK)
	e.mustDo(call{method: "DELETE", path: "/api/tasks/2", user: "alice"}, http.StatusOK)

	// From the beginning: each task once, in its current state, in the order
	// of its last change; the deletion of 2, which is not among the tasks.
	all := e.changes("alice", "")
	if got := taskIDs(t, all.Tasks); !slices.Equal(got, []int64{4, 1}) || all.HasMore {
		t.Fatalf("tasks %v has_more %v, want [4 1] false", got, all.HasMore)
	}
	for _, raw := range all.Tasks {
		id := taskIDs(t, []json.RawMessage{raw})[0]
		wantBody(t, string(raw), e.taskBody("alice", id))
	}
	if len(all.Deleted) != 1 || all.Deleted[0].ID != 2 || all.Deleted[0].DeletedAt != "2026-11-25T17:00:00.123456Z" {
		t.Fatalf("deleted %+v", all.Deleted)
	}
	// The user path style answers the same.
	w := e.mustDo(call{method: "GET", path: "/api/alice/tasks/changes", user: "alice"}, http.StatusOK)
	wantBody(t, w.Body.String(), e.mustDo(call{method: "GET", path: "/api/tasks/changes", user: "alice"}, http.StatusOK).Body.String())

	// Up to date: nothing, the same cursor.
	none := e.changes("alice", "?since="+all.Cursor)
	if len(none.Tasks)+len(none.Deleted) != 0 || none.HasMore || none.Cursor != all.Cursor {
		t.Fatalf("after the last cursor: %+v, cursor %s", none, all.Cursor)
	}
	// One change later: only that task.
	e.mustDo(call{method: "PATCH", path: "/api/tasks/4/complete", user: "alice"}, http.StatusOK)
	next := e.changes("alice", "?since="+all.Cursor)
	if got := taskIDs(t, next.Tasks); !slices.Equal(got, []int64{4}) || len(next.Deleted) != 0 || next.Cursor == all.Cursor {
		t.Fatalf("after a completion: %v %+v cursor %s", got, next.Deleted, next.Cursor)
	}
	wantBody(t, string(next.Tasks[0]), e.taskBody("alice", 4))

	// Pages of one: task 1 (change 4), the deletion of 2 (change 5), task 4
	// (change 6).
	var pages []string
	cursor := ""
	for range 4 {
		q := "?limit=1"
		if cursor != "" {
			q += "&since=" + cursor
		}
		p := e.changes("alice", q)
		pages = append(pages, fmt.Sprintf("%v %d %v", taskIDs(t, p.Tasks), len(p.Deleted), p.HasMore))
		cursor = p.Cursor
		if !p.HasMore {
			break
		}
	}
	if got := strings.Join(pages, " | "); got != "[1] 0 true | [] 1 true | [4] 0 false" {
		t.Fatalf("pages of one: %s", got)
	}
	if cursor != next.Cursor {
		t.Fatalf("the last page's cursor %s, want %s", cursor, next.Cursor)
	}

	// Bob sees only his own.
	bob := e.changes("bob", "")
	if got := taskIDs(t, bob.Tasks); !slices.Equal(got, []int64{3}) || len(bob.Deleted) != 0 {
		t.Fatalf("bob's changes %v %+v", got, bob.Deleted)
	}

	// Cursors are opaque and bound to their user.
	tampered := []byte(all.Cursor)
	tampered[5] ^= 1
	for _, tc := range []struct{ user, query, loc string }{
		{"bob", "?since=" + all.Cursor, "query.since"},
		{"alice", "?since=" + bob.Cursor, "query.since"},
		{"alice", "?since=" + string(tampered), "query.since"},
		{"alice", "?since=garbage", "query.since"},
		{"alice", "?since=" + base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef01234567")), "query.since"},
		{"alice", "?limit=0", "query.limit"},
		{"alice", "?limit=1001", "query.limit"},
		{"alice", "?limit=x", "query.limit"},
	} {
		p := decodeProblem(t, e.do(call{method: "GET", path: "/api/tasks/changes" + tc.query, user: tc.user}), http.StatusUnprocessableEntity)
		if len(p.Errors) != 1 || p.Errors[0].Location != tc.loc {
			t.Fatalf("%s %s: errors %+v, want one at %s", tc.user, tc.query, p.Errors, tc.loc)
		}
		if tc.loc == "query.since" {
			wantErrors(t, p, "query.since: "+errBadChangeCursor.Error())
		}
	}
}

// expiredProblem is the exact answer to a change cursor older than a purged
// deletion, at path.
func expiredProblem(path string) string {
	return `{"type":"about:blank","title":"Gone","status":410,"detail":"this cursor is too old: deletions after it ` +
		`are no longer kept (they are kept 30 days), so the changes since it cannot be given exactly. Drop the local ` +
		`copy and sync again from scratch: GET /api/tasks/changes without since (or list every task), then continue ` +
		`with the new cursor","instance":"` + path + `"}` + "\n"
}

// purge runs the store's periodic clean-up at the server's clock.
func (e *apiEnv) purge() {
	e.t.Helper()
	p, ok := e.store.(interface {
		PurgeExpired(ctx context.Context, now time.Time) error
	})
	if !ok {
		e.t.Fatalf("%T has no PurgeExpired method", e.store)
	}
	if err := p.PurgeExpired(context.Background(), e.clock.Now()); err != nil {
		e.t.Fatalf("PurgeExpired: %v", err)
	}
}

// Once a deletion is purged, a cursor from before it is a 410 on the feed
// and on the event stream, before the stream starts; later cursors and a
// sync from the beginning work, and the latter is exact.
func testChangesCursorExpired(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	ts := liveServer(t, e, nil)
	e.create("alice", `{"title":"one"}`) // 1
	old := e.changes("alice", "").Cursor
	e.create("alice", `{"title":"two"}`)                                                 // 2
	e.create("alice", `{"title":"three"}`)                                               // 3
	e.mustDo(call{method: "DELETE", path: "/api/tasks/1", user: "alice"}, http.StatusOK) // 4
	recent := e.changes("alice", "?since="+old).Cursor
	e.create("bob", `{"title":"bob's"}`)
	bobs := e.changes("bob", "").Cursor

	// Within the retention nothing expires.
	e.clock.Advance(todo.TombstoneRetention - time.Second)
	e.purge()
	if c := e.changes("alice", "?since="+old); len(c.Deleted) != 1 || c.Deleted[0].ID != 1 {
		t.Fatalf("before the retention: deleted %+v, want task 1", c.Deleted)
	}

	e.clock.Advance(2 * time.Second)
	e.purge()
	for _, path := range []string{"/api/tasks/changes", "/api/alice/tasks/changes"} {
		w := e.do(call{method: "GET", path: path + "?since=" + old, user: "alice"})
		decodeProblem(t, w, http.StatusGone)
		wantBody(t, w.Body.String(), expiredProblem(path))
	}
	if c := e.changes("alice", "?since="+recent); len(c.Tasks)+len(c.Deleted) != 0 || c.Cursor != recent {
		t.Fatalf("from a cursor after the purged deletion: %+v", c)
	}
	// From the beginning: exactly the tasks there are, nothing to delete,
	// and a cursor at the purged deletion.
	all := e.changes("alice", "")
	if got := taskIDs(t, all.Tasks); !slices.Equal(got, []int64{2, 3}) || len(all.Deleted) != 0 || all.Cursor != recent {
		t.Fatalf("from the beginning: tasks %v deleted %+v cursor %s, want [2 3] [] %s", got, all.Deleted, all.Cursor, recent)
	}
	for _, raw := range all.Tasks {
		wantBody(t, string(raw), e.taskBody("alice", taskIDs(t, []json.RawMessage{raw})[0]))
	}
	// In pages of one, the resync passes positions below the purged
	// deletion: its cursors say so, and are accepted.
	p1 := e.changes("alice", "?limit=1")
	if got := taskIDs(t, p1.Tasks); !slices.Equal(got, []int64{2}) || !p1.HasMore || len(p1.Cursor) != 43 {
		t.Fatalf("resync page 1: tasks %v has_more %v cursor %q", got, p1.HasMore, p1.Cursor)
	}
	p2 := e.changes("alice", "?limit=1&since="+p1.Cursor)
	if got := taskIDs(t, p2.Tasks); !slices.Equal(got, []int64{3}) || p2.HasMore || p2.Cursor != recent {
		t.Fatalf("resync page 2: tasks %v has_more %v cursor %s, want [3] false %s", got, p2.HasMore, p2.Cursor, recent)
	}
	// Another user's cursors do not expire with alice's deletions.
	if c := e.changes("bob", "?since="+bobs); len(c.Tasks)+len(c.Deleted) != 0 {
		t.Fatalf("bob after alice's purge: %+v", c)
	}

	// The event stream answers the same, before it starts.
	resp, _ := requestStream(t, e, ts, "/api/events", "alice", old)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusGone || resp.Header.Get("Content-Type") != problemContentType {
		t.Fatalf("Last-Event-ID before a purged deletion: %d %s", resp.StatusCode, body)
	}
	wantBody(t, string(body), expiredProblem("/api/events"))
	// A cursor of the resync resumes a stream too.
	m := openStream(t, e, ts, "alice", p1.Cursor)
	if got := m.start(); got != p1.Cursor {
		t.Fatalf("a stream resumed in the resync opens at %s, want %s", got, p1.Cursor)
	}
	ev := m.nextEvent()
	if want := taskEventData(e, "alice", "task.created", 3); ev.Event != "task.created" || ev.Data != want {
		t.Fatalf("resumed in the resync: event %s %s, want task.created %s", ev.Event, ev.Data, want)
	}
	// Its id is below the purged deletion too, and works as a cursor.
	if c := e.changes("alice", "?since="+ev.ID); len(ev.ID) != 43 || len(c.Tasks)+len(c.Deleted) != 0 || c.Cursor != recent {
		t.Fatalf("after the event %s: %+v, want nothing and the cursor %s", ev.ID, c, recent)
	}
	m.cancel()
	s := openStream(t, e, ts, "alice", recent)
	if got := s.start(); got != recent {
		t.Fatalf("a stream resumed after the purged deletion opens at %s, want %s", got, recent)
	}
	e.create("alice", `{"title":"four"}`) // 5
	wantEvent(t, e, "alice", s.nextEvent(), "task.created", taskEventData(e, "alice", "task.created", 5), recent)
}

// A client that applies every page of the feed holds exactly the server's
// tasks, whatever happened in between.
func testChangesReplay(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	rng := rand.New(rand.NewPCG(1, 2))
	replica := map[int64]string{} // the client's copy: id → task JSON
	var cursor string
	pull := func() {
		for {
			q := "?limit=3"
			if cursor != "" {
				q += "&since=" + cursor
			}
			p := e.changes("alice", q)
			for _, raw := range p.Tasks {
				replica[taskIDs(t, []json.RawMessage{raw})[0]] = string(raw)
			}
			for _, d := range p.Deleted {
				delete(replica, d.ID)
			}
			cursor = p.Cursor
			if !p.HasMore {
				return
			}
		}
	}
	var ids []int64
	for step := range 120 {
		user := "alice"
		if step%7 == 0 {
			user = "bob"
		}
		switch op := rng.IntN(6); {
		case op <= 1 || len(ids) < 3:
			task := e.create(user, fmt.Sprintf(`{"title":"task %d"}`, step))
			if user == "alice" {
				ids = append(ids, int64(task["id"].(float64)))
			}
		case op == 2:
			id := ids[rng.IntN(len(ids))]
			e.do(call{method: "PUT", path: fmt.Sprintf("/api/tasks/%d", id), user: "alice", body: fmt.Sprintf(`{"title":"edit %d"}`, step)})
		case op == 3:
			id := ids[rng.IntN(len(ids))]
			e.do(call{method: "PATCH", path: fmt.Sprintf("/api/tasks/%d/complete", id), user: "alice"})
		case op == 4:
			i := rng.IntN(len(ids))
			e.do(call{method: "DELETE", path: fmt.Sprintf("/api/tasks/%d", ids[i]), user: "alice"})
			ids = slices.Delete(ids, i, i+1)
		default:
			pick := []string{strconv.FormatInt(ids[0], 10), strconv.FormatInt(ids[len(ids)-1], 10)}
			if pick[0] == pick[1] {
				pick = pick[:1]
			}
			e.mustDo(call{method: "POST", path: "/api/tasks/bulk", user: "alice",
				body: `{"action":"tag","ids":[` + strings.Join(pick, ",") + `],"tags":["s` + strconv.Itoa(step%3) + `"]}`}, http.StatusOK)
		}
		if rng.IntN(10) == 0 {
			pull()
		}
	}
	pull()
	w := e.mustDo(call{method: "GET", path: "/api/tasks?limit=1000&sort=created&order=asc", user: "alice"}, http.StatusOK)
	var server []json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &server); err != nil {
		t.Fatal(err)
	}
	if len(server) != len(replica) {
		t.Fatalf("the client holds %d tasks, the server %d", len(replica), len(server))
	}
	for _, raw := range server {
		id := taskIDs(t, []json.RawMessage{raw})[0]
		if replica[id] != string(raw) {
			t.Fatalf("task %d: client %s, server %s", id, replica[id], raw)
		}
	}
}

// ---- bulk-tasks ----

func (e *apiEnv) bulk(user, body string, status int) string {
	e.t.Helper()
	return e.mustDo(call{method: "POST", path: "/api/tasks/bulk", user: user, body: body}, status).Body.String()
}

// bulkResults is the body bulk-tasks should answer: the current state of
// each task, in order.
func (e *apiEnv) bulkResults(user string, ids ...int64) string {
	e.t.Helper()
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf(`{"id":%d,"task":%s}`, id, e.taskBody(user, id))
	}
	return `{"results":[` + strings.Join(parts, ",") + "]}\n"
}

func testBulk(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	for i := 1; i <= 4; i++ {
		e.create("alice", fmt.Sprintf(`{"title":"t%d","tags":["keep"]}`, i))
	}
	e.create("bob", `{"title":"bob's"}`) // 5

	got := e.bulk("alice", `{"action":"complete","ids":[2,1]}`, http.StatusOK)
	wantBody(t, got, e.bulkResults("alice", 2, 1))
	wantBody(t, e.taskBody("alice", 1), strings.TrimSuffix(taskJSON("title", `"t1"`, "tags", `["keep"]`, "completed", "true",
		"completed_at", `"2026-11-25T17:00:00.123456Z"`), "\n"))

	e.clock.Advance(time.Minute)
	got = e.bulk("alice", `{"action":"reopen","ids":[1]}`, http.StatusOK)
	wantBody(t, got, e.bulkResults("alice", 1))
	wantBody(t, e.taskBody("alice", 1), strings.TrimSuffix(taskJSON("title", `"t1"`, "tags", `["keep"]`,
		"updated_at", `"2026-11-25T17:01:00.123456Z"`), "\n"))

	// tag adds what a task lacks after its own tags; untag removes.
	got = e.bulk("alice", `{"action":"tag","ids":[1,2],"tags":[" home ","keep"]}`, http.StatusOK)
	wantBody(t, got, e.bulkResults("alice", 1, 2))
	got = e.bulk("alice", `{"action":"tag","ids":[1],"tags":["work"]}`, http.StatusOK)
	wantBody(t, got, e.bulkResults("alice", 1))
	got = e.bulk("alice", `{"action":"untag","ids":[1,2,3],"tags":["keep"]}`, http.StatusOK)
	wantBody(t, got, e.bulkResults("alice", 1, 2, 3))
	for id, tags := range map[int64]string{1: `["home","work"]`, 2: `["home"]`, 3: `[]`, 4: `["keep"]`} {
		var v struct{ Tags json.RawMessage }
		if err := json.Unmarshal([]byte(e.taskBody("alice", id)), &v); err != nil || string(v.Tags) != tags {
			t.Fatalf("task %d tags %s, want %s", id, v.Tags, tags)
		}
	}
	// Every task named is written, even when nothing changes on it.
	wantHeader(t, e.mustDo(call{method: "GET", path: "/api/tasks/3", user: "alice"}, http.StatusOK).Header(), "ETag", `"3.2"`)

	// The user path style, and delete.
	w := e.mustDo(call{method: "POST", path: "/api/alice/tasks/bulk", user: "alice", body: `{"action":"delete","ids":[3,4]}`}, http.StatusOK)
	wantBody(t, w.Body.String(), `{"results":[{"id":3,"deleted":true},{"id":4,"deleted":true}]}`+"\n")
	decodeProblem(t, e.do(call{method: "GET", path: "/api/tasks/3", user: "alice"}), http.StatusNotFound)
	e.mustDo(call{method: "GET", path: "/api/tasks/5", user: "bob"}, http.StatusOK)

	// Another user's bulk never reaches alice's tasks.
	p := decodeProblem(t, e.do(call{method: "POST", path: "/api/tasks/bulk", user: "bob", body: `{"action":"delete","ids":[5,1]}`}), http.StatusUnprocessableEntity)
	wantErrors(t, p, "body.ids[1]: no such task")
	e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
	e.mustDo(call{method: "GET", path: "/api/tasks/5", user: "bob"}, http.StatusOK)

	// Malformed requests, answered before any store call.
	v := newAPIEnv(t, noStore(t)) // never reaches a store
	many := make([]string, 501)
	for i := range many {
		many[i] = strconv.Itoa(i + 1)
	}
	for _, tc := range []struct {
		body string
		want []string
	}{
		{``, []string{`body: a JSON object is required, e.g. {"action":"complete","ids":[1,2]}`}},
		{`[]`, []string{"body: must be a JSON object"}},
		{`{}`, []string{"body.action: is required", "body.ids: is required"}},
		{`{"action":"finish","ids":[1]}`, []string{"body.action: must be one of complete, reopen, delete, tag, untag"}},
		{`{"action":null,"ids":null}`, []string{"body.action: must be a string, not null", "body.ids: must be an array of task ids, not null"}},
		{`{"action":"complete","action":"delete","ids":[1]}`, []string{"body.action: duplicate key"}},
		{`{"action":"complete","ids":[]}`, []string{"body.ids: must name at least one task"}},
		{`{"action":"complete","ids":"1"}`, []string{"body.ids: must be an array of task ids, not a string"}},
		{`{"action":"complete","ids":[` + strings.Join(many, ",") + `]}`, []string{"body.ids: must name at most 500 tasks (got 501)"}},
		{`{"action":"complete","ids":[1,"2",1.5,-1,0,1,null,1e2,9223372036854775808]}`, []string{
			"body.ids[1]: must be a task id (a positive integer), not a string",
			"body.ids[2]: must be a positive integer without sign or leading zeros",
			"body.ids[3]: must be a positive integer without sign or leading zeros",
			"body.ids[4]: must be a positive integer without sign or leading zeros",
			"body.ids[5]: duplicate id (also at ids[0])",
			"body.ids[6]: must be a task id (a positive integer), not null",
			"body.ids[7]: must be a positive integer without sign or leading zeros",
			"body.ids[8]: is too large: ids fit in a signed 64-bit integer",
		}},
		{`{"action":"complete","ids":[1],"tags":["a"]}`, []string{"body.tags: is only allowed with action tag or untag"}},
		{`{"action":"delete","ids":[1],"tags":[]}`, []string{"body.tags: is only allowed with action tag or untag"}},
		{`{"action":"tag","ids":[1]}`, []string{"body.tags: is required with action tag"}},
		{`{"action":"untag","ids":[1],"tags":[]}`, []string{"body.tags: must name at least one tag"}},
		{`{"action":"tag","ids":[1],"tags":"a"}`, []string{"body.tags: must be an array of strings, not a string"}},
		{`{"action":"tag","ids":[1],"tags":["a"," ","a",1]}`, []string{
			"body.tags[3]: must be a string, not a number",
		}},
		{`{"action":"tag","ids":[1],"tags":["a"," ","a"]}`, []string{
			"body.tags[1]: must not be empty or only white space",
			"body.tags[2]: duplicate tag",
		}},
		{`{"action":"tag","ids":[1],"tags":["` + strings.Repeat("x", 51) + `"]}`, []string{"body.tags[0]: must be at most 50 characters (got 51)"}},
	} {
		p := decodeProblem(t, v.do(call{method: "POST", path: "/api/tasks/bulk", user: "alice", body: tc.body}), http.StatusUnprocessableEntity)
		wantErrors(t, p, tc.want...)
	}
	decodeProblem(t, v.do(call{method: "POST", path: "/api/tasks/bulk", user: "alice", body: `{"action":"delete","ids":[1]}`, ct: "text/plain"}),
		http.StatusUnsupportedMediaType)
	decodeProblem(t, v.do(call{method: "POST", path: "/api/bob/tasks/bulk", user: "alice", body: `{"action":"delete","ids":[1]}`}), http.StatusForbidden)
}

// A bulk request that names a missing task, another user's task, or would
// overfill a task's tags changes nothing at all.
func testBulkAllOrNothing(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	e.create("alice", `{"title":"a"}`) // 1
	e.create("alice", `{"title":"b"}`) // 2
	e.create("bob", `{"title":"c"}`)   // 3
	tags := make([]string, todo.MaxTags-1)
	for i := range tags {
		tags[i] = fmt.Sprintf(`"t%d"`, i)
	}
	e.create("alice", `{"title":"d","tags":[`+strings.Join(tags, ",")+`]}`) // 4
	before := e.changes("alice", "")

	w := e.do(call{method: "POST", path: "/api/tasks/bulk", user: "alice", body: `{"action":"delete","ids":[1,99,2,3]}`})
	p := decodeProblem(t, w, http.StatusUnprocessableEntity)
	wantBody(t, p.Detail, "2 of the 4 tasks named do not exist; nothing was changed")
	wantErrors(t, p, "body.ids[1]: no such task", "body.ids[3]: no such task")
	if p.Errors[0].Value != float64(99) || p.Errors[1].Value != float64(3) {
		t.Fatalf("values %v %v, want 99 and 3", p.Errors[0].Value, p.Errors[1].Value)
	}

	// Tagging task 4 would give it 21 tags.
	p = decodeProblem(t, e.do(call{method: "POST", path: "/api/tasks/bulk", user: "alice",
		body: `{"action":"tag","ids":[1,4],"tags":["x","y"]}`}), http.StatusUnprocessableEntity)
	if len(p.Errors) != 1 || p.Errors[0].Location != "body.ids[1]" {
		t.Fatalf("errors %+v, want one at body.ids[1]", p.Errors)
	}

	after := e.changes("alice", "?since="+before.Cursor)
	if len(after.Tasks)+len(after.Deleted) != 0 || after.Cursor != before.Cursor {
		t.Fatalf("a refused bulk request changed something: %+v", after)
	}
	wantHeader(t, e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK).Header(), "ETag", `"1.1"`)
	e.mustDo(call{method: "GET", path: "/api/tasks/3", user: "bob"}, http.StatusOK)
}

// ---- get-task-stats ----

func testStats(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	wantBody(t, e.mustDo(call{method: "GET", path: "/api/tasks/stats", user: "alice"}, http.StatusOK).Body.String(),
		`{"total":0,"completed":0,"pending":0,"overdue":0,"by_priority":{"none":0,"low":0,"medium":0,"high":0}}`+"\n")
	past := apiEpoch.Add(-time.Hour).Format(time.RFC3339Nano)
	soon := apiEpoch.Add(time.Hour).Format(time.RFC3339Nano)
	for _, body := range []string{
		`{"title":"overdue","due_at":"` + past + `"}`,
		`{"title":"done late","priority":"low","completed":true,"due_at":"` + past + `"}`,
		`{"title":"due soon","priority":"medium","due_at":"` + soon + `"}`,
		`{"title":"no date","priority":"high"}`,
		`{"title":"done","priority":"high","completed":true}`,
	} {
		e.create("alice", body)
	}
	e.create("bob", `{"title":"bob's","due_at":"`+past+`"}`)
	for _, path := range []string{"/api/tasks/stats", "/api/alice/tasks/stats"} {
		wantBody(t, e.mustDo(call{method: "GET", path: path, user: "alice"}, http.StatusOK).Body.String(),
			`{"total":5,"completed":2,"pending":3,"overdue":1,"by_priority":{"none":1,"low":1,"medium":1,"high":2}}`+"\n")
	}
	// Overdue follows the server's clock.
	e.clock.Advance(2 * time.Hour)
	wantBody(t, e.mustDo(call{method: "GET", path: "/api/tasks/stats", user: "alice"}, http.StatusOK).Body.String(),
		`{"total":5,"completed":2,"pending":3,"overdue":2,"by_priority":{"none":1,"low":1,"medium":1,"high":2}}`+"\n")
	wantBody(t, e.mustDo(call{method: "GET", path: "/api/tasks/stats", user: "bob"}, http.StatusOK).Body.String(),
		`{"total":1,"completed":0,"pending":1,"overdue":1,"by_priority":{"none":1,"low":0,"medium":0,"high":0}}`+"\n")
}

// ---- ETags and preconditions on every task route ----

func testConditionalRequests(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	w := e.mustDo(call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"a"}`}, http.StatusCreated)
	wantHeader(t, w.Header(), "ETag", `"1.1"`)
	etag := `"1.1"`
	for i, c := range []call{
		{method: "PUT", path: "/api/tasks/1", body: `{"title":"b"}`},
		{method: "PATCH", path: "/api/alice/tasks/1", body: `{"title":"c"}`},
		{method: "PATCH", path: "/api/tasks/1/complete"},
	} {
		c.user = "alice"
		c.header = []string{"If-Match", etag}
		w := e.mustDo(c, http.StatusOK)
		next := fmt.Sprintf(`"1.%d"`, i+2)
		wantHeader(t, w.Header(), "ETag", next)
		// The ETag used is stale now: 412, and nothing changes.
		p := decodeProblem(t, e.do(c), http.StatusPreconditionFailed)
		wantBody(t, p.Detail, "the task has changed since the ETag given in If-Match: fetch it again and retry; nothing was changed")
		wantHeader(t, e.mustDo(call{method: "GET", path: "/api/tasks/1", user: "alice"}, http.StatusOK).Header(), "ETag", next)
		etag = next
	}
	decodeProblem(t, e.do(call{method: "DELETE", path: "/api/tasks/1", user: "alice", header: []string{"If-Match", `"1.3"`}}), http.StatusPreconditionFailed)

	// If-None-Match on the task and on the list.
	for _, path := range []string{"/api/tasks/1", "/api/alice/tasks/1"} {
		w := e.mustDo(call{method: "GET", path: path, user: "alice", header: []string{"If-None-Match", etag}}, http.StatusNotModified)
		wantBody(t, w.Body.String(), "")
		wantHeader(t, w.Header(), "ETag", etag)
	}
	list := e.mustDo(call{method: "GET", path: "/api/tasks", user: "alice"}, http.StatusOK).Header().Get("ETag")
	e.mustDo(call{method: "GET", path: "/api/tasks", user: "alice", header: []string{"If-None-Match", list}}, http.StatusNotModified)
	e.mustDo(call{method: "DELETE", path: "/api/tasks/1", user: "alice", header: []string{"If-Match", etag}}, http.StatusOK)
	e.mustDo(call{method: "GET", path: "/api/tasks", user: "alice", header: []string{"If-None-Match", list}}, http.StatusOK)
}

// Two clients update one task with the same ETag at the same moment: exactly
// one wins, the other gets 412, and the winner's change is the one kept.
func testLostUpdate(t *testing.T, open storeOpener) {
	e := newEnvOn(t, open)
	tok := e.token("alice")
	for round := range 15 {
		task := e.create("alice", `{"title":"shared"}`)
		id := int64(task["id"].(float64))
		path := fmt.Sprintf("/api/tasks/%d", id)
		reqs := make([]*http.Request, 2)
		for i := range reqs {
			r := httptest.NewRequest("PUT", path, strings.NewReader(fmt.Sprintf(`{"title":"client %d"}`, i)))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("If-Match", fmt.Sprintf(`"%d.1"`, id))
			reqs[i] = r
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		answers := make([]*httptest.ResponseRecorder, 2)
		for i, r := range reqs {
			wg.Go(func() {
				<-start
				answers[i] = serve(e, r)
			})
		}
		close(start)
		wg.Wait()
		codes := []int{answers[0].Code, answers[1].Code}
		winner := 0
		if codes[1] == http.StatusOK {
			winner = 1
		}
		if slices.Sort(codes); !slices.Equal(codes, []int{200, 412}) {
			t.Fatalf("round %d: statuses %v, want one 200 and one 412; bodies %s %s", round, codes, answers[0].Body, answers[1].Body)
		}
		wantHeader(t, answers[winner].Header(), "ETag", fmt.Sprintf(`"%d.2"`, id))
		got := e.mustDo(call{method: "GET", path: path, user: "alice"}, http.StatusOK)
		wantHeader(t, got.Header(), "ETag", fmt.Sprintf(`"%d.2"`, id))
		if title := decodeObject(t, got.Body.Bytes())["title"]; title != fmt.Sprintf("client %d", winner) {
			t.Fatalf("round %d: title %v, want the winner's (client %d)", round, title, winner)
		}
	}
}

// A change cursor that decodes is exactly the one the server would issue for
// its position: there is one spelling per position, and no input panics.
func FuzzChangeCursor(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, pos := range []changePos{{seq: 0}, {seq: 1}, {seq: 1 << 40}, {seq: 3, floor: 9}} {
		f.Add(encodeChangeCursor(key, "alice", pos))
	}
	f.Add("")
	f.Add("garbage")
	f.Add(strings.Repeat("_", 32))
	f.Add(strings.Repeat("_", 43))
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := decodeChangeCursor(key, "alice", s)
		if err != nil {
			return
		}
		if pos.seq < 0 || pos.floor < 0 || (pos.floor != 0 && pos.floor <= pos.seq) ||
			encodeChangeCursor(key, "alice", pos) != s {
			t.Fatalf("%q decodes to %+v, which encodes as %q", s, pos, encodeChangeCursor(key, "alice", pos))
		}
	})
}
