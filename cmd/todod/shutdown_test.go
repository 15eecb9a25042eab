package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowPost is a POST /api/tasks whose body is sent in two halves over a raw
// connection, so that the request is in flight (its handler is reading the
// body) for as long as the test wants.
type slowPost struct {
	conn net.Conn
	rest string
}

func startSlowPost(t *testing.T, base, token, title string) *slowPost {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := fmt.Sprintf(`{"title":%q}`, title)
	half := len(body) / 2
	head := fmt.Sprintf("POST /api/tasks HTTP/1.1\r\nHost: todod\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", token, len(body), body[:half])
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return &slowPost{conn: conn, rest: body[half:]}
}

// finish sends the rest of the body and reads the answer.
func (p *slowPost) finish() (*http.Response, []byte, error) {
	if _, err := io.WriteString(p.conn, p.rest); err != nil {
		return nil, nil, err
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(p.conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// waitInFlight waits until the server reports at least n requests in flight
// besides the /metrics request that asks.
func waitInFlight(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := -1
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "todod_http_requests_in_flight "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					t.Fatalf("in-flight gauge %q: %v", v, err)
				}
				got = int(f) - 1 // the /metrics request itself
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight after 10 s, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mintToken runs `todod token` with the server's configuration.
func mintToken(t *testing.T, vars map[string]string, sub string) string {
	t.Helper()
	var out syncBuffer
	if err := run(context.Background(), []string{"token", "--sub", sub}, env(vars), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

// These tests start the real program with run() and talk to it over TCP, as
// clients and load balancers do.

// TestGracefulShutdown is SIGTERM as CONTRACT.md §1 has it: readiness turns
// 503 at once (on the connection a health checker keeps open), the listener
// closes after SHUTDOWN_DELAY, requests in flight finish and are
// acknowledged, and what was acknowledged is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"DATABASE_URL":       "sqlite:///" + filepath.Join(dir, "todod.db"),
		"BETTER_AUTH_SECRET": "shutdown-test-secret-0123456789abcdef",
		"SHUTDOWN_DELAY":     "500ms",
		"SHUTDOWN_TIMEOUT":   "10s",
	}
	s := startServer(t, vars)
	token := mintToken(t, vars, "alice")

	// A client with a kept-alive connection, as a load balancer's health
	// checker has.
	checker := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer checker.CloseIdleConnections()
	readyz := func() (code int, reused bool, err error) {
		req, err := http.NewRequest(http.MethodGet, s.base+"/readyz", nil)
		if err != nil {
			return 0, false, err
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		}))
		resp, err := checker.Do(req)
		if err != nil {
			return 0, reused, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, reused, nil
	}
	if code, _, err := readyz(); err != nil || code != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d %v", code, err)
	}

	const inFlight = 3
	posts := make([]*slowPost, inFlight)
	for i := range posts {
		posts[i] = startSlowPost(t, s.base, token, fmt.Sprintf("in flight %d", i))
	}
	waitInFlight(t, s.base, inFlight)

	// SIGTERM: main cancels run's context on it.
	stopped := make(chan error, 1)
	cancelled := time.Now()
	go func() { stopped <- s.stop() }()

	// Readiness turns 503 at once, on the connection the checker keeps
	// open, while the listener stays open for SHUTDOWN_DELAY; then new
	// connections are refused.
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(s.stderr.String(), `"msg":"shutting down"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown 2 s after SIGTERM:\n%s", s.stderr)
		}
		time.Sleep(time.Millisecond)
	}
	code, reused, err := readyz()
	if err != nil || code != http.StatusServiceUnavailable || !reused {
		t.Fatalf("/readyz after SIGTERM: %d %v (kept-alive connection reused: %v), want 503 on it", code, err, reused)
	}
	for {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.base, "http://"), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections are still accepted 2 s after SIGTERM, with a 500 ms SHUTDOWN_DELAY")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(cancelled); took < 500*time.Millisecond {
		t.Fatalf("the listener closed %s after SIGTERM, before the 500 ms SHUTDOWN_DELAY", took)
	}

	// The requests in flight are waited for: run has not returned while
	// their bodies are still coming.
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) with %d requests in flight", err, inFlight)
	default:
	}
	for i, p := range posts {
		resp, body, err := p.finish()
		if err != nil {
			t.Fatalf("in-flight request %d: %v", i, err)
		}
		var created task
		if err := json.Unmarshal(body, &created); err != nil {
			t.Fatalf("in-flight request %d: %v in %s", i, err, body)
		}
		if resp.StatusCode != http.StatusCreated || created.Title != fmt.Sprintf("in flight %d", i) || created.UserID != "alice" {
			t.Fatalf("in-flight request %d: %d %s\n%s", i, resp.StatusCode, body, s.stderr)
		}
		if !resp.Close {
			t.Errorf("in-flight request %d: the connection is kept alive during shutdown", i)
		}
	}

	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("run after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within the 10 s drain timeout")
	}
	if elapsed := time.Since(cancelled); elapsed >= 10*time.Second {
		t.Fatalf("shutdown took %s, beyond the drain timeout", elapsed)
	}
	logs := s.stderr.String()
	if !strings.Contains(logs, `"msg":"shutting down"`) || !strings.Contains(logs, `"msg":"stopped"`) ||
		strings.Contains(logs, "drain timeout passed") {
		t.Fatalf("shutdown logs:\n%s", logs)
	}

	// Nothing acknowledged is lost.
	s2 := startServer(t, vars)
	var list []task
	call(t, "GET", s2.base+"/api/tasks?sort=title&order=asc", token, "", http.StatusOK, &list)
	var titles []string
	for _, tk := range list {
		titles = append(titles, tk.Title)
	}
	if got := strings.Join(titles, ","); got != "in flight 0,in flight 1,in flight 2" {
		t.Fatalf("tasks after restart: %q", got)
	}
	if err := s2.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownDrainIsBounded: a request that never finishes holds shutdown
// for the drain timeout, no longer; then its connection is closed and run
// returns cleanly.
func TestShutdownDrainIsBounded(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"DATABASE_URL":       "sqlite:///" + filepath.Join(dir, "todod.db"),
		"BETTER_AUTH_SECRET": "shutdown-test-secret-0123456789abcdef",
		"SHUTDOWN_DELAY":     "0s",
		"SHUTDOWN_TIMEOUT":   "1s",
	}
	s := startServer(t, vars)
	stuck := startSlowPost(t, s.base, mintToken(t, vars, "bob"), "never finished")
	waitInFlight(t, s.base, 1)

	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatalf("run after SIGTERM: %v", err)
	}
	if elapsed := time.Since(start); elapsed < time.Second || elapsed > 5*time.Second {
		t.Fatalf("shutdown took %s with a stuck request, want the 1 s drain timeout", elapsed)
	}
	if !strings.Contains(s.stderr.String(), "drain timeout passed") {
		t.Fatalf("no warning about the drain timeout:\n%s", s.stderr)
	}
	_ = stuck.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stuck.conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the stuck connection after shutdown: %v, want it closed", err)
	}
}

// TestHeaderSizeLimit: the real server refuses request headers beyond its
// limit with 431 before any handler runs, and takes the large headers that
// browsers do send (cookies, long tokens).
func TestHeaderSizeLimit(t *testing.T) {
	vars := map[string]string{
		"DATABASE_URL":       "sqlite:///" + filepath.Join(t.TempDir(), "todod.db"),
		"BETTER_AUTH_SECRET": "shutdown-test-secret-0123456789abcdef",
	}
	s := startServer(t, vars)
	for _, tc := range []struct {
		size int
		want int
	}{
		{16 << 10, http.StatusOK},
		{64 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, err := http.NewRequest(http.MethodGet, s.base+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", "session="+strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", tc.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}
