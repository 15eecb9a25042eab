package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is todod started through run(), as main starts it.
type server struct {
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	stop   func() error
}

func startServer(t *testing.T, vars map[string]string) *server {
	t.Helper()
	addr := freeAddr(t)
	vars["ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{base: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env(vars), strings.NewReader(""), s.stdout, s.stderr) }()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = fmt.Errorf("run did not return within 15 s of cancellation")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { s.stop() })

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("run returned before ready: %v\n%s", err, s.stderr)
		default:
		}
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20 s\n%s", s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type task struct {
	ID          int64    `json:"id"`
	UserID      string   `json:"user_id"`
	Title       string   `json:"title"`
	Description *string  `json:"description"`
	Completed   bool     `json:"completed"`
	Priority    string   `json:"priority"`
	Tags        []string `json:"tags"`
	CompletedAt *string  `json:"completed_at"`
}

func call(t *testing.T, method, url, token, body string, want int, out any) http.Header {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method != http.MethodGet && method != http.MethodDelete {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.Header
}

// story is what a frontend does on a first visit: list, create, complete,
// rename, delete, through both path styles.
func story(t *testing.T, base, user, token string) {
	t.Helper()
	var list []task
	call(t, "GET", base+"/api/tasks", token, "", 200, &list)
	if len(list) != 0 {
		t.Fatalf("a new user has no tasks, got %d", len(list))
	}
	var created task
	h := call(t, "POST", base+"/api/"+user+"/tasks/", token, `{"title":"  Buy milk  ","description":"2 litres"}`, 201, &created)
	if created.Title != "Buy milk" || created.UserID != user || created.Completed || created.Priority != "none" ||
		created.Description == nil || *created.Description != "2 litres" || created.Tags == nil {
		t.Fatalf("created: %+v", created)
	}
	if loc := h.Get("Location"); loc != fmt.Sprintf("/api/%s/tasks/%d", user, created.ID) {
		t.Fatalf("Location %q", loc)
	}
	var toggled task
	call(t, "PATCH", fmt.Sprintf("%s/api/tasks/%d/complete", base, created.ID), token, "", 200, &toggled)
	if !toggled.Completed || toggled.CompletedAt == nil {
		t.Fatalf("toggle on an empty body must complete: %+v", toggled)
	}
	var renamed task
	call(t, "PUT", fmt.Sprintf("%s/api/%s/tasks/%d", base, user, created.ID), token, `{"title":"Buy oat milk","description":null}`, 200, &renamed)
	if renamed.Title != "Buy oat milk" || renamed.Description != nil || !renamed.Completed {
		t.Fatalf("PUT is partial and null clears: %+v", renamed)
	}
	call(t, "GET", base+"/api/"+user+"/tasks", token, "", 200, &list)
	if len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("list after create: %+v", list)
	}
	var deleted map[string]any
	call(t, "DELETE", fmt.Sprintf("%s/api/tasks/%d", base, created.ID), token, "", 200, &deleted)
	if deleted["message"] != "Task deleted successfully" || deleted["id"] != float64(created.ID) {
		t.Fatalf("delete answer: %v", deleted)
	}
	call(t, "GET", fmt.Sprintf("%s/api/tasks/%d", base, created.ID), token, "", 404, nil)
	call(t, "GET", base+"/api/someone-else/tasks", token, "", 403, nil)
	call(t, "GET", base+"/api/tasks", "", "", 401, nil)
}

var curlLine = regexp.MustCompile(`curl -H 'Authorization: Bearer ([A-Za-z0-9_.-]+)' (http://[0-9.:]+/api/tasks)`)

