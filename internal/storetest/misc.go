package storetest

import (
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

func testUnicode(t *testing.T, open Opener) {
	e := newEnv(t, open)
	for _, tc := range []struct {
		user, title, description string
		query                    string // finds the task, in another case where there is one
	}{
		{alice, "Crème brûlée", "Caramélisée à la flamme", "CRÈME BRÛLÉE"},
		{alice, "Emoji 😀 party", "🎉🎊", "😀 PARTY"},
		{alice, "Decomposed e\u0301cole", "combining acute: e\u0301", "E\u0301COLE"},
		{alice, "Family 👩‍👩‍👧‍👦 day", "ZWJ: 👩‍💻", "👩‍👩‍👧‍👦"},
		{alice, "مرحبا بالعالم", "نص من اليمين إلى اليسار", "بالعالم"},
		{alice, "漢字とかな", "中文 · 日本語 · 한국어", "日本語"},
		{alice, "ΣΊΣΥΦΟΣ", "Greek capitals", "σίσυφοσ"},
		{alice, "quotes ' \" ` and \\ backslash", "'; DROP TABLE tasks; --\r\n\ttabs", "drop table"},
		{"ü-user-名前", "other user id", "", "other"},
		{strings.Repeat("ü", 255), "longest user id in characters", "", "longest"},
		{strings.Repeat("x", 255), "longest ASCII user id", "", "ascii"},
		{alice, strings.Repeat("😀", todo.MaxTitleLen), strings.Repeat("é", todo.MaxDescriptionLen), strings.Repeat("😀", 3)},
	} {
		runes := []rune(tc.title)
		t.Run(string(runes[:min(len(runes), 16)]), func(t *testing.T) {
			nt := todo.NewTask{Title: tc.title, Description: ptr(tc.description), Tags: []string{string(runes[:1])}}
			created := e.create(tc.user, nt)
			if created.Title != tc.title || created.Description == nil || *created.Description != tc.description || created.UserID != tc.user {
				t.Errorf("created: title %q description %s user %q; want them as given", created.Title, fmtText(created.Description), created.UserID)
			}
			checkTask(t, "read back", e.get(tc.user, created.ID), created)
			page := e.list(tc.user, todo.TaskFilter{Query: tc.query, Limit: todo.MaxLimit})
			if !slices.Contains(ids(page.Tasks), created.ID) {
				t.Errorf("q %q does not find the task", tc.query)
			}
			for _, listed := range page.Tasks {
				if listed.ID == created.ID {
					checkTask(t, "listed", listed, created)
				}
			}
			e.clk.Advance(time.Second)
		})
	}
	// Composed and decomposed forms are different text: no normalisation.
	page := e.list(alice, todo.TaskFilter{Query: "école"})
	if len(page.Tasks) != 0 {
		t.Errorf("q with a precomposed é found %d tasks written with a combining accent", len(page.Tasks))
	}
}

func testTags(t *testing.T, open Opener) {
	e := newEnv(t, open)
	none := e.create(alice, todo.NewTask{Title: "no tags"})
	if none.Tags == nil || len(none.Tags) != 0 {
		t.Errorf("created without tags: %#v, want []string{}", none.Tags)
	}
	special := []string{"b", "a", `"quoted"`, `back\slash`, "<b>&amp;", "comma,inside", "{brace}", "NULL", "null",
		"[]", "a b", "😀", "café", "it's"}
	tagged := e.create(alice, todo.NewTask{Title: "tagged", Tags: special})
	if !slices.Equal(tagged.Tags, special) {
		t.Errorf("tags %#v, want %#v in the order given", tagged.Tags, special)
	}
	checkTask(t, "tagged, read back", e.get(alice, tagged.ID), tagged)
	for _, tag := range special {
		page := e.list(alice, todo.TaskFilter{Tags: []string{tag}})
		if got := ids(page.Tasks); !slices.Equal(got, []int64{tagged.ID}) {
			t.Errorf("tag filter %q: ids %v, want [%d]", tag, got, tagged.ID)
		}
	}
	if got := ids(e.list(alice, todo.TaskFilter{Tags: special}).Tasks); !slices.Equal(got, []int64{tagged.ID}) {
		t.Errorf("all tags at once: ids %v, want [%d]", got, tagged.ID)
	}

	e.clk.Advance(time.Second)
	emptied := e.update(alice, tagged.ID, todo.TaskPatch{Tags: &[]string{}}, 0)
	if emptied.Tags == nil || len(emptied.Tags) != 0 {
		t.Errorf("tags emptied by update: %#v, want []string{}", emptied.Tags)
	}
	for _, task := range e.list(alice, todo.TaskFilter{}).Tasks {
		if task.Tags == nil || len(task.Tags) != 0 {
			t.Errorf("listed task %d tags %#v, want []string{}", task.ID, task.Tags)
		}
	}
	if got := e.get(alice, emptied.ID).Tags; got == nil || len(got) != 0 {
		t.Errorf("emptied tags read back: %#v, want []string{}", got)
	}
	if page := e.list(alice, todo.TaskFilter{Tags: []string{"b"}}); len(page.Tasks) != 0 {
		t.Errorf("tag filter after the tags were removed: %d tasks, want 0", len(page.Tasks))
	}
}

func testDescription(t *testing.T, open Opener) {
	e := newEnv(t, open)
	null := e.create(alice, todo.NewTask{Title: "null description"})
	empty := e.create(alice, todo.NewTask{Title: "empty description", Description: ptr("")})
	if null.Description != nil {
		t.Errorf("created without a description: %s, want null", fmtText(null.Description))
	}
	if empty.Description == nil || *empty.Description != "" {
		t.Errorf("created with an empty description: %s, want \"\"", fmtText(empty.Description))
	}
	checkTask(t, "null, read back", e.get(alice, null.ID), null)
	checkTask(t, "empty, read back", e.get(alice, empty.ID), empty)
	page := e.list(alice, todo.TaskFilter{Sort: todo.SortCreated})
	if len(page.Tasks) != 2 {
		t.Fatalf("list: %d tasks, want 2", len(page.Tasks))
	}
	checkTask(t, "null, listed", page.Tasks[0], null)
	checkTask(t, "empty, listed", page.Tasks[1], empty)

	e.clk.Advance(time.Second)
	toEmpty := e.update(alice, null.ID, todo.TaskPatch{Description: todo.Optional[string]{Set: true, Value: ptr("")}}, 0)
	toNull := e.update(alice, empty.ID, todo.TaskPatch{Description: todo.Optional[string]{Set: true}}, 0)
	if toEmpty.Description == nil || *toEmpty.Description != "" {
		t.Errorf("null set to empty: %s, want \"\"", fmtText(toEmpty.Description))
	}
	if toNull.Description != nil {
		t.Errorf("empty cleared: %s, want null", fmtText(toNull.Description))
	}
	checkTask(t, "null set to empty, read back", e.get(alice, null.ID), toEmpty)
	checkTask(t, "empty cleared, read back", e.get(alice, empty.ID), toNull)
}

func testPing(t *testing.T, open Opener) {
	e := newEnv(t, open)
	if err := e.s.Ping(e.ctx); err != nil {
		t.Fatalf("Ping on a migrated store: %v", err)
	}
}

// callAll calls every store method with ctx and reports each error by name.
func callAll(e *env, ctx context.Context, id int64, version int64) map[string]error {
	errs := map[string]error{}
	_, errs["CreateTask"] = e.s.CreateTask(ctx, alice, todo.NewTask{Title: "never", Priority: todo.PriorityNone, Tags: []string{}})
	_, errs["GetTask"] = e.s.GetTask(ctx, alice, id)
	_, errs["UpdateTask"] = e.s.UpdateTask(ctx, alice, id, todo.TaskPatch{Title: ptr("never")}, version)
	_, errs["CompleteTask"] = e.s.CompleteTask(ctx, alice, id, nil, version)
	_, errs["DeleteTask"] = e.s.DeleteTask(ctx, alice, id, version)
	f := todo.TaskFilter{}
	if err := f.Normalize(); err != nil {
		e.t.Fatal(err)
	}
	_, errs["ListTasks"] = e.s.ListTasks(ctx, alice, f)
	_, errs["CountTasks"] = e.s.CountTasks(ctx, alice, f)
	errs["Ping"] = e.s.Ping(ctx)
	_, errs["Changes"] = e.s.Changes(ctx, alice, 0, 0, 0)
	_, errs["LatestChange"] = e.s.LatestChange(ctx, alice)
	_, errs["BulkTasks"] = e.s.BulkTasks(ctx, alice, todo.Bulk{Action: todo.BulkComplete, IDs: []int64{id}})
	_, errs["TaskStats"] = e.s.TaskStats(ctx, alice, e.clk.Stamp())
	idem := todo.Idempotency{Key: "never", Fingerprint: "f", Render: renderTask}
	_, _, errs["CreateTaskOnce"] = e.s.CreateTaskOnce(ctx, alice, todo.NewTask{Title: "never", Priority: todo.PriorityNone, Tags: []string{}}, idem)
	_, _, errs["CompleteTaskOnce"] = e.s.CompleteTaskOnce(ctx, alice, id, nil, version, idem)
	_, errs["ServerKey"] = e.s.ServerKey(ctx)
	if p, ok := e.s.(purger); ok {
		errs["PurgeExpired"] = p.PurgeExpired(ctx, e.clk.Stamp())
	}
	return errs
}

func testCancelledContext(t *testing.T, open Opener) {
	e := newEnv(t, open)
	task := e.create(alice, todo.NewTask{Title: "survivor"})
	e.clk.Advance(time.Second)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	for name, err := range callAll(e, ctx, task.ID, 0) {
		switch {
		case err == nil:
			t.Errorf("%s with a cancelled context: no error", name)
		case name == "Ping":
			// Ping's contract only promises an error.
		case !errors.Is(err, context.Canceled) || errors.Is(err, todo.ErrUnavailable):
			t.Errorf("%s with a cancelled context: %v, want context.Canceled and not ErrUnavailable", name, err)
		}
	}
	checkTask(t, "task after cancelled writes", e.get(alice, task.ID), task)
	if n := e.count(alice, todo.TaskFilter{}); n != 1 {
		t.Errorf("count after a cancelled create: %d, want 1", n)
	}
	if n := e.latest(alice); n != 1 {
		t.Errorf("LatestChange after a cancelled write: %d, want 1", n)
	}
}

func testExpiredDeadline(t *testing.T, open Opener) {
	e := newEnv(t, open)
	task := e.create(alice, todo.NewTask{Title: "survivor"})
	e.clk.Advance(time.Second)
	ctx, cancel := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel()
	for name, err := range callAll(e, ctx, task.ID, 0) {
		if err == nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, todo.ErrUnavailable)) {
			t.Errorf("%s past its deadline: %v, want context.DeadlineExceeded or ErrUnavailable", name, err)
		}
	}
	checkTask(t, "task after timed-out writes", e.get(alice, task.ID), task)
	if n := e.count(alice, todo.TaskFilter{}); n != 1 {
		t.Errorf("count after a timed-out create: %d, want 1", n)
	}
	if n := e.latest(alice); n != 1 {
		t.Errorf("LatestChange after a timed-out write: %d, want 1", n)
	}
}

