package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// waitFor reports whether ch gets a signal within d.
func waitFor(ch <-chan struct{}, d time.Duration) bool {
	select {
	case _, ok := <-ch:
		return ok
	case <-time.After(d):
		return false
	}
}

// quiet reports whether ch stays without a signal for d.
func quiet(ch <-chan struct{}, d time.Duration) bool {
	return !waitFor(ch, d)
}

// listening subscribes to userID on s and waits for the signal every
// subscriber gets when the store's LISTEN connection comes up, so that later
// signals are all caused by writes.
func listening(t *testing.T, s *Store, userID string) <-chan struct{} {
	t.Helper()
	ch, cancel := s.Subscribe(userID)
	t.Cleanup(cancel)
	if !waitFor(ch, 5*time.Second) {
		t.Fatalf("no signal when the LISTEN connection came up")
	}
	return ch
}

var newTask = todo.NewTask{Title: "notified", Priority: todo.PriorityNone, Tags: []string{}}

// TestNotifyAcrossStores: two stores on one database are two replicas; a
// write through one wakes the other's subscribers of that user within 2 s,
// and no other user's.
func TestNotifyAcrossStores(t *testing.T) {
	t.Parallel()
	dsn := testDatabase(t)
	a := openStore(t, dsn, Options{})
	b := openStore(t, dsn, Options{})
	ctx := context.Background()
	u1 := listening(t, b, "u1")
	others := map[string]<-chan struct{}{}
	for _, u := range []string{"u2", "U1", "u1 ", "u"} {
		ch, cancel := b.Subscribe(u)
		t.Cleanup(cancel)
		others[u] = ch
	}

	task, err := a.CreateTask(ctx, "u1", newTask)
	if err != nil {
		t.Fatal(err)
	}
	for _, write := range []struct {
		name string
		fn   func() error
	}{
		{"create", func() error { _, err := a.CreateTask(ctx, "u1", newTask); return err }},
		{"update", func() error { _, err := a.UpdateTask(ctx, "u1", task.ID, todo.TaskPatch{}, 0); return err }},
		{"bulk", func() error {
			_, err := a.BulkTasks(ctx, "u1", todo.Bulk{Action: todo.BulkComplete, IDs: []int64{task.ID}})
			return err
		}},
		{"idempotent create", func() error {
			_, _, err := a.CreateTaskOnce(ctx, "u1", newTask, todo.Idempotency{Key: "k", Fingerprint: "f",
				Render: func(todo.Task) (todo.SavedResponse, error) { return todo.SavedResponse{Status: 201}, nil }})
			return err
		}},
		{"delete", func() error { _, err := a.DeleteTask(ctx, "u1", task.ID, 0); return err }},
	} {
		waitFor(u1, 50*time.Millisecond) // the previous write's signal, if it came late
		start := time.Now()
		if err := write.fn(); err != nil {
			t.Fatalf("%s: %v", write.name, err)
		}
		if !waitFor(u1, 2*time.Second) {
			t.Fatalf("%s through a: u1's subscriber on b not woken within 2 s", write.name)
		}
		t.Logf("%s through a woke b's subscriber after %v", write.name, time.Since(start).Round(time.Microsecond))
	}
	for u, ch := range others {
		if !quiet(ch, 300*time.Millisecond) {
			t.Errorf("%q's subscriber woken by u1's writes", u)
		}
	}
	waitFor(u1, 50*time.Millisecond)
	for u, ch := range others {
		if _, err := a.CreateTask(ctx, u, newTask); err != nil {
			t.Fatal(err)
		}
		if !waitFor(ch, 2*time.Second) {
			t.Errorf("%q's subscriber not woken by their own write", u)
		}
	}
	if !quiet(u1, 300*time.Millisecond) {
		t.Error("u1's subscriber woken by other users' writes")
	}
}

