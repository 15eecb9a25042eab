// Package storetest is the behaviour every todo.Store must share. Each engine's
// tests call Run with a function that opens a fresh, migrated, empty store.
//
// The suite drives the store's clock, so it can state exact timestamps: every
// expected value in it is written out or derived from the documented rules of
// package todo, never read back from the store under test.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// Opener opens a fresh, migrated, empty store whose clock is now. The store is
// closed by the opener's own t.Cleanup.
type Opener func(t *testing.T, now func() time.Time) todo.Store

// Run runs the whole conformance suite against stores made by open. Each
// subtest that writes opens its own store.
func Run(t *testing.T, open Opener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"Timestamps", testTimestamps},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"UpdateFields", testUpdateFields},
		{"CompleteTask", testCompleteTask},
		{"Preconditions", testPreconditions},
		{"Delete", testDelete},
		{"IDsNeverReused", testIDsNeverReused},
		{"NotFound", testNotFound},
		{"Isolation", testIsolation},
		{"Unicode", testUnicode},
		{"Tags", testTags},
		{"Description", testDescription},
		{"ListFilters", testListFilters},
		{"ListEmpty", testListEmpty},
		{"ListSorts", testListSorts},
		{"Pagination", testPagination},
		{"PaginationFiltered", testPaginationFiltered},
		{"CursorAfterChanges", testCursorAfterChanges},
		{"CountIgnoresPaging", testCountIgnoresPaging},
		{"Ping", testPing},
		{"CancelledContext", testCancelledContext},
		{"ExpiredDeadline", testExpiredDeadline},
		{"ConcurrentWrites", testConcurrentWrites},
		{"ConcurrentCreates", testConcurrentCreates},
		{"Changes", testChanges},
		{"Tombstones", testTombstones},
		{"CursorExpired", testCursorExpired},
		{"Bulk", testBulk},
		{"BulkLarge", testBulkLarge},
		{"Stats", testStats},
		{"ServerKey", testServerKey},
		{"Notifications", testNotifications},
		{"Idempotency", testIdempotency},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"SyncIsolation", testSyncIsolation},
		{"Replay", testReplay},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// clock is the store's clock under the suite's control. It starts off UTC and
// off the microsecond, so that a store which does not normalise shows it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 25, 18, 0, 0, 123456789, time.FixedZone("CET", 3600))}
}

// Now is the store's clock function.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d and returns the normalised new time, the
// timestamp the next write must record.
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return todo.NormalizeTime(c.now)
}

// Stamp is the timestamp a write at the current time must record.
func (c *clock) Stamp() time.Time { return todo.NormalizeTime(c.Now()) }

// env is one fresh store with its clock.
type env struct {
	t   *testing.T
	ctx context.Context
	s   todo.Store
	clk *clock
}

func newEnv(t *testing.T, open Opener) *env {
	t.Helper()
	clk := newClock()
	return &env{t: t, ctx: context.Background(), s: open(t, clk.Now), clk: clk}
}

// create validates nt as the API layer does and stores it for user.
func (e *env) create(user string, nt todo.NewTask) todo.Task {
	e.t.Helper()
	if err := nt.Normalize(); err != nil {
		e.t.Fatalf("the suite's own task %q is invalid: %v", nt.Title, err)
	}
	got, err := e.s.CreateTask(e.ctx, user, nt)
	if err != nil {
		e.t.Fatalf("CreateTask(%q, %q): %v", user, nt.Title, err)
	}
	return got
}

func (e *env) get(user string, id int64) todo.Task {
	e.t.Helper()
	got, err := e.s.GetTask(e.ctx, user, id)
	if err != nil {
		e.t.Fatalf("GetTask(%q, %d): %v", user, id, err)
	}
	return got
}

func (e *env) update(user string, id int64, p todo.TaskPatch, ifVersion int64) todo.Task {
	e.t.Helper()
	if err := p.Normalize(); err != nil {
		e.t.Fatalf("the suite's own patch is invalid: %v", err)
	}
	got, err := e.s.UpdateTask(e.ctx, user, id, p, ifVersion)
	if err != nil {
		e.t.Fatalf("UpdateTask(%q, %d): %v", user, id, err)
	}
	return got
}

func (e *env) complete(user string, id int64, completed *bool, ifVersion int64) todo.Task {
	e.t.Helper()
	got, err := e.s.CompleteTask(e.ctx, user, id, completed, ifVersion)
	if err != nil {
		e.t.Fatalf("CompleteTask(%q, %d, %v): %v", user, id, fmtBool(completed), err)
	}
	return got
}

// list normalises f as the API layer does and lists one page.
func (e *env) list(user string, f todo.TaskFilter) todo.TaskPage {
	e.t.Helper()
	if err := f.Normalize(); err != nil {
		e.t.Fatalf("the suite's own filter is invalid: %v", err)
	}
	page, err := e.s.ListTasks(e.ctx, user, f)
	if err != nil {
		e.t.Fatalf("ListTasks(%q, %+v): %v", user, f, err)
	}
	return page
}

func (e *env) count(user string, f todo.TaskFilter) int64 {
	e.t.Helper()
	if err := f.Normalize(); err != nil {
		e.t.Fatalf("the suite's own filter is invalid: %v", err)
	}
	n, err := e.s.CountTasks(e.ctx, user, f)
	if err != nil {
		e.t.Fatalf("CountTasks(%q, %+v): %v", user, f, err)
	}
	return n
}

