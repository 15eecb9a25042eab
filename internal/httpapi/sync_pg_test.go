package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todod/todod/internal/auth/authtest"
	"github.com/todod/todod/internal/postgres"
	"github.com/todod/todod/internal/todo"
)

// These tests run the sync suite on PostgreSQL, and two servers on one
// database as two replicas, when TEST_DATABASE_URL names a server where
// databases can be created. Each test gets a fresh database.

// pgServer returns TEST_DATABASE_URL. Without it the test is skipped, or
// failed if TEST_REQUIRE_POSTGRES=1.
func pgServer(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("TEST_DATABASE_URL not set but TEST_REQUIRE_POSTGRES=1: PostgreSQL tests must run")
		}
		t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
	}
	return base
}

// pgDatabase creates a fresh database for t and returns its URL; it is
// dropped when t ends.
func pgDatabase(t testing.TB) string {
	t.Helper()
	base := pgServer(t)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("TEST_DATABASE_URL must be a postgres:// URL")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "todod_test_" + hex.EncodeToString(b)
	pgAdminExec(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() { pgAdminExec(t, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u.Path = "/" + name
	return u.String()
}

// pgAdminExec runs one statement on its own connection to dsn.
func pgAdminExec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect for %s: %v", sql, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgOpen opens and migrates a store on dsn, closed when t ends.
func pgOpen(t testing.TB, dsn string, now func() time.Time) todo.Store {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{Now: now})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

func pgOpener(t testing.TB, now func() time.Time) todo.Store {
	return pgOpen(t, pgDatabase(t), now)
}

func TestSyncPostgres(t *testing.T) {
	pgServer(t)
	for _, tc := range syncSuite {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, pgOpener)
		})
	}
}

// replicas are two servers, each with its own pool, on one database: what
// two todod processes behind a load balancer are.
func replicas(t *testing.T) (a, b *apiEnv) {
	t.Helper()
	dsn := pgDatabase(t)
	clock := authtest.NewClock(apiEpoch)
	a = newEnvWith(t, clock, pgOpen(t, dsn, clock.Now))
	b = newEnvWith(t, clock, pgOpen(t, dsn, clock.Now))
	return a, b
}

