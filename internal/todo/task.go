// Package todo is the domain of todod: what a task is, the rules its fields
// follow, and the Store contract that every storage engine implements.
//
// It depends on the standard library only. HTTP, SQL and JWT live in their own
// packages and speak to each other through the types defined here.
package todo

import (
	"context"
	"errors"
	"time"
)

// Priority is how urgent a task is. The zero value is not valid; use PriorityNone.
type Priority string

// The priorities, from least to most urgent.
const (
	PriorityNone   Priority = "none"
	PriorityLow    Priority = "low"
	PriorityMedium Priority = "medium"
	PriorityHigh   Priority = "high"
)

// Priorities lists every valid priority in ascending rank.
var Priorities = []Priority{PriorityNone, PriorityLow, PriorityMedium, PriorityHigh}

// Rank orders priorities: none 0, low 1, medium 2, high 3. Engines store the rank,
// so that sorting by priority is an index scan. An invalid priority ranks -1.
func (p Priority) Rank() int {
	for i, q := range Priorities {
		if p == q {
			return i
		}
	}
	return -1
}

// PriorityFromRank is the inverse of Rank. Out-of-range ranks give PriorityNone.
func PriorityFromRank(r int) Priority {
	if r < 0 || r >= len(Priorities) {
		return PriorityNone
	}
	return Priorities[r]
}

// Valid reports whether p is one of the four priorities.
func (p Priority) Valid() bool { return p.Rank() >= 0 }

// Task is one todo item. It always belongs to exactly one user.
type Task struct {
	ID          int64
	UserID      string
	Title       string
	Description *string
	Completed   bool
	Priority    Priority
	Tags        []string // never nil; sorted as given by the client, duplicates rejected
	DueAt       *time.Time
	CompletedAt *time.Time // set when the task becomes completed, cleared when reopened
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Version starts at 1 and grows by one on every write. It is the basis of the
	// task's ETag and of If-Match preconditions.
	Version int64
	// Seq is the user's change number of the task's last write (see Changes).
	Seq int64
}

// NewTask is what a client supplies to create a task. Call Normalize before
// handing it to a Store.
type NewTask struct {
	Title       string
	Description *string
	Completed   bool
	Priority    Priority // empty means PriorityNone
	Tags        []string
	DueAt       *time.Time
}

// Optional is a JSON-merge-patch field of a nullable value: Set reports whether
// the field was present; when it was, a nil Value clears the field.
type Optional[T any] struct {
	Set   bool
	Value *T
}

// TaskPatch is a partial update: nil pointers and unset Optionals leave the field
// unchanged.
type TaskPatch struct {
	Title       *string
	Description Optional[string]
	Completed   *bool
	Priority    *Priority
	Tags        *[]string
	DueAt       Optional[time.Time]
}

// Empty reports whether the patch changes nothing. An empty patch still counts
// as a write: it bumps updated_at and the version, as the plan's PUT did.
func (p TaskPatch) Empty() bool {
	return p.Title == nil && !p.Description.Set && p.Completed == nil &&
		p.Priority == nil && p.Tags == nil && !p.DueAt.Set
}

// Apply returns t with the patch applied and the completion rules kept:
// completed_at is set to now when the task becomes completed and cleared when
// it is reopened. It does not touch UpdatedAt or Version; stores do.
func (p TaskPatch) Apply(t Task, now time.Time) Task {
	if p.Title != nil {
		t.Title = *p.Title
	}
	if p.Description.Set {
		t.Description = p.Description.Value
	}
	if p.Priority != nil {
		t.Priority = *p.Priority
	}
	if p.Tags != nil {
		t.Tags = append([]string{}, (*p.Tags)...)
	}
	if p.DueAt.Set {
		t.DueAt = p.DueAt.Value
	}
	if p.Completed != nil {
		t = SetCompleted(t, *p.Completed, now)
	}
	return t
}

// SetCompleted marks t completed or pending and keeps CompletedAt consistent.
// Completing an already completed task keeps its original CompletedAt.
func SetCompleted(t Task, completed bool, now time.Time) Task {
	switch {
	case completed && !t.Completed:
		n := now
		t.CompletedAt = &n
	case !completed:
		t.CompletedAt = nil
	}
	t.Completed = completed
	return t
}

// Completion is the change CompleteTask makes, in the shape of
// TaskPatch.Apply: it sets a task's completion to *completed, or toggles it
// when completed is nil, as SetCompleted does.
func Completion(completed *bool) func(Task, time.Time) Task {
	return func(t Task, now time.Time) Task {
		done := !t.Completed
		if completed != nil {
			done = *completed
		}
		return SetCompleted(t, done, now)
	}
}

// Status selects tasks by completion.
type Status string

// The statuses a list can filter on.
const (
	StatusAll       Status = "all"
	StatusPending   Status = "pending"
	StatusCompleted Status = "completed"
)

// SortField is the key a list is ordered by. Ties are always broken by id, in
// the same direction as the order.
type SortField string

// The sort keys.
const (
	SortCreated  SortField = "created"  // created_at
	SortUpdated  SortField = "updated"  // updated_at
	SortTitle    SortField = "title"    // TitleKey(title): case-insensitive, then byte order
	SortDue      SortField = "due"      // due_at; tasks without a due date come last in both orders
	SortPriority SortField = "priority" // Priority.Rank()
)

// DefaultOrderDesc gives the natural order of each key: newest first for the
// timestamps, most urgent first for priority, A→Z for title, soonest first for due.
func (s SortField) DefaultOrderDesc() bool {
	return s == SortCreated || s == SortUpdated || s == SortPriority
}