// listAll walks every page of f with the given page size and returns the
// tasks in order, failing on any page that breaks the paging contract.
func (e *env) listAll(user string, f todo.TaskFilter, limit int) []todo.Task {
	e.t.Helper()
	f.Limit = limit
	var all []todo.Task
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.t.Fatalf("paging %+v does not end", f)
		}
		page := e.list(user, f)
		if page.Next == nil {
			if len(page.Tasks) > limit {
				e.t.Fatalf("last page has %d tasks, limit %d", len(page.Tasks), limit)
			}
			if len(page.Tasks) == 0 && pages > 0 {
				e.t.Fatalf("empty page after a page that promised more (sort %s desc %v limit %d)", f.Sort, f.Desc, limit)
			}
			return append(all, page.Tasks...)
		}
		if len(page.Tasks) != limit {
			e.t.Fatalf("a page with a next cursor has %d tasks, want the limit %d", len(page.Tasks), limit)
		}
		last := page.Tasks[len(page.Tasks)-1]
		if want := todo.CursorAfter(last, f.Sort, f.Desc); *page.Next != want {
			e.t.Fatalf("next cursor %+v, want %+v (after the page's last task)", *page.Next, want)
		}
		all = append(all, page.Tasks...)
		f.After = page.Next
	}
}

// Comparisons.

func ptr[T any](v T) *T { return &v }

func fmtBool(b *bool) string {
	if b == nil {
		return "toggle"
	}
	return fmt.Sprint(*b)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "null"
	}
	return t.Format(time.RFC3339Nano) + " (" + t.Location().String() + ")"
}

func fmtText(s *string) string {
	if s == nil {
		return "null"
	}
	return fmt.Sprintf("%q", *s)
}

// sameTime reports whether got is want, read back as the stores must: in UTC.
func sameTime(got, want *time.Time) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return got.Equal(*want) && got.Location() == time.UTC
}

// checkTask reports every field of got that differs from want. Tags must be
// non-nil; times must be equal and in UTC.
func checkTask(t *testing.T, what string, got, want todo.Task) {
	t.Helper()
	var diffs []string
	add := func(field, g, w string) {
		diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", field, g, w))
	}
	if got.ID != want.ID {
		add("ID", fmt.Sprint(got.ID), fmt.Sprint(want.ID))
	}
	if got.UserID != want.UserID {
		add("UserID", fmt.Sprintf("%q", got.UserID), fmt.Sprintf("%q", want.UserID))
	}
	if got.Title != want.Title {
		add("Title", fmt.Sprintf("%q", got.Title), fmt.Sprintf("%q", want.Title))
	}
	if (got.Description == nil) != (want.Description == nil) ||
		(got.Description != nil && *got.Description != *want.Description) {
		add("Description", fmtText(got.Description), fmtText(want.Description))
	}
	if got.Completed != want.Completed {
		add("Completed", fmt.Sprint(got.Completed), fmt.Sprint(want.Completed))
	}
	if got.Priority != want.Priority {
		add("Priority", string(got.Priority), string(want.Priority))
	}
	if got.Tags == nil || !slices.Equal(got.Tags, want.Tags) {
		add("Tags", fmt.Sprintf("%#v", got.Tags), fmt.Sprintf("%#v", want.Tags))
	}
	if !sameTime(got.DueAt, want.DueAt) {
		add("DueAt", fmtTime(got.DueAt), fmtTime(want.DueAt))
	}
	if !sameTime(got.CompletedAt, want.CompletedAt) {
		add("CompletedAt", fmtTime(got.CompletedAt), fmtTime(want.CompletedAt))
	}
	if !sameTime(&got.CreatedAt, &want.CreatedAt) {
		add("CreatedAt", fmtTime(&got.CreatedAt), fmtTime(&want.CreatedAt))
	}
	if !sameTime(&got.UpdatedAt, &want.UpdatedAt) {
		add("UpdatedAt", fmtTime(&got.UpdatedAt), fmtTime(&want.UpdatedAt))
	}
	if got.Version != want.Version {
		add("Version", fmt.Sprint(got.Version), fmt.Sprint(want.Version))
	}
	if len(diffs) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

// checkErr fails unless err is target, tested with errors.Is.
func checkErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want errors.Is %v", what, err, target)
	}
}

func ids(tasks []todo.Task) []int64 {
	out := make([]int64, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

// expectedOrder is the documented order of a list, computed here from the
// tasks' fields: the sort key in the requested direction, ties by id in the
// same direction, and for SortDue tasks without a due date last either way.
func expectedOrder(tasks []todo.Task, sort todo.SortField, desc bool) []todo.Task {
	out := slices.Clone(tasks)
	slices.SortFunc(out, func(a, b todo.Task) int {
		var c int
		switch sort {
		case todo.SortCreated:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case todo.SortUpdated:
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		case todo.SortTitle:
			c = strings.Compare(todo.TitleKey(a.Title), todo.TitleKey(b.Title))
		case todo.SortPriority:
			c = cmp.Compare(a.Priority.Rank(), b.Priority.Rank())
		case todo.SortDue:
			switch {
			case a.DueAt == nil && b.DueAt != nil:
				return 1
			case a.DueAt != nil && b.DueAt == nil:
				return -1
			case a.DueAt != nil:
				c = a.DueAt.Compare(*b.DueAt)
			}
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	})
	return out
}

// sorts is every sort key in both orders.
func sorts() []todo.TaskFilter {
	var out []todo.TaskFilter
	for _, s := range []todo.SortField{todo.SortCreated, todo.SortUpdated, todo.SortTitle, todo.SortDue, todo.SortPriority} {
		for _, desc := range []bool{false, true} {
			out = append(out, todo.TaskFilter{Sort: s, Desc: desc})
		}
	}
	return out
}

func sortName(f todo.TaskFilter) string {
	if f.Desc {
		return string(f.Sort) + "-desc"
	}
	return string(f.Sort) + "-asc"
}
