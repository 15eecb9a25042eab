package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/todod/todod/internal/storetest"
	"github.com/todod/todod/internal/todo"
)

// openTestStore opens and migrates a store on a new file in t's temporary
// directory; never :memory:, which would hide what the file, WAL and the two
// pools do.
func openTestStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	s := openPathStore(t, filepath.Join(t.TempDir(), "todod.db"), Options{Now: now})
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// openPathStore opens, without migrating, a store on path that t closes.
func openPathStore(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// The long tests run in parallel: the plan test is one core's work for a
// while, the suite mostly waits for fsync.

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) todo.Store {
		return openTestStore(t, now)
	})
}

func TestReplicas(t *testing.T) {
	t.Parallel()
	storetest.RunReplicas(t, func(t *testing.T, now func() time.Time) (todo.Store, todo.Store) {
		path := filepath.Join(t.TempDir(), "todod.db")
		a := openPathStore(t, path, Options{Now: now})
		if err := a.Migrate(context.Background()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return a, openPathStore(t, path, Options{Now: now})
	})
}

// planTasks is how many tasks the query-plan test gives one user.
const planTasks = 100_000

// bulkInsertSQL writes tasks ? to ? for one user in one statement, with ties
// on every sort key, a third without a due date, half of them completed. Every
// key grows with i, so each index is appended to rather than split at random:
// the planner does not look at that correlation, and the insert stays fast
// under the race detector.
const bulkInsertSQL = `
WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO tasks (user_id, title, title_key, search_key, completed, completed_at, priority,
                   tags, due_at, created_at, updated_at, seq)
SELECT ?, 'Task ' || (i / 3), 'task ' || (i / 3), 'task ' || (i / 3), i % 2,
       CASE WHEN i % 2 = 1 THEN 1700000000000000 + i END, (i * 4) / (? + 1), '[]',
       CASE WHEN i % 3 = 0 THEN NULL ELSE 1800000000000000 + (i / 2) * 1000000 END,
       1700000000000000 + (i / 3) * 1000, 1700000000000000 + (i / 2) * 1000, i
FROM n`

// TestListQueryPlans checks that every list query, as the store builds it, is
// a range scan of the sort key's index for a user with 100,000 tasks, never a
// sort: each sort in both orders, first and later pages, with and without a
// status filter, before and after ANALYZE gives the planner statistics. The
// same holds for the changes feed and bulk edits (checkChangesPlans).
func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, nil)
	ctx := context.Background()
	const user = "big-user"
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, bulkInsertSQL, 1, planTasks, user, planTasks); err != nil {
			return err
		}
		for _, other := range []string{"big-use", "big-user2", "other"} {
			if _, err := tx.ExecContext(ctx, bulkInsertSQL, 1, 50, other, 50); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, insertTombstonesSQL, planTasks, user, planTasks)
		return err
	})
	if err != nil {
		t.Fatalf("bulk insert: %v", err)
	}
	if n, err := s.CountTasks(ctx, user, todo.TaskFilter{}); err != nil || n != planTasks {
		t.Fatalf("count after bulk insert: %d, %v; want %d", n, err, planTasks)
	}
	ch, err := s.Changes(ctx, user, planTasks-5, 0, 10)
	if err != nil || len(ch.Tasks) != 5 || len(ch.Deleted) != 5 || ch.Next != planTasks+5 || !ch.HasMore {
		t.Fatalf("Changes across the two tables: %d tasks, %d deleted, next %d, more %v, %v; want 5, 5, %d, true",
			len(ch.Tasks), len(ch.Deleted), ch.Next, ch.HasMore, err, planTasks+5)
	}

	for _, analyzed := range []bool{false, true} {
		if analyzed {
			// analysis_limit keeps ANALYZE quick, as PRAGMA optimize does.
			if _, err := s.write.ExecContext(ctx, "PRAGMA analysis_limit = 1000; ANALYZE"); err != nil {
				t.Fatalf("ANALYZE: %v", err)
			}
		}
		checkChangesPlans(t, s, user, analyzed)
		for _, sort := range []todo.SortField{todo.SortCreated, todo.SortUpdated, todo.SortTitle, todo.SortDue, todo.SortPriority} {
			index := "tasks_user_" + map[todo.SortField]string{
				todo.SortCreated: "created", todo.SortUpdated: "updated", todo.SortTitle: "title",
				todo.SortDue: "due", todo.SortPriority: "priority",
			}[sort] + "_idx"
			for _, desc := range []bool{false, true} {
				for filterName, filter := range planFilterVariants() {
					for _, f := range planFilters(t, s, user, sort, desc, filter) {
						name := fmt.Sprintf("analyzed=%v %s desc=%v %s after=%+v", analyzed, sort, desc, filterName, f.After)
						for _, q := range listQueries(user, f) {
							checkPlan(t, s, name, index, q.sql, q.withLimit(f.Limit+1))
						}
					}
				}
			}
		}
	}
}

