package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/todod/todod/internal/todo"
)

// GET /api/events (stream-events) is a Server-Sent Events stream of the
// user's task changes. Each event's id is the change cursor of that change,
// the same cursor list-changes takes as since, so a client that reconnects
// with Last-Event-ID (EventSource does it by itself) resumes exactly where it
// left off. The stream is fed by the changes feed, woken by the store's
// change notifier (PostgreSQL LISTEN/NOTIFY across replicas, in-process on
// SQLite): a notification only says "this user has changes", and the stream
// reads them from its position, so a lost or merged notification can delay
// an event but never lose or reorder one.

// Defaults of the event streams.
const (
	// DefaultEventHeartbeat is how often an idle stream gets a comment line:
	// well under the idle timeouts of common proxies and load balancers (60 s).
	DefaultEventHeartbeat = 15 * time.Second
	// DefaultMaxStreamsPerUser bounds the streams one user holds open: enough
	// for several tabs on several devices.
	DefaultMaxStreamsPerUser = 10
)

// streamWriteTimeout bounds one write to a stream. The server's WriteTimeout
// (which covers a whole response) is replaced per write, so a stream can live
// for hours while a client that stops reading still cannot hold its handler
// forever.
const streamWriteTimeout = 30 * time.Second

// streamRetryMillis is the reconnection delay the stream suggests to
// EventSource (the "retry:" field).
const streamRetryMillis = 2000

// retryAfterStreams is the Retry-After of a refused stream, in seconds.
const retryAfterStreams = "5"

var (
	errTooManyStreams = errors.New("too many event streams")
	errStreamsClosed  = errors.New("event streams closed")
)

// streamHub counts the open event streams of each user and ends them all on
// CloseStreams.
type streamHub struct {
	max int

	mu      sync.Mutex
	perUser map[string]int
	closing chan struct{} // closed by close
	closed  bool
}

func newStreamHub(max int) *streamHub {
	if max <= 0 {
		max = DefaultMaxStreamsPerUser
	}
	return &streamHub{max: max, perUser: make(map[string]int), closing: make(chan struct{})}
}

// acquire counts a new stream of user. Errors: errTooManyStreams,
// errStreamsClosed.
func (h *streamHub) acquire(user string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errStreamsClosed
	}
	if h.perUser[user] >= h.max {
		return nil, errTooManyStreams
	}
	h.perUser[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.perUser[user]--; h.perUser[user] <= 0 {
				delete(h.perUser, user)
			}
		})
	}, nil
}

// close ends every open stream and refuses new ones.
func (h *streamHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
}

// CloseStreams ends every open event stream and refuses new ones (503 with
// Retry-After, so clients reconnect elsewhere). Call it when shutting down,
// before or with http.Server.Shutdown, which would otherwise wait for streams
// that never end by themselves. It returns at once; each stream's handler
// returns within moments.
func (s *Server) CloseStreams() {
	s.streams.close()
}

// ---- stream-events ----

type streamEventsInput struct {
	LastEventID string `header:"Last-Event-ID" example:"AAAAAAAAAAeK3oPjT5n2VQm1xHc9aS8b" doc:"The id of the last event received, to resume after it with no gap: EventSource and fetch-event-source send it by themselves when they reconnect. Absent: the stream starts now, with no replay. A value that is not a cursor issued to this user is a 422, and one older than a deletion the server no longer keeps (30 days) is a 410, both before the stream starts. A cursor from list-changes works too."`
}

// taskEvent is the data of an event (schema "TaskEvent").
type taskEvent struct {
	Type string `json:"type" enum:"task.created,task.updated,task.deleted" example:"task.updated" doc:"The event type, also in the event: field. task.created: the task's first version; task.updated: any later change (a task created and changed before the stream saw it comes as task.updated: treat both as an upsert); task.deleted: the task is gone."`
	Task *task  `json:"task,omitempty" doc:"task.created and task.updated: the task as it is now."`
	ID   int64  `json:"id,omitempty" minimum:"1" example:"7" doc:"task.deleted: the id of the deleted task."`
}

