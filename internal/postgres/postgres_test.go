package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todod/todod/internal/storetest"
	"github.com/todod/todod/internal/todo"
)

// testServer returns TEST_DATABASE_URL. Without it the test is skipped, or
// failed if TEST_REQUIRE_POSTGRES=1.
func testServer(t testing.TB) string {
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

// testDatabase creates a fresh, empty database for t on the server at
// TEST_DATABASE_URL (see testServer) and returns its URL; it is dropped when t
// ends.
func testDatabase(t testing.TB) string {
	t.Helper()
	base := testServer(t)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("TEST_DATABASE_URL must be a postgres:// URL")
	}
	name := testName()
	adminExec(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() { adminExec(t, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u.Path = "/" + name
	return u.String()
}

// testSchema creates a fresh, empty schema for t in the database at dsn and
// returns dsn with the schema as its search_path; it is dropped when t ends.
// A schema costs milliseconds where a database costs a copy of template1.
func testSchema(t testing.TB, dsn string) string {
	t.Helper()
	name := testName()
	adminExec(t, dsn, "CREATE SCHEMA "+name)
	t.Cleanup(func() { adminExec(t, dsn, "DROP SCHEMA IF EXISTS "+name+" CASCADE") })
	return withQuery(t, dsn, "search_path", name)
}

// testName is a fresh name made of [a-z0-9_] only, so it needs no quoting.
func testName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "todod_test_" + hex.EncodeToString(b)
}

// adminExec runs one statement on its own connection to dsn.
func adminExec(t testing.TB, dsn, sql string) {
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

// testLogger writes to the test's output, shown when a test fails or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore opens and migrates a Store on dsn, closed when t ends.
func openStore(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx := context.Background()
	s, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// withQuery returns dsn with the query parameters kv (key, value, ...) set.
func withQuery(t testing.TB, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// The suites run in parallel with the other database tests: their time goes
// to CREATE DATABASE on the server, not to this process.
func TestConformance(t *testing.T) {
	t.Parallel()
	testServer(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) todo.Store {
		return openStore(t, testDatabase(t), Options{Now: now})
	})
}

// PgBouncer-style poolers need the simple protocol or no statement cache; the
// same behaviour must hold there, tags and priority arrays included. To keep
// the package fast, this run gives each test a fresh schema of one database.
func TestConformanceSimpleProtocol(t *testing.T) {
	t.Parallel()
	db := testDatabase(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) todo.Store {
		dsn := withQuery(t, testSchema(t, db), "default_query_exec_mode", "simple_protocol")
		s := openStore(t, dsn, Options{Now: now})
		if got := s.pool.Config().ConnConfig.DefaultQueryExecMode; got != pgx.QueryExecModeSimpleProtocol {
			t.Fatalf("DefaultQueryExecMode = %v, want simple_protocol", got)
		}
		return s
	})
}

// Two stores on one database are two replicas of todod.
func TestReplicas(t *testing.T) {
	t.Parallel()
	testServer(t)
	storetest.RunReplicas(t, func(t *testing.T, now func() time.Time) (todo.Store, todo.Store) {
		dsn := testDatabase(t)
		return openStore(t, dsn, Options{Now: now}), openStore(t, dsn, Options{Now: now})
	})
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	dsn := testDatabase(t)
	ctx := context.Background()
	stores := make([]*Store, 3)
	for i := range stores {
		s, err := Open(ctx, dsn, Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	if err := stores[0].Ping(ctx); !errors.Is(err, todo.ErrUnavailable) {
		t.Fatalf("Ping before Migrate = %v, want ErrUnavailable", err)
	}

	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}

	var applied, maxVersion int64
	if err := stores[0].pool.QueryRow(ctx,
		`SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if stores[0].latest != 4 || maxVersion != stores[0].latest || applied != stores[0].latest {
		t.Errorf("goose_db_version: %d applied, max %d; embedded latest %d, want 4 each",
			applied, maxVersion, stores[0].latest)
	}
	for i, s := range stores {
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping %d after Migrate: %v", i, err)
		}
	}
	if err := stores[1].Migrate(ctx); err != nil {
		t.Errorf("Migrate again: %v", err)
	}
}

func TestPoolConfig(t *testing.T) {
	const neon = "postgresql://alex:AbC123dEf@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb" +
		"?sslmode=require&channel_binding=require"
	cfg, sent, err := poolConfig(neon, 0)
	if err != nil {
		t.Fatalf("Neon URL: %v", err)
	}
	cc := cfg.ConnConfig
	if cc.Host != "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech" || cc.Database != "neondb" ||
		cc.User != "alex" || cc.Password != "AbC123dEf" {
		t.Errorf("Neon URL parsed as host %q db %q user %q", cc.Host, cc.Database, cc.User)
	}
	if cc.ChannelBinding != "require" || cc.TLSConfig == nil {
		t.Errorf("ChannelBinding %q, TLS %v; want require and TLS", cc.ChannelBinding, cc.TLSConfig != nil)
	}
	if want := defaultMaxConns(runtime.GOMAXPROCS(0)); cfg.MaxConns != want {
		t.Errorf("MaxConns = %d, want %d", cfg.MaxConns, want)
	}
	if got := cc.RuntimeParams["statement_timeout"]; got != "5000" || !sent {
		t.Errorf("statement_timeout = %q (sent %v), want 5000 sent", got, sent)
	}
	if got := cc.RuntimeParams["application_name"]; got != "todod" {
		t.Errorf("application_name = %q, want todod", got)
	}
	if cc.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		t.Errorf("DefaultQueryExecMode = %v, want cache_statement", cc.DefaultQueryExecMode)
	}

	tests := []struct {
		name      string
		dsn       string
		timeout   time.Duration
		maxConns  int32
		stmt      string // "" = not sent
		mode      pgx.QueryExecMode
		appName   string
		sentByUs  bool
		wantError bool
	}{
		{"pool size from URL", "postgres://u@h/db?pool_max_conns=7", 0, 7, "5000", pgx.QueryExecModeCacheStatement, "todod", true, false},
		{"statement timeout option", "postgres://u@h/db", 250 * time.Millisecond, 0, "250", pgx.QueryExecModeCacheStatement, "todod", true, false},
		{"statement timeout off", "postgres://u@h/db", -1, 0, "", pgx.QueryExecModeCacheStatement, "todod", false, false},
		{"statement timeout from URL", "postgres://u@h/db?statement_timeout=1234", 0, 0, "1234", pgx.QueryExecModeCacheStatement, "todod", false, false},
		{"statement timeout in options", "postgres://u@h/db?options=-c%20statement_timeout%3D9s", 0, 0, "", pgx.QueryExecModeCacheStatement, "todod", false, false},
		{"simple protocol for poolers", "postgres://u@h/db?default_query_exec_mode=simple_protocol", 0, 0, "5000", pgx.QueryExecModeSimpleProtocol, "todod", true, false},
		{"exec mode", "postgres://u@h/db?default_query_exec_mode=exec", 0, 0, "5000", pgx.QueryExecModeExec, "todod", true, false},
		{"application name from URL", "postgres://u@h/db?application_name=web", 0, 0, "5000", pgx.QueryExecModeCacheStatement, "web", true, false},
		{"key=value form", "host=h user=u dbname=db pool_max_conns=3", 0, 3, "5000", pgx.QueryExecModeCacheStatement, "todod", true, false},
		{"bad pool size", "postgres://u@h/db?pool_max_conns=zero", 0, 0, "", 0, "", false, true},
		{"bad exec mode", "postgres://u@h/db?default_query_exec_mode=fast", 0, 0, "", 0, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, sent, err := poolConfig(tt.dsn, tt.timeout)
			if tt.wantError {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.maxConns
			if want == 0 {
				want = defaultMaxConns(runtime.GOMAXPROCS(0))
			}
			if cfg.MaxConns != want {
				t.Errorf("MaxConns = %d, want %d", cfg.MaxConns, want)
			}
			stmt, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]
			if tt.stmt == "" && ok && !strings.Contains(tt.dsn, "statement_timeout") {
				t.Errorf("statement_timeout = %q, want none", stmt)
			}
			if tt.stmt != "" && stmt != tt.stmt {
				t.Errorf("statement_timeout = %q, want %q", stmt, tt.stmt)
			}
			if sent != tt.sentByUs {
				t.Errorf("sent = %v, want %v", sent, tt.sentByUs)
			}
			if got := cfg.ConnConfig.DefaultQueryExecMode; got != tt.mode {
				t.Errorf("DefaultQueryExecMode = %v, want %v", got, tt.mode)
			}
			if got := cfg.ConnConfig.RuntimeParams["application_name"]; got != tt.appName {
				t.Errorf("application_name = %q, want %q", got, tt.appName)
			}
		})
	}
}

// Statements are planned for their arguments, where it matters, in the
// cheapest mode that does so, and only where the connection's mode would
// keep a generic plan.
func TestCustomPlanMode(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  pgx.QueryExecMode
	}{
		{"", pgx.QueryExecModeCacheDescribe},
		{"default_query_exec_mode=cache_statement", pgx.QueryExecModeCacheDescribe},
		{"description_cache_capacity=0", pgx.QueryExecModeExec},
		{"default_query_exec_mode=cache_describe", 0},
		{"default_query_exec_mode=describe_exec", 0},
		{"default_query_exec_mode=exec", 0},
		{"default_query_exec_mode=simple_protocol", 0},
	} {
		cfg, _, err := poolConfig("postgres://u@h/db?"+tt.query, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := customPlanMode(cfg.ConnConfig); got != tt.want {
			t.Errorf("%q: %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestDefaultMaxConns(t *testing.T) {
	for procs, want := range map[int]int32{0: 4, 1: 4, 2: 8, 3: 12, 16: 64} {
		if got := defaultMaxConns(procs); got != want {
			t.Errorf("defaultMaxConns(%d) = %d, want %d", procs, got, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	// Nothing listens on port 1.
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/todod?sslmode=disable&connect_timeout=2", Options{})
	if !errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("unreachable server: %v, want ErrUnavailable", err)
	}
	_, err = Open(ctx, "postgres://postgres:s3cret@127.0.0.1:5432/todod?pool_max_conns=-1", Options{})
	if err == nil || errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("bad URL: %v, want a configuration error", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestStatementTimeout(t *testing.T) {
	s := openStore(t, testDatabase(t), Options{StatementTimeout: 100 * time.Millisecond})
	ctx := context.Background()
	start := time.Now()
	err := s.run(ctx, "sleep", func(conn *pgxpool.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_sleep(5)`)
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.Is(err, todo.ErrUnavailable) || !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("err = %v, want ErrUnavailable caused by SQLSTATE 57014", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("statement ran %v despite a 100ms statement timeout", d)
	}
	if strings.Contains(err.Error(), "pg_sleep") {
		t.Errorf("error shows SQL: %v", err)
	}
}

func TestAcquireTimeout(t *testing.T) {
	dsn := withQuery(t, testDatabase(t), "pool_max_conns", "1")
	s := openStore(t, dsn, Options{AcquireTimeout: 100 * time.Millisecond})
	if got := s.pool.Config().MaxConns; got != 1 {
		t.Fatalf("MaxConns = %d, want 1 from the URL", got)
	}
	ctx := context.Background()
	held, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	start := time.Now()
	_, err = s.GetTask(ctx, "u1", 1)
	d := time.Since(start)
	if !errors.Is(err, todo.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetTask with the pool exhausted: %v, want ErrUnavailable from the acquire deadline", err)
	}
	if d < 100*time.Millisecond || d > time.Second {
		t.Errorf("gave up after %v, want about 100ms", d)
	}

	// A caller that goes away gets its own context error, not ErrUnavailable.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = s.GetTask(cctx, "u1", 1)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("GetTask with the caller's deadline passed: %v, want the context error only", err)
	}
}

func TestCallerCancelDuringStatement(t *testing.T) {
	s := openStore(t, testDatabase(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := s.run(ctx, "sleep", func(conn *pgxpool.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_sleep(5)`)
		return err
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, todo.ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	// The pool recovers: the next call works.
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after a cancelled statement: %v", err)
	}
}

// A transaction-mode pooler refuses statement_timeout as a startup parameter;
// Open must still connect, without it, and say so.
func TestPoolerRefusesStatementTimeout(t *testing.T) {
	dsn := testDatabase(t)
	proxyDSN := startRefusingProxy(t, dsn, "statement_timeout")
	logs := &syncWriter{}
	s := openStore(t, proxyDSN, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if !strings.Contains(logs.String(), "refused the statement_timeout") {
		t.Errorf("no warning logged; logs:\n%s", logs.String())
	}
	ctx := context.Background()
	var got string
	if err := s.pool.QueryRow(ctx, `SHOW statement_timeout`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "0" {
		t.Errorf("statement_timeout = %q, want the server default 0", got)
	}
	task, err := s.CreateTask(ctx, "u1", todo.NewTask{Title: "through the pooler", Priority: todo.PriorityNone})
	if err != nil || task.ID == 0 {
		t.Fatalf("CreateTask through the pooler: %+v, %v", task, err)
	}
}

// syncWriter is a buffer that a logger may write to while the test reads it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
