package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

const (
	alice = "alice"
	bob   = "bob"
)

func testCreateAndGet(t *testing.T, open Opener) {
	e := newEnv(t, open)
	now := e.clk.Stamp()
	due := time.Date(2026, 12, 24, 18, 30, 15, 987654321, time.FixedZone("EST", -5*3600))
	dueStored := time.Date(2026, 12, 24, 23, 30, 15, 987654000, time.UTC)

	full := e.create(alice, todo.NewTask{
		Title:       "  Buy milk\u00a0",
		Description: ptr("2 litres, semi-skimmed"),
		Priority:    todo.PriorityHigh,
		Tags:        []string{"shopping", "home"},
		DueAt:       &due,
	})
	if full.ID <= 0 {
		t.Fatalf("new task id %d, want > 0", full.ID)
	}
	want := todo.Task{
		ID: full.ID, UserID: alice, Title: "Buy milk", Description: ptr("2 litres, semi-skimmed"),
		Priority: todo.PriorityHigh, Tags: []string{"shopping", "home"}, DueAt: &dueStored,
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	checkTask(t, "created task", full, want)
	checkTask(t, "task read back", e.get(alice, full.ID), want)

	e.clk.Advance(time.Second)
	minimal := e.create(alice, todo.NewTask{Title: "x"})
	if minimal.ID <= full.ID {
		t.Errorf("second task id %d, want > %d", minimal.ID, full.ID)
	}
	wantMin := todo.Task{
		ID: minimal.ID, UserID: alice, Title: "x", Priority: todo.PriorityNone, Tags: []string{},
		CreatedAt: now.Add(time.Second), UpdatedAt: now.Add(time.Second), Version: 1,
	}
	checkTask(t, "minimal task", minimal, wantMin)
	checkTask(t, "minimal task read back", e.get(alice, minimal.ID), wantMin)

	// A task created completed records when.
	at := e.clk.Advance(time.Minute)
	done := e.create(alice, todo.NewTask{Title: "done already", Completed: true, Priority: todo.PriorityLow})
	wantDone := todo.Task{
		ID: done.ID, UserID: alice, Title: "done already", Completed: true, Priority: todo.PriorityLow,
		Tags: []string{}, CompletedAt: &at, CreatedAt: at, UpdatedAt: at, Version: 1,
	}
	checkTask(t, "task created completed", done, wantDone)
	checkTask(t, "task created completed, read back", e.get(alice, done.ID), wantDone)

	// Every field is listed as it is read.
	page := e.list(alice, todo.TaskFilter{Sort: todo.SortCreated})
	if len(page.Tasks) != 3 || page.Next != nil {
		t.Fatalf("list: %d tasks, next %v; want the 3 tasks and no next page", len(page.Tasks), page.Next)
	}
	checkTask(t, "listed full task", page.Tasks[0], want)
	checkTask(t, "listed minimal task", page.Tasks[1], wantMin)
	checkTask(t, "listed completed task", page.Tasks[2], wantDone)
}

func testTimestamps(t *testing.T, open Opener) {
	e := newEnv(t, open)
	// The clock reads 18:00:00.123456789 CET: stored as 17:00:00.123456 UTC,
	// truncated, never rounded.
	created := time.Date(2026, 11, 25, 17, 0, 0, 123456000, time.UTC)
	if got := e.clk.Stamp(); !got.Equal(created) {
		t.Fatalf("suite clock is off: %v", got)
	}
	task := e.create(alice, todo.NewTask{Title: "timestamps"})
	want := todo.Task{ID: task.ID, UserID: alice, Title: "timestamps", Priority: todo.PriorityNone,
		Tags: []string{}, CreatedAt: created, UpdatedAt: created, Version: 1}
	checkTask(t, "created", task, want)

	steps := []struct {
		name  string
		write func(version int64) todo.Task
		apply func(w *todo.Task, now time.Time)
	}{
		{"retitle", func(int64) todo.Task {
			return e.update(alice, task.ID, todo.TaskPatch{Title: ptr("renamed")}, 0)
		}, func(w *todo.Task, _ time.Time) { w.Title = "renamed" }},
		{"complete", func(int64) todo.Task {
			return e.complete(alice, task.ID, ptr(true), 0)
		}, func(w *todo.Task, now time.Time) { w.Completed, w.CompletedAt = true, &now }},
		{"complete again keeps completed_at", func(v int64) todo.Task {
			return e.complete(alice, task.ID, ptr(true), v)
		}, func(*todo.Task, time.Time) {}},
		{"patch completed=true keeps completed_at", func(int64) todo.Task {
			return e.update(alice, task.ID, todo.TaskPatch{Completed: ptr(true)}, 0)
		}, func(*todo.Task, time.Time) {}},
		{"empty patch still writes", func(v int64) todo.Task {
			return e.update(alice, task.ID, todo.TaskPatch{}, v)
		}, func(*todo.Task, time.Time) {}},
		{"reopen clears completed_at", func(int64) todo.Task {
			return e.complete(alice, task.ID, ptr(false), 0)
		}, func(w *todo.Task, _ time.Time) { w.Completed, w.CompletedAt = false, nil }},
		{"reopen again", func(int64) todo.Task {
			return e.complete(alice, task.ID, ptr(false), 0)
		}, func(*todo.Task, time.Time) {}},
		{"toggle completes", func(int64) todo.Task {
			return e.complete(alice, task.ID, nil, 0)
		}, func(w *todo.Task, now time.Time) { w.Completed, w.CompletedAt = true, &now }},
		{"patch completed=false reopens", func(int64) todo.Task {
			return e.update(alice, task.ID, todo.TaskPatch{Completed: ptr(false)}, 0)
		}, func(w *todo.Task, _ time.Time) { w.Completed, w.CompletedAt = false, nil }},
		{"patch completed=true completes", func(int64) todo.Task {
			return e.update(alice, task.ID, todo.TaskPatch{Completed: ptr(true)}, 0)
		}, func(w *todo.Task, now time.Time) { w.Completed, w.CompletedAt = true, &now }},
		{"toggle reopens", func(int64) todo.Task {
			return e.complete(alice, task.ID, nil, 0)
		}, func(w *todo.Task, _ time.Time) { w.Completed, w.CompletedAt = false, nil }},
	}
	for i, st := range steps {
		// Odd steps, nanoseconds included, so every write has a distinct time.
		now := e.clk.Advance(time.Duration(i+1)*time.Second + 777)
		got := st.write(want.Version)
		st.apply(&want, now)
		want.UpdatedAt = now
		want.Version++
		checkTask(t, st.name, got, want)
		checkTask(t, st.name+", read back", e.get(alice, task.ID), want)
	}
}

func testTimeRoundTrip(t *testing.T, open Opener) {
	e := newEnv(t, open)
	for _, tc := range []struct {
		name     string
		due      time.Time
		wantTime time.Time
	}{
		{"before the epoch", time.Date(1969, 7, 20, 20, 17, 40, 500000999, time.UTC),
			time.Date(1969, 7, 20, 20, 17, 40, 500000000, time.UTC)},
		{"the epoch", time.Unix(0, 0), time.Unix(0, 0).UTC()},
		{"year 1", time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"offset zone", time.Date(2027, 3, 1, 0, 30, 0, 1500, time.FixedZone("", 14*3600)),
			time.Date(2027, 2, 28, 10, 30, 0, 1000, time.UTC)},
	} {
		created := e.create(alice, todo.NewTask{Title: tc.name, DueAt: &tc.due})
		if !sameTime(created.DueAt, &tc.wantTime) {
			t.Errorf("%s: created due_at %s, want %s", tc.name, fmtTime(created.DueAt), fmtTime(&tc.wantTime))
		}
		if got := e.get(alice, created.ID); !sameTime(got.DueAt, &tc.wantTime) {
			t.Errorf("%s: due_at read back %s, want %s", tc.name, fmtTime(got.DueAt), fmtTime(&tc.wantTime))
		}
		updated := e.update(alice, created.ID, todo.TaskPatch{DueAt: todo.Optional[time.Time]{Set: true, Value: &tc.due}}, 0)
		if !sameTime(updated.DueAt, &tc.wantTime) {
			t.Errorf("%s: updated due_at %s, want %s", tc.name, fmtTime(updated.DueAt), fmtTime(&tc.wantTime))
		}
	}
}

func testUpdateFields(t *testing.T, open Opener) {
	e := newEnv(t, open)
	due := time.Date(2027, 1, 2, 3, 4, 5, 6000, time.UTC)
	newDue := time.Date(2027, 6, 7, 8, 9, 10, 11000, time.UTC)
	base := todo.NewTask{
		Title: "base", Description: ptr("base description"), Priority: todo.PriorityLow,
		Tags: []string{"a", "b"}, DueAt: &due,
	}
	for _, tc := range []struct {
		name  string
		patch todo.TaskPatch
		apply func(w *todo.Task, now time.Time)
	}{
		{"title", todo.TaskPatch{Title: ptr(" new title ")}, func(w *todo.Task, _ time.Time) { w.Title = "new title" }},
		{"description set", todo.TaskPatch{Description: todo.Optional[string]{Set: true, Value: ptr("other")}},
			func(w *todo.Task, _ time.Time) { w.Description = ptr("other") }},
		{"description cleared", todo.TaskPatch{Description: todo.Optional[string]{Set: true}},
			func(w *todo.Task, _ time.Time) { w.Description = nil }},
		{"description emptied", todo.TaskPatch{Description: todo.Optional[string]{Set: true, Value: ptr("")}},
			func(w *todo.Task, _ time.Time) { w.Description = ptr("") }},
		{"priority", todo.TaskPatch{Priority: ptr(todo.PriorityHigh)},
			func(w *todo.Task, _ time.Time) { w.Priority = todo.PriorityHigh }},
		{"priority none", todo.TaskPatch{Priority: ptr(todo.PriorityNone)},
			func(w *todo.Task, _ time.Time) { w.Priority = todo.PriorityNone }},
		{"tags replaced", todo.TaskPatch{Tags: &[]string{"c", "a"}},
			func(w *todo.Task, _ time.Time) { w.Tags = []string{"c", "a"} }},
		{"tags emptied", todo.TaskPatch{Tags: &[]string{}},
			func(w *todo.Task, _ time.Time) { w.Tags = []string{} }},
		{"due moved", todo.TaskPatch{DueAt: todo.Optional[time.Time]{Set: true, Value: &newDue}},
			func(w *todo.Task, _ time.Time) { w.DueAt = &newDue }},
		{"due cleared", todo.TaskPatch{DueAt: todo.Optional[time.Time]{Set: true}},
			func(w *todo.Task, _ time.Time) { w.DueAt = nil }},
		{"completed", todo.TaskPatch{Completed: ptr(true)},
			func(w *todo.Task, now time.Time) { w.Completed, w.CompletedAt = true, &now }},
		{"pending stays pending", todo.TaskPatch{Completed: ptr(false)}, func(*todo.Task, time.Time) {}},
		{"empty patch", todo.TaskPatch{}, func(*todo.Task, time.Time) {}},
		{"unset optionals change nothing", todo.TaskPatch{
			Description: todo.Optional[string]{Value: ptr("ignored")},
			DueAt:       todo.Optional[time.Time]{Value: &newDue},
		}, func(*todo.Task, time.Time) {}},
		{"everything", todo.TaskPatch{
			Title: ptr("all"), Description: todo.Optional[string]{Set: true}, Completed: ptr(true),
			Priority: ptr(todo.PriorityMedium), Tags: &[]string{"z"},
			DueAt: todo.Optional[time.Time]{Set: true, Value: &newDue},
		}, func(w *todo.Task, now time.Time) {
			w.Title, w.Description, w.Completed, w.CompletedAt = "all", nil, true, &now
			w.Priority, w.Tags, w.DueAt = todo.PriorityMedium, []string{"z"}, &newDue
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := e.create(alice, base)
			now := e.clk.Advance(time.Minute)
			want := created
			tc.apply(&want, now)
			want.UpdatedAt = now
			want.Version = 2
			got := e.update(alice, created.ID, tc.patch, 0)
			checkTask(t, "updated", got, want)
			checkTask(t, "read back", e.get(alice, created.ID), want)
		})
	}
}

func testCompleteTask(t *testing.T, open Opener) {
	e := newEnv(t, open)
	task := e.create(alice, todo.NewTask{Title: "chore", Tags: []string{"t"}})
	want := task
	for i, tc := range []struct {
		completed   *bool
		wantDone    bool
		setsStamp   bool
		clearsStamp bool
	}{
		{nil, true, true, false},
		{nil, false, false, true},
		{ptr(true), true, true, false},
		{ptr(true), true, false, false},
		{nil, false, false, true},
		{ptr(false), false, false, true},
		{ptr(true), true, true, false},
		{ptr(false), false, false, true},
	} {
		now := e.clk.Advance(time.Hour)
		got := e.complete(alice, task.ID, tc.completed, 0)
		want.Completed = tc.wantDone
		if tc.setsStamp {
			want.CompletedAt = &now
		}
		if tc.clearsStamp {
			want.CompletedAt = nil
		}
		want.UpdatedAt = now
		want.Version++
		checkTask(t, "step "+string(rune('1'+i))+" ("+fmtBool(tc.completed)+")", got, want)
	}
	checkTask(t, "read back", e.get(alice, task.ID), want)
}

func testPreconditions(t *testing.T, open Opener) {
	e := newEnv(t, open)
	task := e.create(alice, todo.NewTask{Title: "v1"})
	e.clk.Advance(time.Second)
	v2 := e.update(alice, task.ID, todo.TaskPatch{Title: ptr("v2")}, 1)
	if v2.Version != 2 {
		t.Fatalf("version after a matching ifVersion: %d, want 2", v2.Version)
	}
	e.clk.Advance(time.Second)
	v3 := e.complete(alice, task.ID, nil, 2)
	if v3.Version != 3 || !v3.Completed {
		t.Fatalf("complete with a matching ifVersion: version %d completed %v, want 3 true", v3.Version, v3.Completed)
	}

	e.clk.Advance(time.Second)
	for _, stale := range []int64{1, 2, 4, 99, -1} {
		_, err := e.s.UpdateTask(e.ctx, alice, task.ID, todo.TaskPatch{Title: ptr("lost")}, stale)
		checkErr(t, "update with a stale version", err, todo.ErrPreconditionFailed)
		_, err = e.s.UpdateTask(e.ctx, alice, task.ID, todo.TaskPatch{}, stale)
		checkErr(t, "empty update with a stale version", err, todo.ErrPreconditionFailed)
		_, err = e.s.CompleteTask(e.ctx, alice, task.ID, nil, stale)
		checkErr(t, "toggle with a stale version", err, todo.ErrPreconditionFailed)
		_, err = e.s.CompleteTask(e.ctx, alice, task.ID, ptr(true), stale)
		checkErr(t, "complete with a stale version", err, todo.ErrPreconditionFailed)
		_, err = e.s.DeleteTask(e.ctx, alice, task.ID, stale)
		checkErr(t, "delete with a stale version", err, todo.ErrPreconditionFailed)
	}
	checkTask(t, "task after refused writes", e.get(alice, task.ID), v3)

	// A missing task is missing whatever version is asked for.
	_, err := e.s.UpdateTask(e.ctx, alice, task.ID+1000, todo.TaskPatch{}, 5)
	checkErr(t, "update of a missing task with a version", err, todo.ErrNotFound)

	now := e.clk.Advance(time.Second)
	v4 := e.update(alice, task.ID, todo.TaskPatch{Description: todo.Optional[string]{Set: true, Value: ptr("d")}}, 3)
	want := v3
	want.Description, want.UpdatedAt, want.Version = ptr("d"), now, 4
	checkTask(t, "update with the current version", v4, want)

	gone, err := e.s.DeleteTask(e.ctx, alice, task.ID, 4)
	if err != nil {
		t.Fatalf("delete with the current version: %v", err)
	}
	checkTask(t, "deleted task", gone, want)
}

func testDelete(t *testing.T, open Opener) {
	e := newEnv(t, open)
	due := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	keep := e.create(alice, todo.NewTask{Title: "keep"})
	e.clk.Advance(time.Second)
	doomed := e.create(alice, todo.NewTask{Title: "doomed", Description: ptr("d"), Tags: []string{"x"},
		Priority: todo.PriorityMedium, DueAt: &due})
	e.clk.Advance(time.Second)
	doomed = e.complete(alice, doomed.ID, nil, 0)
	e.clk.Advance(time.Second)

	gone, err := e.s.DeleteTask(e.ctx, alice, doomed.ID, 0)
	if err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	checkTask(t, "deleted task as it was", gone, doomed)

	_, err = e.s.GetTask(e.ctx, alice, doomed.ID)
	checkErr(t, "get after delete", err, todo.ErrNotFound)
	_, err = e.s.DeleteTask(e.ctx, alice, doomed.ID, 0)
	checkErr(t, "delete twice", err, todo.ErrNotFound)
	_, err = e.s.UpdateTask(e.ctx, alice, doomed.ID, todo.TaskPatch{Title: ptr("back")}, 0)
	checkErr(t, "update after delete", err, todo.ErrNotFound)
	_, err = e.s.CompleteTask(e.ctx, alice, doomed.ID, nil, 0)
	checkErr(t, "complete after delete", err, todo.ErrNotFound)

	page := e.list(alice, todo.TaskFilter{})
	if got := ids(page.Tasks); len(got) != 1 || got[0] != keep.ID {
		t.Errorf("list after delete: ids %v, want [%d]", got, keep.ID)
	}
	if n := e.count(alice, todo.TaskFilter{}); n != 1 {
		t.Errorf("count after delete: %d, want 1", n)
	}
	checkTask(t, "the other task", e.get(alice, keep.ID), keep)
}

func testIDsNeverReused(t *testing.T, open Opener) {
	e := newEnv(t, open)
	seen := map[int64]bool{}
	var highest int64
	for round := range 3 {
		var made []todo.Task
		for range 3 {
			task := e.create(alice, todo.NewTask{Title: "t"})
			if seen[task.ID] {
				t.Fatalf("round %d: id %d reused", round, task.ID)
			}
			if task.ID <= highest {
				t.Fatalf("round %d: id %d not above every earlier id (%d)", round, task.ID, highest)
			}
			seen[task.ID], highest = true, task.ID
			made = append(made, task)
		}
		// Deleting the newest tasks, then all of them, must not free their ids.
		for i := len(made) - 1; i >= 0; i-- {
			if _, err := e.s.DeleteTask(e.ctx, alice, made[i].ID, 0); err != nil {
				t.Fatalf("DeleteTask: %v", err)
			}
		}
	}
}

func testNotFound(t *testing.T, open Opener) {
	e := newEnv(t, open)
	task := e.create(alice, todo.NewTask{Title: "exists"})
	for _, id := range []int64{0, -1, task.ID + 1, math.MaxInt64, math.MinInt64} {
		_, err := e.s.GetTask(e.ctx, alice, id)
		checkErr(t, "get", err, todo.ErrNotFound)
		_, err = e.s.UpdateTask(e.ctx, alice, id, todo.TaskPatch{Title: ptr("x")}, 0)
		checkErr(t, "update", err, todo.ErrNotFound)
		_, err = e.s.CompleteTask(e.ctx, alice, id, nil, 0)
		checkErr(t, "complete", err, todo.ErrNotFound)
		_, err = e.s.DeleteTask(e.ctx, alice, id, 0)
		checkErr(t, "delete", err, todo.ErrNotFound)
	}
	checkTask(t, "existing task", e.get(alice, task.ID), task)
}
