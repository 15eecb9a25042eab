package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/todod/todod/internal/todo"
)

// Every statement of the task CRUD is here, those of the changes feed, bulk
// edits, stats and idempotency keys in sync.go (goose runs the migrations);
// every one that touches a user's rows is filtered by user_id.

// pingSQL reads the schema version that Migrate recorded.
const pingSQL = `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied = 1`

// nextSeqSQL takes the user's next n change numbers and returns the last
// one. Every write runs it in its own transaction, on the single writer
// connection, so numbers are handed out in commit order.
const nextSeqSQL = `
INSERT INTO task_users (user_id, seq) VALUES (?, ?)
ON CONFLICT (user_id) DO UPDATE SET seq = seq + excluded.seq
RETURNING seq`

const insertTaskSQL = `
INSERT INTO tasks (user_id, title, title_key, description, search_key, completed, priority,
                   tags, due_at, completed_at, created_at, updated_at, version, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
RETURNING id, user_id, title, description, completed, priority, tags, due_at, completed_at,
          created_at, updated_at, version, seq`

const getTaskSQL = `
SELECT id, user_id, title, description, completed, priority, tags, due_at, completed_at,
       created_at, updated_at, version, seq
FROM tasks
WHERE id = ? AND user_id = ?`

// updateTaskSQL writes back a task read in the same transaction; the version
// condition cannot fail under the writer's lock, it only makes the statement
// say what it relies on.
const updateTaskSQL = `
UPDATE tasks
SET title = ?, title_key = ?, description = ?, search_key = ?, completed = ?, priority = ?,
    tags = ?, due_at = ?, completed_at = ?, updated_at = ?, version = version + 1, seq = ?
WHERE id = ? AND user_id = ? AND version = ?
RETURNING id, user_id, title, description, completed, priority, tags, due_at, completed_at,
          created_at, updated_at, version, seq`

const deleteTaskSQL = `
DELETE FROM tasks
WHERE id = ? AND user_id = ? AND version = ?`

// insertTombstoneSQL records a deletion for the changes feed.
const insertTombstoneSQL = `
INSERT INTO task_tombstones (user_id, seq, task_id, deleted_at)
VALUES (?, ?, ?, ?)`

// listSelectSQL starts every list query; listQueries adds the index, WHERE,
// ORDER BY and LIMIT.
const listSelectSQL = `
SELECT id, user_id, title, description, completed, priority, tags, due_at, completed_at,
       created_at, updated_at, version, seq
FROM tasks INDEXED BY `

// countSQL starts the count query; filterWhere adds its WHERE.
const countSQL = `
SELECT count(*)
FROM tasks`

// The WHERE conditions of lists and counts; each is a constant, values are
// always placeholders.
const (
	condUser      = `user_id = ?`
	condPending   = `completed = 0`
	condCompleted = `completed = 1`
	condTag       = `EXISTS (SELECT 1 FROM json_each(tasks.tags) WHERE json_each.value = ?)`
	condQuery     = `instr(search_key, ?) > 0`
	condDueBefore = `due_at < ?`
	condDueAfter  = `due_at > ?`
	condOverdue   = `completed = 0 AND due_at < ?`
	condHasDue    = `due_at IS NOT NULL`
	condNoDue     = `due_at IS NULL`
)

// sortIndex returns the column of a sort key and the index (user_id, column,
// id) that lists by it.
func sortIndex(f todo.SortField) (column, index string) {
	switch f {
	case todo.SortUpdated:
		return "updated_at", "tasks_user_updated_idx"
	case todo.SortTitle:
		return "title_key", "tasks_user_title_idx"
	case todo.SortDue:
		return "due_at", "tasks_user_due_idx"
	case todo.SortPriority:
		return "priority", "tasks_user_priority_idx"
	}
	return "created_at", "tasks_user_created_idx"
}

// CreateTask stores a new task with version 1.
func (s *Store) CreateTask(ctx context.Context, userID string, nt todo.NewTask) (todo.Task, error) {
	const op = "create task"
	// The caller has validated nt; normalising again is idempotent and keeps
	// a caller's mistake from reaching the table.
	if err := nt.Normalize(); err != nil {
		return todo.Task{}, fmt.Errorf("%s: %w", op, err)
	}
	var created todo.Task
	err := s.userTx(ctx, userID, func(tx *sql.Tx) error {
		var err error
		created, err = createTask(ctx, tx, userID, nt, s.clock())
		return err
	})
	if err != nil {
		return todo.Task{}, s.mapErr(ctx, op, err)
	}
	return created, nil
}

