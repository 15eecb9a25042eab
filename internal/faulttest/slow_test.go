//go:build linux

package faulttest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/httpapi"
	"github.com/todod/todod/internal/postgres"
)

// lockTasks takes an ACCESS EXCLUSIVE lock on the tasks table in an open
// transaction of database db, so that every statement of todod on it waits.
// The returned func releases it.
func lockTasks(t *testing.T, c *cluster, db string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn := c.connect(db)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		})
	}
	t.Cleanup(release)
	return release
}

// blockedSessions counts todod's sessions on db that are running a
// statement (waiting for the lock or not).
func blockedSessions(t *testing.T, admin *pgx.Conn, db string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(context.Background(), `
		SELECT count(*) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'todod' AND state = 'active'`, db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitBlocked waits until todod has want statements running on db.
func waitBlocked(t *testing.T, admin *pgx.Conn, db string, want int, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := blockedSessions(t, admin, db)
		if n == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d todod statements running on %s after %v, want %d", n, db, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answer is one request's result in a burst.
type answer struct {
	status     int
	retryAfter string
	took       time.Duration
	err        error
}

// burst sends n requests at once (alternately a list and a create) and
// returns their answers.
func burst(client *http.Client, base, tok string, n int) []answer {
	out := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req *http.Request
			if i%2 == 0 {
				req, _ = http.NewRequest(http.MethodGet, base+"/api/tasks", nil)
			} else {
				req, _ = http.NewRequest(http.MethodPost, base+"/api/tasks", strings.NewReader(`{"title":"slow"}`))
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			start := time.Now()
			resp, err := client.Do(req)
			out[i].took = time.Since(start)
			if err != nil {
				out[i].err = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out[i].status, out[i].retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		}()
	}
	wg.Wait()
	return out
}

// checkUnavailable fails unless every answer is a 503 with Retry-After within bound.
func checkUnavailable(t *testing.T, answers []answer, bound time.Duration) {
	t.Helper()
	var slowest time.Duration
	for i, a := range answers {
		slowest = max(slowest, a.took)
		switch {
		case a.err != nil:
			t.Errorf("request %d: %v", i, a.err)
		case a.status != http.StatusServiceUnavailable || a.retryAfter == "":
			t.Errorf("request %d: %d with Retry-After %q, want 503 with Retry-After", i, a.status, a.retryAfter)
		case a.took > bound:
			t.Errorf("request %d took %v, want at most %v", i, a.took, bound)
		}
	}
	t.Logf("%d requests against a locked table: all ended by %v (bound %v)", len(answers), slowest.Round(time.Millisecond), bound)
}

// mustStatus sends one request and fails unless it gets want.
func mustStatus(t *testing.T, client *http.Client, method, url, tok, body string, want int) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, truncate(b, 300), want)
	}
}

