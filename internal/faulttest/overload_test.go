//go:build linux

package faulttest

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startSQLite runs todod on a fresh SQLite file with env added, and returns
// it with the file's path.
func startSQLite(t *testing.T, env map[string]string) (*proc, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "todod.db")
	vars := map[string]string{"DATABASE_URL": "sqlite:///" + path}
	for k, v := range env {
		vars[k] = v
	}
	return startTodod(t, dir, vars), path
}

// send makes one request and returns the response with its body read.
func send(t *testing.T, client *http.Client, method, url, tok, contentType string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, b
}

// problemStatus decodes a problem body and returns its status, failing the
// test unless the response is application/problem+json.
func problemStatus(t *testing.T, resp *http.Response, body []byte) int {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Detail == "" {
		t.Errorf("not a problem with a detail: %s", truncate(body, 200))
	}
	return p.Status
}

func TestRateLimit(t *testing.T) {
	p, _ := startSQLite(t, map[string]string{"RATE_LIMIT": "5", "RATE_BURST": "5"})
	client := newClient(t, 10*time.Second)
	alice, bob := token(t, "rate-alice"), token(t, "rate-bob")
	for i := range 5 {
		if resp, _ := send(t, client, http.MethodGet, p.base+"/api/tasks", alice, "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp, body := send(t, client, http.MethodGet, p.base+"/api/tasks", alice, "", nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request beyond the burst: %d, want 429", resp.StatusCode)
	}
	if got := problemStatus(t, resp, body); got != http.StatusTooManyRequests {
		t.Errorf("problem status %d", got)
	}
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || wait != 1 {
		t.Errorf("Retry-After %q, want 1 (one token comes back in 200 ms)", resp.Header.Get("Retry-After"))
	}
	if resp, _ := send(t, client, http.MethodGet, p.base+"/api/tasks", bob, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another user while the first is limited: %d, want 200", resp.StatusCode)
	}
	if resp, _ := send(t, client, http.MethodGet, p.base+"/healthz", "", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while a user is limited: %d", resp.StatusCode)
	}
	time.Sleep(time.Duration(max(wait, 1)) * time.Second)
	if resp, _ := send(t, client, http.MethodGet, p.base+"/api/tasks", alice, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after Retry-After: %d, want 200", resp.StatusCode)
	}
}