// createTask inserts a new, normalised task in a write transaction, with the
// user's next change number.
func createTask(ctx context.Context, tx *sql.Tx, userID string, nt todo.NewTask, now time.Time) (todo.Task, error) {
	t := todo.Task{
		UserID:      userID,
		Title:       nt.Title,
		Description: nt.Description,
		Priority:    nt.Priority,
		Tags:        nt.Tags,
		DueAt:       nt.DueAt,
	}
	t = todo.SetCompleted(t, nt.Completed, now)
	tags, err := encodeTags(t.Tags)
	if err != nil {
		return todo.Task{}, err
	}
	seq, err := nextSeq(ctx, tx, userID, 1)
	if err != nil {
		return todo.Task{}, err
	}
	return scanTask(tx.QueryRowContext(ctx, insertTaskSQL,
		userID, t.Title, todo.TitleKey(t.Title), t.Description, todo.SearchKey(t.Title, t.Description),
		t.Completed, t.Priority.Rank(), tags, microsPtr(t.DueAt), microsPtr(t.CompletedAt),
		now.UnixMicro(), now.UnixMicro(), seq))
}

// nextSeq takes the user's next n change numbers and returns the last one.
func nextSeq(ctx context.Context, tx *sql.Tx, userID string, n int) (int64, error) {
	var last int64
	err := tx.QueryRowContext(ctx, nextSeqSQL, userID, n).Scan(&last)
	return last, err
}

// GetTask returns one of the user's tasks.
func (s *Store) GetTask(ctx context.Context, userID string, id int64) (todo.Task, error) {
	const op = "get task"
	t, err := scanTask(s.read.QueryRowContext(ctx, getTaskSQL, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return todo.Task{}, fmt.Errorf("%s %d: %w", op, id, todo.ErrNotFound)
	}
	if err != nil {
		return todo.Task{}, s.mapErr(ctx, op, err)
	}
	return t, nil
}

// UpdateTask applies a patch to one of the user's tasks.
func (s *Store) UpdateTask(ctx context.Context, userID string, id int64, p todo.TaskPatch, ifVersion int64) (todo.Task, error) {
	const op = "update task"
	if err := p.Normalize(); err != nil {
		return todo.Task{}, fmt.Errorf("%s: %w", op, err)
	}
	return s.modify(ctx, op, userID, id, ifVersion, p.Apply)
}

// CompleteTask sets or toggles the completion of one of the user's tasks.
func (s *Store) CompleteTask(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64) (todo.Task, error) {
	return s.modify(ctx, "complete task", userID, id, ifVersion, todo.Completion(completed))
}

// modify is the read-change-write transaction of UpdateTask and CompleteTask.
func (s *Store) modify(ctx context.Context, op, userID string, id, ifVersion int64, change func(todo.Task, time.Time) todo.Task) (todo.Task, error) {
	var out todo.Task
	err := s.userTx(ctx, userID, func(tx *sql.Tx) error {
		var err error
		out, err = modifyTask(ctx, tx, userID, id, ifVersion, s.clock(), change)
		return err
	})
	if err != nil {
		return todo.Task{}, s.mapErr(ctx, op, err)
	}
	return out, nil
}

// modifyTask reads a task in a write transaction, checks the precondition,
// applies change and writes the result back with the user's next change
// number.
func modifyTask(ctx context.Context, tx *sql.Tx, userID string, id, ifVersion int64, now time.Time,
	change func(todo.Task, time.Time) todo.Task) (todo.Task, error) {
	cur, err := currentTask(ctx, tx, userID, id, ifVersion)
	if err != nil {
		return todo.Task{}, err
	}
	seq, err := nextSeq(ctx, tx, userID, 1)
	if err != nil {
		return todo.Task{}, err
	}
	return writeBack(ctx, tx, cur, change(cur, now), now, seq)
}

// writeBack stores next, the new state of cur, as the write numbered seq.
func writeBack(ctx context.Context, tx *sql.Tx, cur, next todo.Task, now time.Time, seq int64) (todo.Task, error) {
	tags, err := encodeTags(next.Tags)
	if err != nil {
		return todo.Task{}, err
	}
	return scanTask(tx.QueryRowContext(ctx, updateTaskSQL,
		next.Title, todo.TitleKey(next.Title), next.Description, todo.SearchKey(next.Title, next.Description),
		next.Completed, next.Priority.Rank(), tags, microsPtr(next.DueAt), microsPtr(next.CompletedAt),
		now.UnixMicro(), seq, cur.ID, cur.UserID, cur.Version))
}

// DeleteTask removes one of the user's tasks and returns it as it was.
func (s *Store) DeleteTask(ctx context.Context, userID string, id int64, ifVersion int64) (todo.Task, error) {
	const op = "delete task"
	var gone todo.Task
	err := s.userTx(ctx, userID, func(tx *sql.Tx) error {
		var err error
		if gone, err = currentTask(ctx, tx, userID, id, ifVersion); err != nil {
			return err
		}
		seq, err := nextSeq(ctx, tx, userID, 1)
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, deleteTaskSQL, id, userID, gone.Version); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, insertTombstoneSQL, userID, seq, id, s.clock().UnixMicro())
		return err
	})
	if err != nil {
		return todo.Task{}, s.mapErr(ctx, op, err)
	}
	return gone, nil
}