// Valid reports whether s is a known sort key.
func (s SortField) Valid() bool {
	switch s {
	case SortCreated, SortUpdated, SortTitle, SortDue, SortPriority:
		return true
	}
	return false
}

// Limits on lists.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// TaskFilter selects, orders and pages a user's tasks. The zero value (after
// Normalize) lists all tasks, newest first, 100 at a time.
type TaskFilter struct {
	Status     Status
	Priorities []Priority // any of; empty = any priority
	Tags       []string   // all must be present
	Query      string     // case-insensitive substring of title or description; compared on SearchKey
	DueBefore  *time.Time // due_at < DueBefore
	DueAfter   *time.Time // due_at > DueAfter
	Overdue    bool       // not completed and due_at < Now
	Now        time.Time  // the clock reading Overdue compares with
	Sort       SortField
	Desc       bool
	Limit      int     // 1..MaxLimit
	After      *Cursor // keyset position: the page starts after this task
}

// Cursor is a keyset position in a sorted list: the sort key and id of the last
// task of the previous page. Only the fields of Sort's key are meaningful.
type Cursor struct {
	Sort  SortField
	Desc  bool
	ID    int64
	Time  time.Time // SortCreated, SortUpdated, SortDue (when !NoDue)
	Text  string    // SortTitle: TitleKey of the title
	Rank  int       // SortPriority
	NoDue bool      // SortDue: the last task had no due date
}

// CursorAfter is the cursor that continues a list ordered by sort/desc after t.
func CursorAfter(t Task, sort SortField, desc bool) Cursor {
	c := Cursor{Sort: sort, Desc: desc, ID: t.ID}
	switch sort {
	case SortCreated:
		c.Time = t.CreatedAt
	case SortUpdated:
		c.Time = t.UpdatedAt
	case SortTitle:
		c.Text = TitleKey(t.Title)
	case SortDue:
		if t.DueAt == nil {
			c.NoDue = true
		} else {
			c.Time = *t.DueAt
		}
	case SortPriority:
		c.Rank = t.Priority.Rank()
	}
	return c
}

// TaskPage is one page of a list. Next is nil on the last page.
type TaskPage struct {
	Tasks []Task
	Next  *Cursor
}

// Page makes the page of a list read for f, from tasks in f's order and up
// to f.Limit+1 long (one beyond the page tells that more follow): it keeps
// the first f.Limit, and then Next continues after the last one kept.
func (f TaskFilter) Page(tasks []Task) TaskPage {
	page := TaskPage{Tasks: tasks}
	if len(tasks) > f.Limit {
		page.Tasks = tasks[:f.Limit]
		next := CursorAfter(page.Tasks[f.Limit-1], f.Sort, f.Desc)
		page.Next = &next
	}
	return page
}

// Errors of the Store contract. Engines wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no task with that id belongs to the user. Another user's task
	// gives exactly this error, so the two cases cannot be told apart.
	ErrNotFound = errors.New("task not found")
	// ErrPreconditionFailed: the task's version is not the one the caller required.
	// Nothing was changed.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrUnavailable: the database could not be reached or did not answer in time
	// (connection loss, pool timeout, statement timeout, shutdown). The request may
	// be retried later; for writes, nothing was committed unless the engine says so.
	ErrUnavailable = errors.New("storage unavailable")
)

// Store keeps tasks. Every method takes the authenticated user's id and touches
// only that user's tasks; another user's task behaves as a missing one. Each
// method is one transaction. Implementations generate timestamps in Go at
// microsecond precision, in UTC.
//
// Errors: ErrNotFound, ErrPreconditionFailed and ErrUnavailable as documented on
// each method, wrapped; anything else is a bug or an unexpected database error.
type Store interface {
	// CreateTask stores a new, already validated task and returns it with its id,
	// timestamps and Version 1. Errors: ErrUnavailable.
	CreateTask(ctx context.Context, userID string, t NewTask) (Task, error)
	// GetTask returns one task. Errors: ErrNotFound, ErrUnavailable.
	GetTask(ctx context.Context, userID string, id int64) (Task, error)
	// UpdateTask applies an already validated patch, bumps UpdatedAt and Version
	// and keeps CompletedAt consistent (TaskPatch.Apply). When ifVersion is not 0
	// the task's current Version must equal it. Errors: ErrNotFound,
	// ErrPreconditionFailed, ErrUnavailable.
	UpdateTask(ctx context.Context, userID string, id int64, p TaskPatch, ifVersion int64) (Task, error)
	// CompleteTask sets the task's completion to *completed, or toggles it when
	// completed is nil; otherwise as UpdateTask.
	CompleteTask(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64) (Task, error)
	// DeleteTask removes a task and returns it as it was. ifVersion as in
	// UpdateTask. Errors: ErrNotFound, ErrPreconditionFailed, ErrUnavailable.
	DeleteTask(ctx context.Context, userID string, id int64, ifVersion int64) (Task, error)
	// ListTasks returns one page of the user's tasks matching f (normalised).
	// Errors: ErrUnavailable.
	ListTasks(ctx context.Context, userID string, f TaskFilter) (TaskPage, error)
	// CountTasks counts the user's tasks matching f, ignoring its cursor and
	// limit. Errors: ErrUnavailable.
	CountTasks(ctx context.Context, userID string, f TaskFilter) (int64, error)
	// Ping reports whether the database answers and the schema is current.
	// Errors: ErrUnavailable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
	SyncStore
}