// TestLoadShedding fills MAX_IN_FLIGHT=2 with creates that wait for the
// SQLite write lock, held by this test: further requests must be shed with
// 503 and Retry-After after the 100 ms queue wait, while /healthz answers.
func TestLoadShedding(t *testing.T) {
	p, path := startSQLite(t, map[string]string{"MAX_IN_FLIGHT": "2"})
	client := newClient(t, 20*time.Second)
	tok := token(t, "shed-user")
	if resp, body := send(t, client, http.MethodPost, p.base+"/api/tasks", tok, "application/json", strings.NewReader(`{"title":"first"}`)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}

	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lock, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	unlock := sync.OnceFunc(func() { _, _ = lock.ExecContext(ctx, `ROLLBACK`) })
	defer unlock()

	held := make(chan int, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, p.base+"/api/tasks", strings.NewReader(`{"title":"held"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				held <- 0
				return
			}
			resp.Body.Close()
			held <- resp.StatusCode
		}()
	}
	// /metrics counts itself among the requests in flight.
	waitMetric(t, client, p.base, "todod_http_requests_in_flight", "3", 5*time.Second)

	const shed = 5
	for i := range shed {
		start := time.Now()
		resp, body := send(t, client, http.MethodGet, p.base+"/api/tasks", tok, "", nil)
		took := time.Since(start)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("request %d beyond MAX_IN_FLIGHT: %d, Retry-After %q; want 503 and 1", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		problemStatus(t, resp, body)
		if took < 100*time.Millisecond || took > time.Second {
			t.Errorf("request %d shed after %v, want after the 100 ms queue wait", i, took)
		}
	}
	start := time.Now()
	if resp, _ := send(t, client, http.MethodGet, p.base+"/healthz", "", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while shedding: %d", resp.StatusCode)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("/healthz while shedding took %v", took)
	}
	waitMetric(t, client, p.base, "todod_http_requests_shed_total", strconv.Itoa(shed), time.Second)

	unlock()
	for range 2 {
		if status := <-held; status != http.StatusCreated {
			t.Errorf("a create held while the others were shed: %d, want 201", status)
		}
	}
	if resp, _ := send(t, client, http.MethodGet, p.base+"/api/tasks", tok, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after the load: %d, want 200", resp.StatusCode)
	}
}

// waitMetric waits until the series has the value in /metrics.
func waitMetric(t *testing.T, client *http.Client, base, series, value string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		_, body := send(t, client, http.MethodGet, base+"/metrics", "", "", nil)
		for line := range strings.Lines(string(body)) {
			if rest, ok := strings.CutPrefix(line, series+" "); ok {
				last = strings.TrimSpace(rest)
			}
		}
		if last == value {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q after %v, want %s", series, last, within, value)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowloris holds 100 connections that send their headers a byte at a
// time: /healthz must keep answering quickly on new connections, and the
// server must drop the slow ones once the header timeout (5 s) has passed.
func TestSlowloris(t *testing.T) {
	p, _ := startSQLite(t, nil)
	addr := strings.TrimPrefix(p.base, "http://")
	const conns = 100
	const headerTimeout = 5 * time.Second
	closedAfter := make([]time.Duration, conns)
	var wg sync.WaitGroup
	ctx, stop := context.WithTimeout(context.Background(), headerTimeout+3*time.Second)
	defer stop()
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		opened := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			closed := make(chan struct{})
			go func() {
				// Whatever the server does, the reader learns it: an answer,
				// or the connection closed.
				_, _ = io.Copy(io.Discard, c)
				closedAfter[i] = time.Since(opened)
				close(closed)
			}()
			defer func() {
				c.Close()
				<-closed
			}()
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: todod\r\nX-Slow: "); err != nil {
				return
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-closed:
					return
				case <-tick.C:
					if _, err := c.Write([]byte("a")); err != nil {
						return
					}
				}
			}
		}()
	}

	client := newClient(t, 5*time.Second)
	var slowest time.Duration
	for range 20 {
		client.CloseIdleConnections() // a new connection each time
		start := time.Now()
		resp, err := client.Get(p.base + "/healthz")
		took := time.Since(start)
		if err != nil {
			t.Fatalf("/healthz under slowloris: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/healthz under slowloris: %d", resp.StatusCode)
		}
		slowest = max(slowest, took)
		time.Sleep(50 * time.Millisecond)
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("/healthz took up to %v under slowloris, want under 500 ms", slowest)
	}
	wg.Wait()
	dropped, latest := 0, time.Duration(0)
	for _, d := range closedAfter {
		if d > 0 && d <= headerTimeout+2*time.Second {
			dropped++
			latest = max(latest, d)
		}
	}
	if dropped != conns {
		t.Errorf("the server dropped %d of %d slowloris connections within the header timeout + 2 s", dropped, conns)
	}
	t.Logf("/healthz answered within %v on new connections while %d slowloris connections dripped; the server dropped them after at most %v",
		slowest.Round(time.Millisecond), conns, latest.Round(time.Millisecond))
}

func TestOversizedHeaders(t *testing.T) {
	p, _ := startSQLite(t, nil)
	client := newClient(t, 10*time.Second)
	for _, tc := range []struct {
		size int
		want int
	}{
		{16 << 10, http.StatusOK},
		{64 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{1 << 20, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(fmt.Sprintf("%d bytes", tc.size), func(t *testing.T) {
			status := rawStatus(t, p.base, "GET /healthz HTTP/1.1\r\nHost: todod\r\nX-Big: "+strings.Repeat("a", tc.size)+"\r\n\r\n")
			if status != tc.want {
				t.Errorf("a header of %d bytes: %d, want %d", tc.size, status, tc.want)
			}
		})
	}
	if resp, _ := send(t, client, http.MethodGet, p.base+"/healthz", "", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz afterwards: %d", resp.StatusCode)
	}
}

// rawStatus writes a raw request on a new connection and returns the status
// of the answer. The write may fail half-way once the server has answered
// and closed: the answer is read either way.
func rawStatus(t *testing.T, base, request string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(c, request) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// unsized hides a reader's length, so the request is sent chunked.
type unsized struct{ io.Reader }

func TestOversizedBody(t *testing.T) {
	p, _ := startSQLite(t, nil)
	client := newClient(t, 10*time.Second)
	tok := token(t, "body-user")
	body := func(size int) string {
		prefix, suffix := `{"title":"big","description":"`, `"}`
		return prefix + strings.Repeat("a", size-len(prefix)-len(suffix)) + suffix
	}
	for _, tc := range []struct {
		name string
		body io.Reader
		want int
	}{
		{"64 KiB exactly", strings.NewReader(body(64 << 10)), http.StatusUnprocessableEntity},
		{"64 KiB + 1", strings.NewReader(body(64<<10 + 1)), http.StatusRequestEntityTooLarge},
		{"64 KiB + 1, chunked", unsized{strings.NewReader(body(64<<10 + 1))}, http.StatusRequestEntityTooLarge},
		{"10 MiB, chunked", unsized{strings.NewReader(body(10 << 20))}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, b := send(t, client, http.MethodPost, p.base+"/api/tasks", tok, "application/json", tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, truncate(b, 200), tc.want)
			}
			if got := problemStatus(t, resp, b); got != tc.want {
				t.Errorf("problem status %d", got)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
	if resp, _ := send(t, client, http.MethodGet, p.base+"/healthz", "", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz afterwards: %d", resp.StatusCode)
	}
}
