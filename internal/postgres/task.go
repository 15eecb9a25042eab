package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todod/todod/internal/todo"
)

// CreateTask stores a new task and returns it with its id, timestamps and
// Version 1. Errors: todo.ErrUnavailable.
func (s *Store) CreateTask(ctx context.Context, userID string, nt todo.NewTask) (todo.Task, error) {
	var out todo.Task
	err := s.run(ctx, "create-task", func(conn *pgxpool.Conn) error {
		var err error
		out, err = createTask(ctx, conn, userID, nt, s.now())
		return err
	})
	if err == nil {
		s.changed(userID)
	}
	return out, err
}

// queryRower is a connection or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// createTask inserts a new task numbered with the user's next change number,
// in one statement: taking the number locks the user's counter row until the
// statement's transaction commits, so the user's numbers are handed out in
// commit order.
func createTask(ctx context.Context, q queryRower, userID string, nt todo.NewTask, now time.Time) (todo.Task, error) {
	t := todo.Task{
		UserID:      userID,
		Title:       nt.Title,
		Description: nt.Description,
		Priority:    nt.Priority,
		Tags:        nt.Tags,
		DueAt:       nt.DueAt,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if t.Priority == "" {
		t.Priority = todo.PriorityNone
	}
	t = todo.SetCompleted(t, nt.Completed, now)
	return scanTask(userID, q.QueryRow(ctx, `
		WITH change AS (
			INSERT INTO task_users (user_id, seq) VALUES ($1, 1)
			ON CONFLICT (user_id) DO UPDATE SET seq = task_users.seq + 1
			RETURNING seq)
		INSERT INTO tasks (user_id, title, title_key, description, search_key, completed,
		                   priority, tags, due_at, completed_at, created_at, updated_at, seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, (SELECT seq FROM change))
		RETURNING id, title, description, completed, priority, tags,
		          due_at, completed_at, created_at, updated_at, version, seq`,
		t.UserID, t.Title, todo.TitleKey(t.Title), t.Description, todo.SearchKey(t.Title, t.Description),
		t.Completed, int16(t.Priority.Rank()), tagsArg(t.Tags), timeArg(t.DueAt), timeArg(t.CompletedAt),
		t.CreatedAt, t.UpdatedAt))
}

// GetTask returns one of the user's tasks. Errors: todo.ErrNotFound,
// todo.ErrUnavailable.
func (s *Store) GetTask(ctx context.Context, userID string, id int64) (todo.Task, error) {
	var out todo.Task
	err := s.run(ctx, "get-task", func(conn *pgxpool.Conn) error {
		var err error
		out, err = getTask(ctx, conn, userID, id)
		return err
	})
	return out, err
}

// getTask reads one of the user's tasks.
func getTask(ctx context.Context, q queryRower, userID string, id int64) (todo.Task, error) {
	return scanTask(userID, q.QueryRow(ctx, `
		SELECT id, title, description, completed, priority, tags,
		       due_at, completed_at, created_at, updated_at, version, seq
		FROM tasks
		WHERE id = $1 AND user_id = $2`,
		id, userID))
}

// UpdateTask applies p to the task, bumping UpdatedAt and Version. Errors:
// todo.ErrNotFound, todo.ErrPreconditionFailed, todo.ErrUnavailable.
func (s *Store) UpdateTask(ctx context.Context, userID string, id int64, p todo.TaskPatch, ifVersion int64) (todo.Task, error) {
	return s.modify(ctx, "update-task", userID, id, ifVersion, p.Apply)
}

// CompleteTask sets the task's completion to *completed, or toggles it when
// completed is nil; otherwise as UpdateTask.
func (s *Store) CompleteTask(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64) (todo.Task, error) {
	return s.modify(ctx, "complete-task", userID, id, ifVersion, todo.Completion(completed))
}

// modify is one read-modify-write of a task (modifyTaskOptimistic), in two
// round trips when no other write to the task comes in between.
func (s *Store) modify(ctx context.Context, op, userID string, id, ifVersion int64,
	change func(t todo.Task, now time.Time) todo.Task) (todo.Task, error) {
	var out todo.Task
	err := s.run(ctx, op, func(conn *pgxpool.Conn) error {
		var err error
		out, err = modifyTaskOptimistic(ctx, conn, userID, id, ifVersion, s.now(), change, optimisticWrites)
		return err
	})
	if err == nil {
		s.changed(userID)
	}
	return out, err
}

// optimisticWrites is how many times modifyTaskOptimistic writes without a
// lock before it locks the task: once. A task that changed between the read
// and the write is being written by others at that moment, and another
// optimistic try tends to lose again, while the lock waits its turn: with
// four clients toggling one task (BenchmarkWrites/complete-one-task-parallel)
// a toggle took about 1.25 ms with one try, 1.8 ms with two or three, and
// 0.95 ms with the lock alone.
const optimisticWrites = 1

// modifyTaskOptimistic reads the task without a lock, applies change in Go
// and writes the result back only if the task still has the version read
// (writeIfVersion), all in autocommit statements: two round trips instead
// of the four of a locking transaction (BEGIN, SELECT … FOR UPDATE, UPDATE,
// COMMIT). When another writer got in between, it reads the task again and
// tries again with the new version, up to attempts writes (optimisticWrites
// for the store); then it locks the task in a transaction (modifyTask), so
// that it completes however busy the task is. The result is that of one of the serial orders of the writes, as
// with the lock: a caller's If-Match (ifVersion) is checked against every
// version read, a task deleted in between is ErrNotFound.
//
// Every statement is a whole unit of work, so the caller's retry (s.run) may
// run it all again from the start: a write that failed before it was sent
// was not applied, and one that was rolled back by a conflict neither.
func modifyTaskOptimistic(ctx context.Context, conn *pgxpool.Conn, userID string, id, ifVersion int64, now time.Time,
	change func(t todo.Task, now time.Time) todo.Task, attempts int) (todo.Task, error) {
	for range attempts {
		cur, err := getTask(ctx, conn, userID, id)
		if err != nil {
			return todo.Task{}, err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return todo.Task{}, todo.ErrPreconditionFailed
		}
		t, written, err := writeIfVersion(ctx, conn, userID, cur.Version, change(cur, now), now)
		if err != nil || written {
			return t, err
		}
	}
	var out todo.Task
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var err error
		out, err = modifyTask(ctx, tx, userID, id, ifVersion, now, change)
		return err
	})
	return out, err
}