func TestRunDevModeOnSQLite(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"DATABASE_URL": "sqlite:///" + filepath.Join(dir, "todod.db")}
	s := startServer(t, vars)

	m := curlLine.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("dev auth mode must print a curl line with a token; stdout:\n%s", s.stdout)
	}
	if m[2] != s.base+"/api/tasks" {
		t.Fatalf("the curl line points at %s, server is at %s", m[2], s.base)
	}
	story(t, s.base, "dev-user", m[1])

	// todod token signs with the dev secret saved beside the database.
	var out syncBuffer
	if err := run(context.Background(), []string{"token", "--sub", "alice", "--ttl", "10m"}, env(vars), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	story(t, s.base, "alice", strings.TrimSpace(out.String()))

	if err := run(context.Background(), []string{"healthcheck"}, env(vars), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("healthcheck against a ready server: %v", err)
	}
	if strings.Contains(s.stderr.String(), m[1]) {
		t.Fatal("the token must not appear in the logs")
	}
	if err := s.stop(); err != nil {
		t.Fatalf("run after cancellation: %v", err)
	}
	if err := run(context.Background(), []string{"healthcheck", "-timeout", "500ms"}, env(vars), nil, io.Discard, io.Discard); err == nil {
		t.Fatal("healthcheck must fail when no server answers")
	}
	if info, err := os.Stat(filepath.Join(dir, "todod.dev-secret")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("dev secret file: %v %v", info, err)
	}
}

func TestRunWithSecretOnPostgres(t *testing.T) {
	dsn := freshPostgres(t)
	secret := "e2e-secret-0123456789abcdef0123456789"
	vars := map[string]string{"DATABASE_URL": dsn, "BETTER_AUTH_SECRET": secret, "LOG_FORMAT": "text"}
	// DATABASE_URL_UNPOOLED is where migrations go: a wrong one fails them.
	u, _ := url.Parse(dsn)
	u.Path = "/todod_no_such_database"
	bad := map[string]string{"DATABASE_URL": dsn, "BETTER_AUTH_SECRET": secret, "DATABASE_URL_UNPOOLED": u.String()}
	if err := run(context.Background(), []string{"migrate"}, env(bad), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "DATABASE_URL_UNPOOLED") {
		t.Fatalf("migrate over a missing unpooled database: %v", err)
	}
	vars["DATABASE_URL_UNPOOLED"] = dsn
	if err := run(context.Background(), []string{"migrate"}, env(vars), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s := startServer(t, vars)
	if strings.Contains(s.stdout.String(), "dev auth mode") {
		t.Fatal("with a secret, todod must not be in dev auth mode")
	}
	var out syncBuffer
	if err := run(context.Background(), []string{"token", "--sub", "u1"}, env(vars), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	story(t, s.base, "u1", strings.TrimSpace(out.String()))
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "todod_db_pool_max_connections ") {
		t.Error("/metrics lacks the PostgreSQL pool statistics")
	}
	if strings.Contains(s.stderr.String(), secret) {
		t.Fatal("the secret must not appear in the logs")
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestSubcommands(t *testing.T) {
	var out syncBuffer
	if err := run(context.Background(), []string{"version"}, env(nil), nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "todod ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	var doc syncBuffer
	if err := run(context.Background(), []string{"openapi"}, env(nil), nil, &doc, io.Discard); err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc.String()), &spec); err != nil || !strings.HasPrefix(spec.OpenAPI, "3.1") || spec.Paths["/api/tasks"] == nil {
		t.Fatalf("openapi: %v %q", err, spec.OpenAPI)
	}
	if err := run(context.Background(), []string{"frobnicate"}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Fatal("an unknown command must fail")
	}
	if err := run(context.Background(), []string{"token"}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Fatal("token without --sub must fail")
	}
	short := map[string]string{"BETTER_AUTH_SECRET": "short", "DATABASE_URL": "sqlite:///" + filepath.Join(t.TempDir(), "x.db")}
	err := run(context.Background(), nil, env(short), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
		t.Fatalf("a weak secret must be refused with advice: %v", err)
	}
}

// freshPostgres creates a database of its own on TEST_DATABASE_URL's server,
// dropped when the test ends.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("TEST_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
		}
		t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "todod_e2e_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