// testConcurrentWrites races toggles and conditional updates on one task.
// Every write that succeeds must count: the final version is one more than
// the number of successful writes, and the completion state is the parity of
// the successful toggles.
func testConcurrentWrites(t *testing.T, open Opener) {
	e := newEnv(t, open)
	task := e.create(alice, todo.NewTask{Title: "contended"})
	const workers, rounds = 8, 10
	var (
		mu              sync.Mutex
		writes, toggles int64
		wg              sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				e.clk.Advance(time.Millisecond)
				var err error
				toggle := w%2 == 0
				if toggle {
					_, err = e.s.CompleteTask(e.ctx, alice, task.ID, nil, 0)
				} else {
					var cur todo.Task
					if cur, err = e.s.GetTask(e.ctx, alice, task.ID); err == nil {
						title := fmt.Sprintf("worker %d round %d", w, r)
						_, err = e.s.UpdateTask(e.ctx, alice, task.ID, todo.TaskPatch{Title: &title}, cur.Version)
					}
				}
				switch {
				case err == nil:
					mu.Lock()
					writes++
					if toggle {
						toggles++
					}
					mu.Unlock()
				case errors.Is(err, todo.ErrPreconditionFailed) && !toggle:
				default:
					t.Errorf("worker %d round %d: %v", w, r, err)
				}
			}
		}()
	}
	wg.Wait()
	final := e.get(alice, task.ID)
	if final.Version != 1+writes {
		t.Errorf("final version %d, want 1 + %d successful writes", final.Version, writes)
	}
	if toggles != workers/2*rounds {
		t.Errorf("%d toggles succeeded, want all %d (they carry no precondition)", toggles, workers/2*rounds)
	}
	if wantDone := toggles%2 == 1; final.Completed != wantDone || (final.CompletedAt != nil) != wantDone {
		t.Errorf("after %d toggles: completed %v completed_at %s", toggles, final.Completed, fmtTime(final.CompletedAt))
	}
}

func testConcurrentCreates(t *testing.T, open Opener) {
	e := newEnv(t, open)
	const workers, each = 6, 10
	var (
		mu   sync.Mutex
		seen = map[int64]bool{}
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user-%d", w%2)
			for i := range each {
				task, err := e.s.CreateTask(e.ctx, user, todo.NewTask{Title: fmt.Sprintf("w%d-%d", w, i),
					Priority: todo.PriorityNone, Tags: []string{}})
				if err != nil {
					t.Errorf("CreateTask: %v", err)
					return
				}
				mu.Lock()
				if seen[task.ID] {
					t.Errorf("id %d given twice", task.ID)
				}
				seen[task.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := e.count("user-0", todo.TaskFilter{}) + e.count("user-1", todo.TaskFilter{})
	if total != workers*each || len(seen) != workers*each {
		t.Errorf("%d tasks stored, %d distinct ids; want %d", total, len(seen), workers*each)
	}
}