// modifyTask locks the task, checks its version, applies change in Go and
// writes the result back (writeIfVersion, which the lock makes succeed) with
// the user's next change number, taken in the same statement (see
// createTask).
func modifyTask(ctx context.Context, tx pgx.Tx, userID string, id, ifVersion int64, now time.Time,
	change func(t todo.Task, now time.Time) todo.Task) (todo.Task, error) {
	cur, err := scanTask(userID, tx.QueryRow(ctx, `
		SELECT id, title, description, completed, priority, tags,
		       due_at, completed_at, created_at, updated_at, version, seq
		FROM tasks
		WHERE id = $1 AND user_id = $2
		FOR UPDATE`,
		id, userID))
	if err != nil {
		return todo.Task{}, err
	}
	if ifVersion != 0 && cur.Version != ifVersion {
		return todo.Task{}, todo.ErrPreconditionFailed
	}
	t, written, err := writeIfVersion(ctx, tx, userID, cur.Version, change(cur, now), now)
	if err == nil && !written {
		return todo.Task{}, fmt.Errorf("task %d changed while this transaction held its lock", id)
	}
	return t, err
}

// writeIfVersion writes t over the user's task t.ID if the task still has
// version, with the user's next change number, in one autocommit statement
// (writeIfVersionSQL). written is false, with no error, when the task was
// changed or deleted since it was read.
func writeIfVersion(ctx context.Context, q queryRower, userID string, version int64, t todo.Task,
	now time.Time) (out todo.Task, written bool, err error) {
	out, err = scanTask(userID, q.QueryRow(ctx, writeIfVersionSQL,
		t.ID, userID, version, t.Title, todo.TitleKey(t.Title), t.Description, todo.SearchKey(t.Title, t.Description),
		t.Completed, int16(t.Priority.Rank()), tagsArg(t.Tags), timeArg(t.DueAt), timeArg(t.CompletedAt),
		now))
	if errors.Is(err, pgx.ErrNoRows) {
		return todo.Task{}, false, nil
	}
	return out, err == nil, err
}

