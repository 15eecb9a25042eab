package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// t0 is the reference time of the list fixtures' due dates.
func t0() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }

// at is t0 + d.
func at(d time.Duration) *time.Time {
	v := t0().Add(d)
	return &v
}

// filterFixture is the data set of testListFilters, created in this order,
// one minute apart, so that listing by created ascending gives this order.
func filterFixture() []todo.NewTask {
	return []todo.NewTask{
		/* 1 */ {Title: "Buy milk", Priority: todo.PriorityHigh, Tags: []string{"home", "shopping"}, DueAt: at(-48 * time.Hour)},
		/* 2 */ {Title: "Write report", Description: ptr("Quarterly numbers for the board"), Priority: todo.PriorityMedium, Tags: []string{"work", "urgent"}, DueAt: at(24 * time.Hour)},
		/* 3 */ {Title: "Call mom", Description: ptr(""), Completed: true, Priority: todo.PriorityLow, Tags: []string{"home"}, DueAt: at(-72 * time.Hour)},
		/* 4 */ {Title: "École : inscription", Description: ptr("Dossier pour l'école"), Tags: []string{"famille", "café"}},
		/* 5 */ {Title: "100% done", Completed: true},
		/* 6 */ {Title: "100 done", Priority: todo.PriorityLow, Tags: []string{"work"}, DueAt: at(0)},
		/* 7 */ {Title: "a_b pattern", Description: ptr("underscore"), Priority: todo.PriorityHigh, Tags: []string{"Work"}, DueAt: at(time.Microsecond)},
		/* 8 */ {Title: "axb pattern", Priority: todo.PriorityMedium, Tags: []string{"urgent", "work"}, DueAt: at(-time.Microsecond)},
		/* 9 */ {Title: "ÉCOLE PRIMAIRE", DueAt: at(72 * time.Hour)},
		/* 10 */ {Title: "Emoji 😀 party", Description: ptr("👩‍💻 coding\nnight"), Completed: true, Priority: todo.PriorityHigh, Tags: []string{"😀"}, DueAt: at(48 * time.Hour)},
	}
}

