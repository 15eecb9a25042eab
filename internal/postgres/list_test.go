package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todod/todod/internal/todo"
)

var allSorts = []todo.SortField{todo.SortCreated, todo.SortUpdated, todo.SortTitle, todo.SortDue, todo.SortPriority}

// compareTasks is the order a list sorted by sort (desc or not) must have:
// key, then id, both in the list's direction; tasks without a due date last
// when sorting by due date.
func compareTasks(a, b todo.Task, sort todo.SortField, desc bool) int {
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
}

// Paging through every sort in both orders, with ties in every key and tasks
// without due dates, returns each matching task exactly once, in order.
func TestListPagesEveryOrder(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 25, 17, 0, 0, 123456000, time.UTC)
	tick := 0
	clock := func() time.Time {
		tick++
		return base.Add(time.Duration(tick/3) * time.Second) // three writes per second: ties
	}
	s := openStore(t, testDatabase(t), Options{Now: clock})
	ctx := context.Background()

	titles := []string{"apple", "Apple", "banana", "Éclair", "éclair", "zeta", "Zeta", "_x", "10 things"}
	var tasks []todo.Task
	for i := range 61 {
		nt := todo.NewTask{
			Title:    titles[i%len(titles)],
			Priority: todo.Priorities[i%4],
			Tags:     []string{},
		}
		if i%3 != 0 {
			due := base.Add(time.Duration((i*7)%5) * time.Hour)
			nt.DueAt = &due
		}
		task, err := s.CreateTask(ctx, "u1", nt)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	for i := 0; i < len(tasks); i += 4 {
		done := true
		task, err := s.CompleteTask(ctx, "u1", tasks[i].ID, &done, 0)
		if err != nil {
			t.Fatal(err)
		}
		tasks[i] = task
	}
	if _, err := s.CreateTask(ctx, "u2", todo.NewTask{Title: "apple", Priority: todo.PriorityNone}); err != nil {
		t.Fatal(err)
	}

	for _, status := range []todo.Status{todo.StatusAll, todo.StatusPending} {
		var want []todo.Task
		for _, task := range tasks {
			if status == todo.StatusAll || !task.Completed {
				want = append(want, task)
			}
		}
		for _, sort := range allSorts {
			for _, desc := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/desc=%v", status, sort, desc)
				slices.SortFunc(want, func(a, b todo.Task) int { return compareTasks(a, b, sort, desc) })
				f := todo.TaskFilter{Status: status, Sort: sort, Desc: desc, Limit: 7}
				var got []int64
				for page := 0; ; page++ {
					if page > len(want) {
						t.Fatalf("%s: pages never end", name)
					}
					p, err := s.ListTasks(ctx, "u1", f)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if len(p.Tasks) > 7 || (p.Next != nil && len(p.Tasks) != 7) {
						t.Fatalf("%s: page of %d tasks, next %v", name, len(p.Tasks), p.Next)
					}
					for _, task := range p.Tasks {
						got = append(got, task.ID)
					}
					if p.Next == nil {
						break
					}
					f.After = p.Next
				}
				wantIDs := make([]int64, len(want))
				for i, task := range want {
					wantIDs[i] = task.ID
				}
				if !slices.Equal(got, wantIDs) {
					t.Errorf("%s:\n got %v\nwant %v", name, got, wantIDs)
				}
				n, err := s.CountTasks(ctx, "u1", todo.TaskFilter{Status: status, Sort: sort, Desc: desc, Limit: 7})
				if err != nil || n != int64(len(want)) {
					t.Errorf("%s: CountTasks = %d, %v; want %d", name, n, err, len(want))
				}
			}
		}
	}
}

