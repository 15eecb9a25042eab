package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShutdownDelayKeepsServingWhileUnready: after SIGTERM (the context is
// cancelled), /readyz answers 503 at once on new connections while the API
// keeps answering for SHUTDOWN_DELAY, so a load balancer can take the replica
// out before its listener closes.
func TestShutdownDelayKeepsServingWhileUnready(t *testing.T) {
	secret := "delay-secret-0123456789abcdef0123456789"
	vars := map[string]string{
		"DATABASE_URL":       "sqlite:///" + filepath.Join(t.TempDir(), "todod.db"),
		"BETTER_AUTH_SECRET": secret,
		"SHUTDOWN_DELAY":     "1500ms",
	}
	s := startServer(t, vars)
	token := mintFor(t, vars, "u1")

	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- s.stop() }()

	deadline := time.Now().Add(time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			t.Fatalf("the listener must stay open during SHUTDOWN_DELAY: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 from /readyz without Retry-After")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d a second after shutdown began", resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("readiness turned 503 only after %v", took)
	}
	call(t, "GET", s.base+"/api/tasks", token, "", 200, nil)
	call(t, "GET", s.base+"/healthz", "", "", 200, nil)

	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 1500*time.Millisecond || took > 10*time.Second {
		t.Errorf("run returned %v after cancellation; want the 1.5 s delay and a prompt drain", took)
	}
	if _, err := http.Get(s.base + "/healthz"); err == nil {
		t.Error("the listener must be closed once run has returned")
	}
}

// mintFor runs `todod token` with vars and returns the token.
func mintFor(t *testing.T, vars map[string]string, sub string) string {
	t.Helper()
	var out syncBuffer
	if err := run(t.Context(), []string{"token", "--sub", sub}, env(vars), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

// TestShutdownEndsEventStreams: an open /api/events stream does not hold the
// drain until SHUTDOWN_TIMEOUT; it is ended when the drain begins.
func TestShutdownEndsEventStreams(t *testing.T) {
	vars := map[string]string{
		"DATABASE_URL":       "sqlite:///" + filepath.Join(t.TempDir(), "todod.db"),
		"BETTER_AUTH_SECRET": "stream-secret-0123456789abcdef0123456789",
		"SHUTDOWN_DELAY":     "0s",
		"SHUTDOWN_TIMEOUT":   "15s",
	}
	s := startServer(t, vars)
	req, _ := http.NewRequest("GET", s.base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+mintFor(t, vars, "u1"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ended := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); close(ended) }()

	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %v with a stream open; streams must end when the drain begins", took)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
}
