//go:build linux

package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A journaled client drives creates, updates and deletes from a few
// goroutines, each on its own user and its own tasks, and records what the
// server acknowledged. Every write carries a counter in the title
// ("w<worker>-k<key>-v<n>"), increasing with each attempt on a task, so the
// state found afterwards can be compared with the acknowledged one even
// when unacknowledged writes were applied: a task must hold at least the
// last acknowledged counter and at most the last attempted one.

// outcome counts the answers of a load run.
type outcome struct {
	acked         int            // 2xx on a write
	statuses      map[int]int    // every HTTP status seen
	transport     int            // requests that got no HTTP answer
	noRetryAfter  int            // 503s without Retry-After
	unexpected    []string       // anything else: a 500, a 404 for an acknowledged task, …
	firstAckAfter time.Time      // the first acknowledged write after markBack
	perWorker     []*workerState // for the checks
}

// taskRecord is what the client knows of one task.
type taskRecord struct {
	key         int
	id          int64
	ackSeq      int  // last acknowledged counter: 1 is the create
	maxSeq      int  // last attempted counter
	deleted     bool // a delete was acknowledged (or a retried delete found it gone)
	deleteTried bool // a delete was sent without an acknowledgement
}

// workerState is one worker's journal; only its goroutine touches it until
// the load stops.
type workerState struct {
	n       int
	user    string
	token   string
	tasks   []*taskRecord // acknowledged creates, in order
	orphans map[int]bool  // keys of creates sent without acknowledgement
	nextKey int
}

// journal is the shared record of a load run.
type journal struct {
	mu sync.Mutex
	o  outcome
	// back is when the fault ended (the database came back); zero until then.
	back time.Time
}

func newJournal() *journal {
	return &journal{o: outcome{statuses: map[int]int{}}}
}

// markBack records that the fault is over, for the recovery measurement.
func (j *journal) markBack(at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.back = at
}