// TestNotifyReconnect kills the LISTEN session: the store reconnects,
// wakes every subscriber (a change may have gone unheard meanwhile), and
// hears writes again.
func TestNotifyReconnect(t *testing.T) {
	t.Parallel()
	dsn := testDatabase(t)
	a := openStore(t, dsn, Options{})
	b := openStore(t, dsn, Options{})
	ctx := context.Background()
	u1 := listening(t, b, "u1")
	killed := 0
	for range 2 {
		var n int
		if err := a.pool.QueryRow(ctx, `
			SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND datname = current_database()`, listenAppName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		killed += n
		if !waitFor(u1, 5*time.Second) {
			t.Fatal("no signal after the LISTEN session was killed")
		}
		if _, err := a.CreateTask(ctx, "u1", newTask); err != nil {
			t.Fatal(err)
		}
		if !waitFor(u1, 2*time.Second) {
			t.Fatal("a write after the reconnection did not wake the subscriber")
		}
	}
	if killed != 2 {
		t.Errorf("terminated %d LISTEN sessions, want 1 each time", killed)
	}
}

// TestNotifyOutsidePool: the LISTEN connection is not taken from the pool,
// so subscribers hear writes even while every pooled connection is busy.
func TestNotifyOutsidePool(t *testing.T) {
	t.Parallel()
	dsn := testDatabase(t)
	a := openStore(t, dsn, Options{})
	b := openStore(t, withQuery(t, dsn, "pool_max_conns", "1"), Options{})
	ctx := context.Background()
	held, err := b.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	u1 := listening(t, b, "u1")
	if _, err := a.CreateTask(ctx, "u1", newTask); err != nil {
		t.Fatal(err)
	}
	if !waitFor(u1, 2*time.Second) {
		t.Fatal("a subscriber on a store with its one pooled connection busy was not woken")
	}
	if st := b.pool.Stat(); st.TotalConns() != 1 {
		t.Errorf("the pool has %d connections, want its 1", st.TotalConns())
	}
}

// TestNotifyClose: Close ends the LISTEN session and closes every
// subscriber's channel; a later Subscribe gets a closed channel.
func TestNotifyClose(t *testing.T) {
	t.Parallel()
	dsn := testDatabase(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ch := listening(t, s, "u1")
	if _, err := s.CreateTask(ctx, "u1", newTask); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(2 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-deadline:
			t.Fatal("the channel is still open after Close")
		}
	}
	late, cancel := s.Subscribe("u1")
	cancel()
	if _, ok := <-late; ok {
		t.Error("Subscribe after Close: a signal, want a closed channel")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The LISTEN session is gone from the server.
	admin := openStore(t, dsn, Options{})
	var sessions []string
	rows, err := admin.pool.Query(ctx, `SELECT application_name FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, name)
	}
	if slices.Contains(sessions, listenAppName) {
		t.Errorf("sessions after Close: %v, want no %s", sessions, listenAppName)
	}
}

// TestMigrateNumbersExistingTasks migrates a database written before the
// changes feed: its tasks are numbered per user in the order of their last
// write, so that a client reading the feed from 0 gets every one.
func TestMigrateNumbersExistingTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testDatabase(t), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.migrations.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	// alice's order by last write is 3, 1, 4 (1 and 4 tie and go by id), bob's 2.
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO tasks (id, user_id, title, title_key, search_key, created_at, updated_at)
		OVERRIDING SYSTEM VALUE
		VALUES (1, 'alice', 't', 't', 't', timestamptz '2026-01-01', timestamptz '2026-01-02'),
		       (2, 'bob',   't', 't', 't', timestamptz '2026-01-01', timestamptz '2026-01-05'),
		       (3, 'alice', 't', 't', 't', timestamptz '2026-01-01', timestamptz '2026-01-01'),
		       (4, 'alice', 't', 't', 't', timestamptz '2026-01-01', timestamptz '2026-01-02')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for user, want := range map[string][]int64{"alice": {3, 1, 4}, "bob": {2}} {
		ch, err := s.Changes(ctx, user, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i, task := range ch.Tasks {
			got = append(got, task.ID)
			if task.Seq != int64(i+1) {
				t.Errorf("%s's task %d: Seq %d, want %d", user, task.ID, task.Seq, i+1)
			}
		}
		if !slices.Equal(got, want) || ch.Next != int64(len(want)) {
			t.Errorf("%s's feed: ids %v next %d, want %v next %d", user, got, ch.Next, want, len(want))
		}
	}
	// Ids go on after the ones given, as the identity was told nothing.
	if _, err := s.pool.Exec(ctx, `SELECT setval(pg_get_serial_sequence('tasks', 'id'), 4)`); err != nil {
		t.Fatal(err)
	}
	task, err := s.CreateTask(ctx, "alice", newTask)
	if err != nil || task.Seq != 4 {
		t.Errorf("alice's next write: Seq %d, %v; want 4", task.Seq, err)
	}
}