// writeIfVersionSQL updates the task $1 of the user $2 if its version is
// still $3, and only then takes the user's next change number.
//
// Under READ COMMITTED, cur locks the row; when a write to it committed after
// this statement's snapshot was taken, the lock waits for that write and
// PostgreSQL re-evaluates cur's WHERE on the newest version of the row
// (EvalPlanQual). Every write of a task bumps its version and a deleted task
// has no row, so the check fails, cur is empty, change inserts nothing and
// the UPDATE joins nothing: no number is used. When cur returns the row, the
// statement holds its lock, so no write can come between the check and the
// UPDATE, which therefore finds the version it checked.
//
// The change number is taken inside the statement, as in createTask: the
// lock on the user's counter row is held until the statement commits, so the
// user's numbers are still handed out in commit order. The task's row is
// locked before the counter's, the order of every other write (modifyTask,
// DeleteTask, BulkTasks), so no new deadlock can arise. cur is read twice
// and MATERIALIZED, so it is evaluated, and the row locked, once.
const writeIfVersionSQL = `
WITH cur AS MATERIALIZED (
    SELECT id FROM tasks
    WHERE id = $1 AND user_id = $2 AND version = $3::bigint
    FOR UPDATE),
change AS (
    INSERT INTO task_users (user_id, seq) SELECT $2::text, 1 FROM cur
    ON CONFLICT (user_id) DO UPDATE SET seq = task_users.seq + 1
    RETURNING seq)
UPDATE tasks
SET title = $4, title_key = $5, description = $6, search_key = $7, completed = $8,
    priority = $9, tags = $10, due_at = $11, completed_at = $12,
    updated_at = $13, version = tasks.version + 1, seq = (SELECT seq FROM change)
FROM cur
WHERE tasks.id = cur.id
RETURNING tasks.id, tasks.title, tasks.description, tasks.completed, tasks.priority, tasks.tags,
          tasks.due_at, tasks.completed_at, tasks.created_at, tasks.updated_at, tasks.version, tasks.seq`

