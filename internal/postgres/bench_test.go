package postgres

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// BenchmarkWrites measures each kind of write on a local server, one at a
// time and from parallel clients of different users, to show what a change
// to the write path costs in latency.
func BenchmarkWrites(b *testing.B) {
	s := openStore(b, testDatabase(b), Options{})
	ctx := context.Background()
	nt := todo.NewTask{Title: "benchmark", Priority: todo.PriorityLow, Tags: []string{"a", "b"}}
	seed := func(b *testing.B, user string, n int) []todo.Task {
		b.Helper()
		tasks := make([]todo.Task, n)
		for i := range tasks {
			t, err := s.CreateTask(ctx, user, nt)
			if err != nil {
				b.Fatal(err)
			}
			tasks[i] = t
		}
		return tasks
	}
	b.Run("create", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CreateTask(ctx, "bench-create", nt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		task := seed(b, "bench-update", 1)[0]
		title := "renamed"
		for b.Loop() {
			if _, err := s.UpdateTask(ctx, "bench-update", task.ID, todo.TaskPatch{Title: &title}, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("complete", func(b *testing.B) {
		task := seed(b, "bench-complete", 1)[0]
		for b.Loop() {
			if _, err := s.CompleteTask(ctx, "bench-complete", task.ID, nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("delete", func(b *testing.B) {
		tasks := seed(b, "bench-delete", b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.DeleteTask(ctx, "bench-delete", tasks[i].ID, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create-once", func(b *testing.B) {
		render := func(todo.Task) (todo.SavedResponse, error) { return todo.SavedResponse{Status: 201}, nil }
		i := 0
		for b.Loop() {
			i++
			idem := todo.Idempotency{Key: fmt.Sprint("key-", i), Fingerprint: "f", Render: render}
			if _, _, err := s.CreateTaskOnce(ctx, "bench-once", nt, idem); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bulk-complete-100", func(b *testing.B) {
		tasks := seed(b, "bench-bulk", 100)
		ids := make([]int64, len(tasks))
		for i, t := range tasks {
			ids[i] = t.ID
		}
		action := []todo.BulkAction{todo.BulkComplete, todo.BulkReopen}
		i := 0
		for b.Loop() {
			i++
			if _, err := s.BulkTasks(ctx, "bench-bulk", todo.Bulk{Action: action[i%2], IDs: ids}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("changes-500", func(b *testing.B) {
		seed(b, "bench-changes", 500)
		for b.Loop() {
			if _, err := s.Changes(ctx, "bench-changes", 0, 0, 500); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		var clients atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			user := fmt.Sprintf("bench-update-parallel-%d", clients.Add(1))
			task := seed(b, user, 1)[0]
			title := "renamed"
			for pb.Next() {
				if _, err := s.UpdateTask(ctx, user, task.ID, todo.TaskPatch{Title: &title}, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("complete-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		var clients atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			user := fmt.Sprintf("bench-complete-parallel-%d", clients.Add(1))
			task := seed(b, user, 1)[0]
			for pb.Next() {
				if _, err := s.CompleteTask(ctx, user, task.ID, nil, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// Every client toggles the same task: the worst case for a write that
	// retries when another got in between.
	b.Run("complete-one-task-parallel", func(b *testing.B) {
		task := seed(b, "bench-contended", 1)[0]
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.CompleteTask(ctx, "bench-contended", task.ID, nil, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("create-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		var clients atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			user := fmt.Sprintf("bench-parallel-%d", clients.Add(1))
			for pb.Next() {
				if _, err := s.CreateTask(ctx, user, nt); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkListSkewed measures lists on a table skewed to one user (100,000
// tasks, all pending) among three users of ten: the status filter that
// matches none of the big user's tasks, and a due date range, which the
// store plans for its arguments, for the big user and a small one.
func BenchmarkListSkewed(b *testing.B) {
	s := openStore(b, testDatabase(b), Options{StatementTimeout: time.Minute})
	ctx := context.Background()
	seedSkewed(b, s)
	at := time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC)
	for _, user := range []string{"big-user", "small-1"} {
		for _, c := range []struct {
			name string
			f    todo.TaskFilter
		}{
			{"default", todo.TaskFilter{}},
			{"status=completed", todo.TaskFilter{Status: todo.StatusCompleted}},
			{"due_before", todo.TaskFilter{DueBefore: &at}},
		} {
			b.Run(user+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := s.ListTasks(ctx, user, c.f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWritesRemote measures update and toggle against a server half a
// millisecond away, as a managed database in a nearby zone is: a proxy holds
// every message to the server for that long, so that round trips, which a
// local server hides, set the latency.
func BenchmarkWritesRemote(b *testing.B) {
	s := openStore(b, startDelayProxy(b, testDatabase(b), 500*time.Microsecond), Options{})
	ctx := context.Background()
	task, err := s.CreateTask(ctx, "bench-remote", todo.NewTask{Title: "benchmark", Priority: todo.PriorityLow})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("update", func(b *testing.B) {
		title := "renamed"
		for b.Loop() {
			if _, err := s.UpdateTask(ctx, "bench-remote", task.ID, todo.TaskPatch{Title: &title}, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("complete", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CompleteTask(ctx, "bench-remote", task.ID, nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// startDelayProxy relays TCP connections to the server of dsn, holding each
// chunk that a client sends for delay, and returns dsn pointed at it.
func startDelayProxy(b *testing.B, dsn string, delay time.Duration) string {
	b.Helper()
	return startProxy(b, dsn, func(client net.Conn, target string) {
		defer client.Close()
		server, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer server.Close()
		go func() {
			_, _ = io.Copy(client, server)
			_ = client.Close()
		}()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				time.Sleep(delay)
				if _, err := server.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}).String()
}