func testListFilters(t *testing.T, open Opener) {
	e := newEnv(t, open)
	var tasks []todo.Task
	for _, nt := range filterFixture() {
		tasks = append(tasks, e.create(alice, nt))
		// Another user's identical task must never show up in alice's lists.
		e.create(bob, nt)
		e.clk.Advance(time.Minute)
	}

	for _, tc := range []struct {
		name string
		f    todo.TaskFilter
		want []int // positions in filterFixture, from 1
	}{
		{"all", todo.TaskFilter{}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"status all", todo.TaskFilter{Status: todo.StatusAll}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"pending", todo.TaskFilter{Status: todo.StatusPending}, []int{1, 2, 4, 6, 7, 8, 9}},
		{"completed", todo.TaskFilter{Status: todo.StatusCompleted}, []int{3, 5, 10}},
		{"priority high", todo.TaskFilter{Priorities: []todo.Priority{todo.PriorityHigh}}, []int{1, 7, 10}},
		{"priority low or medium", todo.TaskFilter{Priorities: []todo.Priority{todo.PriorityLow, todo.PriorityMedium}}, []int{2, 3, 6, 8}},
		{"priority none", todo.TaskFilter{Priorities: []todo.Priority{todo.PriorityNone}}, []int{4, 5, 9}},
		{"every priority", todo.TaskFilter{Priorities: todo.Priorities}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"tag work (case-sensitive)", todo.TaskFilter{Tags: []string{"work"}}, []int{2, 6, 8}},
		{"tag Work", todo.TaskFilter{Tags: []string{"Work"}}, []int{7}},
		{"tags work and urgent", todo.TaskFilter{Tags: []string{"work", "urgent"}}, []int{2, 8}},
		{"tags urgent and work", todo.TaskFilter{Tags: []string{"urgent", "work"}}, []int{2, 8}},
		{"tags work and home", todo.TaskFilter{Tags: []string{"work", "home"}}, []int{}},
		{"tag home", todo.TaskFilter{Tags: []string{"home"}}, []int{1, 3}},
		{"tag café", todo.TaskFilter{Tags: []string{"café"}}, []int{4}},
		{"tag emoji", todo.TaskFilter{Tags: []string{"😀"}}, []int{10}},
		{"tag prefix is no match", todo.TaskFilter{Tags: []string{"wor"}}, []int{}},
		{"missing tag", todo.TaskFilter{Tags: []string{"nope"}}, []int{}},
		{"q in title", todo.TaskFilter{Query: "milk"}, []int{1}},
		{"q upper case", todo.TaskFilter{Query: "MILK"}, []int{1}},
		{"q mixed case", todo.TaskFilter{Query: "bUy MiLk"}, []int{1}},
		{"q in description", todo.TaskFilter{Query: "quarterly"}, []int{2}},
		{"q spanning words of the description", todo.TaskFilter{Query: "numbers for the"}, []int{2}},
		{"q non-ASCII lower", todo.TaskFilter{Query: "école"}, []int{4, 9}},
		{"q non-ASCII upper", todo.TaskFilter{Query: "ÉCOLE"}, []int{4, 9}},
		{"q percent is literal", todo.TaskFilter{Query: "%"}, []int{5}},
		{"q 100%", todo.TaskFilter{Query: "100%"}, []int{5}},
		{"q 100", todo.TaskFilter{Query: "100"}, []int{5, 6}},
		{"q underscore is literal", todo.TaskFilter{Query: "_"}, []int{7}},
		{"q a_b", todo.TaskFilter{Query: "a_b"}, []int{7}},
		{"q quote", todo.TaskFilter{Query: "l'école"}, []int{4}},
		{"q emoji", todo.TaskFilter{Query: "😀"}, []int{10}},
		{"q ZWJ emoji", todo.TaskFilter{Query: "👩‍💻"}, []int{10}},
		{"q no match", todo.TaskFilter{Query: "zzz"}, []int{}},
		{"due before t0 (strict)", todo.TaskFilter{DueBefore: at(0)}, []int{1, 3, 8}},
		{"due after t0 (strict)", todo.TaskFilter{DueAfter: at(0)}, []int{2, 7, 9, 10}},
		{"due between", todo.TaskFilter{DueAfter: at(-49 * time.Hour), DueBefore: at(25 * time.Hour)}, []int{1, 2, 6, 7, 8}},
		{"due range empty", todo.TaskFilter{DueAfter: at(time.Hour), DueBefore: at(2 * time.Hour)}, []int{}},
		{"overdue at t0", todo.TaskFilter{Overdue: true, Now: t0()}, []int{1, 8}},
		{"overdue at t0+49h", todo.TaskFilter{Overdue: true, Now: t0().Add(49 * time.Hour)}, []int{1, 2, 6, 7, 8}},
		{"overdue long ago", todo.TaskFilter{Overdue: true, Now: t0().Add(-100 * time.Hour)}, []int{}},
		{"pending, work, medium", todo.TaskFilter{Status: todo.StatusPending, Tags: []string{"work"},
			Priorities: []todo.Priority{todo.PriorityMedium}}, []int{2, 8}},
		{"pending, work, medium, q report", todo.TaskFilter{Status: todo.StatusPending, Tags: []string{"work"},
			Priorities: []todo.Priority{todo.PriorityMedium}, Query: "REPORT"}, []int{2}},
		{"overdue and high", todo.TaskFilter{Overdue: true, Now: t0(), Priorities: []todo.Priority{todo.PriorityHigh}}, []int{1}},
		{"completed with a due date before t0", todo.TaskFilter{Status: todo.StatusCompleted, DueBefore: at(0)}, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := make([]int64, len(tc.want))
			for i, pos := range tc.want {
				want[i] = tasks[pos-1].ID
			}
			for _, order := range []struct {
				sort todo.SortField
				desc bool
			}{{todo.SortCreated, false}, {todo.SortDue, true}} {
				f := tc.f
				f.Sort, f.Desc = order.sort, order.desc
				var wantTasks []todo.Task
				for _, id := range want {
					wantTasks = append(wantTasks, tasks[slices.Index(ids(tasks), id)])
				}
				wantIDs := ids(expectedOrder(wantTasks, order.sort, order.desc))
				page := e.list(alice, f)
				if got := ids(page.Tasks); !slices.Equal(got, wantIDs) || page.Next != nil {
					t.Errorf("sort %s desc %v: ids %v next %v, want %v and no next page", order.sort, order.desc, got, page.Next, wantIDs)
				}
			}
			if n := e.count(alice, tc.f); n != int64(len(want)) {
				t.Errorf("count %d, want %d", n, len(want))
			}
		})
	}
}