func (j *journal) record(status int, resp *http.Response, body []byte, err error, ack bool, what string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		j.o.transport++
		return
	}
	j.o.statuses[status]++
	if status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		j.o.noRetryAfter++
	}
	if ack {
		now := time.Now()
		j.o.acked++
		if !j.back.IsZero() && j.o.firstAckAfter.IsZero() && now.After(j.back) {
			j.o.firstAckAfter = now
		}
	}
	if what != "" {
		j.o.unexpected = append(j.o.unexpected, fmt.Sprintf("%s: %d %s", what, status, truncate(body, 200)))
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// load is a running journaled client.
type load struct {
	client  *http.Client
	base    func() string
	j       *journal
	workers []*workerState
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// startLoad starts n workers against base() (a func, so the server may move
// to another port after a restart). Each does at most maxOps requests.
func startLoad(t *testing.T, client *http.Client, base func() string, n, maxOps int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{client: client, base: base, j: newJournal(), cancel: cancel}
	for i := range n {
		user := fmt.Sprintf("fault-%s-w%d", strings.ReplaceAll(t.Name(), "/", "-"), i)
		w := &workerState{n: i, user: user, token: token(t, user), orphans: map[int]bool{}}
		l.workers = append(l.workers, w)
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			l.run(ctx, w, maxOps, rand.New(rand.NewPCG(uint64(i), 7)))
		}()
	}
	return l
}

// warmUp lets the load run for loadBefore and then until minAckedBefore
// writes are acknowledged (at most warmUpMax), so that a fault meets a load
// with history however slow the machine is.
func (l *load) warmUp(t *testing.T) {
	t.Helper()
	time.Sleep(loadBefore)
	deadline := time.Now().Add(warmUpMax)
	for {
		l.j.mu.Lock()
		acked := l.j.o.acked
		l.j.mu.Unlock()
		if acked >= minAckedBefore {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged %v into the load, want %d before the fault", acked, loadBefore+warmUpMax, minAckedBefore)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the load and returns what it saw.
func (l *load) stop() outcome {
	l.cancel()
	l.done.Wait()
	l.j.mu.Lock()
	defer l.j.mu.Unlock()
	o := l.j.o
	o.perWorker = l.workers
	return o
}

func (l *load) run(ctx context.Context, w *workerState, maxOps int, rng *rand.Rand) {
	for op := 0; op < maxOps && ctx.Err() == nil; op++ {
		live := w.live()
		switch pending := w.pendingDelete(); {
		case pending != nil:
			l.delete(ctx, w, pending)
		case len(live) < 3 || rng.IntN(4) == 0:
			l.create(ctx, w)
		case rng.IntN(3) == 0:
			l.delete(ctx, w, live[rng.IntN(len(live))])
		default:
			l.update(ctx, w, live[rng.IntN(len(live))])
		}
	}
}

// live returns the tasks that exist and may be written.
func (w *workerState) live() []*taskRecord {
	var out []*taskRecord
	for _, r := range w.tasks {
		if !r.deleted && !r.deleteTried {
			out = append(out, r)
		}
	}
	return out
}

// pendingDelete returns a task whose delete is unacknowledged: it is retried
// before anything else, as a client would.
func (w *workerState) pendingDelete() *taskRecord {
	for _, r := range w.tasks {
		if r.deleteTried && !r.deleted {
			return r
		}
	}
	return nil
}

func title(w *workerState, key, seq int) string {
	return fmt.Sprintf("w%d-k%d-v%d", w.n, key, seq)
}

// parseTitle returns the key and counter of a title written by worker n.
func parseTitle(s string) (worker, key, seq int, ok bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "w") || !strings.HasPrefix(parts[1], "k") || !strings.HasPrefix(parts[2], "v") {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	worker, err1 = strconv.Atoi(parts[0][1:])
	key, err2 = strconv.Atoi(parts[1][1:])
	seq, err3 = strconv.Atoi(parts[2][1:])
	return worker, key, seq, err1 == nil && err2 == nil && err3 == nil
}

// do sends one request; a nil response means no HTTP answer.
func (l *load) do(ctx context.Context, w *workerState, method, path string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base()+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		// As a real client would, pause before the next request rather
		// than spin on a server that is not there.
		time.Sleep(5 * time.Millisecond)
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, b, nil
}

// stopped reports whether err is the load being stopped, which is neither
// an answer nor a failure.
func stopped(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled)
}

type taskJSON struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
}

func (l *load) create(ctx context.Context, w *workerState) {
	key := w.nextKey
	w.nextKey++
	resp, body, err := l.do(ctx, w, http.MethodPost, "/api/tasks", map[string]any{"title": title(w, key, 1)})
	if stopped(ctx, err) {
		w.orphans[key] = true
		return
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	switch {
	case err == nil && status == http.StatusCreated:
		var tj taskJSON
		if json.Unmarshal(body, &tj) != nil || tj.ID <= 0 || tj.Title != title(w, key, 1) {
			l.j.record(status, resp, body, nil, false, "create answered 201 with a body that is not the task")
			return
		}
		w.tasks = append(w.tasks, &taskRecord{key: key, id: tj.ID, ackSeq: 1, maxSeq: 1})
		l.j.record(status, resp, body, nil, true, "")
	case err == nil && status == http.StatusServiceUnavailable, err != nil:
		w.orphans[key] = true
		l.j.record(status, resp, body, err, false, "")
	default:
		w.orphans[key] = true
		l.j.record(status, resp, body, nil, false, "create")
	}
}

func (l *load) update(ctx context.Context, w *workerState, r *taskRecord) {
	seq := r.maxSeq + 1
	r.maxSeq = seq
	resp, body, err := l.do(ctx, w, http.MethodPatch, "/api/tasks/"+strconv.FormatInt(r.id, 10),
		map[string]any{"title": title(w, r.key, seq)})
	if stopped(ctx, err) {
		return
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	switch {
	case err == nil && status == http.StatusOK:
		var tj taskJSON
		if json.Unmarshal(body, &tj) != nil || tj.Title != title(w, r.key, seq) {
			l.j.record(status, resp, body, nil, false, "update answered 200 with another state")
			return
		}
		r.ackSeq = seq
		l.j.record(status, resp, body, nil, true, "")
	case err == nil && status == http.StatusServiceUnavailable, err != nil:
		l.j.record(status, resp, body, err, false, "")
	default:
		l.j.record(status, resp, body, nil, false, fmt.Sprintf("update of task %d (acknowledged v%d)", r.id, r.ackSeq))
	}
}

func (l *load) delete(ctx context.Context, w *workerState, r *taskRecord) {
	retry := r.deleteTried
	resp, body, err := l.do(ctx, w, http.MethodDelete, "/api/tasks/"+strconv.FormatInt(r.id, 10), nil)
	if stopped(ctx, err) {
		r.deleteTried = true
		return
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	switch {
	case err == nil && status == http.StatusOK:
		r.deleted = true
		l.j.record(status, resp, body, nil, true, "")
	case err == nil && status == http.StatusNotFound && retry:
		// The unacknowledged delete had been applied.
		r.deleted = true
		l.j.record(status, resp, body, nil, false, "")
	case err == nil && status == http.StatusServiceUnavailable, err != nil:
		r.deleteTried = true
		l.j.record(status, resp, body, err, false, "")
	default:
		l.j.record(status, resp, body, nil, false, fmt.Sprintf("delete of task %d", r.id))
	}
}

// verify lists every worker's tasks from the server and checks the journal:
// every acknowledged create is there with at least its acknowledged title
// counter (and at most the attempted one), every acknowledged delete stays
// gone, and nothing is there that the client never sent. It returns the
// number of tasks checked.
func verify(t *testing.T, client *http.Client, base string, o outcome) int {
	t.Helper()
	checked := 0
	for _, w := range o.perWorker {
		server := listAll(t, client, base, w.token)
		known := map[int64]bool{}
		for _, r := range w.tasks {
			known[r.id] = true
			title, present := server[r.id]
			switch {
			case r.deleted && present:
				t.Errorf("user %s: task %d came back after its delete was acknowledged (title %q)", w.user, r.id, title)
			case r.deleted:
			case !present && r.deleteTried:
				// An unacknowledged delete that was applied.
			case !present:
				t.Errorf("user %s: task %d (acknowledged v%d) is lost", w.user, r.id, r.ackSeq)
			default:
				worker, key, seq, ok := parseTitle(title)
				if !ok || worker != w.n || key != r.key {
					t.Errorf("user %s: task %d holds %q, want key w%d-k%d", w.user, r.id, title, w.n, r.key)
				} else if seq < r.ackSeq || seq > r.maxSeq {
					t.Errorf("user %s: task %d holds v%d; acknowledged v%d, attempted up to v%d", w.user, r.id, seq, r.ackSeq, r.maxSeq)
				}
			}
			checked++
		}
		for id, title := range server {
			if known[id] {
				continue
			}
			worker, key, _, ok := parseTitle(title)
			if !ok || worker != w.n || !w.orphans[key] {
				t.Errorf("user %s: task %d %q was never sent by this client", w.user, id, title)
			}
		}
	}
	return checked
}

// listAll returns every task of the token's user: id → title.
func listAll(t *testing.T, client *http.Client, base, tok string) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	next := base + "/api/tasks?limit=1000&sort=created&order=asc"
	for pages := 0; next != ""; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list: %d %v %s", resp.StatusCode, err, truncate(body, 300))
		}
		var page []taskJSON
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("list body: %v", err)
		}
		for _, tk := range page {
			if _, dup := out[tk.ID]; dup {
				t.Errorf("task %d listed twice", tk.ID)
			}
			out[tk.ID] = tk.Title
		}
		next = nextLink(resp.Header.Get("Link"), base)
	}
	return out
}

// nextLink returns the absolute URL of rel="next" in a Link header, or "".
func nextLink(header, base string) string {
	for _, part := range strings.Split(header, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(params, `rel="next"`) {
			continue
		}
		target = strings.Trim(strings.TrimSpace(target), "<>")
		u, err := url.Parse(target)
		if err != nil {
			return ""
		}
		b, _ := url.Parse(base)
		return b.ResolveReference(u).String()
	}
	return ""
}

// summary describes an outcome for the test log and RELIABILITY.md.
func (o outcome) summary() string {
	codes := make([]int, 0, len(o.statuses))
	for c := range o.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", o.statuses[c], c))
	}
	return fmt.Sprintf("acknowledged writes %d; statuses %s; no HTTP answer %d", o.acked, strings.Join(parts, " "), o.transport)
}

// checkAnswers fails the test on any answer outside 2xx and 503 with
// Retry-After (a retried delete's 404 aside), and on requests without an
// HTTP answer unless allowed.
func checkAnswers(t *testing.T, o outcome, allowTransport bool) {
	t.Helper()
	for _, u := range o.unexpected {
		t.Errorf("unexpected answer: %s", u)
	}
	if o.noRetryAfter > 0 {
		t.Errorf("%d answers of 503 without Retry-After", o.noRetryAfter)
	}
	if n := o.statuses[http.StatusInternalServerError]; n > 0 {
		t.Errorf("%d answers of 500", n)
	}
	if o.transport > 0 && !allowTransport {
		t.Errorf("%d requests got no HTTP answer while todod was up", o.transport)
	}
}