// Every list query is a range scan of the (user_id, key, id) index of its sort
// key, with no sort and no sequential scan, for a user with 100,000 tasks:
// first pages and cursor pages, in both orders, with and without a status
// filter, planned for the actual arguments and as the generic plan that a
// prepared statement may switch to. A status filter in the default order
// may read (user_id, completed, created_at, id) instead.
func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	s := openStore(t, testDatabase(t), seedOptions)
	ctx := context.Background()
	const heavy = "heavy-user"
	start := time.Now()
	// The heavy user's rows come first, so their ids are 1..100000 and every
	// fifth one has no due date.
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO tasks (user_id, title, title_key, search_key, completed, completed_at, priority,
		                   tags, due_at, created_at, updated_at, seq)
		SELECT $1, 'Task ' || md5(i::text), 'task ' || md5(i::text), 'task ' || md5(i::text), i % 2 = 0,
		       CASE WHEN i % 2 = 0 THEN ts END, i % 4, ARRAY['t' || i % 10],
		       CASE WHEN i % 5 <> 0 THEN ts + (i % 97) * interval '1 hour' END,
		       ts, ts + (i % 13) * interval '1 minute', i
		FROM generate_series(1, 100000) AS i,
		     LATERAL (SELECT timestamptz '2026-01-01' + i * interval '1 second' AS ts) AS x`, heavy); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO tasks (user_id, title, title_key, search_key, priority, created_at, updated_at, seq)
		SELECT 'other-' || i % 3, 'Other ' || i, 'other ' || i, 'other ' || i, i % 4,
		       timestamptz '2026-01-01', timestamptz '2026-01-01', i
		FROM generate_series(1, 3000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE tasks`); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded 103,000 tasks in %v", time.Since(start).Round(time.Millisecond))

	undated, err := s.GetTask(ctx, heavy, 5)
	if err != nil || undated.DueAt != nil {
		t.Fatalf("task 5: %+v, %v; want one without a due date", undated, err)
	}

	for _, sort := range allSorts {
		for _, desc := range []bool{false, true} {
			for _, status := range []todo.Status{todo.StatusAll, todo.StatusPending} {
				first := todo.TaskFilter{Status: status, Sort: sort, Desc: desc}
				if err := first.Normalize(); err != nil {
					t.Fatal(err)
				}
				page, err := s.ListTasks(ctx, heavy, first)
				if err != nil || page.Next == nil || len(page.Tasks) != todo.DefaultLimit {
					t.Fatalf("%s %v %s: %d tasks, next %v, %v", sort, desc, status, len(page.Tasks), page.Next, err)
				}
				type pageCase struct {
					name string
					f    todo.TaskFilter
				}
				next := first
				next.After = page.Next
				pages := []pageCase{{"first page", first}, {"cursor page", next}}
				if sort == todo.SortDue {
					c := todo.CursorAfter(undated, sort, desc)
					undatedPage := first
					undatedPage.After = &c
					pages = append(pages, pageCase{"undated cursor page", undatedPage})
				}
				for _, p := range pages {
					name, f := p.name, p.f
					query, args := listQuery(heavy, f)
					for _, generic := range []bool{false, true} {
						label := fmt.Sprintf("sort=%s desc=%v status=%s %s generic=%v", sort, desc, status, name, generic)
						plan := explain(t, s, query, args, generic)
						t.Logf("%s:\n%s", label, plan)
						indexes := []string{"tasks_user_" + string(sort) + "_idx"}
						if sort == todo.SortCreated && status != todo.StatusAll {
							indexes = append(indexes, "tasks_user_status_idx")
						}
						checkPlan(t, label, plan, indexes...)
					}
				}
			}
		}
	}
}

// seedOptions gives the tests that seed 100,000 rows in one statement room
// to do so on a busy machine, beyond the default statement timeout.
var seedOptions = Options{StatementTimeout: time.Minute}

