package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