func testListEmpty(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.create(bob, todo.NewTask{Title: "not alice's"})
	for _, f := range sorts() {
		page := e.list(alice, f)
		if len(page.Tasks) != 0 || page.Next != nil {
			t.Errorf("%s: %d tasks, next %v; want none", sortName(f), len(page.Tasks), page.Next)
		}
	}
	if n := e.count(alice, todo.TaskFilter{}); n != 0 {
		t.Errorf("count %d, want 0", n)
	}
}

// sortFixture creates tasks with ties on every sort key and several without
// a due date, and returns them as they are after the last write.
func sortFixture(e *env, user string) []todo.Task {
	e.t.Helper()
	type spec struct {
		title    string
		priority todo.Priority
		due      *time.Time
		tick     bool // advance the clock after creating; false makes created_at ties
	}
	specs := []spec{
		{"apple", todo.PriorityLow, at(time.Hour), false},
		{"Apple", todo.PriorityLow, at(time.Hour), false},
		{"APPLE", todo.PriorityHigh, nil, true},
		{"banana", todo.PriorityNone, at(-time.Hour), true},
		{"Éclair", todo.PriorityMedium, nil, false},
		{"éclair", todo.PriorityMedium, at(time.Hour), true},
		{"eclair", todo.PriorityNone, at(2 * time.Hour), true},
		{"e\u0301clair", todo.PriorityHigh, nil, true},
		{"Zebra", todo.PriorityLow, at(-time.Hour), false},
		{"zèbre", todo.PriorityLow, at(time.Microsecond), false},
		{"😀 smile", todo.PriorityNone, nil, true},
		{"10", todo.PriorityHigh, at(time.Hour), true},
		{"9", todo.PriorityMedium, nil, false},
		{"a", todo.PriorityNone, at(-time.Microsecond), true},
		{"👩‍💻 code", todo.PriorityHigh, at(time.Hour), false},
		{"apple", todo.PriorityNone, nil, true},
		{"Zz", todo.PriorityLow, at(3 * time.Hour), true},
	}
	var tasks []todo.Task
	for _, s := range specs {
		tasks = append(tasks, e.create(user, todo.NewTask{Title: s.title, Priority: s.priority, DueAt: s.due}))
		if s.tick {
			e.clk.Advance(time.Second)
		}
	}
	// Updates in another order than creation, two of them at the same instant,
	// so that updated_at order differs from created_at order and has a tie.
	for _, i := range []int{3, 0, 14, 7} {
		tasks[i] = e.update(user, tasks[i].ID, todo.TaskPatch{Title: ptr(tasks[i].Title)}, 0)
		if i != 0 {
			e.clk.Advance(time.Second)
		}
	}
	e.clk.Advance(time.Second)
	tasks[5] = e.complete(user, tasks[5].ID, nil, 0)
	return tasks
}

func testListSorts(t *testing.T, open Opener) {
	e := newEnv(t, open)
	tasks := sortFixture(e, alice)
	e.create(bob, todo.NewTask{Title: "bob's"})
	for _, f := range sorts() {
		want := expectedOrder(tasks, f.Sort, f.Desc)
		page := e.list(alice, f)
		if got := ids(page.Tasks); !slices.Equal(got, ids(want)) || page.Next != nil {
			t.Errorf("%s: ids %v next %v, want %v", sortName(f), got, page.Next, ids(want))
			continue
		}
		for i := range want {
			checkTask(t, fmt.Sprintf("%s, position %d", sortName(f), i), page.Tasks[i], want[i])
		}
	}
	// The zero filter lists newest first.
	want := expectedOrder(tasks, todo.SortCreated, true)
	if got := ids(e.list(alice, todo.TaskFilter{}).Tasks); !slices.Equal(got, ids(want)) {
		t.Errorf("default order: ids %v, want %v (created, newest first)", got, ids(want))
	}
}

func testPagination(t *testing.T, open Opener) {
	e := newEnv(t, open)
	tasks := sortFixture(e, alice)
	e.create(bob, todo.NewTask{Title: "bob's"})
	n := len(tasks)
	for _, f := range sorts() {
		want := ids(expectedOrder(tasks, f.Sort, f.Desc))
		for _, limit := range []int{1, 2, 3, 4, 5, 7, n - 1, n, n + 1, todo.MaxLimit} {
			if got := ids(e.listAll(alice, f, limit)); !slices.Equal(got, want) {
				t.Errorf("%s, %d per page: ids %v, want %v", sortName(f), limit, got, want)
			}
		}
	}
}

