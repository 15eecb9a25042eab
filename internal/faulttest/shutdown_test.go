//go:build linux

package faulttest

import (
	"context"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM while 50 requests are in flight (each
// list waits on a locked table): every one of them must still be answered
// 200, /readyz must answer 503 at once on a connection the probe already
// had open, and the process must exit cleanly within SHUTDOWN_DELAY +
// SHUTDOWN_TIMEOUT.
func TestGracefulShutdown(t *testing.T) {
	const inFlight = 50
	const delay, drain = time.Second, 10 * time.Second
	c := newCluster(t)
	dsn := c.createDB("drain", "statement_timeout=20000", "pool_max_conns=60")
	p := startTodod(t, t.TempDir(), map[string]string{"DATABASE_URL": dsn,
		"SHUTDOWN_DELAY": delay.String(), "SHUTDOWN_TIMEOUT": drain.String()})
	client := newClient(t, 30*time.Second)
	tok := token(t, "drain-user")
	mustStatus(t, client, http.MethodPost, p.base+"/api/tasks", tok, `{"title":"listed"}`, http.StatusCreated)
	admin := c.connect("postgres")
	defer admin.Close(context.Background())

	// A connection that is open and idle when the signal comes, as a load
	// balancer's probe connection would be.
	probe := newClient(t, 5*time.Second)
	if got := readyStatus(t, probe, p.base); got != http.StatusOK {
		t.Fatalf("/readyz before the signal: %d", got)
	}

	release := lockTasks(t, c, "drain")
	statuses := make([]int, inFlight)
	errs := make([]error, inFlight)
	var wg sync.WaitGroup
	for i := range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, p.base+"/api/tasks", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	waitBlocked(t, admin, "drain", inFlight, 10*time.Second)

	signalled := time.Now()
	p.signal(syscall.SIGTERM)
	unready, unreadyAfter, readyErr := probeUnready(probe, p.base, 500*time.Millisecond)
	// The requests are still held when the delay ends and the drain starts.
	time.Sleep(delay + 300*time.Millisecond)
	release()
	wg.Wait()
	exited := p.wait(delay + drain + 2*time.Second)
	took := time.Since(signalled)

	ok := 0
	for i := range inFlight {
		switch {
		case errs[i] != nil:
			t.Errorf("request %d in flight at SIGTERM: %v", i, errs[i])
		case statuses[i] != http.StatusOK:
			t.Errorf("request %d in flight at SIGTERM: %d, want 200", i, statuses[i])
		default:
			ok++
		}
	}
	switch {
	case readyErr != nil:
		t.Errorf("/readyz on the probe's open connection after SIGTERM: %v, want 503", readyErr)
	case unready != http.StatusServiceUnavailable:
		t.Errorf("/readyz after SIGTERM: %d for 500 ms, want 503 at once", unready)
	default:
		t.Logf("/readyz answered 503 %v after SIGTERM", unreadyAfter.Round(time.Millisecond))
	}
	if !exited {
		t.Fatalf("todod still running %v after SIGTERM, delay %v + drain timeout %v", took, delay, drain)
	}
	if p.err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", p.err)
	}
	t.Logf("%d/%d requests in flight at SIGTERM answered 200; exited %v after the signal", ok, inFlight, took.Round(time.Millisecond))
}

// probeUnready asks /readyz on the probe client's open connection until it
// answers something else than 200 (the signal takes a moment to arrive),
// for at most within. It returns that status and when it came.
func probeUnready(client *http.Client, base string, within time.Duration) (int, time.Duration, error) {
	start := time.Now()
	for {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return 0, time.Since(start), err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || time.Since(start) > within {
			return resp.StatusCode, time.Since(start), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShutdownDrainTimeout sends SIGTERM while requests hang longer than
// the drain timeout: the process must still exit once it has passed.
func TestShutdownDrainTimeout(t *testing.T) {
	const drain = time.Second
	c := newCluster(t)
	dsn := c.createDB("hang", "statement_timeout=30000")
	p := startTodod(t, t.TempDir(), map[string]string{"DATABASE_URL": dsn,
		"SHUTDOWN_DELAY": "0s", "SHUTDOWN_TIMEOUT": drain.String()})
	client := newClient(t, 30*time.Second)
	tok := token(t, "hang-user")
	mustStatus(t, client, http.MethodPost, p.base+"/api/tasks", tok, `{"title":"listed"}`, http.StatusCreated)
	admin := c.connect("postgres")
	defer admin.Close(context.Background())
	lockTasks(t, c, "hang")

	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, p.base+"/api/tasks", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitBlocked(t, admin, "hang", 1, 5*time.Second)
	signalled := time.Now()
	p.signal(syscall.SIGTERM)
	if !p.wait(drain + 3*time.Second) {
		t.Fatalf("todod still running %v after SIGTERM with a drain timeout of %v", time.Since(signalled), drain)
	}
	took := time.Since(signalled)
	if took < drain {
		t.Errorf("exited %v after SIGTERM, before the drain timeout of %v, with a request in flight", took, drain)
	}
	if err := <-done; err == nil {
		t.Error("the hanging request got an answer after the drain timeout")
	}
	t.Logf("exited %v after SIGTERM (drain timeout %v) with a request still hanging", took.Round(time.Millisecond), drain)
}
