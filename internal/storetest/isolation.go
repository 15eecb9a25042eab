package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// testIsolation checks that no store method lets one user see or touch
// another's task, with user ids chosen to catch case folding, prefix matches
// and byte-length checks, and that the answer is exactly ErrNotFound: never
// ErrPreconditionFailed, which would tell that the task exists.
func testIsolation(t *testing.T, open Opener) {
	e := newEnv(t, open)
	owner := "user-a"
	others := []string{"USER-A", "user-a2", "user-", "user-a ", "ü-user", "other"}

	due := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) // overdue at the filters' Now
	mine := e.create(owner, todo.NewTask{Title: "Secret plan", Description: ptr("for user-a only"),
		Priority: todo.PriorityHigh, Tags: []string{"private", "shared-tag"}, DueAt: &due})
	e.clk.Advance(time.Second)
	mineDone := e.create(owner, todo.NewTask{Title: "Secret done", Completed: true, Tags: []string{"shared-tag"}})
	e.clk.Advance(time.Second)

	theirs := map[string]todo.Task{}
	for _, u := range others {
		theirs[u] = e.create(u, todo.NewTask{Title: "Secret plan of " + u, Tags: []string{"shared-tag"},
			Priority: todo.PriorityHigh, DueAt: &due})
		e.clk.Advance(time.Second)
	}

	filters := map[string]todo.TaskFilter{
		"no filter":  {},
		"query":      {Query: "secret"},
		"tag":        {Tags: []string{"shared-tag"}},
		"owner tag":  {Tags: []string{"private"}},
		"priority":   {Priorities: []todo.Priority{todo.PriorityHigh}},
		"overdue":    {Overdue: true, Now: due.Add(time.Hour)},
		"due before": {DueBefore: ptr(due.Add(time.Hour))},
		"completed":  {Status: todo.StatusCompleted},
		"pending":    {Status: todo.StatusPending},
	}

	for _, u := range others {
		for _, target := range []todo.Task{mine, mineDone} {
			for _, v := range []int64{0, target.Version, target.Version + 1} {
				_, err := e.s.GetTask(e.ctx, u, target.ID)
				checkNotFoundOnly(t, u+" gets another's task", err)
				_, err = e.s.UpdateTask(e.ctx, u, target.ID, todo.TaskPatch{Title: ptr("hijacked")}, v)
				checkNotFoundOnly(t, u+" updates another's task", err)
				_, err = e.s.UpdateTask(e.ctx, u, target.ID, todo.TaskPatch{}, v)
				checkNotFoundOnly(t, u+" empty-updates another's task", err)
				for _, c := range []*bool{nil, ptr(true), ptr(false)} {
					_, err = e.s.CompleteTask(e.ctx, u, target.ID, c, v)
					checkNotFoundOnly(t, u+" completes another's task ("+fmtBool(c)+")", err)
				}
				_, err = e.s.DeleteTask(e.ctx, u, target.ID, v)
				checkNotFoundOnly(t, u+" deletes another's task", err)
			}
		}
		for name, f := range filters {
			all := e.listAll(u, f, 2)
			want := []int64{}
			if own := theirs[u]; matchesIsolationFilter(name) {
				want = []int64{own.ID}
			}
			if got := ids(all); !slices.Equal(got, want) {
				t.Errorf("%s lists with %s: ids %v, want %v", u, name, got, want)
			}
			if n := e.count(u, f); n != int64(len(want)) {
				t.Errorf("%s counts with %s: %d, want %d", u, name, n, len(want))
			}
		}
	}

	checkTask(t, "owner's task after the others tried", e.get(owner, mine.ID), mine)
	checkTask(t, "owner's completed task after the others tried", e.get(owner, mineDone.ID), mineDone)
	if got := ids(e.listAll(owner, todo.TaskFilter{Sort: todo.SortCreated}, 10)); !slices.Equal(got, []int64{mine.ID, mineDone.ID}) {
		t.Errorf("owner's list: ids %v, want [%d %d]", got, mine.ID, mineDone.ID)
	}
	for _, u := range others {
		checkTask(t, u+"'s own task", e.get(u, theirs[u].ID), theirs[u])
	}
	// The owner sees only their own tasks too.
	for _, u := range others {
		_, err := e.s.GetTask(e.ctx, owner, theirs[u].ID)
		checkNotFoundOnly(t, "owner gets "+u+"'s task", err)
	}
}

// matchesIsolationFilter reports whether each other user's one task (pending,
// high, tagged shared-tag, overdue) matches the named filter.
func matchesIsolationFilter(name string) bool {
	switch name {
	case "owner tag", "completed":
		return false
	}
	return true
}

func checkNotFoundOnly(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, todo.ErrNotFound) || errors.Is(err, todo.ErrPreconditionFailed) {
		t.Errorf("%s: error %v, want ErrNotFound and nothing else", what, err)
	}
}