// A list filtered by status costs a page, not the user's task count, on a
// table skewed to one user: 100,000 tasks, all pending, among three users of
// ten, so that a generic plan assumes a quarter of the table per user and the
// statistics put the share of completed tasks at zero. For the big user and
// a small one, each status and every order, planned for the arguments and
// as the generic plan that a cached prepared statement may switch to, the
// plan never scans the table and reads at most a page of rows of tasks
// (EXPLAIN ANALYZE); in the default order it is a range of
// tasks_user_status_idx (or, when the status is most of the user's tasks,
// of tasks_user_created_idx), without a sort. A count by status reads that
// index only, and only the matching entries.
//
// A due date range is a condition whose best plan depends on its value, so
// the store has such lists planned for their arguments (planFor); run that
// way, the big user's list reads no more than the tasks in the range.
func TestListPlansSkewed(t *testing.T) {
	t.Parallel()
	s := openStore(t, testDatabase(t), seedOptions)
	ctx := context.Background()
	const big, small = "big-user", "small-1"
	seedSkewed(t, s)
	for _, c := range []struct {
		user   string
		status todo.Status
		want   int64
	}{{big, todo.StatusCompleted, 0}, {big, todo.StatusPending, 100000}, {small, todo.StatusCompleted, 5}, {small, todo.StatusPending, 5}} {
		if n, err := s.CountTasks(ctx, c.user, todo.TaskFilter{Status: c.status}); err != nil || n != c.want {
			t.Fatalf("%s has %d %s tasks, %v; want %d", c.user, n, c.status, err, c.want)
		}
	}

	for _, user := range []string{big, small} {
		for _, status := range []todo.Status{todo.StatusCompleted, todo.StatusPending} {
			for _, sort := range allSorts {
				for _, desc := range []bool{false, true} {
					f := todo.TaskFilter{Status: status, Sort: sort, Desc: desc}
					if err := f.Normalize(); err != nil {
						t.Fatal(err)
					}
					query, args := listQuery(user, f)
					for _, generic := range []bool{false, true} {
						label := fmt.Sprintf("%s status=%s sort=%s desc=%v generic=%v", user, status, sort, desc, generic)
						plan := explainAnalyze(t, s, query, args, generic)
						t.Logf("%s:\n%s", label, plan)
						checkNoSeqScan(t, label, plan)
						// One page of rows, in each of the due order's two branches.
						if read, most := plan.rowsRead("tasks"), float64(2*(f.Limit+1)); read > most {
							t.Errorf("%s: read %.0f rows of tasks, want at most %.0f", label, read, most)
						}
						if sort == todo.SortCreated {
							checkPlan(t, label, plan, "tasks_user_status_idx", "tasks_user_created_idx")
						}
					}
				}
			}
		}
		query, args := countQuery(user, todo.TaskFilter{Status: todo.StatusCompleted})
		want := map[string]float64{big: 0, small: 5}[user]
		for _, generic := range []bool{false, true} {
			label := fmt.Sprintf("%s count status=completed generic=%v", user, generic)
			plan := explainAnalyze(t, s, query, args, generic)
			t.Logf("%s:\n%s", label, plan)
			scans := 0
			plan.walk(func(n planNode) {
				if strings.Contains(n.NodeType, "Scan") {
					scans++
					if n.NodeType != "Index Only Scan" || n.Index != "tasks_user_status_idx" {
						t.Errorf("%s: %s on %s using %q, want Index Only Scan using tasks_user_status_idx",
							label, n.NodeType, n.Relation, n.Index)
					}
				}
			})
			if read := plan.rowsRead("tasks"); scans != 1 || read != want {
				t.Errorf("%s: %d scans reading %.0f rows, want 1 reading %.0f", label, scans, read, want)
			}
		}
	}

	// Status filters keep the cached statement; the store runs the others
	// planned for their arguments.
	if f := (todo.TaskFilter{Status: todo.StatusCompleted}); valueDependent(f) || len(s.planFor(f, []any{big})) != 1 {
		t.Errorf("a status filter is planned per call: %v", s.planFor(f, []any{big}))
	}
	at := time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC)
	for name, f := range map[string]todo.TaskFilter{
		"due_before": {DueBefore: &at},
		"overdue":    {Overdue: true, Now: at},
	} {
		if err := f.Normalize(); err != nil {
			t.Fatal(err)
		}
		var inRange float64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE user_id = $1 AND due_at < $2`,
			big, at).Scan(&inRange); err != nil {
			t.Fatal(err)
		}
		query, args := listQuery(big, f)
		stored := s.planFor(f, args)
		if len(stored) != len(args)+1 || stored[0] != pgx.QueryExecModeCacheDescribe {
			t.Fatalf("%s: the store runs it with %v, want QueryExecModeCacheDescribe first", name, stored)
		}
		plan := explainAnalyze(t, s, query, stored, false)
		generic := explainAnalyze(t, s, query, args, true)
		t.Logf("%s as the store runs it:\n%s%s as a generic plan:\n%s", name, plan, name, generic)
		checkNoSeqScan(t, name, plan)
		if read, most := plan.rowsRead("tasks"), max(inRange, float64(f.Limit+1)); read > most {
			t.Errorf("%s: read %.0f rows of tasks, want at most the %.0f due in the range (generic plan: %.0f)",
				name, read, most, generic.rowsRead("tasks"))
		}
	}
}

// checkNoSeqScan fails t if plan scans the tasks table sequentially.
func checkNoSeqScan(t *testing.T, label string, plan planNode) {
	t.Helper()
	plan.walk(func(n planNode) {
		if n.Relation == "tasks" && n.NodeType == "Seq Scan" {
			t.Errorf("%s: Seq Scan on tasks", label)
		}
	})
}

// The feed reads a user's changes through (user_id, seq) on both tables, and
// their purged position by primary key, without a sort, for a user with
// 100,000 tasks and 100,000 deletions among other users': from the
// beginning, from the middle and from the end.
func TestChangesQueryPlan(t *testing.T) {
	t.Parallel()
	s := openStore(t, testDatabase(t), seedOptions)
	ctx := context.Background()
	const heavy = "heavy-user"
	for _, stmt := range []string{`
		INSERT INTO tasks (user_id, title, title_key, search_key, created_at, updated_at, seq)
		SELECT u, 'Task ' || i, 'task ' || i, 'task ' || i, timestamptz '2026-01-01', timestamptz '2026-01-01', 2 * i
		FROM generate_series(1, 100000) AS i, (VALUES ('heavy-user'), ('heavy-use'), ('heavy-user2')) AS users (u)
		WHERE u = 'heavy-user' OR i <= 1000`, `
		INSERT INTO task_tombstones (user_id, seq, task_id, deleted_at)
		SELECT u, 2 * i + 1, 1000000 + i, timestamptz '2026-01-01'
		FROM generate_series(1, 100000) AS i, (VALUES ('heavy-user'), ('other')) AS users (u)
		WHERE u = 'heavy-user' OR i <= 1000`,
		`ANALYZE tasks`, `ANALYZE task_tombstones`,
	} {
		if _, err := s.pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := s.Changes(ctx, heavy, 100000, 0, 10)
	if err != nil || len(ch.Tasks) != 5 || len(ch.Deleted) != 5 || ch.Next != 100010 || !ch.HasMore {
		t.Fatalf("Changes from the middle: %d tasks, %d deleted, next %d, more %v, %v; want 5, 5, 100010, true",
			len(ch.Tasks), len(ch.Deleted), ch.Next, ch.HasMore, err)
	}
	for _, since := range []int64{0, 100000, 200001} {
		for _, generic := range []bool{false, true} {
			label := fmt.Sprintf("since=%d generic=%v", since, generic)
			plan := explain(t, s, changesSQL, []any{heavy, since, todo.MaxChangesLimit + 1}, generic)
			t.Logf("%s:\n%s", label, plan)
			checkPlan(t, label, plan, "tasks_user_seq_idx", "task_tombstones_pkey", "task_users_pkey")
		}
	}

	// A bulk edit finds its tasks by primary key, not through the user's
	// 100,000 tasks.
	ids := []int64{3, 50000, 99999}
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		name    string
		sql     string
		args    []any
		generic bool
	}{
		{"lock", bulkLockSQL, []any{heavy, ids}, false},
		{"lock", bulkLockSQL, []any{heavy, ids}, true},
		{"delete", bulkDeleteSQL, []any{heavy, ids, int64(len(ids)), at}, false},
		{"write", bulkWriteSQL, []any{heavy, int64(len(ids)), at, ids, []bool{true, true, true},
			[]*time.Time{&at, &at, &at}, []string{`["a"]`, `[]`, `["b","c"]`}}, false},
	} {
		label := fmt.Sprintf("bulk %s generic=%v", q.name, q.generic)
		plan := explain(t, s, q.sql, q.args, q.generic)
		t.Logf("%s:\n%s", label, plan)
		checkTaskLookups(t, label, plan)
	}
}

// checkTaskLookups fails t unless every read of the tasks table in plan is a
// primary key lookup, and nothing sorts more than the ids given.
func checkTaskLookups(t *testing.T, label string, plan planNode) {
	t.Helper()
	lookups := 0
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.Relation == "tasks" && strings.Contains(n.NodeType, "Scan") {
			if n.NodeType != "Index Scan" || n.Index != "tasks_pkey" {
				t.Errorf("%s: %s on tasks using %q, want Index Scan using tasks_pkey", label, n.NodeType, n.Index)
			}
			lookups++
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan)
	if lookups == 0 {
		t.Errorf("%s: no read of tasks in the plan", label)
	}
}

// planNode is one node of EXPLAIN (FORMAT JSON) output; the Actual and
// Removed counts come with ANALYZE.
type planNode struct {
	NodeType       string     `json:"Node Type"`
	Relation       string     `json:"Relation Name"`
	Index          string     `json:"Index Name"`
	Direction      string     `json:"Scan Direction"`
	IndexCond      string     `json:"Index Cond"`
	Filter         string     `json:"Filter"`
	ActualRows     float64    `json:"Actual Rows"`
	ActualLoops    float64    `json:"Actual Loops"`
	FilterRemoved  float64    `json:"Rows Removed by Filter"`
	RecheckRemoved float64    `json:"Rows Removed by Index Recheck"`
	Plans          []planNode `json:"Plans"`
}

// walk calls fn on n and every node below it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// rowsRead is the number of rows of relation that the scans of an analysed
// plan read: those they returned and those their filters removed.
func (n planNode) rowsRead(relation string) float64 {
	var read float64
	if n.Relation == relation && strings.Contains(n.NodeType, "Scan") {
		read = (n.ActualRows + n.FilterRemoved + n.RecheckRemoved) * n.ActualLoops
	}
	for _, c := range n.Plans {
		read += c.rowsRead(relation)
	}
	return read
}

func (n planNode) String() string {
	var b strings.Builder
	var walk func(n planNode, depth int)
	walk = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s", strings.Repeat("  ", depth), n.NodeType)
		if n.Index != "" {
			fmt.Fprintf(&b, " %s using %s", n.Direction, n.Index)
		} else if n.Relation != "" {
			fmt.Fprintf(&b, " on %s", n.Relation)
		}
		if n.IndexCond != "" {
			fmt.Fprintf(&b, " [cond %s]", n.IndexCond)
		}
		if n.Filter != "" {
			fmt.Fprintf(&b, " [filter %s]", n.Filter)
		}
		b.WriteByte('\n')
		for _, c := range n.Plans {
			walk(c, depth+1)
		}
	}
	walk(n, 1)
	return b.String()
}

// explain returns the plan of query with args: the plan for these arguments,
// or with generic the plan a prepared statement may settle on.
func explain(t *testing.T, s *Store, query string, args []any, generic bool) planNode {
	t.Helper()
	return explainWith(t, s, "FORMAT JSON", query, args, generic)
}

// explainAnalyze is explain, running the query to report the rows each node
// read. Only for queries that change nothing.
func explainAnalyze(t *testing.T, s *Store, query string, args []any, generic bool) planNode {
	t.Helper()
	return explainWith(t, s, "ANALYZE, FORMAT JSON", query, args, generic)
}

// explainWith returns the plan of query as EXPLAIN (options) gives it.
func explainWith(t *testing.T, s *Store, options, query string, args []any, generic bool) planNode {
	t.Helper()
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var out []byte
	if !generic {
		err = conn.QueryRow(ctx, "EXPLAIN ("+options+") "+query, args...).Scan(&out)
	} else {
		// EXPLAIN EXECUTE takes no bind parameters: the arguments are spelled
		// as literals here, in the test only.
		params := make([]string, len(args))
		for i, a := range args {
			params[i] = sqlLiteral(t, a)
		}
		tx, berr := conn.Begin(ctx)
		if berr != nil {
			t.Fatal(berr)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		for _, stmt := range []string{
			"SET LOCAL plan_cache_mode = force_generic_plan",
			"PREPARE list_page AS " + query,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		err = tx.QueryRow(ctx, "EXPLAIN ("+options+") EXECUTE list_page("+strings.Join(params, ", ")+")").Scan(&out)
		if _, derr := conn.Exec(ctx, "DEALLOCATE list_page"); derr != nil && err == nil {
			err = derr
		}
	}
	if err != nil {
		t.Fatalf("EXPLAIN: %v\n%s", err, query)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", out, err)
	}
	return plans[0].Plan
}

// checkPlan fails t unless every scan in plan is an Index Scan of one of
// indexes and no node sorts.
func checkPlan(t *testing.T, label string, plan planNode, indexes ...string) {
	t.Helper()
	scans := 0
	var walk func(n planNode)
	walk = func(n planNode) {
		switch {
		case strings.Contains(n.NodeType, "Sort"):
			t.Errorf("%s: %s node", label, n.NodeType)
		case strings.Contains(n.NodeType, "Scan"):
			scans++
			if n.NodeType != "Index Scan" || !slices.Contains(indexes, n.Index) {
				t.Errorf("%s: %s on %s using %q, want Index Scan using one of %v", label, n.NodeType, n.Relation, n.Index, indexes)
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan)
	if scans == 0 {
		t.Errorf("%s: no scan in the plan", label)
	}
}

// sqlLiteral spells an argument of a list query as an SQL literal.
func sqlLiteral(t *testing.T, v any) string {
	t.Helper()
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := v.(type) {
	case string:
		return quote(v)
	case int, int16, int64:
		return fmt.Sprint(v)
	case time.Time:
		return quote(v.Format(time.RFC3339Nano)) + "::timestamptz"
	case []string:
		elems := make([]string, len(v))
		for i, e := range v {
			elems[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(e) + `"`
		}
		return quote("{" + strings.Join(elems, ",") + "}")
	case []int16:
		elems := make([]string, len(v))
		for i, n := range v {
			elems[i] = fmt.Sprint(n)
		}
		return quote("{" + strings.Join(elems, ",") + "}")
	case []int64:
		elems := make([]string, len(v))
		for i, n := range v {
			elems[i] = fmt.Sprint(n)
		}
		return quote("{" + strings.Join(elems, ",") + "}")
	}
	t.Fatalf("no literal for %T", v)
	return ""
}