// eventStream is one open stream.
type eventStream struct {
	s         *Server
	userID    string
	key       []byte
	pos       changePos     // the last change sent
	first     *todo.Changes // when resuming: the first page after pos, read before the stream started
	notify    <-chan struct{}
	closeOnce sync.Once
	cleanup   []func()

	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

func (s *Server) streamEvents(ctx context.Context, in *streamEventsInput) (*huma.StreamResponse, error) {
	sc := scopeFrom(ctx)
	key, err := s.cursorKey(ctx)
	if err != nil {
		return nil, s.errorFor(ctx, err)
	}
	st := &eventStream{s: s, userID: sc.userID, key: key}
	resume := in.LastEventID != ""
	if resume {
		if st.pos, err = decodeChangeCursor(key, sc.userID, in.LastEventID); err != nil {
			return nil, invalid(&huma.ErrorDetail{Location: "header.Last-Event-ID", Message: err.Error()})
		}
	}
	release, err := s.streams.acquire(sc.userID)
	switch {
	case errors.Is(err, errTooManyStreams):
		return nil, withHeaders(newProblem(http.StatusTooManyRequests,
			"this user already has "+strconv.Itoa(s.streams.max)+" event streams open; close one (one stream per tab is plenty) or retry later"),
			"Retry-After", retryAfterStreams)
	case err != nil:
		return nil, withHeaders(newProblem(http.StatusServiceUnavailable,
			"the server is shutting down; reconnect shortly"), "Retry-After", retryAfterStore)
	}
	st.cleanup = append(st.cleanup, release)
	// Subscribe before reading the position: a change that commits before
	// LatestChange reads is within the position, and one that commits after
	// it is signalled, so none can fall between the two.
	notify, unsubscribe := s.store.Subscribe(sc.userID)
	st.notify = notify
	st.cleanup = append(st.cleanup, unsubscribe)
	if resume {
		// The first page is read before the answer starts, so that a
		// Last-Event-ID older than a purged deletion is a 410 (and a
		// database that is down a 503), not a stream that ends at once.
		ch, err := s.store.Changes(ctx, sc.userID, st.pos.seq, st.pos.floor, todo.MaxChangesLimit)
		if err != nil {
			st.close()
			return nil, s.errorFor(ctx, err)
		}
		st.first = &ch
	} else if st.pos.seq, err = s.store.LatestChange(ctx, sc.userID); err != nil {
		st.close()
		return nil, s.errorFor(ctx, err)
	}
	return &huma.StreamResponse{Body: st.run}, nil
}

// close releases the stream's subscription and its slot.
func (st *eventStream) close() {
	st.closeOnce.Do(func() {
		for i := len(st.cleanup) - 1; i >= 0; i-- {
			st.cleanup[i]()
		}
	})
}

// run writes the stream until the client leaves, CloseStreams is called, or
// the store fails (the client then reconnects with Last-Event-ID).
func (st *eventStream) run(hctx huma.Context) {
	defer st.close()
	r, w := unwrapContext(hctx)
	ctx := r.Context()
	st.w, st.rc = w, http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// nginx buffers proxied responses unless told otherwise; events must not wait.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// An event with an id and no data dispatches nothing but sets the
	// client's last event id: a client that drops before the first change
	// still resumes from here, not from "now" on reconnection.
	st.buf.WriteString("retry: " + strconv.Itoa(streamRetryMillis) + "\n")
	st.buf.WriteString("id: " + encodeChangeCursor(st.key, st.userID, st.pos) + "\n\n")
	if !st.flush() {
		return
	}
	if st.first != nil && !st.sendPage(*st.first) {
		return
	}
	if st.first != nil && st.first.HasMore && !st.sendChanges(ctx) {
		return
	}
	heartbeat := time.NewTicker(st.s.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.s.streams.closing:
			return
		case _, ok := <-st.notify:
			if !ok || !st.sendChanges(ctx) {
				return
			}
		case <-heartbeat.C:
			st.buf.WriteString(": ping\n\n")
			if !st.flush() {
				return
			}
		}
	}
}

// sendChanges writes every change after st.pos as events. It reports whether
// the stream can go on.
func (st *eventStream) sendChanges(ctx context.Context) bool {
	for {
		ch, err := st.s.store.Changes(ctx, st.userID, st.pos.seq, st.pos.floor, todo.MaxChangesLimit)
		if err != nil {
			if ctx.Err() == nil {
				st.s.log.LogAttrs(ctx, slog.LevelWarn, "event stream ended: reading changes failed",
					slog.String("request_id", infoFrom(ctx).ID), slog.String("err", err.Error()))
			}
			return false
		}
		if !st.sendPage(ch) {
			return false
		}
		if !ch.HasMore {
			return true
		}
	}
}

// sendPage writes the events of one page and moves the stream's position to
// its end. It reports whether the stream can go on.
func (st *eventStream) sendPage(ch todo.Changes) bool {
	if !st.writeChanges(ch) || !st.flush() {
		return false
	}
	if ch.Next >= st.pos.seq {
		st.pos = nextPos(ch)
	}
	return true
}

// writeChanges buffers the events of one page in sequence order: the page
// holds updated tasks and tombstones as two lists, each in order.
func (st *eventStream) writeChanges(ch todo.Changes) bool {
	ts, ds := ch.Tasks, ch.Deleted
	for len(ts) > 0 || len(ds) > 0 {
		var ev taskEvent
		var seq int64
		if len(ds) == 0 || (len(ts) > 0 && ts[0].Seq < ds[0].Seq) {
			t := taskFrom(ts[0])
			ev = taskEvent{Type: "task.updated", Task: &t}
			if ts[0].Version == 1 {
				ev.Type = "task.created"
			}
			seq = ts[0].Seq
			ts = ts[1:]
		} else {
			ev = taskEvent{Type: "task.deleted", ID: ds[0].ID}
			seq = ds[0].Seq
			ds = ds[1:]
		}
		if !st.writeEvent(changePos{seq: seq, floor: ch.Floor}, ev) {
			return false
		}
	}
	return true
}

// writeEvent buffers one event: its id (the change cursor), its type and its
// data on one line (JSON escapes every line break).
func (st *eventStream) writeEvent(pos changePos, ev taskEvent) bool {
	st.buf.WriteString("id: ")
	st.buf.WriteString(encodeChangeCursor(st.key, st.userID, pos))
	st.buf.WriteString("\nevent: ")
	st.buf.WriteString(ev.Type)
	st.buf.WriteString("\ndata: ")
	enc := json.NewEncoder(&st.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		// A task of strings, numbers and booleans always marshals.
		st.s.log.Error("event stream: marshal an event", "err", err.Error())
		return false
	}
	st.buf.WriteString("\n") // Encode ended the data line; this ends the event
	return true
}

// flush writes the buffered text and flushes it to the client, within
// streamWriteTimeout. It reports whether that worked.
func (st *eventStream) flush() bool {
	if st.buf.Len() == 0 {
		return true
	}
	// ErrNotSupported (a writer without a connection, in tests) leaves no
	// deadline to extend.
	_ = st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	_, err := st.w.Write(st.buf.Bytes())
	st.buf.Reset()
	if err != nil {
		return false
	}
	return st.rc.Flush() == nil
}