// currentTask reads a task inside a write transaction and checks the caller's
// precondition. Another user's task is not found before any version is
// compared, so a precondition failure never reveals that it exists.
func currentTask(ctx context.Context, tx *sql.Tx, userID string, id, ifVersion int64) (todo.Task, error) {
	t, err := scanTask(tx.QueryRowContext(ctx, getTaskSQL, id, userID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return todo.Task{}, fmt.Errorf("task %d: %w", id, todo.ErrNotFound)
	case err != nil:
		return todo.Task{}, err
	case ifVersion != 0 && t.Version != ifVersion:
		return todo.Task{}, fmt.Errorf("task %d is at version %d, not %d: %w", id, t.Version, ifVersion, todo.ErrPreconditionFailed)
	}
	return t, nil
}

// ListTasks returns one page of the user's tasks matching f.
func (s *Store) ListTasks(ctx context.Context, userID string, f todo.TaskFilter) (todo.TaskPage, error) {
	const op = "list tasks"
	if err := f.Normalize(); err != nil {
		return todo.TaskPage{}, fmt.Errorf("%s: %w", op, err)
	}
	// One row beyond the page tells whether another page follows.
	want := f.Limit + 1
	tasks := make([]todo.Task, 0, min(want, 128))
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		for _, q := range listQueries(userID, f) {
			if len(tasks) == want {
				break
			}
			rows, err := tx.QueryContext(ctx, q.sql, q.withLimit(want-len(tasks))...)
			if err != nil {
				return err
			}
			for rows.Next() {
				t, err := scanTask(rows)
				if err != nil {
					_ = rows.Close()
					return err
				}
				tasks = append(tasks, t)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return todo.TaskPage{}, s.mapErr(ctx, op, err)
	}
	return f.Page(tasks), nil
}

// CountTasks counts the user's tasks matching f, ignoring its cursor and limit.
func (s *Store) CountTasks(ctx context.Context, userID string, f todo.TaskFilter) (int64, error) {
	const op = "count tasks"
	if err := f.Normalize(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	conds, args := filterWhere(userID, f)
	var n int64
	err := s.read.QueryRowContext(ctx, countSQL+"\nWHERE "+strings.Join(conds, "\n  AND "), args...).Scan(&n)
	if err != nil {
		return 0, s.mapErr(ctx, op, err)
	}
	return n, nil
}

// listQuery is one statement of a list, without the value of its final LIMIT ?.
type listQuery struct {
	sql  string
	args []any
}

// withLimit returns the statement's arguments followed by the limit.
func (q listQuery) withLimit(limit int) []any {
	return append(append(make([]any, 0, len(q.args)+1), q.args...), limit)
}

// listQueries returns the statements that, run in order until a page is full,
// list the tasks of f after f.After. A second page of pending tasks, newest
// first, for example:
//
//	SELECT id, user_id, … FROM tasks INDEXED BY tasks_user_created_idx
//	WHERE user_id = ?
//	  AND completed = 0
//	  AND (created_at, id) < (?, ?)
//	ORDER BY created_at DESC, id DESC
//	LIMIT ?
//
// Every statement is a range scan of the index (user_id, key, id) in the
// order of the page. INDEXED BY holds the planner to that: with statistics
// from ANALYZE it may otherwise prefer, say, walking the primary key for the
// tasks without a due date, which reads the whole table for a user with few
// tasks among many users'.
//
// Sorting by due date takes two statements: tasks with a due date, then those
// without. SQLite puts NULLs first in ascending order and cannot walk an index
// NULLS LAST, so one ORDER BY would sort the whole list instead of reading a
// page of the index; the NULL group, ordered by id, is a second range of the
// same index.
func listQueries(userID string, f todo.TaskFilter) []listQuery {
	conds, args := filterWhere(userID, f)
	col, index := sortIndex(f.Sort)
	dir, cmp := "ASC", ">"
	if f.Desc {
		dir, cmp = "DESC", "<"
	}
	build := func(extra []string, extraArgs []any, orderBy string) listQuery {
		all := append(append([]string{}, conds...), extra...)
		return listQuery{
			sql:  listSelectSQL + index + "\nWHERE " + strings.Join(all, "\n  AND ") + "\nORDER BY " + orderBy + "\nLIMIT ?",
			args: append(append([]any{}, args...), extraArgs...),
		}
	}
	after := f.After
	if f.Sort != todo.SortDue {
		var extra []string
		var extraArgs []any
		if after != nil {
			extra = []string{"(" + col + ", id) " + cmp + " (?, ?)"}
			extraArgs = []any{cursorKey(*after), after.ID}
		}
		return []listQuery{build(extra, extraArgs, col+" "+dir+", id "+dir)}
	}

	var qs []listQuery
	if after == nil || !after.NoDue {
		extra := []string{condHasDue}
		var extraArgs []any
		if after != nil {
			extra = append(extra, "(due_at, id) "+cmp+" (?, ?)")
			extraArgs = []any{after.Time.UnixMicro(), after.ID}
		}
		qs = append(qs, build(extra, extraArgs, "due_at "+dir+", id "+dir))
	}
	// A due-date filter excludes every task without one.
	if f.DueBefore == nil && f.DueAfter == nil && !f.Overdue {
		extra := []string{condNoDue}
		var extraArgs []any
		if after != nil && after.NoDue {
			extra = append(extra, "id "+cmp+" ?")
			extraArgs = []any{after.ID}
		}
		qs = append(qs, build(extra, extraArgs, "id "+dir))
	}
	return qs
}

// cursorKey is the stored value of the sort key a cursor points after.
func cursorKey(c todo.Cursor) any {
	switch c.Sort {
	case todo.SortTitle:
		return c.Text
	case todo.SortPriority:
		return c.Rank
	}
	return c.Time.UnixMicro()
}

// filterWhere returns the conditions, joined by AND, and their arguments that
// select the user's tasks matching f's filters (not its cursor).
func filterWhere(userID string, f todo.TaskFilter) ([]string, []any) {
	conds := []string{condUser}
	args := []any{userID}
	switch f.Status {
	case todo.StatusPending:
		conds = append(conds, condPending)
	case todo.StatusCompleted:
		conds = append(conds, condCompleted)
	}
	if len(f.Priorities) > 0 {
		conds = append(conds, "priority IN (?"+strings.Repeat(", ?", len(f.Priorities)-1)+")")
		for _, p := range f.Priorities {
			args = append(args, p.Rank())
		}
	}
	for _, tag := range f.Tags {
		conds = append(conds, condTag)
		args = append(args, tag)
	}
	if f.Query != "" {
		conds = append(conds, condQuery)
		args = append(args, todo.SearchQuery(f.Query))
	}
	if f.DueBefore != nil {
		conds = append(conds, condDueBefore)
		args = append(args, f.DueBefore.UnixMicro())
	}
	if f.DueAfter != nil {
		conds = append(conds, condDueAfter)
		args = append(args, f.DueAfter.UnixMicro())
	}
	if f.Overdue {
		conds = append(conds, condOverdue)
		args = append(args, f.Now.UnixMicro())
	}
	return conds, args
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanTask reads the columns every task statement returns, in their order.
func scanTask(r rowScanner) (todo.Task, error) {
	var (
		t                    todo.Task
		description          sql.NullString
		rank                 int
		tags                 string
		dueAt, completedAt   sql.NullInt64
		createdAt, updatedAt int64
	)
	if err := r.Scan(&t.ID, &t.UserID, &t.Title, &description, &t.Completed, &rank, &tags,
		&dueAt, &completedAt, &createdAt, &updatedAt, &t.Version, &t.Seq); err != nil {
		return todo.Task{}, err
	}
	if description.Valid {
		t.Description = &description.String
	}
	t.Priority = todo.PriorityFromRank(rank)
	if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
		return todo.Task{}, fmt.Errorf("task %d: tags: %w", t.ID, err)
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	t.DueAt = fromMicrosPtr(dueAt)
	t.CompletedAt = fromMicrosPtr(completedAt)
	t.CreatedAt = fromMicros(createdAt)
	t.UpdatedAt = fromMicros(updatedAt)
	return t, nil
}

// encodeTags is the stored form of tags: a JSON array, "[]" when empty.
func encodeTags(tags []string) (string, error) {
	if len(tags) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return "", fmt.Errorf("tags: %w", err)
	}
	return string(b), nil
}

// microsPtr is the stored form of a nullable time: microseconds since the
// Unix epoch, or NULL.
func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros reads a stored time back: UTC, microsecond precision.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromMicrosPtr(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}