// insertTombstonesSQL gives a user ? deletions numbered after ? in one
// statement, so that the feed has both tables to read.
const insertTombstonesSQL = `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO task_tombstones (user_id, seq, task_id, deleted_at)
SELECT ?, ? + i, 1000000 + i, 1700000000000000 FROM n`

// checkChangesPlans checks that the feed reads the user's changes as a range
// of (user_id, seq) on both tables, never a sort, and its purged position by
// primary key, and that a bulk edit looks its ids up by primary key, however
// many tasks the user has.
func checkChangesPlans(t *testing.T, s *Store, user string, analyzed bool) {
	t.Helper()
	ids, err := json.Marshal([]int64{3, planTasks / 2, planTasks})
	if err != nil {
		t.Fatal(err)
	}
	for _, since := range []int64{0, planTasks / 2, 2 * planTasks} {
		name := fmt.Sprintf("analyzed=%v since=%d", analyzed, since)
		checkPlanSteps(t, s, name+" tasks", changedTasksSQL, []any{user, since, 1001},
			"SEARCH tasks USING INDEX tasks_user_seq_idx (user_id=? AND seq>?)")
		checkPlanSteps(t, s, name+" tombstones", tombstonesSQL, []any{user, since, 1001},
			"SEARCH task_tombstones USING PRIMARY KEY (user_id=? AND seq>?)")
	}
	checkPlanSteps(t, s, fmt.Sprintf("analyzed=%v purged position", analyzed), purgedSeqSQL, []any{user},
		"SEARCH task_users USING PRIMARY KEY (user_id=?)")
	checkPlanSteps(t, s, fmt.Sprintf("analyzed=%v bulk", analyzed), bulkTasksSQL, []any{ids, user},
		"SEARCH tasks USING INTEGER PRIMARY KEY (rowid=?)")
	checkPlanSteps(t, s, fmt.Sprintf("analyzed=%v bulk delete", analyzed), bulkDeleteSQL, []any{ids, user},
		"SEARCH tasks USING INTEGER PRIMARY KEY (rowid=?)")
}

// checkPlanSteps fails unless the plan of query has the step want and no
// sort.
func checkPlanSteps(t *testing.T, s *Store, name, query string, args []any, want string) {
	t.Helper()
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: EXPLAIN QUERY PLAN: %v", name, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(plan, want) || slices.ContainsFunc(plan, func(step string) bool { return strings.Contains(step, "TEMP B-TREE") }) {
		t.Errorf("%s: plan\n  %s\nwant the step %q and no sort", name, strings.Join(plan, "\n  "), want)
	}
}

// planFilterVariants are the filters the plan test lists with: none, the
// status filter, and the others that a list page commonly carries.
func planFilterVariants() map[string]todo.TaskFilter {
	due := time.UnixMicro(1800000000000000 + 20000*1000000)
	return map[string]todo.TaskFilter{
		"all":        {},
		"pending":    {Status: todo.StatusPending},
		"completed":  {Status: todo.StatusCompleted},
		"priorities": {Priorities: []todo.Priority{todo.PriorityLow, todo.PriorityHigh}},
		"tag":        {Tags: []string{"x"}},
		"query":      {Query: "task 1"},
		"due before": {DueBefore: &due},
		"overdue":    {Overdue: true, Now: due},
	}
}

// planFilters returns filter as the filter of a first page and of later
// pages. Without other filters the cursor comes from a real first page;
// otherwise from a task of the data set, as reading a real page of a sparse
// filter would walk most of the index under the race detector. For the due
// sort, there is also a cursor among the tasks without a due date.
func planFilters(t *testing.T, s *Store, user string, sort todo.SortField, desc bool, filter todo.TaskFilter) []todo.TaskFilter {
	t.Helper()
	first := filter
	first.Sort, first.Desc = sort, desc
	if err := first.Normalize(); err != nil {
		t.Fatal(err)
	}
	later := first
	if len(filter.Priorities) == 0 && len(filter.Tags) == 0 && filter.Query == "" && filter.DueBefore == nil && !filter.Overdue {
		page, err := s.ListTasks(context.Background(), user, first)
		if err != nil || page.Next == nil {
			t.Fatalf("first page of %s: %v, next %v", sort, err, page.Next)
		}
		later.After = page.Next
	} else {
		// Task 50002 has a due date, so the due sort gets a cursor among those too.
		task, err := s.GetTask(context.Background(), user, planTasks/2+2)
		if err != nil {
			t.Fatal(err)
		}
		c := todo.CursorAfter(task, sort, desc)
		later.After = &c
	}
	out := []todo.TaskFilter{first, later}
	if sort == todo.SortDue {
		noDue := first
		noDue.After = &todo.Cursor{Sort: sort, Desc: desc, NoDue: true, ID: planTasks / 2}
		out = append(out, noDue)
	}
	return out
}

