package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todod/todod/internal/todo"
)

// changesChannel is the NOTIFY channel of committed writes; the payload is
// the user id.
const changesChannel = "todod_changes"

// Timing of the LISTEN connection.
const (
	listenMinBackoff   = 100 * time.Millisecond
	listenMaxBackoff   = 10 * time.Second
	listenConnTimeout  = 10 * time.Second
	listenIdleCheck    = 30 * time.Second // a silent connection is pinged this often
	listenPingTimeout  = 5 * time.Second
	listenAppName      = "todod-listen"
	listenCloseTimeout = time.Second
)

// listener holds one connection per Store, outside the pool, that LISTENs
// on changesChannel and signals the hub's subscribers of each notified user.
// It starts with the first Subscribe, so a store that serves no event
// stream opens no extra connection, and stops on Close.
type listener struct {
	cfg *pgx.ConnConfig
	log *slog.Logger
	hub *todo.ChangeHub

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newListener(cfg *pgx.ConnConfig, log *slog.Logger, h *todo.ChangeHub) *listener {
	cfg = cfg.Copy()
	// The listening session shows as such in pg_stat_activity.
	cfg.RuntimeParams["application_name"] = listenAppName
	return &listener{cfg: cfg, log: log, hub: h}
}

// start runs the listening loop unless it runs already or was stopped.
func (l *listener) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go l.run(ctx)
}

// stop ends the loop and waits for it to close its connection.
func (l *listener) stop() {
	l.mu.Lock()
	l.stopped = true
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// run keeps a LISTEN session open until ctx ends, reconnecting after a
// failure with a growing, jittered pause.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := listenMinBackoff
	for {
		listened, err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = listenMinBackoff
		}
		l.log.WarnContext(ctx, "postgres: change notifications interrupted; reconnecting",
			"err", err, "retry_in", backoff)
		if !sleep(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listen connects, LISTENs and relays notifications until the connection
// fails or ctx ends. listened reports whether LISTEN took effect.
func (l *listener) listen(ctx context.Context) (listened bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, listenConnTimeout)
	conn, err := pgx.ConnectConfig(cctx, l.cfg)
	cancel()
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), listenCloseTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return false, err
	}
	// Whatever was committed while nobody listened went unnoticed: every
	// subscriber reads its changes again.
	l.hub.NotifyAll()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdleCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.hub.Notify(n.Payload)
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return true, err
		}
		// A quiet connection may be a dead one that TCP has not noticed yet.
		pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, err
		}
	}
}

// Timing of the notifier.
const (
	notifyTimeout  = 5 * time.Second
	notifyAttempts = 3
	notifyBatch    = 1000 // users per NOTIFY statement
)

// notifier sends the NOTIFY of committed writes to the other processes, off
// the write path: a write hands its user id over after its commit, and one
// goroutine sends the pending ones, each user once, in one statement.
//
// NOTIFY inside the write's own transaction would cost every write of the
// database its concurrency: PostgreSQL serialises the commits of notifying
// transactions on one lock held through the commit's WAL flush, which cut
// parallel creates to a third in BenchmarkWrites. A notification only wakes
// subscribers, so it needs no durability: the notifying statement commits
// with synchronous_commit off and holds that lock for no flush. The price is
// that a process which dies between a commit and its NOTIFY leaves the other
// processes' subscribers unwoken until the user's next write.
type notifier struct {
	s    *Store
	wake chan struct{}

	mu      sync.Mutex
	pending map[string]struct{}
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newNotifier(s *Store) *notifier {
	return &notifier{s: s, wake: make(chan struct{}, 1), pending: make(map[string]struct{})}
}

// add queues a NOTIFY for userID, starting the goroutine on first use.
func (n *notifier) add(userID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	n.pending[userID] = struct{}{}
	if !n.started {
		n.started = true
		ctx, cancel := context.WithCancel(context.Background())
		n.cancel, n.done = cancel, make(chan struct{})
		go n.run(ctx)
	}
	signal(n.wake)
}

// take empties the pending set and returns up to notifyBatch of its users.
func (n *notifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	users := make([]string, 0, min(len(n.pending), notifyBatch))
	for u := range n.pending {
		if len(users) == notifyBatch {
			signal(n.wake)
			break
		}
		users = append(users, u)
		delete(n.pending, u)
	}
	return users
}

// run sends the pending notifications until ctx ends, then sends what is
// left once more, with a fresh deadline.
func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	for {
		select {
		case <-n.wake:
			users := n.take()
			err := n.send(ctx, users, notifyAttempts)
			switch {
			case err != nil && ctx.Err() != nil:
				// Stopping: the final send below takes these too.
				n.requeue(users)
			case err != nil:
				n.s.log.WarnContext(ctx, "postgres: change notifications not sent; other processes' event streams wait for the next change",
					"users", len(users), "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
			defer cancel()
			if users := n.take(); n.send(fctx, users, 1) != nil {
				n.s.log.WarnContext(fctx, "postgres: change notifications not sent before closing",
					"users", len(users))
			}
			return
		}
	}
}

// requeue puts users back among the pending ones.
func (n *notifier) requeue(users []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, u := range users {
		n.pending[u] = struct{}{}
	}
}

// send notifies the users, in up to attempts tries.
func (n *notifier) send(ctx context.Context, users []string, attempts int) error {
	if len(users) == 0 {
		return nil
	}
	var err error
	for attempt := range attempts {
		if attempt > 0 && !sleep(ctx, jitter(listenMinBackoff<<attempt)) {
			break
		}
		sctx, cancel := context.WithTimeout(ctx, notifyTimeout)
		err = n.s.run(sctx, "notify", func(conn *pgxpool.Conn) error {
			_, err := conn.Exec(sctx, `
				SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, u)
				FROM unnest($2::text[]) AS u`,
				changesChannel, users)
			return err
		})
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// stop sends what is pending and ends the goroutine.
func (n *notifier) stop() {
	n.mu.Lock()
	n.stopped = true
	cancel, done := n.cancel, n.done
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// signal wakes the notifier: a send on ch unless one is already waiting there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// changed tells the subscribers of userID, here and in the other processes,
// that a write to the user's tasks committed.
func (s *Store) changed(userID string) {
	s.hub.Notify(userID)
	s.notifier.add(userID)
}

// Subscribe returns a channel signalled after each committed write to
// userID's tasks by any process on the database (see todo.ChangeNotifier).
// The first call opens the Store's LISTEN connection.
func (s *Store) Subscribe(userID string) (<-chan struct{}, func()) {
	s.listener.start()
	return s.hub.Subscribe(userID)
}
