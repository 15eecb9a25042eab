package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// TestNotifications checks the in-process signals: a write signals its
// user's subscribers before it returns, and nobody else's; a write that
// fails or a replayed request signals nobody; Close closes every channel.
func TestNotifications(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, nil)
	alice, cancelA := s.Subscribe("alice")
	defer cancelA()
	bob, cancelB := s.Subscribe("bob")
	defer cancelB()
	aliceUpper, cancelU := s.Subscribe("ALICE")
	defer cancelU()
	signalled := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	nt := todo.NewTask{Title: "t", Priority: todo.PriorityNone, Tags: []string{}}
	task, err := s.CreateTask(ctx, "alice", nt)
	if err != nil {
		t.Fatal(err)
	}
	if !signalled(alice) || signalled(bob) || signalled(aliceUpper) {
		t.Fatal("after alice's create: want alice's subscriber signalled and no other")
	}
	writes := map[string]func() error{
		"update": func() error {
			_, err := s.UpdateTask(ctx, "alice", task.ID, todo.TaskPatch{}, 0)
			return err
		},
		"bulk": func() error {
			_, err := s.BulkTasks(ctx, "alice", todo.Bulk{Action: todo.BulkComplete, IDs: []int64{task.ID}})
			return err
		},
		"idempotent create": func() error {
			_, _, err := s.CreateTaskOnce(ctx, "alice", nt, todo.Idempotency{Key: "k", Fingerprint: "f", Render: render0})
			return err
		},
	}
	for name, write := range writes {
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !signalled(alice) || signalled(bob) || signalled(aliceUpper) {
			t.Errorf("after alice's %s: want alice's subscriber signalled and no other", name)
		}
	}
	// Nothing committed, nothing signalled.
	if _, err := s.UpdateTask(ctx, "alice", task.ID, todo.TaskPatch{}, 99); err == nil {
		t.Fatal("stale update succeeded")
	}
	if _, err := s.BulkTasks(ctx, "alice", todo.Bulk{Action: todo.BulkDelete, IDs: []int64{task.ID, 12345}}); err == nil {
		t.Fatal("bulk with a missing id succeeded")
	}
	if _, replayed, err := s.CreateTaskOnce(ctx, "alice", nt, todo.Idempotency{Key: "k", Fingerprint: "f", Render: render0}); err != nil || !replayed {
		t.Fatalf("retry: replayed %v, %v", replayed, err)
	}
	if _, err := s.CreateTask(ctx, "bob", nt); err != nil {
		t.Fatal(err)
	}
	if signalled(alice) || !signalled(bob) {
		t.Error("after failed writes, a replay and bob's create: want bob's subscriber signalled only")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan struct{}{"alice": alice, "bob": bob} {
		select {
		case _, ok := <-ch:
			if ok {
				t.Errorf("%s's channel after Close: a signal, want it closed", name)
			}
		case <-time.After(time.Second):
			t.Errorf("%s's channel is still open after Close", name)
		}
	}
	late, cancel := s.Subscribe("alice")
	cancel()
	if _, ok := <-late; ok {
		t.Error("Subscribe after Close: a signal, want a closed channel")
	}
}

func render0(todo.Task) (todo.SavedResponse, error) { return todo.SavedResponse{Status: 201}, nil }

// TestMigrateNumbersExistingTasks migrates a database written before the
// changes feed: its tasks are numbered per user in the order of their last
// write, so that a client reading the feed from 0 gets every one.
func TestMigrateNumbersExistingTasks(t *testing.T) {
	ctx := context.Background()
	s := openPathStore(t, filepath.Join(t.TempDir(), "todod.db"), Options{})
	p, err := s.migrator()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	// id, user, updated_at: alice's order by last write is 3, 1, 4 (1 and 4
	// tie and go by id), bob's 2.
	for _, row := range []struct {
		id      int64
		user    string
		updated int64
	}{{1, "alice", 2000}, {2, "bob", 5000}, {3, "alice", 1000}, {4, "alice", 2000}} {
		if _, err := s.write.ExecContext(ctx, `
			INSERT INTO tasks (id, user_id, title, title_key, search_key, created_at, updated_at)
			VALUES (?, ?, 't', 't', 't', 1000, ?)`, row.id, row.user, row.updated); err != nil {
			t.Fatal(err)
		}
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
	task, err := s.CreateTask(ctx, "alice", todo.NewTask{Title: "new", Priority: todo.PriorityNone, Tags: []string{}})
	if err != nil || task.Seq != 4 {
		t.Errorf("alice's next write: Seq %d, %v; want 4", task.Seq, err)
	}
}