// TestSlowDatabase exhausts a pool of two connections with statements that
// wait on a lock: todod must answer 503 within statement_timeout +
// the acquire timeout, the statements must be cancelled on the server, and
// everything must work once the lock is gone.
func TestSlowDatabase(t *testing.T) {
	c := newCluster(t)
	const statementTimeout = 500 * time.Millisecond
	dsn := c.createDB("slow", fmt.Sprintf("statement_timeout=%d", statementTimeout.Milliseconds()), "pool_max_conns=2")
	p := startTodod(t, t.TempDir(), map[string]string{"DATABASE_URL": dsn})
	client := newClient(t, 30*time.Second)
	tok := token(t, "slow-user")
	mustStatus(t, client, http.MethodPost, p.base+"/api/tasks", tok, `{"title":"before"}`, http.StatusCreated)
	admin := c.connect("postgres")
	defer admin.Close(context.Background())

	release := lockTasks(t, c, "slow")
	// The deadline of a request: a wait for a connection (2 s), then one
	// statement (500 ms); a second of slack for a busy machine.
	bound := postgres.DefaultAcquireTimeout + statementTimeout + time.Second
	checkUnavailable(t, burst(client, p.base, tok, 12), bound)
	// Cancelled by the server, not abandoned there.
	waitBlocked(t, admin, "slow", 0, time.Second)
	var sessions int
	if err := admin.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE datname = 'slow' AND application_name = 'todod'`).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if sessions > 2 {
		t.Errorf("%d sessions open with pool_max_conns=2", sessions)
	}
	if got := readyStatus(t, client, p.base); got != http.StatusOK {
		t.Errorf("/readyz while the tasks table is locked: %d, want 200 (the database answers)", got)
	}

	release()
	mustStatus(t, client, http.MethodGet, p.base+"/api/tasks", tok, "", http.StatusOK)
	mustStatus(t, client, http.MethodPost, p.base+"/api/tasks", tok, `{"title":"after"}`, http.StatusCreated)
	if lines := p.errorLines(); len(lines) > 0 {
		t.Errorf("todod logged %d errors, the first: %s", len(lines), lines[0])
	}
}

func readyStatus(t *testing.T, client *http.Client, base string) int {
	t.Helper()
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestClientDisconnectCancelsQuery leaves in the middle of a request whose
// statement waits on a lock: the statement must be gone from the server
// soon after, long before its statement timeout.
func TestClientDisconnectCancelsQuery(t *testing.T) {
	c := newCluster(t)
	dsn := c.createDB("gone", "statement_timeout=30000")
	p := startTodod(t, t.TempDir(), map[string]string{"DATABASE_URL": dsn})
	client := newClient(t, 30*time.Second)
	tok := token(t, "gone-user")
	mustStatus(t, client, http.MethodPost, p.base+"/api/tasks", tok, `{"title":"before"}`, http.StatusCreated)
	admin := c.connect("postgres")
	defer admin.Close(context.Background())
	release := lockTasks(t, c, "gone")
	disconnect(t, client, p.base, tok, admin, "gone")
	release()
	mustStatus(t, client, http.MethodGet, p.base+"/api/tasks", tok, "", http.StatusOK)
}

// disconnect starts a list that blocks on the lock, cancels it once its
// statement runs on the server, and checks that the statement ends within
// two seconds.
func disconnect(t *testing.T, client *http.Client, base, tok string, admin *pgx.Conn, db string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitBlocked(t, admin, db, 1, 5*time.Second)
	left := time.Now()
	cancel()
	if err := <-done; err == nil {
		t.Error("the cancelled request got an answer")
	}
	gone := waitBlocked(t, admin, db, 0, 5*time.Second)
	if d := gone.Sub(left); d > 2*time.Second {
		t.Errorf("the statement ran on for %v after the client left, want under 2 s", d)
	} else {
		t.Logf("the statement ended %v after the client left", d.Round(time.Millisecond))
	}
}

// TestSlowDatabaseInProcess runs the same faults against the store and the
// server inside this process, where TestMain's goroutine check sees any
// goroutine or connection they leave behind.
func TestSlowDatabaseInProcess(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	dsn := c.createDB("inproc", "pool_max_conns=2")
	const statementTimeout, acquireTimeout = 300 * time.Millisecond, 300 * time.Millisecond
	fast, err := postgres.Open(ctx, dsn, postgres.Options{StatementTimeout: statementTimeout, AcquireTimeout: acquireTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if err := fast.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	patient, err := postgres.Open(ctx, dsn, postgres.Options{StatementTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer patient.Close()
	verifier, err := auth.New(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer verifier.Close()
	serve := func(store *postgres.Store) *httptest.Server {
		srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: store, Auth: verifier}))
		t.Cleanup(srv.Close)
		return srv
	}
	fastSrv, patientSrv := serve(fast), serve(patient)
	client := newClient(t, 30*time.Second)
	tok := token(t, "inproc-user")
	mustStatus(t, client, http.MethodPost, fastSrv.URL+"/api/tasks", tok, `{"title":"before"}`, http.StatusCreated)
	admin := c.connect("postgres")
	defer admin.Close(context.Background())

	release := lockTasks(t, c, "inproc")
	checkUnavailable(t, burst(client, fastSrv.URL, tok, 8), acquireTimeout+statementTimeout+time.Second)
	waitBlocked(t, admin, "inproc", 0, time.Second)
	disconnect(t, client, patientSrv.URL, tok, admin, "inproc")
	release()
	mustStatus(t, client, http.MethodGet, fastSrv.URL+"/api/tasks", tok, "", http.StatusOK)
	mustStatus(t, client, http.MethodGet, patientSrv.URL+"/api/tasks", tok, "", http.StatusOK)
}