// seedSkewed fills the tasks table with one user of 100,000 tasks
// ("big-user", all pending, four in five with a due date spread over four
// days) and three of ten ("small-0" to "small-2", half completed), then
// analyzes it: a table skewed to one user, where a generic plan goes wrong.
func seedSkewed(tb testing.TB, s *Store) {
	tb.Helper()
	for _, stmt := range []string{`
		INSERT INTO tasks (user_id, title, title_key, search_key, priority, tags, due_at, created_at, updated_at, seq)
		SELECT 'big-user', 'Task ' || i, 'task ' || i, 'task ' || i, i % 4, ARRAY['t' || i % 10],
		       CASE WHEN i % 5 <> 0 THEN ts + (i % 97) * interval '1 hour' END, ts, ts, i
		FROM generate_series(1, 100000) AS i,
		     LATERAL (SELECT timestamptz '2026-01-01' + i * interval '1 second' AS ts) AS x`, `
		INSERT INTO tasks (user_id, title, title_key, search_key, completed, completed_at, priority, tags,
		                   due_at, created_at, updated_at, seq)
		SELECT 'small-' || u, 'Small ' || i, 'small ' || i, 'small ' || i, i % 2 = 0,
		       CASE WHEN i % 2 = 0 THEN ts END, i % 4, ARRAY['t' || i % 10],
		       CASE WHEN i % 5 <> 0 THEN ts + interval '1 day' END, ts, ts, i
		FROM generate_series(1, 10) AS i, generate_series(0, 2) AS u,
		     LATERAL (SELECT timestamptz '2026-01-01' + i * interval '1 second' AS ts) AS x`,
		`ANALYZE tasks`,
	} {
		if _, err := s.pool.Exec(context.Background(), stmt); err != nil {
			tb.Fatal(err)
		}
	}
}
