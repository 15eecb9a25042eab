package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// devtools drives a headless Chromium over the Chrome DevTools Protocol on
// the pipe that --remote-debugging-pipe opens (the browser reads commands
// from its fd 3 and writes replies to its fd 4, each message ending in NUL),
// so a test can click through a page without a websocket client.
type devtools struct {
	t       *testing.T
	w       io.Writer
	mu      sync.Mutex
	nextID  int
	pending map[int]chan devtoolsReply
	session string
}

type devtoolsReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startDevtools starts Chromium on about:blank and attaches to its page.
func startDevtools(t *testing.T, chromium string) *devtools {
	t.Helper()
	dir := t.TempDir()
	toBrowser, browserIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	browserOut, fromBrowser, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, fromBrowser} // fds 3 and 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	toBrowser.Close()
	fromBrowser.Close()
	t.Cleanup(func() {
		cancel()
		browserIn.Close()
		_ = cmd.Wait()
		browserOut.Close()
	})

	d := &devtools{t: t, w: browserIn, pending: map[int]chan devtoolsReply{}}
	go d.read(browserOut)

	var target struct {
		TargetID string `json:"targetId"`
	}
	d.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	d.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	d.session = attached.SessionID
	return d
}

// read hands each reply to the call waiting for it; events are ignored.
func (d *devtools) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			d.mu.Lock()
			for id, ch := range d.pending {
				close(ch)
				delete(d.pending, id)
			}
			d.mu.Unlock()
			return
		}
		var m struct {
			ID int `json:"id"`
			devtoolsReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		d.mu.Lock()
		ch := d.pending[m.ID]
		delete(d.pending, m.ID)
		d.mu.Unlock()
		if ch != nil {
			ch <- m.devtoolsReply
		}
	}
}

// call sends one command (to the page's session unless session is "") and
// decodes its result into out.
func (d *devtools) call(session, method string, params any, out any) {
	d.t.Helper()
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	ch := make(chan devtoolsReply, 1)
	d.pending[id] = ch
	d.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.w.Write(append(b, 0)); err != nil {
		d.t.Fatalf("%s: %v", method, err)
	}
	select {
	case reply, ok := <-ch:
		if !ok {
			d.t.Fatalf("%s: chromium closed the pipe", method)
		}
		if reply.Error != nil {
			d.t.Fatalf("%s: %s", method, reply.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(reply.Result, out); err != nil {
				d.t.Fatalf("%s: %v in %s", method, err, reply.Result)
			}
		}
	case <-time.After(30 * time.Second):
		d.t.Fatalf("%s: no answer from chromium in 30 s", method)
	}
}

// eval runs a JavaScript expression in the page and returns its value as a
// string.
func (d *devtools) eval(expr string) string {
	d.t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	d.call(d.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &res)
	if e := res.ExceptionDetails; e != nil {
		d.t.Fatalf("%s: %s %s", expr, e.Text, e.Exception.Description)
	}
	return fmt.Sprint(res.Result.Value)
}

// waitFor polls a JavaScript condition until it returns true.
func (d *devtools) waitFor(what, cond string) {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for d.eval("!!("+cond+")") != "true" {
		if time.Now().After(deadline) {
			d.t.Logf("the page shows:\n%s", d.eval(`document.body.innerText.slice(0, 8000)`))
			d.t.Fatalf("waited 20 s for %s (%s)", what, cond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click clicks the first element matching a CSS selector, as a user would.
func (d *devtools) click(what, selector string) {
	d.t.Helper()
	sel, _ := json.Marshal(selector)
	d.waitFor(what, fmt.Sprintf("document.querySelector(%s)", sel))
	d.eval(fmt.Sprintf("document.querySelector(%s).click()", sel))
}

// TestDocsTryItOutInBrowser uses /docs as a developer does: open list-tasks, "Try it
// out", "Execute" without a token (401), then "Authorize" with a bearer token
// in Swagger UI's dialog and "Execute" again (200 with the user's task). The
// page is the real one, with its Content-Security-Policy, so a policy that
// blocked the call would fail here too.
func TestDocsTryItOutInBrowser(t *testing.T) {
	chromium := requireChromium(t)
	env := newAPIEnv(t)
	token := env.token("alice")
	seed := httptest.NewRequest(http.MethodPost, "/api/tasks", strings.NewReader(`{"title":"Tried from the docs"}`))
	seed.Header.Set("Authorization", "Bearer "+token)
	seed.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	env.srv.ServeHTTP(rec, seed)
	if rec.Code != http.StatusCreated {
		t.Fatalf("seed: %d %s", rec.Code, rec.Body)
	}

	var mu sync.Mutex
	var calls []string // "<path> <Authorization>" of each /api request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			mu.Lock()
			calls = append(calls, r.URL.Path+" "+r.Header.Get("Authorization"))
			mu.Unlock()
		}
		env.srv.ServeHTTP(w, r)
	}))
	defer srv.Close()

	d := startDevtools(t, chromium)
	d.call(d.session, "Page.navigate", map[string]any{"url": srv.URL + "/docs/"}, nil)

	const op = "#operations-tasks-list-tasks"
	status := op + " .live-responses-table tr.response .response-col_status"
	d.click("the list-tasks operation", op+" .opblock-summary-control")
	d.click("Try it out", op+" .try-out__btn")
	d.click("Execute", op+" .execute")
	d.waitFor("the 401 without a token", fmt.Sprintf("document.querySelector(%q)?.textContent.trim() === '401'", status))

	d.click("Authorize", ".auth-wrapper .authorize")
	d.waitFor("the token field", `document.querySelector(".auth-container input")`)
	tokenJSON, _ := json.Marshal(token)
	// React tracks the field's value itself: set it as typing would.
	d.eval(fmt.Sprintf(`(() => {
		const input = document.querySelector(".auth-container input");
		Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, %s);
		input.dispatchEvent(new Event("input", { bubbles: true }));
	})()`, tokenJSON))
	d.click("the dialog's Authorize", ".auth-btn-wrapper .authorize")
	d.click("Close", ".auth-btn-wrapper .btn-done")

	d.click("Clear", op+" .btn-clear")
	d.click("Execute again", op+" .execute")
	d.waitFor("the 200 with a token", fmt.Sprintf("document.querySelector(%q)?.textContent.trim() === '200'", status))
	body := d.eval(fmt.Sprintf("document.querySelector(%q).textContent", op+" .live-responses-table tr.response .response-col_description"))
	if !strings.Contains(body, "Tried from the docs") {
		t.Errorf("the response shown lacks the user's task:\n%s", body)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{"/api/tasks ", "/api/tasks Bearer " + token}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("API calls from the page (path, Authorization):\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}