func TestReplicasPostgres(t *testing.T) {
	pgServer(t)
	t.Run("IdempotencyKey", func(t *testing.T) {
		t.Parallel()
		a, b := replicas(t)
		create := call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"Buy milk"}`}
		first := a.idem(create, "k1")
		if first.Code != http.StatusCreated {
			t.Fatalf("first: %d %s", first.Code, first.Body)
		}
		wantReplay(t, first, b.idem(create, "k1"))
		p := decodeProblem(t, b.idem(call{method: "POST", path: "/api/tasks", user: "alice", body: `{"title":"Buy bread"}`}, "k1"),
			http.StatusUnprocessableEntity)
		wantErrors(t, p, "header.Idempotency-Key: was used for a different request")
		done := b.idem(call{method: "PATCH", path: "/api/tasks/1/complete", user: "alice", ct: "application/json"}, "c1")
		wantReplay(t, done, a.idem(call{method: "PATCH", path: "/api/tasks/1/complete", user: "alice", ct: "application/json"}, "c1"))
		if n := a.countTasks("alice"); n != "1" {
			t.Fatalf("%s tasks, want 1", n)
		}

		// Concurrent duplicates, half on each replica: one task, one first
		// answer, the others replays or 409s.
		envs := []*apiEnv{a, b}
		reqs := make([]*http.Request, 8)
		for i := range reqs {
			r := httptest.NewRequest("POST", "/api/tasks", strings.NewReader(`{"title":"once"}`))
			r.Header.Set("Authorization", "Bearer "+a.token("bob"))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Idempotency-Key", "same")
			reqs[i] = r
		}
		answers := make([]*httptest.ResponseRecorder, len(reqs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, r := range reqs {
			wg.Go(func() {
				<-start
				answers[i] = serve(envs[i%2], r)
			})
		}
		close(start)
		wg.Wait()
		var originals []*httptest.ResponseRecorder
		for _, w := range answers {
			switch {
			case w.Code == http.StatusCreated && w.Header().Get("Idempotent-Replayed") == "":
				originals = append(originals, w)
			case w.Code == http.StatusCreated:
			case w.Code == http.StatusConflict:
				wantHeader(t, w.Header(), "Retry-After", "1")
			default:
				t.Fatalf("a duplicate answered %d %s", w.Code, w.Body)
			}
		}
		if len(originals) != 1 {
			t.Fatalf("%d first answers, want 1", len(originals))
		}
		for _, w := range answers {
			if w.Code == http.StatusCreated && w != originals[0] {
				wantReplay(t, originals[0], w)
			}
		}
		if n := b.countTasks("bob"); n != "1" {
			t.Fatalf("bob has %s tasks, want 1", n)
		}
	})

	t.Run("EventsFanOut", func(t *testing.T) {
		t.Parallel()
		a, b := replicas(t)
		ta, tb := liveServer(t, a, nil), liveServer(t, b, nil)
		alice := openStream(t, a, ta, "alice", "")
		pos := alice.start()
		bob := openStream(t, a, ta, "bob", "")
		bobPos := bob.start()
		aliceOnB := openStream(t, b, tb, "alice", "")
		if got := aliceOnB.start(); got != pos {
			t.Fatalf("the replicas disagree on the position: %s and %s", got, pos)
		}

		// A write on B reaches the streams on A and on B.
		b.create("alice", `{"title":"on b"}`) // 1
		ev := alice.nextEvent()
		wantEvent(t, a, "alice", ev, "task.created", taskEventData(a, "alice", "task.created", 1), pos)
		if got := aliceOnB.nextEvent(); got.ID != ev.ID || got.Data != ev.Data {
			t.Fatalf("the stream on B got %+v, the one on A %+v", got, ev)
		}
		a.mustDo(call{method: "PATCH", path: "/api/tasks/1/complete", user: "alice"}, http.StatusOK)
		upd := aliceOnB.nextEvent()
		wantEvent(t, b, "alice", upd, "task.updated", taskEventData(b, "alice", "task.updated", 1), ev.ID)
		if got := alice.nextEvent(); got.ID != upd.ID {
			t.Fatalf("the stream on A got %s, want %s", got.ID, upd.ID)
		}
		// Bob's stream saw none of it: its first event is his own write.
		b.create("bob", `{"title":"bob's"}`) // 2
		wantEvent(t, a, "bob", bob.nextEvent(), "task.created", taskEventData(a, "bob", "task.created", 2), bobPos)

		// A stream resumes on the other replica with the id from the first.
		alice.cancel()
		b.mustDo(call{method: "DELETE", path: "/api/tasks/1", user: "alice"}, http.StatusOK)
		r := openStream(t, b, tb, "alice", upd.ID)
		r.start()
		wantEvent(t, b, "alice", r.nextEvent(), "task.deleted", `{"type":"task.deleted","id":1}`, upd.ID)
	})

	t.Run("ChangesAndLostUpdate", func(t *testing.T) {
		t.Parallel()
		a, b := replicas(t)
		a.create("alice", `{"title":"shared"}`)
		// A cursor of one replica works on the other.
		c := a.changes("alice", "")
		b.mustDo(call{method: "PATCH", path: "/api/tasks/1", user: "alice", body: `{"title":"edited"}`}, http.StatusOK)
		got := b.changes("alice", "?since="+c.Cursor)
		if ids := taskIDs(t, got.Tasks); !slices.Equal(ids, []int64{1}) {
			t.Fatalf("changes on B after A's cursor: %v", ids)
		}
		// The same ETag sent to both replicas at once: one 200, one 412.
		for round := range 10 {
			task := a.create("alice", fmt.Sprintf(`{"title":"round %d"}`, round))
			path := fmt.Sprintf("/api/tasks/%d", int64(task["id"].(float64)))
			etag := fmt.Sprintf(`"%d.1"`, int64(task["id"].(float64)))
			envs := []*apiEnv{a, b}
			reqs := make([]*http.Request, 2)
			for i := range reqs {
				r := httptest.NewRequest("PUT", path, strings.NewReader(`{"title":"mine"}`))
				r.Header.Set("Authorization", "Bearer "+a.token("alice"))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("If-Match", etag)
				reqs[i] = r
			}
			codes := make([]int, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, r := range reqs {
				wg.Go(func() {
					<-start
					codes[i] = serve(envs[i], r).Code
				})
			}
			close(start)
			wg.Wait()
			if slices.Sort(codes); !slices.Equal(codes, []int{200, 412}) {
				t.Fatalf("round %d: statuses %v, want 200 and 412", round, codes)
			}
		}
	})
}