// DeleteTask removes the task and returns it as it was. Errors:
// todo.ErrNotFound, todo.ErrPreconditionFailed, todo.ErrUnavailable.
func (s *Store) DeleteTask(ctx context.Context, userID string, id int64, ifVersion int64) (todo.Task, error) {
	var out todo.Task
	err := s.run(ctx, "delete-task", func(conn *pgxpool.Conn) error {
		var err error
		// One statement deletes the task, takes the user's next change number
		// (only when a task was deleted) and leaves the tombstone.
		out, err = scanTask(userID, conn.QueryRow(ctx, `
			WITH gone AS (
				DELETE FROM tasks
				WHERE id = $1 AND user_id = $2 AND ($3::bigint = 0 OR version = $3::bigint)
				RETURNING id, title, description, completed, priority, tags,
				          due_at, completed_at, created_at, updated_at, version, seq),
			change AS (
				INSERT INTO task_users (user_id, seq) SELECT $2::text, 1 FROM gone
				ON CONFLICT (user_id) DO UPDATE SET seq = task_users.seq + 1
				RETURNING seq),
			tombstone AS (
				INSERT INTO task_tombstones (user_id, seq, task_id, deleted_at)
				SELECT $2::text, change.seq, gone.id, $4::timestamptz FROM gone, change)
			SELECT id, title, description, completed, priority, tags,
			       due_at, completed_at, created_at, updated_at, version, seq
			FROM gone`,
			id, userID, ifVersion, s.now()))
		if err == nil || ifVersion == 0 {
			return err
		}
		// Nothing was deleted: tell a stale version from a missing task. If
		// the task vanished in between, "not found" is the truth.
		var exists bool
		if err := conn.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND user_id = $2)`,
			id, userID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return todo.ErrPreconditionFailed
		}
		return todo.ErrNotFound
	})
	if err == nil {
		s.changed(userID)
	}
	return out, err
}

// listPrealloc bounds the rows a list makes room for before it reads any.
const listPrealloc = 32

// ListTasks returns one page of the user's tasks matching f. Errors:
// todo.ErrUnavailable.
func (s *Store) ListTasks(ctx context.Context, userID string, f todo.TaskFilter) (todo.TaskPage, error) {
	if err := f.Normalize(); err != nil {
		return todo.TaskPage{}, fmt.Errorf("postgres: list-tasks: %w", err)
	}
	query, args := listQuery(userID, f)
	args = s.planFor(f, args)
	var tasks []todo.Task
	err := s.run(ctx, "list-tasks", func(conn *pgxpool.Conn) error {
		rows, err := conn.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		// Room for a typical page up front: growing a slice of tasks from
		// empty was a quarter of the bytes todod allocated under the mixed
		// workload (BENCHMARKS.md).
		tasks, err = pgx.AppendRows(make([]todo.Task, 0, min(f.Limit+1, listPrealloc)), rows,
			func(row pgx.CollectableRow) (todo.Task, error) { return scanTask(userID, row) })
		return err
	})
	if err != nil {
		return todo.TaskPage{}, err
	}
	if f.Sort == todo.SortDue {
		tasks = datedFirst(tasks)
	}
	return f.Page(tasks), nil
}

// CountTasks counts the user's tasks matching f, ignoring its cursor and
// limit. Errors: todo.ErrUnavailable.
func (s *Store) CountTasks(ctx context.Context, userID string, f todo.TaskFilter) (int64, error) {
	if err := f.Normalize(); err != nil {
		return 0, fmt.Errorf("postgres: count-tasks: %w", err)
	}
	query, args := countQuery(userID, f)
	args = s.planFor(f, args)
	var n int64
	err := s.run(ctx, "count-tasks", func(conn *pgxpool.Conn) error {
		return conn.QueryRow(ctx, query, args...).Scan(&n)
	})
	return n, err
}

// countQuery returns the count of userID's tasks matching f, with its
// arguments.
func countQuery(userID string, f todo.TaskFilter) (string, []any) {
	args := &sqlArgs{}
	query := `SELECT count(*) FROM tasks WHERE ` + strings.Join(filterConds(args, userID, f), " AND ")
	return query, *args
}

// planFor returns the arguments of a list or count statement of f, led by
// the exec mode that plans the statement for them (s.customPlans) when f has
// a condition whose selectivity depends on its value: a due date range, the
// overdue cut-off, priorities, tags or a text query. The best plan then
// depends on how many of the user's tasks match (read the matching range of
// the due date index and sort it, or walk the tasks in the requested order
// and filter), which a generic plan cannot know: for a user with 100,000
// tasks, a generic plan walked 89,717 of them where the plan for the value
// read the 448 in the due range (TestListPlansSkewed), 10 ms instead of
// 0.5. Such lists are rare and pay a parse and a plan each (a small user's
// due date list took 0.12 ms instead of 0.04 in BenchmarkListSkewed); the
// default list and the status filters, which tasks_user_status_idx serves
// whatever the value, keep the cached statement.
func (s *Store) planFor(f todo.TaskFilter, args []any) []any {
	if s.customPlans == 0 || !valueDependent(f) {
		return args
	}
	return append([]any{s.customPlans}, args...)
}

// valueDependent reports whether f has a condition whose selectivity depends
// on its value (see planFor).
func valueDependent(f todo.TaskFilter) bool {
	return f.DueBefore != nil || f.DueAfter != nil || f.Overdue ||
		len(f.Priorities) > 0 || len(f.Tags) > 0 || f.Query != ""
}

// sqlArgs collects the arguments of a statement being built; add returns the
// placeholder of a new one. User input only ever enters a statement this way.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// filterConds returns the WHERE conditions of f for userID, the first of them
// always user_id = $n.
func filterConds(args *sqlArgs, userID string, f todo.TaskFilter) []string {
	conds := []string{`user_id = ` + args.add(userID)}
	switch f.Status {
	case todo.StatusPending:
		conds = append(conds, `NOT completed`)
	case todo.StatusCompleted:
		conds = append(conds, `completed`)
	}
	if len(f.Priorities) > 0 {
		ranks := make([]int16, len(f.Priorities))
		for i, p := range f.Priorities {
			ranks[i] = int16(p.Rank())
		}
		conds = append(conds, `priority = ANY(`+args.add(ranks)+`::smallint[])`)
	}
	if len(f.Tags) > 0 {
		conds = append(conds, `tags @> `+args.add(f.Tags)+`::text[]`)
	}
	if f.Query != "" {
		// strpos, not LIKE: % and _ in the query are plain characters.
		conds = append(conds, `strpos(search_key, `+args.add(todo.SearchQuery(f.Query))+`::text) > 0`)
	}
	if f.DueBefore != nil {
		conds = append(conds, `due_at < `+args.add(*f.DueBefore)+`::timestamptz`)
	}
	if f.DueAfter != nil {
		conds = append(conds, `due_at > `+args.add(*f.DueAfter)+`::timestamptz`)
	}
	if f.Overdue {
		conds = append(conds, `NOT completed AND due_at < `+args.add(f.Now)+`::timestamptz`)
	}
	return conds
}

// sortColumn is the column a sort key orders by. Each has an index
// (user_id, column, id); created_at also has (user_id, completed, created_at,
// id), which serves the lists filtered by status in that order.
func sortColumn(s todo.SortField) string {
	switch s {
	case todo.SortUpdated:
		return "updated_at"
	case todo.SortTitle:
		return "title_key"
	case todo.SortDue:
		return "due_at"
	case todo.SortPriority:
		return "priority"
	}
	return "created_at"
}

// listQuery returns the SELECT of one page of userID's tasks matching f
// (normalised), with its arguments: Limit+1 rows, so that the caller learns
// whether another page follows, ordered by the sort column and then id, both in
// f's direction, and starting strictly after f.After. Each SELECT is a range
// scan of the index (user_id, column, id), read forwards or backwards.
//
// Sorting by due date puts tasks without one last in both directions, which no
// single scan of (user_id, due_at, id) gives when descending (NULLs sort high).
// So the dated and the undated tasks are two SELECTs joined by UNION ALL; the
// caller puts the dated ones first (datedFirst), since UNION ALL does not
// promise to keep its branches in order.
func listQuery(userID string, f todo.TaskFilter) (string, []any) {
	dir, cmp := "ASC", ">"
	if f.Desc {
		dir, cmp = "DESC", "<"
	}
	args := &sqlArgs{}
	conds := filterConds(args, userID, f)
	limit := args.add(f.Limit + 1)
	column := sortColumn(f.Sort)
	selectPage := func(conds []string) string {
		return `(SELECT id, title, description, completed, priority, tags,
		        due_at, completed_at, created_at, updated_at, version, seq
		FROM tasks
		WHERE ` + strings.Join(conds, " AND ") + `
		ORDER BY ` + column + ` ` + dir + `, id ` + dir + `
		LIMIT ` + limit + `)`
	}

	if f.Sort != todo.SortDue {
		if c := f.After; c != nil {
			var key string
			switch f.Sort {
			case todo.SortTitle:
				key = args.add(c.Text) + `::text`
			case todo.SortPriority:
				key = args.add(int16(c.Rank)) + `::smallint`
			default:
				key = args.add(c.Time) + `::timestamptz`
			}
			conds = append(conds, `(`+column+`, id) `+cmp+` (`+key+`, `+args.add(c.ID)+`::bigint)`)
		}
		return selectPage(conds), *args
	}

	// A task without a due date fails every filter on due_at, so under one of
	// them the undated branch would always be empty.
	needUndated := f.DueBefore == nil && f.DueAfter == nil && !f.Overdue
	dated := append(conds[:len(conds):len(conds)], `due_at IS NOT NULL`)
	// Every due_at in this branch is NULL, so it is ordered by id; the ORDER BY
	// still names due_at so that the index delivers the order without a sort.
	undated := append(conds[:len(conds):len(conds)], `due_at IS NULL`)
	if c := f.After; c != nil {
		if c.NoDue {
			return selectPage(append(undated, `id `+cmp+` `+args.add(c.ID)+`::bigint`)), *args
		}
		dated = append(dated, `(due_at, id) `+cmp+` (`+args.add(c.Time)+`::timestamptz, `+args.add(c.ID)+`::bigint)`)
	}
	if !needUndated {
		return selectPage(dated), *args
	}
	return selectPage(dated) + "\nUNION ALL\n" + selectPage(undated), *args
}

// datedFirst moves the tasks without a due date after those with one, keeping
// the order within each group.
func datedFirst(tasks []todo.Task) []todo.Task {
	out := make([]todo.Task, 0, len(tasks))
	for _, t := range tasks {
		if t.DueAt != nil {
			out = append(out, t)
		}
	}
	for _, t := range tasks {
		if t.DueAt == nil {
			out = append(out, t)
		}
	}
	return out
}

// scanTask reads the columns id, title, description, completed, priority,
// tags, due_at, completed_at, created_at, updated_at, version, seq of one of
// userID's tasks. Every statement selects by user, so user_id is not read
// back: that saves a string per row.
func scanTask(userID string, row pgx.Row) (todo.Task, error) {
	t := todo.Task{UserID: userID}
	var rank int16
	var due, completedAt *time.Time
	if err := row.Scan(&t.ID, &t.Title, &t.Description, &t.Completed, &rank, &t.Tags,
		&due, &completedAt, &t.CreatedAt, &t.UpdatedAt, &t.Version, &t.Seq); err != nil {
		return todo.Task{}, err
	}
	t.Priority = todo.PriorityFromRank(int(rank))
	if t.Tags == nil {
		t.Tags = []string{}
	}
	t.DueAt = utcPtr(due)
	t.CompletedAt = utcPtr(completedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, nil
}

// tagsArg gives tags as a text[] argument: an empty array, never NULL.
func tagsArg(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

// timeArg gives an optional time as an argument in the stored form.
func timeArg(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := todo.NormalizeTime(*t)
	return &n
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
