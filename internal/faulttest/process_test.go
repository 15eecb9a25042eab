//go:build linux

package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/todod/todod/internal/auth"
)

// secret signs the tokens of every todod the tests start.
const secret = "faulttest-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// proc is a running todod process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	logs   *lockedBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // the result of Wait, once exited is closed
}

// lockedBuffer collects the process's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTodod runs the todod binary with env (on top of a base configuration:
// JSON logs, a random port on 127.0.0.1, a shared secret, no rate limit) in
// dir, and waits until it logs that it is ready.
func startTodod(t *testing.T, dir string, env map[string]string) *proc {
	t.Helper()
	vars := map[string]string{
		"ADDR":               "127.0.0.1:0",
		"LOG_FORMAT":         "json",
		"BETTER_AUTH_SECRET": secret,
		"RATE_LIMIT":         "0",
		"SHUTDOWN_TIMEOUT":   "10s",
		"CORS_ORIGINS":       "http://localhost:3000",
	}
	for k, v := range env {
		vars[k] = v
	}
	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	p := &proc{t: t, cmd: cmd, logs: &lockedBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.logs.Write(append(line, '\n'))
			var rec struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "ready" {
				select {
				case ready <- rec.URL:
				default:
				}
			}
		}
	}()
	go func() {
		// Wait closes the pipe, so the copy must finish reading first.
		<-copied
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("todod log:\n%s", tail(p.logs.String(), 60))
		}
	})
	select {
	case p.base = <-ready:
	case <-p.exited:
		t.Fatalf("todod exited before it was ready: %v\n%s", p.err, p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("todod not ready within 60 s:\n%s", p.logs.String())
	}
	return p
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *proc) kill9() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatal("todod survived SIGKILL for 10 s")
	}
}

// wait waits at most d for the process to exit and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// errorLines returns the log lines at level ERROR: a 500 leaves one.
func (p *proc) errorLines() []string {
	var out []string
	for _, line := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return out
}

// token returns a bearer token for user.
func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(secret), user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newClient returns an HTTP client whose idle connections are closed when
// the test ends (goleak would count their goroutines).
func newClient(t *testing.T, timeout time.Duration) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

// waitReady polls /readyz until it answers 200 and returns when it did.
func waitReady(t *testing.T, c *http.Client, base string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within %v (last: %v)", within, statusOrErr(resp, err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOrErr(resp *http.Response, err error) any {
	if err != nil {
		return err
	}
	return resp.Status
}