func testPaginationFiltered(t *testing.T, open Opener) {
	e := newEnv(t, open)
	tasks := sortFixture(e, alice)
	filters := map[string]struct {
		f    todo.TaskFilter
		keep func(todo.Task) bool
	}{
		"pending": {todo.TaskFilter{Status: todo.StatusPending}, func(t todo.Task) bool { return !t.Completed }},
		"low or high": {todo.TaskFilter{Priorities: []todo.Priority{todo.PriorityLow, todo.PriorityHigh}},
			func(t todo.Task) bool { return t.Priority == todo.PriorityLow || t.Priority == todo.PriorityHigh }},
		"q apple": {todo.TaskFilter{Query: "APPLE"}, func(t todo.Task) bool { return todo.TitleKey(t.Title) == "apple" }},
	}
	for name, tc := range filters {
		var kept []todo.Task
		for _, task := range tasks {
			if tc.keep(task) {
				kept = append(kept, task)
			}
		}
		for _, s := range sorts() {
			f := tc.f
			f.Sort, f.Desc = s.Sort, s.Desc
			want := ids(expectedOrder(kept, f.Sort, f.Desc))
			for _, limit := range []int{1, 2, 3} {
				if got := ids(e.listAll(alice, f, limit)); !slices.Equal(got, want) {
					t.Errorf("%s, %s, %d per page: ids %v, want %v", name, sortName(f), limit, got, want)
				}
			}
		}
	}
}

// testCursorAfterChanges checks that a cursor is a position, not an offset:
// after the task it points at is deleted, and new tasks are added before it,
// the next page still starts right after that position.
func testCursorAfterChanges(t *testing.T, open Opener) {
	for _, s := range sorts() {
		t.Run(sortName(s), func(t *testing.T) {
			e := newEnv(t, open)
			tasks := sortFixture(e, alice)
			order := expectedOrder(tasks, s.Sort, s.Desc)
			// Take pages until the cursor points at a task without a due date
			// when sorting by due, so that the NULL group's cursor is exercised.
			cut := 4
			if s.Sort == todo.SortDue {
				cut = slices.IndexFunc(order, func(t todo.Task) bool { return t.DueAt == nil }) + 2
			}
			f := s
			f.Limit = cut
			page := e.list(alice, f)
			if got := ids(page.Tasks); !slices.Equal(got, ids(order[:cut])) || page.Next == nil {
				t.Fatalf("first page: ids %v next %v, want %v and a next page", got, page.Next, ids(order[:cut]))
			}
			last := page.Tasks[cut-1]
			if _, err := e.s.DeleteTask(e.ctx, alice, last.ID, 0); err != nil {
				t.Fatalf("DeleteTask: %v", err)
			}
			if _, err := e.s.DeleteTask(e.ctx, alice, page.Tasks[0].ID, 0); err != nil {
				t.Fatalf("DeleteTask: %v", err)
			}
			f.After = page.Next
			f.Limit = todo.MaxLimit
			rest := e.list(alice, f)
			if got, want := ids(rest.Tasks), ids(order[cut:]); !slices.Equal(got, want) || rest.Next != nil {
				t.Errorf("after deleting the cursor's task: ids %v next %v, want %v", got, rest.Next, want)
			}
		})
	}
}

func testCountIgnoresPaging(t *testing.T, open Opener) {
	e := newEnv(t, open)
	tasks := sortFixture(e, alice)
	e.create(bob, todo.NewTask{Title: "bob's"})
	for _, s := range sorts() {
		f := s
		f.Limit = 2
		page := e.list(alice, f)
		f.After = page.Next
		if n := e.count(alice, f); n != int64(len(tasks)) {
			t.Errorf("%s with a cursor and limit 2: count %d, want %d", sortName(f), n, len(tasks))
		}
	}
	pending := 0
	for _, task := range tasks {
		if !task.Completed {
			pending++
		}
	}
	if n := e.count(alice, todo.TaskFilter{Status: todo.StatusPending, Limit: 1}); n != int64(pending) {
		t.Errorf("pending count %d, want %d", n, pending)
	}
}