// checkPlan fails unless every step of the plan of query searches index and
// none sorts.
func checkPlan(t *testing.T, s *Store, name, index, query string, args []any) {
	t.Helper()
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: EXPLAIN QUERY PLAN: %v", name, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	usesIndex := false
	for _, step := range plan {
		if strings.Contains(step, "TEMP B-TREE") {
			t.Errorf("%s: sorts instead of reading the index in order:\n  %s\n%s", name, strings.Join(plan, "\n  "), query)
			return
		}
		if strings.HasPrefix(step, "SEARCH tasks USING INDEX "+index+" (user_id=?") {
			usesIndex = true
		}
	}
	if !usesIndex {
		t.Errorf("%s: does not search %s by user:\n  %s\n%s", name, index, strings.Join(plan, "\n  "), query)
	}
}

// schema lists the database's tables and indexes with their SQL.
func schema(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.read.Query(`SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	return out
}

// versionRows lists the goose version table: one row per applied version.
func versionRows(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.read.Query(`SELECT version_id FROM goose_db_version ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	ctx := context.Background()
	s := openPathStore(t, filepath.Join(t.TempDir(), "todod.db"), Options{})
	if err := s.Ping(ctx); !errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("Ping before Migrate: %v, want ErrUnavailable", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after Migrate: %v", err)
	}
	task, err := s.CreateTask(ctx, "u", todo.NewTask{Title: "kept", Priority: todo.PriorityNone, Tags: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	before := schema(t, s)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if after := schema(t, s); !slices.Equal(after, before) {
		t.Errorf("schema changed by a second Migrate:\n%v\n%v", before, after)
	}
	if got := versionRows(t, s); !slices.Equal(got, []int64{0, 1, 2, 3}) {
		t.Errorf("version rows %v, want [0 1 2 3]", got)
	}
	if _, err := s.GetTask(ctx, "u", task.ID); err != nil {
		t.Errorf("task after a second Migrate: %v", err)
	}
}

// TestConcurrentMigrate runs Migrate from several stores on one file at once,
// as replicas starting together would: on a new file, where they race to
// create goose's version table, and on a file that has the version table but
// not the schema, where all of them read that the migration is missing before
// any applies it, because another process holds the write lock meanwhile.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	for _, versionTable := range []bool{false, true} {
		t.Run(fmt.Sprintf("version table exists=%v", versionTable), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "todod.db")
			const replicas = 4
			stores := make([]*Store, replicas)
			for i := range stores {
				stores[i] = openPathStore(t, path, Options{})
			}
			if versionTable {
				// Asking goose for the versions creates its table and nothing else.
				p, err := stores[0].migrator()
				if err != nil {
					t.Fatal(err)
				}
				if current, _, err := p.GetVersions(ctx); err != nil || current != 0 {
					t.Fatalf("GetVersions: %d, %v; want 0", current, err)
				}
			}
			var lock *sql.Tx
			if versionTable {
				holder := openPathStore(t, path, Options{})
				var err error
				if lock, err = holder.write.BeginTx(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			errs := make(chan error, replicas)
			for _, s := range stores {
				go func() { errs <- s.Migrate(ctx) }()
			}
			if lock != nil {
				// Long enough for every replica to list the versions and wait
				// for the lock; far below the busy timeout.
				time.Sleep(300 * time.Millisecond)
				if err := lock.Rollback(); err != nil {
					t.Fatal(err)
				}
			}
			for range replicas {
				if err := <-errs; err != nil {
					t.Errorf("Migrate: %v", err)
				}
			}
			for i, s := range stores {
				if err := s.Ping(ctx); err != nil {
					t.Errorf("replica %d: Ping: %v", i, err)
				}
			}
			if got := versionRows(t, stores[0]); !slices.Equal(got, []int64{0, 1, 2, 3}) {
				t.Errorf("version rows %v, want each version once: [0 1 2 3]", got)
			}
		})
	}
}

// TestConnectionSettings checks that every connection of both pools has the
// Store's pragmas, the connections the pool opens later included.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	s := openPathStore(t, filepath.Join(t.TempDir(), "todod.db"), Options{BusyTimeout: 1234 * time.Millisecond, ReadConns: 3})
	type settings struct {
		journal                            string
		synchronous, foreignKeys, busy, ro int
	}
	read := func(conn *sql.Conn) settings {
		t.Helper()
		var got settings
		for _, p := range []struct {
			pragma string
			dest   any
		}{
			{"journal_mode", &got.journal}, {"synchronous", &got.synchronous}, {"foreign_keys", &got.foreignKeys},
			{"busy_timeout", &got.busy}, {"query_only", &got.ro},
		} {
			if err := conn.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(p.dest); err != nil {
				t.Fatalf("PRAGMA %s: %v", p.pragma, err)
			}
		}
		return got
	}
	// Hold every read connection at once, so each is a distinct one.
	var conns []*sql.Conn
	for range 3 {
		conn, err := s.read.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	for i, conn := range conns {
		if got, want := read(conn), (settings{"wal", 2, 1, 1234, 1}); got != want {
			t.Errorf("read connection %d: %+v, want %+v", i, got, want)
		}
		conn.Close()
	}
	conn, err := s.write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got, want := read(conn), (settings{"wal", 2, 1, 1234, 0}); got != want {
		t.Errorf("writer: %+v, want %+v", got, want)
	}
	if s.write.Stats().MaxOpenConnections != 1 || s.read.Stats().MaxOpenConnections != 3 {
		t.Errorf("pool sizes: writer %d, readers %d; want 1 and 3",
			s.write.Stats().MaxOpenConnections, s.read.Stats().MaxOpenConnections)
	}
	// The read pool cannot write, whatever a future bug sends it.
	if _, err := s.read.ExecContext(ctx, `DELETE FROM goose_db_version`); err == nil {
		t.Error("a read connection wrote")
	}
}

func TestDSN(t *testing.T) {
	for _, tc := range []struct {
		path     string
		readOnly bool
		want     string
	}{
		{"/data/todod.db", false,
			"/data/todod.db?_pragma=busy_timeout%285000%29&_pragma=journal_mode%28WAL%29&_pragma=synchronous%28FULL%29&_pragma=foreign_keys%28ON%29&_txlock=immediate"},
		{"/data/todod.db", true,
			"/data/todod.db?_pragma=busy_timeout%285000%29&_pragma=journal_mode%28WAL%29&_pragma=synchronous%28FULL%29&_pragma=foreign_keys%28ON%29&_pragma=query_only%281%29"},
		// The user's own pragmas and URI parameters win and are kept.
		{"file:todo.db?mode=rwc&_pragma=busy_timeout(1000)&_pragma=synchronous = NORMAL&_txlock=deferred", false,
			"file:todo.db?_pragma=busy_timeout%281000%29&_pragma=synchronous+%3D+NORMAL&_pragma=journal_mode%28WAL%29&_pragma=foreign_keys%28ON%29&_txlock=immediate&mode=rwc"},
		{"file:todo.db?_txlock=exclusive", true,
			"file:todo.db?_pragma=busy_timeout%285000%29&_pragma=journal_mode%28WAL%29&_pragma=synchronous%28FULL%29&_pragma=foreign_keys%28ON%29&_pragma=query_only%281%29"},
	} {
		if got := dsn(tc.path, DefaultBusyTimeout, tc.readOnly); got != tc.want {
			t.Errorf("dsn(%q, readOnly=%v)\n got %s\nwant %s", tc.path, tc.readOnly, got, tc.want)
		}
	}
}

func TestOpenRefusesInMemory(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:", "file::memory:?cache=shared", "file:x.db?mode=memory", "file:"} {
		if s, err := Open(context.Background(), path, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestOpenUnreachableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "todod.db")
	s, err := Open(context.Background(), path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
	if !errors.Is(err, todo.ErrUnavailable) {
		t.Errorf("Open in a missing directory: %v, want ErrUnavailable", err)
	}
}

// TestFileURI opens the store through a "file:" URI carrying its own pragma,
// as DATABASE_URL may.
func TestFileURI(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "uri.db")
	s := openPathStore(t, "file:"+path+"?_pragma=busy_timeout(777)", Options{})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var busy int
	if err := s.read.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || busy != 777 {
		t.Errorf("busy_timeout %d, %v; want the URI's 777", busy, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the URI's file: %v", err)
	}
}
