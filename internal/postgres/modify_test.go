package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todod/todod/internal/todo"
)

// A write with the version read succeeds once and takes the next change
// number; with a stale version, or on a deleted task, it writes nothing and
// uses no number.
func TestWriteIfVersion(t *testing.T) {
	t.Parallel()
	s := openStore(t, testDatabase(t), Options{})
	ctx := context.Background()
	task, err := s.CreateTask(ctx, "u1", todo.NewTask{Title: "first", Priority: todo.PriorityNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTask(ctx, "u2", todo.NewTask{Title: "other", Priority: todo.PriorityNone}); err != nil {
		t.Fatal(err)
	}
	now := s.now()
	write := func(user string, version int64, title string) (todo.Task, bool) {
		t.Helper()
		next := task
		next.Title = title
		var out todo.Task
		var written bool
		err := s.run(ctx, "test", func(conn *pgxpool.Conn) error {
			var err error
			out, written, err = writeIfVersion(ctx, conn, user, version, next, now)
			return err
		})
		if err != nil {
			t.Fatalf("writeIfVersion(%s, version %d): %v", user, version, err)
		}
		return out, written
	}
	latest := func(user string) int64 {
		t.Helper()
		n, err := s.LatestChange(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	got, ok := write("u1", 1, "second")
	if !ok || got.Title != "second" || got.Version != 2 || got.Seq != 2 || !got.UpdatedAt.Equal(now) || got.UserID != "u1" {
		t.Fatalf("write at version 1: %+v, written %v; want title second, version 2, seq 2", got, ok)
	}
	for _, c := range []struct {
		user    string
		version int64
	}{{"u1", 1}, {"u1", 3}, {"u2", 2}} {
		if got, ok := write(c.user, c.version, "stale"); ok || got.ID != 0 {
			t.Errorf("write as %s at version %d: %+v, written %v; want nothing written", c.user, c.version, got, ok)
		}
	}
	if n := latest("u1"); n != 2 {
		t.Errorf("u1's latest change %d after failed writes, want 2: a failed write must not take a number", n)
	}
	if n := latest("u2"); n != 1 {
		t.Errorf("u2's latest change %d, want 1", n)
	}
	if cur, err := s.GetTask(ctx, "u1", task.ID); err != nil || cur.Title != "second" || cur.Version != 2 {
		t.Errorf("task after the failed writes: %+v, %v; want title second, version 2", cur, err)
	}
	if _, err := s.DeleteTask(ctx, "u1", task.ID, 0); err != nil {
		t.Fatal(err)
	}
	if got, ok := write("u1", 2, "gone"); ok {
		t.Errorf("write of a deleted task: %+v, written", got)
	}
	if n := latest("u1"); n != 3 {
		t.Errorf("u1's latest change %d after the deletion, want 3", n)
	}
}

// When another write lands between the read and the write, the write is
// tried again on the new version, or refused as the contract says; after
// the last optimistic attempt the locking transaction finishes the job.
func TestModifyLosesRace(t *testing.T) {
	t.Parallel()
	s := openStore(t, testDatabase(t), Options{})
	ctx := context.Background()
	// Another request of the same user, on another connection.
	rename := func(user string, id int64) error {
		title := "renamed meanwhile"
		_, err := s.UpdateTask(ctx, user, id, todo.TaskPatch{Title: &title}, 0)
		return err
	}
	remove := func(user string, id int64) error {
		_, err := s.DeleteTask(ctx, user, id, 0)
		return err
	}
	tests := []struct {
		name      string
		attempts  int
		ifVersion bool
		meanwhile func(user string, id int64) error
		wantCalls int
		wantErr   error // nil: the toggle applies on top of the rename
	}{
		{"retried on the new version", 2, false, rename, 2, nil},
		{"falls back to the lock after one attempt", 1, false, rename, 2, nil},
		{"If-Match no longer holds", 2, true, rename, 1, todo.ErrPreconditionFailed},
		{"If-Match no longer holds, under the lock", 1, true, rename, 1, todo.ErrPreconditionFailed},
		{"deleted meanwhile", 2, false, remove, 1, todo.ErrNotFound},
		{"deleted meanwhile, under the lock", 1, false, remove, 1, todo.ErrNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := fmt.Sprint("race-", i)
			task, err := s.CreateTask(ctx, user, todo.NewTask{Title: "first", Priority: todo.PriorityNone})
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			change := func(cur todo.Task, now time.Time) todo.Task {
				calls++
				if calls == 1 {
					if err := tt.meanwhile(user, task.ID); err != nil {
						t.Errorf("interloper: %v", err)
					}
				}
				return todo.Completion(nil)(cur, now)
			}
			var ifVersion int64
			if tt.ifVersion {
				ifVersion = task.Version
			}
			var got todo.Task
			err = s.run(ctx, "test", func(conn *pgxpool.Conn) error {
				var err error
				got, err = modifyTaskOptimistic(ctx, conn, user, task.ID, ifVersion, s.now(), change, tt.attempts)
				return err
			})
			if calls != tt.wantCalls {
				t.Errorf("change ran %d times, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Completed || got.Version != 3 || got.Seq != 3 || got.Title != "renamed meanwhile" {
				t.Errorf("got %+v; want completed, title %q, version and seq 3", got, "renamed meanwhile")
			}
		})
	}
}

// Many clients toggling one task at once, through the optimistic write, the
// fallback and the locking transaction, each get a distinct version and
// change number, in the same order: the toggles are serialised, none is lost
// and the feed never shows a number before its write.
func TestConcurrentToggles(t *testing.T) {
	t.Parallel()
	s := openStore(t, testDatabase(t), Options{})
	ctx := context.Background()
	const user = "toggler"
	task, err := s.CreateTask(ctx, user, todo.NewTask{Title: "toggled", Priority: todo.PriorityNone})
	if err != nil {
		t.Fatal(err)
	}
	const clients, toggles = 12, 20
	var (
		mu      sync.Mutex
		results []todo.Task
		changes atomic.Int64 // runs of the change function, successful or not
	)
	toggle := func(cur todo.Task, now time.Time) todo.Task {
		changes.Add(1)
		return todo.Completion(nil)(cur, now)
	}
	stop := make(chan struct{})
	var polls atomic.Int64
	var poller sync.WaitGroup
	poller.Go(func() {
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			polls.Add(1)
			latest, err := s.LatestChange(ctx, user)
			if err != nil {
				t.Error(err)
				return
			}
			ch, err := s.Changes(ctx, user, 0, 0, 10)
			if err != nil {
				t.Error(err)
				return
			}
			if len(ch.Tasks) != 1 || len(ch.Deleted) != 0 {
				t.Errorf("feed: %d tasks, %d deleted; want the one task", len(ch.Tasks), len(ch.Deleted))
				return
			}
			got := ch.Tasks[0]
			switch {
			case got.Seq < latest:
				t.Errorf("feed shows change %d after the counter read %d: a number was visible before its write", got.Seq, latest)
			case got.Seq < last:
				t.Errorf("feed went back from change %d to %d", last, got.Seq)
			case got.Seq != got.Version || got.Completed != (got.Version%2 == 0) || ch.Next != got.Seq:
				t.Errorf("feed shows version %d, seq %d, completed %v, next %d; want seq = next = version, completed = even version",
					got.Version, got.Seq, got.Completed, ch.Next)
			}
			last = got.Seq
		}
	})

	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for range toggles {
				var got todo.Task
				var err error
				switch c % 3 {
				case 0: // the store's path: an optimistic write, then the lock
					got, err = s.modify(ctx, "complete-task", user, task.ID, 0, toggle)
				case 1: // three optimistic writes, then the lock
					err = s.run(ctx, "complete-task", func(conn *pgxpool.Conn) error {
						got, err = modifyTaskOptimistic(ctx, conn, user, task.ID, 0, s.now(), toggle, 3)
						return err
					})
				case 2: // the lock only
					err = s.run(ctx, "complete-task", func(conn *pgxpool.Conn) error {
						got, err = modifyTaskOptimistic(ctx, conn, user, task.ID, 0, s.now(), toggle, 0)
						return err
					})
				}
				if err != nil {
					t.Errorf("client %d: %v", c, err)
					return
				}
				mu.Lock()
				results = append(results, got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	poller.Wait()

	n := int64(len(results))
	if n != clients*toggles {
		t.Fatalf("%d toggles succeeded, want %d", n, clients*toggles)
	}
	slices.SortFunc(results, func(a, b todo.Task) int { return int(a.Version - b.Version) })
	for i, got := range results {
		want := int64(i) + 2
		if got.Version != want || got.Seq != want || got.Completed != (want%2 == 0) {
			t.Fatalf("the toggle with the %d-th version: version %d, seq %d, completed %v; want %d, %d, %v",
				i+1, got.Version, got.Seq, got.Completed, want, want, want%2 == 0)
		}
	}
	final, err := s.GetTask(ctx, user, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Version != 1+n || final.Seq != 1+n || final.Completed != (n%2 == 1) {
		t.Errorf("final task: version %d, seq %d, completed %v; want %d, %d, %v",
			final.Version, final.Seq, final.Completed, 1+n, 1+n, n%2 == 1)
	}
	if latest, err := s.LatestChange(ctx, user); err != nil || latest != 1+n {
		t.Errorf("LatestChange = %d, %v; want %d", latest, err, 1+n)
	}
	ch, err := s.Changes(ctx, user, 0, 0, 10)
	if err != nil || len(ch.Tasks) != 1 || ch.Next != 1+n || ch.HasMore ||
		ch.Tasks[0].Seq != final.Seq || ch.Tasks[0].Version != final.Version || ch.Tasks[0].Completed != final.Completed {
		t.Errorf("Changes from 0: %+v, %v; want only the final task, next %d", ch, err, 1+n)
	}
	t.Logf("%d toggles, %d runs of the change function (%d lost a race), %d feed polls",
		n, changes.Load(), changes.Load()-n, polls.Load())
}
