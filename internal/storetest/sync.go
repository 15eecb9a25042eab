package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// purger is the periodic clean-up both engines provide beside todo.Store.
type purger interface {
	PurgeExpired(ctx context.Context, now time.Time) error
}

// Helpers of the sync tests.

func (e *env) changes(user string, since int64, limit int) todo.Changes {
	e.t.Helper()
	ch, err := e.s.Changes(e.ctx, user, since, 0, limit)
	if err != nil {
		e.t.Fatalf("Changes(%q, %d, %d): %v", user, since, limit, err)
	}
	return ch
}

func (e *env) latest(user string) int64 {
	e.t.Helper()
	n, err := e.s.LatestChange(e.ctx, user)
	if err != nil {
		e.t.Fatalf("LatestChange(%q): %v", user, err)
	}
	return n
}

func (e *env) delete(user string, id int64) todo.Task {
	e.t.Helper()
	gone, err := e.s.DeleteTask(e.ctx, user, id, 0)
	if err != nil {
		e.t.Fatalf("DeleteTask(%q, %d): %v", user, id, err)
	}
	return gone
}

func (e *env) bulk(user string, b todo.Bulk) []todo.BulkResult {
	e.t.Helper()
	res, err := e.s.BulkTasks(e.ctx, user, b)
	if err != nil {
		e.t.Fatalf("BulkTasks(%q, %s %v): %v", user, b.Action, b.IDs, err)
	}
	return res
}

func (e *env) stats(user string, now time.Time) todo.Stats {
	e.t.Helper()
	st, err := e.s.TaskStats(e.ctx, user, now)
	if err != nil {
		e.t.Fatalf("TaskStats(%q): %v", user, err)
	}
	return st
}

func (e *env) purge(now time.Time) {
	e.t.Helper()
	p, ok := e.s.(purger)
	if !ok {
		e.t.Fatalf("%T has no PurgeExpired method", e.s)
	}
	if err := p.PurgeExpired(e.ctx, now); err != nil {
		e.t.Fatalf("PurgeExpired: %v", err)
	}
}

// checkSynced is checkTask plus the change number.
func checkSynced(t *testing.T, what string, got, want todo.Task) {
	t.Helper()
	checkTask(t, what, got, want)
	if got.Seq != want.Seq {
		t.Errorf("%s: Seq %d, want %d", what, got.Seq, want.Seq)
	}
}

// checkChanges compares a page of the feed with what it must hold.
func checkChanges(t *testing.T, what string, got todo.Changes, tasks []todo.Task, deleted []todo.Tombstone, next int64, hasMore bool) {
	t.Helper()
	if got.Tasks == nil || got.Deleted == nil {
		t.Errorf("%s: Tasks %v and Deleted %v must not be nil", what, got.Tasks == nil, got.Deleted == nil)
	}
	if len(got.Tasks) != len(tasks) {
		t.Errorf("%s: %d tasks (ids %v), want %d (ids %v)", what, len(got.Tasks), ids(got.Tasks), len(tasks), ids(tasks))
	} else {
		for i := range tasks {
			checkSynced(t, fmt.Sprintf("%s: task %d", what, i), got.Tasks[i], tasks[i])
		}
	}
	if len(got.Deleted) != len(deleted) {
		t.Errorf("%s: deleted %+v, want %+v", what, got.Deleted, deleted)
	} else {
		for i, want := range deleted {
			g := got.Deleted[i]
			if g.ID != want.ID || g.Seq != want.Seq || !sameTime(&g.DeletedAt, &want.DeletedAt) {
				t.Errorf("%s: deleted[%d] = {%d %s seq %d}, want {%d %s seq %d}", what, i,
					g.ID, fmtTime(&g.DeletedAt), g.Seq, want.ID, fmtTime(&want.DeletedAt), want.Seq)
			}
		}
	}
	if got.Next != next || got.HasMore != hasMore {
		t.Errorf("%s: Next %d HasMore %v, want %d %v", what, got.Next, got.HasMore, next, hasMore)
	}
}

// checkValidation fails unless err is a *todo.ValidationError whose fields
// are exactly fields.
func checkValidation(t *testing.T, what string, err error, fields ...string) {
	t.Helper()
	var ve *todo.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("%s: error %v, want a *todo.ValidationError", what, err)
		return
	}
	var got []string
	for _, fe := range ve.Errors {
		got = append(got, fe.Field)
	}
	if !slices.Equal(got, fields) {
		t.Errorf("%s: fields %v, want %v", what, got, fields)
	}
}

// with returns t changed by fn: a want derived from an earlier state.
func with(t todo.Task, fn func(*todo.Task)) todo.Task {
	t.Tags = slices.Clone(t.Tags)
	fn(&t)
	return t
}

// testChanges walks a feed with a write of every kind, page by page, with
// every limit that cuts it differently.
func testChanges(t *testing.T, open Opener) {
	e := newEnv(t, open)
	if n := e.latest(alice); n != 0 {
		t.Errorf("LatestChange of a new user: %d, want 0", n)
	}
	checkChanges(t, "feed of a new user", e.changes(alice, 0, 0), nil, nil, 0, false)

	a := e.create(alice, todo.NewTask{Title: "first"})
	e.clk.Advance(time.Second)
	b := e.create(alice, todo.NewTask{Title: "second", Tags: []string{"t"}})
	e.clk.Advance(time.Second)
	c := e.create(alice, todo.NewTask{Title: "third", Priority: todo.PriorityHigh})
	for i, task := range []todo.Task{a, b, c} {
		if task.Seq != int64(i+1) {
			t.Errorf("created task %d: Seq %d, want %d", i, task.Seq, i+1)
		}
	}
	at := e.clk.Advance(time.Second)
	a2 := e.update(alice, a.ID, todo.TaskPatch{Title: ptr("first, renamed")}, 0)
	checkSynced(t, "updated", a2, with(a, func(w *todo.Task) {
		w.Title, w.UpdatedAt, w.Version, w.Seq = "first, renamed", at, 2, 4
	}))
	deletedAt := e.clk.Advance(time.Second)
	e.delete(alice, b.ID)
	at = e.clk.Advance(time.Second)
	c2 := e.complete(alice, c.ID, ptr(true), 0)
	checkSynced(t, "completed", c2, with(c, func(w *todo.Task) {
		w.Completed, w.CompletedAt, w.UpdatedAt, w.Version, w.Seq = true, &at, at, 2, 6
	}))
	bobs := e.create(bob, todo.NewTask{Title: "bob's first"})
	if bobs.Seq != 1 {
		t.Errorf("bob's first task: Seq %d, want 1: each user has a sequence of their own", bobs.Seq)
	}
	checkSynced(t, "read back", e.get(alice, a.ID), a2)
	for _, listed := range e.list(alice, todo.TaskFilter{Sort: todo.SortCreated}).Tasks {
		if listed.ID == c.ID {
			checkSynced(t, "listed", listed, c2)
		}
	}

	tomb := todo.Tombstone{ID: b.ID, DeletedAt: deletedAt, Seq: 5}
	for _, tc := range []struct {
		since   int64
		limit   int
		tasks   []todo.Task
		deleted []todo.Tombstone
		next    int64
		more    bool
	}{
		{0, 0, []todo.Task{a2, c2}, []todo.Tombstone{tomb}, 6, false},
		{0, todo.MaxChangesLimit, []todo.Task{a2, c2}, []todo.Tombstone{tomb}, 6, false},
		{0, 3, []todo.Task{a2, c2}, []todo.Tombstone{tomb}, 6, false},
		{0, 2, []todo.Task{a2}, []todo.Tombstone{tomb}, 5, true},
		{0, 1, []todo.Task{a2}, nil, 4, true},
		{3, 2, []todo.Task{a2}, []todo.Tombstone{tomb}, 5, true},
		{4, 1, nil, []todo.Tombstone{tomb}, 5, true},
		{5, 1, []todo.Task{c2}, nil, 6, false},
		{6, 1, nil, nil, 6, false},
		{100, 10, nil, nil, 100, false},
	} {
		checkChanges(t, fmt.Sprintf("Changes(since %d, limit %d)", tc.since, tc.limit),
			e.changes(alice, tc.since, tc.limit), tc.tasks, tc.deleted, tc.next, tc.more)
	}
	checkChanges(t, "bob's feed", e.changes(bob, 0, 0), []todo.Task{bobs}, nil, 1, false)

	// Writes that fail take no number.
	_, err := e.s.UpdateTask(e.ctx, alice, a.ID, todo.TaskPatch{Title: ptr("stale")}, 1)
	checkErr(t, "stale update", err, todo.ErrPreconditionFailed)
	_, err = e.s.DeleteTask(e.ctx, alice, a.ID, 1)
	checkErr(t, "stale delete", err, todo.ErrPreconditionFailed)
	_, err = e.s.CompleteTask(e.ctx, alice, b.ID, nil, 0)
	checkErr(t, "completing a deleted task", err, todo.ErrNotFound)
	_, err = e.s.DeleteTask(e.ctx, alice, b.ID, 0)
	checkErr(t, "deleting a deleted task", err, todo.ErrNotFound)
	_, err = e.s.UpdateTask(e.ctx, bob, a.ID, todo.TaskPatch{}, 0)
	checkErr(t, "bob updates alice's task", err, todo.ErrNotFound)
	if n := e.latest(alice); n != 6 {
		t.Errorf("LatestChange after failed writes: %d, want 6", n)
	}
	if n := e.latest(bob); n != 1 {
		t.Errorf("bob's LatestChange: %d, want 1", n)
	}
	checkChanges(t, "feed after failed writes", e.changes(alice, 6, 0), nil, nil, 6, false)

	_, err = e.s.Changes(e.ctx, alice, -1, 0, 0)
	checkValidation(t, "negative since", err, "since")
	_, err = e.s.Changes(e.ctx, alice, 0, 0, -1)
	checkValidation(t, "negative limit", err, "limit")
	_, err = e.s.Changes(e.ctx, alice, 0, 0, todo.MaxChangesLimit+1)
	checkValidation(t, "limit beyond the maximum", err, "limit")
}

// testTombstones checks that deletions stay in the feed for
// todo.TombstoneRetention, and that PurgeExpired removes them after it.
func testTombstones(t *testing.T, open Opener) {
	e := newEnv(t, open)
	first := e.create(alice, todo.NewTask{Title: "deleted first"})
	second := e.create(alice, todo.NewTask{Title: "deleted a day later"})
	kept := e.create(alice, todo.NewTask{Title: "kept"})
	firstAt := e.clk.Stamp()
	e.delete(alice, first.ID)
	secondAt := e.clk.Advance(24 * time.Hour)
	e.delete(alice, second.ID)
	tombs := []todo.Tombstone{{ID: first.ID, DeletedAt: firstAt, Seq: 4}, {ID: second.ID, DeletedAt: secondAt, Seq: 5}}

	e.purge(firstAt.Add(todo.TombstoneRetention))
	checkChanges(t, "purged exactly at the retention", e.changes(alice, 0, 0), []todo.Task{kept}, tombs, 5, false)
	e.purge(firstAt.Add(todo.TombstoneRetention + time.Microsecond))
	checkChanges(t, "purged past the first deletion's retention", e.changes(alice, 0, 0), []todo.Task{kept}, tombs[1:], 5, false)
	e.purge(secondAt.Add(365 * 24 * time.Hour))
	// The last page ends at the purged position, not below it.
	checkChanges(t, "purged past every retention", e.changes(alice, 0, 0), []todo.Task{kept}, nil, 5, false)
	// The sequence goes on from where it was.
	if n := e.latest(alice); n != 5 {
		t.Errorf("LatestChange after the purge: %d, want 5", n)
	}
	if next := e.create(alice, todo.NewTask{Title: "after the purge"}); next.Seq != 6 {
		t.Errorf("task after the purge: Seq %d, want 6", next.Seq)
	}
}

// testCursorExpired checks that once a tombstone is purged, a position
// below its change number is refused with todo.ErrCursorExpired, never
// answered with the deletion left out; that positions at or above it, and 0,
// still work, as do the positions of a resync from 0 with the Floor of its
// pages; and that purging one user's tombstones expires none of another
// user's positions.
func testCursorExpired(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bobsAt := e.clk.Stamp()
	bobKept := e.create(bob, todo.NewTask{Title: "bob's, kept"})    // bob 1
	bobGone := e.create(bob, todo.NewTask{Title: "bob's, deleted"}) // bob 2
	e.delete(bob, bobGone.ID)                                       // bob 3
	alicesAt := e.clk.Advance(time.Hour)
	gone := e.create(alice, todo.NewTask{Title: "deleted"}) // 1
	b := e.create(alice, todo.NewTask{Title: "b"})          // 2
	c := e.create(alice, todo.NewTask{Title: "c"})          // 3
	e.delete(alice, gone.ID)                                // 4
	aliceTomb := todo.Tombstone{ID: gone.ID, DeletedAt: alicesAt, Seq: 4}

	expired := func(user string, since int64) {
		t.Helper()
		_, err := e.s.Changes(e.ctx, user, since, 0, 0)
		if !errors.Is(err, todo.ErrCursorExpired) {
			t.Errorf("Changes(%q, %d) after the purge: error %v, want todo.ErrCursorExpired", user, since, err)
		}
	}

	// Only bob's tombstone is old enough: bob's positions before it expire,
	// none of alice's do.
	e.purge(bobsAt.Add(todo.TombstoneRetention + time.Microsecond))
	expired(bob, 1)
	expired(bob, 2)
	checkChanges(t, "bob from the purged deletion", e.changes(bob, 3, 0), nil, nil, 3, false)
	checkChanges(t, "bob from 0", e.changes(bob, 0, 0), []todo.Task{bobKept}, nil, 3, false)
	for since := int64(1); since <= 3; since++ {
		want := []todo.Task{b, c}[min(since-1, 2):]
		checkChanges(t, fmt.Sprintf("alice from %d after bob's purge", since), e.changes(alice, since, 0),
			want, []todo.Tombstone{aliceTomb}, 4, false)
	}
	checkChanges(t, "a user without changes, from a position", e.changes("carol", 5, 0), nil, nil, 5, false)

	// Alice's turn: her tombstone goes, and her positions before it expire.
	updatedAt := e.clk.Advance(time.Minute)
	b = e.update(alice, b.ID, todo.TaskPatch{Title: ptr("b!")}, 0) // 5
	if b.Seq != 5 || !b.UpdatedAt.Equal(updatedAt) {
		t.Fatalf("update: Seq %d at %s, want 5 at %s", b.Seq, fmtTime(&b.UpdatedAt), fmtTime(&updatedAt))
	}
	now := alicesAt.Add(todo.TombstoneRetention + time.Microsecond)
	e.purge(now)
	for since := int64(1); since <= 3; since++ {
		expired(alice, since)
	}
	checkChanges(t, "alice from the purged deletion", e.changes(alice, 4, 0), []todo.Task{b}, nil, 5, false)
	checkChanges(t, "alice from 0", e.changes(alice, 0, 0), []todo.Task{c, b}, nil, 5, false)
	// A resync from 0 in pages of one passes position 3, below the purged
	// one: its pages carry the purged position as Floor, and with it the
	// position is accepted.
	p1 := e.changes(alice, 0, 1)
	checkChanges(t, "resync page 1", p1, []todo.Task{c}, nil, 3, true)
	p2, err := e.s.Changes(e.ctx, alice, p1.Next, p1.Floor, 1)
	if err != nil {
		t.Fatalf("resync page 2 from %d with floor %d: %v", p1.Next, p1.Floor, err)
	}
	checkChanges(t, "resync page 2", p2, []todo.Task{b}, nil, 5, false)
	if p1.Floor != 4 || p2.Floor != 4 {
		t.Errorf("resync pages: Floor %d and %d, want the purged position 4", p1.Floor, p2.Floor)
	}

	// A later deletion is in the feed as usual; a purge with nothing left to
	// remove moves nothing.
	cAt := e.clk.Stamp()
	e.delete(alice, c.ID) // 6
	e.purge(now)
	expired(alice, 3)
	cTomb := []todo.Tombstone{{ID: c.ID, DeletedAt: cAt, Seq: 6}}
	checkChanges(t, "alice from 4 after a later deletion", e.changes(alice, 4, 0), []todo.Task{b}, cTomb, 6, false)
	checkChanges(t, "alice from 0 after a later deletion", e.changes(alice, 0, 0), []todo.Task{b}, cTomb, 6, false)
	// A floor does not save a position from a purge after it; a regular
	// position has none.
	if ch := e.changes(alice, 4, 0); ch.Floor != 0 {
		t.Errorf("from 4 without a floor: Floor %d, want 0", ch.Floor)
	}
	e.purge(cAt.Add(todo.TombstoneRetention + time.Microsecond)) // c's tombstone, 6
	if _, err := e.s.Changes(e.ctx, alice, 3, 4, 0); !errors.Is(err, todo.ErrCursorExpired) {
		t.Errorf("from 3 with floor 4 after a later purge: %v, want todo.ErrCursorExpired", err)
	}
	if _, err := e.s.Changes(e.ctx, alice, 1, 6, 0); err != nil {
		t.Errorf("from 1 with floor 6 (a resync begun after that purge): %v", err)
	}

	// Validation still comes first.
	_, err = e.s.Changes(e.ctx, alice, -1, 0, 0)
	checkValidation(t, "negative since after a purge", err, "since")
	_, err = e.s.Changes(e.ctx, alice, 1, -1, 0)
	checkValidation(t, "negative floor", err, "floor")
}

// testBulk applies every action, with the rules of each, all or nothing.
func testBulk(t *testing.T, open Opener) {
	e := newEnv(t, open)
	nineteen := make([]string, todo.MaxTags-1)
	for i := range nineteen {
		nineteen[i] = fmt.Sprintf("t%02d", i+1)
	}
	doneAt := e.clk.Stamp()
	a := e.create(alice, todo.NewTask{Title: "a", Tags: []string{"x"}})
	b := e.create(alice, todo.NewTask{Title: "b", Completed: true})
	c := e.create(alice, todo.NewTask{Title: "c", Tags: nineteen})
	d := e.create(alice, todo.NewTask{Title: "d"})
	theirs := e.create(bob, todo.NewTask{Title: "bob's"})
	if b.CompletedAt == nil || !b.CompletedAt.Equal(doneAt) {
		t.Fatalf("b created completed at %s, want %s", fmtTime(b.CompletedAt), fmtTime(&doneAt))
	}

	check := func(what string, got []todo.BulkResult, want ...todo.Task) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d results, want %d", what, len(got), len(want))
		}
		for i, w := range want {
			if got[i].ID != w.ID || got[i].Deleted || got[i].Task == nil {
				t.Errorf("%s: result %d = {%d deleted %v task %v}, want task %d", what, i, got[i].ID, got[i].Deleted, got[i].Task != nil, w.ID)
				continue
			}
			checkSynced(t, fmt.Sprintf("%s: result %d", what, i), *got[i].Task, w)
			checkSynced(t, fmt.Sprintf("%s: task %d read back", what, w.ID), e.get(alice, w.ID), w)
		}
	}

	// Completing keeps an earlier completion time; every named task is
	// written, in the order named.
	now := e.clk.Advance(time.Minute)
	wantB := with(b, func(w *todo.Task) { w.UpdatedAt, w.Version, w.Seq = now, 2, 5 })
	wantA := with(a, func(w *todo.Task) { w.Completed, w.CompletedAt, w.UpdatedAt, w.Version, w.Seq = true, &now, now, 2, 6 })
	check("complete", e.bulk(alice, todo.Bulk{Action: todo.BulkComplete, IDs: []int64{b.ID, a.ID}}), wantB, wantA)

	now = e.clk.Advance(time.Minute)
	wantA = with(wantA, func(w *todo.Task) { w.Completed, w.CompletedAt, w.UpdatedAt, w.Version, w.Seq = false, nil, now, 3, 7 })
	check("reopen", e.bulk(alice, todo.Bulk{Action: todo.BulkReopen, IDs: []int64{a.ID}}), wantA)

	now = e.clk.Advance(time.Minute)
	wantA = with(wantA, func(w *todo.Task) { w.Tags, w.UpdatedAt, w.Version, w.Seq = []string{"x", "y"}, now, 4, 8 })
	wantD := with(d, func(w *todo.Task) { w.Tags, w.UpdatedAt, w.Version, w.Seq = []string{"y", "x"}, now, 2, 9 })
	check("tag", e.bulk(alice, todo.Bulk{Action: todo.BulkTag, IDs: []int64{a.ID, d.ID}, Tags: []string{"y", "x"}}), wantA, wantD)

	// Beyond MaxTags: the task is named, nothing is applied.
	e.clk.Advance(time.Minute)
	_, err := e.s.BulkTasks(e.ctx, alice, todo.Bulk{Action: todo.BulkTag, IDs: []int64{a.ID, c.ID}, Tags: []string{"z1", "z2"}})
	checkValidation(t, "tagging beyond the maximum", err, "ids[1]")
	checkSynced(t, "a after a refused bulk", e.get(alice, a.ID), wantA)
	checkSynced(t, "c after a refused bulk", e.get(alice, c.ID), c)
	if n := e.latest(alice); n != 9 {
		t.Errorf("LatestChange after a refused bulk: %d, want 9", n)
	}
	now = e.clk.Advance(time.Minute)
	wantC := with(c, func(w *todo.Task) {
		w.Tags, w.UpdatedAt, w.Version, w.Seq = append(slices.Clone(nineteen), "z1"), now, 2, 10
	})
	check("tag up to the maximum", e.bulk(alice, todo.Bulk{Action: todo.BulkTag, IDs: []int64{c.ID}, Tags: []string{"t01", "z1"}}), wantC)

	now = e.clk.Advance(time.Minute)
	wantA = with(wantA, func(w *todo.Task) { w.Tags, w.UpdatedAt, w.Version, w.Seq = []string{"y"}, now, 5, 11 })
	wantD = with(wantD, func(w *todo.Task) { w.Tags, w.UpdatedAt, w.Version, w.Seq = []string{"y"}, now, 3, 12 })
	check("untag", e.bulk(alice, todo.Bulk{Action: todo.BulkUntag, IDs: []int64{a.ID, d.ID}, Tags: []string{"x", "absent"}}), wantA, wantD)

	// Missing and another user's ids are named by position; nothing applies.
	e.clk.Advance(time.Minute)
	_, err = e.s.BulkTasks(e.ctx, alice, todo.Bulk{Action: todo.BulkComplete, IDs: []int64{a.ID, 999_999_999, theirs.ID, d.ID}})
	var missing *todo.MissingTasksError
	if !errors.As(err, &missing) || !slices.Equal(missing.Indexes, []int{1, 2}) {
		t.Errorf("bulk with missing ids: %v, want *MissingTasksError{[1 2]}", err)
	}
	for _, action := range []todo.BulkAction{todo.BulkDelete, todo.BulkTag} {
		_, err = e.s.BulkTasks(e.ctx, alice, todo.Bulk{Action: action, IDs: []int64{theirs.ID, a.ID}, Tags: []string{"q"}})
		if !errors.As(err, &missing) || !slices.Equal(missing.Indexes, []int{0}) {
			t.Errorf("bulk %s with bob's id: %v, want *MissingTasksError{[0]}", action, err)
		}
	}
	checkSynced(t, "a after refused bulks", e.get(alice, a.ID), wantA)
	checkSynced(t, "d after refused bulks", e.get(alice, d.ID), wantD)
	checkSynced(t, "bob's task after alice's bulks", e.get(bob, theirs.ID), theirs)
	if n := e.latest(alice); n != 12 {
		t.Errorf("LatestChange after refused bulks: %d, want 12", n)
	}

	now = e.clk.Advance(time.Minute)
	res := e.bulk(alice, todo.Bulk{Action: todo.BulkDelete, IDs: []int64{d.ID, a.ID}})
	want := []todo.BulkResult{{ID: d.ID, Deleted: true}, {ID: a.ID, Deleted: true}}
	if len(res) != 2 || res[0] != want[0] || res[1] != want[1] {
		t.Errorf("delete: results %+v, want %+v", res, want)
	}
	for _, id := range []int64{d.ID, a.ID} {
		_, err := e.s.GetTask(e.ctx, alice, id)
		checkErr(t, "a task deleted in bulk", err, todo.ErrNotFound)
	}
	checkChanges(t, "feed after a bulk delete", e.changes(alice, 10, 0), nil,
		[]todo.Tombstone{{ID: d.ID, DeletedAt: now, Seq: 13}, {ID: a.ID, DeletedAt: now, Seq: 14}}, 14, false)

	tooMany := make([]int64, todo.MaxBulkIDs+1)
	for i := range tooMany {
		tooMany[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name   string
		b      todo.Bulk
		fields []string
	}{
		{"unknown action", todo.Bulk{Action: "archive", IDs: []int64{c.ID}}, []string{"action"}},
		{"no ids", todo.Bulk{Action: todo.BulkComplete}, []string{"ids"}},
		{"too many ids", todo.Bulk{Action: todo.BulkComplete, IDs: tooMany}, []string{"ids"}},
		{"duplicate ids", todo.Bulk{Action: todo.BulkComplete, IDs: []int64{c.ID, b.ID, c.ID}}, []string{"ids[2]"}},
		{"tag without tags", todo.Bulk{Action: todo.BulkTag, IDs: []int64{c.ID}}, []string{"tags"}},
	} {
		_, err := e.s.BulkTasks(e.ctx, alice, tc.b)
		checkValidation(t, tc.name, err, tc.fields...)
	}
	if n := e.latest(alice); n != 14 {
		t.Errorf("LatestChange after invalid bulks: %d, want 14", n)
	}
}

// testBulkLarge applies the largest bulk edits the contract allows.
func testBulkLarge(t *testing.T, open Opener) {
	e := newEnv(t, open)
	const n = 60
	var all []int64
	for i := range n {
		all = append(all, e.create(alice, todo.NewTask{Title: fmt.Sprintf("task %d", i)}).ID)
	}
	// The ids in an order of their own: the numbers follow it.
	slices.Reverse(all)
	now := e.clk.Advance(time.Minute)
	res := e.bulk(alice, todo.Bulk{Action: todo.BulkComplete, IDs: all})
	for i, r := range res {
		if r.ID != all[i] || r.Task == nil || r.Task.Seq != int64(n+1+i) || !r.Task.Completed || !sameTime(r.Task.CompletedAt, &now) {
			t.Fatalf("result %d: %+v, want task %d completed at %s with Seq %d", i, r, all[i], fmtTime(&now), n+1+i)
		}
	}
	ch := e.changes(alice, n, 0)
	if got := ids(ch.Tasks); !slices.Equal(got, all) || ch.Next != 2*n || ch.HasMore {
		t.Errorf("feed after the bulk: ids %v next %d more %v; want the bulk's order, next %d", got, ch.Next, ch.HasMore, 2*n)
	}
	res = e.bulk(alice, todo.Bulk{Action: todo.BulkDelete, IDs: all})
	if len(res) != n {
		t.Fatalf("bulk delete: %d results, want %d", len(res), n)
	}
	ch = e.changes(alice, 0, 0)
	if len(ch.Tasks) != 0 || len(ch.Deleted) != n || ch.Next != 3*n {
		t.Fatalf("feed after deleting everything: %d tasks, %d deletions, next %d; want 0, %d, %d", len(ch.Tasks), len(ch.Deleted), ch.Next, n, 3*n)
	}
	for i, ts := range ch.Deleted {
		if ts.ID != all[i] || ts.Seq != int64(2*n+1+i) {
			t.Errorf("deletion %d: %+v, want task %d with Seq %d", i, ts, all[i], 2*n+1+i)
		}
	}
}

// testStats counts every category with its edges: due exactly now is not
// overdue, completed tasks never are, every priority is present.
func testStats(t *testing.T, open Opener) {
	e := newEnv(t, open)
	zero := todo.Stats{ByPriority: map[todo.Priority]int64{
		todo.PriorityNone: 0, todo.PriorityLow: 0, todo.PriorityMedium: 0, todo.PriorityHigh: 0}}
	check := func(what string, got, want todo.Stats) {
		t.Helper()
		if got.Total != want.Total || got.Completed != want.Completed || got.Pending != want.Pending ||
			got.Overdue != want.Overdue || !maps.Equal(got.ByPriority, want.ByPriority) || len(got.ByPriority) != 4 {
			t.Errorf("%s: %+v, want %+v", what, got, want)
		}
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	check("no tasks", e.stats(alice, now), zero)

	before, after := now.Add(-time.Hour), now.Add(time.Hour)
	e.create(alice, todo.NewTask{Title: "overdue", DueAt: &before})
	e.create(alice, todo.NewTask{Title: "due now", Priority: todo.PriorityLow, DueAt: &now})
	e.create(alice, todo.NewTask{Title: "no due date", Priority: todo.PriorityMedium})
	e.create(alice, todo.NewTask{Title: "done late", Priority: todo.PriorityHigh, Completed: true, DueAt: &before})
	e.create(alice, todo.NewTask{Title: "due later", Priority: todo.PriorityHigh, DueAt: &after})
	last := e.create(alice, todo.NewTask{Title: "done", Completed: true})
	e.create(bob, todo.NewTask{Title: "bob's overdue", DueAt: &before})

	want := todo.Stats{Total: 6, Completed: 2, Pending: 4, Overdue: 1, ByPriority: map[todo.Priority]int64{
		todo.PriorityNone: 2, todo.PriorityLow: 1, todo.PriorityMedium: 1, todo.PriorityHigh: 2}}
	check("alice", e.stats(alice, now), want)
	// A clock reading in another zone, within the microsecond of now, is now.
	check("now given in CET with nanoseconds", e.stats(alice, now.Add(999).In(time.FixedZone("CET", 3600))), want)
	want.Overdue = 2
	check("a microsecond later", e.stats(alice, now.Add(time.Microsecond)), want)
	check("bob", e.stats(bob, now), todo.Stats{Total: 1, Pending: 1, Overdue: 1, ByPriority: map[todo.Priority]int64{
		todo.PriorityNone: 1, todo.PriorityLow: 0, todo.PriorityMedium: 0, todo.PriorityHigh: 0}})
	check("a user without tasks", e.stats("carol", now), zero)

	e.delete(alice, last.ID)
	want = todo.Stats{Total: 5, Completed: 1, Pending: 4, Overdue: 1, ByPriority: map[todo.Priority]int64{
		todo.PriorityNone: 1, todo.PriorityLow: 1, todo.PriorityMedium: 1, todo.PriorityHigh: 2}}
	check("after a deletion", e.stats(alice, now), want)
}

// testServerKey checks the key: 32 random bytes, the same on every call,
// and not shared with the caller's copy.
func testServerKey(t *testing.T, open Opener) {
	e := newEnv(t, open)
	k1, err := e.s.ServerKey(e.ctx)
	if err != nil {
		t.Fatalf("ServerKey: %v", err)
	}
	if len(k1) != 32 || bytes.Equal(k1, make([]byte, 32)) {
		t.Fatalf("ServerKey = %x, want 32 random bytes", k1)
	}
	keep := bytes.Clone(k1)
	k1[0] ^= 0xff
	k2, err := e.s.ServerKey(e.ctx)
	if err != nil || !bytes.Equal(k2, keep) {
		t.Errorf("second ServerKey = %x, %v; want the first, %x, untouched by the caller's change", k2, err, keep)
	}
	other := newEnv(t, open)
	k3, err := other.s.ServerKey(other.ctx)
	if err != nil || bytes.Equal(k3, keep) {
		t.Errorf("another database's ServerKey = %x, %v; want a key of its own", k3, err)
	}
}

// testNotifications checks the signals a store's own writes give its
// subscribers. (Other users' silence and other processes' writes are each
// engine's own test: a PostgreSQL store may signal every subscriber when its
// LISTEN connection comes up.)
func testNotifications(t *testing.T, open Opener) {
	e := newEnv(t, open)
	a1, cancel1 := e.s.Subscribe(alice)
	a2, cancel2 := e.s.Subscribe(alice)
	defer cancel2()
	task := e.create(alice, todo.NewTask{Title: "signalled"})
	waitSignal(t, "first subscriber after a create", a1)
	waitSignal(t, "second subscriber after a create", a2)
	steps := []struct {
		name  string
		write func()
	}{
		{"update", func() { e.update(alice, task.ID, todo.TaskPatch{Title: ptr("renamed")}, 0) }},
		{"complete", func() { e.complete(alice, task.ID, nil, 0) }},
		{"bulk", func() { e.bulk(alice, todo.Bulk{Action: todo.BulkReopen, IDs: []int64{task.ID}}) }},
		{"idempotent create", func() {
			if _, _, err := e.s.CreateTaskOnce(e.ctx, alice, todo.NewTask{Title: "once", Priority: todo.PriorityNone, Tags: []string{}},
				todo.Idempotency{Key: "k", Fingerprint: "f", Render: renderTask}); err != nil {
				t.Fatal(err)
			}
		}},
		{"idempotent complete", func() {
			if _, _, err := e.s.CompleteTaskOnce(e.ctx, alice, task.ID, nil, 0,
				todo.Idempotency{Key: "k2", Fingerprint: "f", Render: renderTask}); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete", func() { e.delete(alice, task.ID) }},
	}
	for _, step := range steps {
		drain(a1)
		drain(a2)
		step.write()
		waitSignal(t, "first subscriber after "+step.name, a1)
		waitSignal(t, "second subscriber after "+step.name, a2)
	}

	// A cancelled subscription hears nothing more; the other goes on.
	cancel1()
	cancel1()
	drain(a1)
	drain(a2)
	e.create(alice, todo.NewTask{Title: "after a cancel"})
	waitSignal(t, "the remaining subscriber", a2)
	select {
	case _, ok := <-a1:
		t.Errorf("a cancelled subscription got a signal (open %v)", ok)
	case <-time.After(100 * time.Millisecond):
	}

	// Signals coalesce: writes never wait for a subscriber that does not read.
	drain(a2)
	for i := range 5 {
		e.create(alice, todo.NewTask{Title: fmt.Sprintf("unread %d", i)})
	}
	waitSignal(t, "a subscriber that did not read", a2)
}

// waitSignal fails unless ch gets a signal within 2 s.
func waitSignal(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Errorf("%s: channel closed, want a signal", what)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("%s: no signal within 2 s", what)
	}
}

// drain takes a pending signal, if any, off ch.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// renderTask is the suite's idempotent response: what the API would save,
// derived from the task only.
func renderTask(t todo.Task) (todo.SavedResponse, error) {
	body, err := json.Marshal(map[string]any{"id": t.ID, "title": t.Title, "completed": t.Completed, "version": t.Version})
	if err != nil {
		return todo.SavedResponse{}, err
	}
	return todo.SavedResponse{
		Status: 201,
		Header: map[string]string{"Location": fmt.Sprintf("/api/tasks/%d", t.ID), "ETag": fmt.Sprintf(`"%d"`, t.Version)},
		Body:   body,
	}, nil
}

// checkResponse compares a saved response with the one expected.
func checkResponse(t *testing.T, what string, got, want todo.SavedResponse) {
	t.Helper()
	if got.Status != want.Status || !maps.Equal(got.Header, want.Header) || (got.Header == nil) != (want.Header == nil) ||
		!bytes.Equal(got.Body, want.Body) {
		t.Errorf("%s: response %d %v %s, want %d %v %s", what, got.Status, got.Header, got.Body, want.Status, want.Header, want.Body)
	}
}

// testIdempotency runs writes under keys: first run, retry, mismatch, keys
// of other users, failed writes that save nothing, expiry and its purge.
func testIdempotency(t *testing.T, open Opener) {
	e := newEnv(t, open)
	nt := todo.NewTask{Title: "exactly once", Priority: todo.PriorityNone, Tags: []string{}}
	idem := todo.Idempotency{Key: "key-1", Fingerprint: "POST /api/tasks {exactly once}", Render: renderTask}
	created := e.clk.Stamp()

	resp, replayed, err := e.s.CreateTaskOnce(e.ctx, alice, nt, idem)
	if err != nil || replayed {
		t.Fatalf("first CreateTaskOnce: replayed %v, %v", replayed, err)
	}
	page := e.list(alice, todo.TaskFilter{})
	if len(page.Tasks) != 1 {
		t.Fatalf("%d tasks after the first request, want 1", len(page.Tasks))
	}
	task := page.Tasks[0]
	checkSynced(t, "the task created once", task, todo.Task{ID: task.ID, UserID: alice, Title: "exactly once",
		Priority: todo.PriorityNone, Tags: []string{}, CreatedAt: created, UpdatedAt: created, Version: 1, Seq: 1})
	first, _ := renderTask(task)
	checkResponse(t, "first response", resp, first)

	e.clk.Advance(time.Hour)
	for _, s := range []string{"retry", "second retry"} {
		resp, replayed, err = e.s.CreateTaskOnce(e.ctx, alice, nt, idem)
		if err != nil || !replayed {
			t.Errorf("%s: replayed %v, %v; want the saved response", s, replayed, err)
		}
		checkResponse(t, s, resp, first)
	}
	other := idem
	other.Fingerprint = "POST /api/tasks {something else}"
	_, _, err = e.s.CreateTaskOnce(e.ctx, alice, todo.NewTask{Title: "something else", Priority: todo.PriorityNone, Tags: []string{}}, other)
	checkErr(t, "same key, another request", err, todo.ErrIdempotencyMismatch)
	_, _, err = e.s.CompleteTaskOnce(e.ctx, alice, task.ID, nil, 0, other)
	checkErr(t, "same key, another route", err, todo.ErrIdempotencyMismatch)
	if n := e.count(alice, todo.TaskFilter{}); n != 1 {
		t.Errorf("%d tasks after retries, want 1", n)
	}
	if n := e.latest(alice); n != 1 {
		t.Errorf("LatestChange after retries: %d, want 1: a replay writes nothing", n)
	}

	// The same key of another user is another key.
	resp, replayed, err = e.s.CreateTaskOnce(e.ctx, bob, nt, idem)
	if err != nil || replayed {
		t.Errorf("bob with alice's key: replayed %v, %v; want a write of his own", replayed, err)
	}
	bobTask := e.list(bob, todo.TaskFilter{}).Tasks
	if len(bobTask) != 1 || bobTask[0].ID == task.ID {
		t.Fatalf("bob's tasks %v, want one new task", ids(bobTask))
	}
	bobFirst, _ := renderTask(bobTask[0])
	checkResponse(t, "bob's response", resp, bobFirst)

	// Complete: the retry does not toggle again.
	idemC := todo.Idempotency{Key: "key-c", Fingerprint: "PATCH complete", Render: renderTask}
	at := e.clk.Advance(time.Minute)
	resp, replayed, err = e.s.CompleteTaskOnce(e.ctx, alice, task.ID, nil, 1, idemC)
	if err != nil || replayed {
		t.Fatalf("CompleteTaskOnce: replayed %v, %v", replayed, err)
	}
	done := with(task, func(w *todo.Task) { w.Completed, w.CompletedAt, w.UpdatedAt, w.Version, w.Seq = true, &at, at, 2, 2 })
	doneResp, _ := renderTask(done)
	checkResponse(t, "complete response", resp, doneResp)
	e.clk.Advance(time.Minute)
	resp, replayed, err = e.s.CompleteTaskOnce(e.ctx, alice, task.ID, nil, 1, idemC)
	if err != nil || !replayed {
		t.Errorf("retried toggle: replayed %v, %v; want the saved response", replayed, err)
	}
	checkResponse(t, "retried toggle", resp, doneResp)
	checkSynced(t, "task after a retried toggle", e.get(alice, task.ID), done)

	// Failed writes save nothing: the retry runs.
	idemF := todo.Idempotency{Key: "key-f", Fingerprint: "PATCH complete v1", Render: renderTask}
	_, _, err = e.s.CompleteTaskOnce(e.ctx, alice, task.ID, ptr(false), 1, idemF)
	checkErr(t, "stale version", err, todo.ErrPreconditionFailed)
	_, _, err = e.s.CompleteTaskOnce(e.ctx, alice, 999_999_999, ptr(false), 0, idemF)
	checkErr(t, "missing task", err, todo.ErrNotFound)
	_, _, err = e.s.CompleteTaskOnce(e.ctx, bob, task.ID, ptr(false), 0, idemF)
	checkErr(t, "another user's task", err, todo.ErrNotFound)
	renderErr := errors.New("render failed")
	broken := idemF
	broken.Render = func(todo.Task) (todo.SavedResponse, error) { return todo.SavedResponse{}, renderErr }
	_, _, err = e.s.CompleteTaskOnce(e.ctx, alice, task.ID, ptr(false), 0, broken)
	if !errors.Is(err, renderErr) {
		t.Errorf("a failing Render: %v, want its error", err)
	}
	checkSynced(t, "task after failed writes", e.get(alice, task.ID), done)
	at = e.clk.Advance(time.Minute)
	resp, replayed, err = e.s.CompleteTaskOnce(e.ctx, alice, task.ID, ptr(false), 2, idemF)
	if err != nil || replayed {
		t.Errorf("the key of failed writes: replayed %v, %v; want a first run", replayed, err)
	}
	reopened := with(done, func(w *todo.Task) { w.Completed, w.CompletedAt, w.UpdatedAt, w.Version, w.Seq = false, nil, at, 3, 3 })
	want, _ := renderTask(reopened)
	checkResponse(t, "after failed writes", resp, want)

	// A response without headers or body comes back as it was saved.
	bare := todo.Idempotency{Key: "bare", Fingerprint: "f", Render: func(todo.Task) (todo.SavedResponse, error) {
		return todo.SavedResponse{Status: 204}, nil
	}}
	for i := range 2 {
		resp, replayed, err = e.s.CreateTaskOnce(e.ctx, alice, nt, bare)
		if err != nil || replayed != (i == 1) || resp.Status != 204 || resp.Header != nil || len(resp.Body) != 0 {
			t.Errorf("bare response, call %d: %+v replayed %v, %v", i, resp, replayed, err)
		}
	}

	// Keys the store cannot hold.
	for _, key := range []string{"", strings.Repeat("k", todo.MaxIdempotencyKeyLen+1)} {
		bad := idem
		bad.Key = key
		_, _, err = e.s.CreateTaskOnce(e.ctx, alice, nt, bad)
		checkValidation(t, fmt.Sprintf("key of %d bytes", len(key)), err, "Idempotency-Key")
	}
	longest := idem
	longest.Key = strings.Repeat("k", todo.MaxIdempotencyKeyLen)
	if _, replayed, err = e.s.CreateTaskOnce(e.ctx, alice, nt, longest); err != nil || replayed {
		t.Errorf("the longest key: replayed %v, %v", replayed, err)
	}

	// Expiry: the key lives IdempotencyTTL from its first response, and a
	// purge before then keeps it.
	e.clk.Advance(created.Add(todo.IdempotencyTTL - time.Microsecond).Sub(e.clk.Now()))
	e.purge(e.clk.Stamp())
	if resp, replayed, err = e.s.CreateTaskOnce(e.ctx, alice, nt, idem); err != nil || !replayed {
		t.Errorf("a microsecond before expiry: replayed %v, %v; want the saved response", replayed, err)
	}
	checkResponse(t, "just before expiry", resp, first)
	e.clk.Advance(time.Microsecond)
	before := e.count(alice, todo.TaskFilter{})
	if _, replayed, err = e.s.CreateTaskOnce(e.ctx, alice, nt, other); err != nil || replayed {
		t.Errorf("at expiry, with another request: replayed %v, %v; want a first run", replayed, err)
	}
	if _, replayed, err = e.s.CreateTaskOnce(e.ctx, alice, nt, other); err != nil || !replayed {
		t.Errorf("the renewed key: replayed %v, %v; want its new response", replayed, err)
	}
	if n := e.count(alice, todo.TaskFilter{}); n != before+1 {
		t.Errorf("tasks after the key expired: %d, want %d", n, before+1)
	}
	// Purged, an expired key is as absent as an expired one.
	e.clk.Advance(todo.IdempotencyTTL)
	e.purge(e.clk.Stamp())
	if _, replayed, err = e.s.CreateTaskOnce(e.ctx, alice, nt, idem); err != nil || replayed {
		t.Errorf("after the purge: replayed %v, %v; want a first run", replayed, err)
	}
}

// outcome is what one call of an idempotent write returned.
type outcome struct {
	resp     todo.SavedResponse
	replayed bool
	err      error
}

// checkExactlyOnce fails unless exactly one of outs ran the write and every
// other got ErrIdempotencyInFlight or the first one's response; it returns
// the response of the one that ran.
func checkExactlyOnce(t *testing.T, what string, outs []outcome) todo.SavedResponse {
	t.Helper()
	var ran []todo.SavedResponse
	for _, o := range outs {
		if o.err == nil && !o.replayed {
			ran = append(ran, o.resp)
		}
	}
	if len(ran) != 1 {
		t.Fatalf("%s: %d calls ran the write, want exactly 1", what, len(ran))
	}
	inFlight, replays := 0, 0
	for i, o := range outs {
		switch {
		case o.err == nil && o.replayed:
			replays++
			checkResponse(t, fmt.Sprintf("%s: replay %d", what, i), o.resp, ran[0])
		case errors.Is(o.err, todo.ErrIdempotencyInFlight):
			inFlight++
		case o.err != nil:
			t.Errorf("%s: call %d: %v, want ErrIdempotencyInFlight or the replay", what, i, o.err)
		}
	}
	t.Logf("%s: 1 ran, %d in flight, %d replayed", what, inFlight, replays)
	return ran[0]
}

// slowRender is renderTask after a pause that keeps the first request in
// flight while its duplicates arrive.
func slowRender(t todo.Task) (todo.SavedResponse, error) {
	time.Sleep(50 * time.Millisecond)
	return renderTask(t)
}

// concurrently runs fn(i) for i in 0..n-1 at once and returns the outcomes.
func concurrently(n int, fn func(i int) (todo.SavedResponse, bool, error)) []outcome {
	outs := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			outs[i].resp, outs[i].replayed, outs[i].err = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return outs
}

// testIdempotencyConcurrent sends duplicates of one request at once: exactly
// one runs; the others are told it is in flight or get its response.
func testIdempotencyConcurrent(t *testing.T, open Opener) {
	e := newEnv(t, open)
	const n = 8
	nt := todo.NewTask{Title: "once, concurrently", Priority: todo.PriorityNone, Tags: []string{}}
	idem := todo.Idempotency{Key: "dup", Fingerprint: "f", Render: slowRender}
	outs := concurrently(n, func(int) (todo.SavedResponse, bool, error) {
		return e.s.CreateTaskOnce(e.ctx, alice, nt, idem)
	})
	first := checkExactlyOnce(t, "concurrent creates", outs)
	if c := e.count(alice, todo.TaskFilter{}); c != 1 {
		t.Errorf("%d tasks after concurrent duplicates, want 1", c)
	}
	resp, replayed, err := e.s.CreateTaskOnce(e.ctx, alice, nt, idem)
	if err != nil || !replayed {
		t.Errorf("retry after the race: replayed %v, %v", replayed, err)
	}
	checkResponse(t, "retry after the race", resp, first)

	task := e.list(alice, todo.TaskFilter{}).Tasks[0]
	idemC := todo.Idempotency{Key: "dup-complete", Fingerprint: "f", Render: slowRender}
	outs = concurrently(n, func(int) (todo.SavedResponse, bool, error) {
		return e.s.CompleteTaskOnce(e.ctx, alice, task.ID, nil, 0, idemC)
	})
	checkExactlyOnce(t, "concurrent toggles", outs)
	if got := e.get(alice, task.ID); !got.Completed || got.Version != 2 {
		t.Errorf("after concurrent duplicate toggles: completed %v version %d, want one toggle: true, 2", got.Completed, got.Version)
	}

	// Different keys, and one key of different users, do not wait for each other.
	outs = concurrently(n, func(i int) (todo.SavedResponse, bool, error) {
		user, key := alice, fmt.Sprintf("distinct-%d", i)
		if i%2 == 1 {
			user, key = fmt.Sprintf("user-%d", i), "shared"
		}
		return e.s.CreateTaskOnce(e.ctx, user, nt, todo.Idempotency{Key: key, Fingerprint: "f", Render: slowRender})
	})
	for i, o := range outs {
		if o.err != nil || o.replayed {
			t.Errorf("distinct request %d: replayed %v, %v; want a first run", i, o.replayed, o.err)
		}
	}
}

// testSyncIsolation checks that the feed, stats, bulk edits and idempotency
// keys of one user are invisible to every other, with the user ids of
// testIsolation's kind.
func testSyncIsolation(t *testing.T, open Opener) {
	e := newEnv(t, open)
	owner := "user-a"
	others := []string{"USER-A", "user-a2", "user-", "user-a ", "ü-user", "other"}
	due := e.clk.Stamp().Add(-time.Hour)
	kept := e.create(owner, todo.NewTask{Title: "kept", DueAt: &due, Priority: todo.PriorityHigh})
	gone := e.create(owner, todo.NewTask{Title: "deleted"})
	e.delete(owner, gone.ID)
	idem := todo.Idempotency{Key: "shared-key", Fingerprint: "f", Render: renderTask}
	nt := todo.NewTask{Title: "via a key", Priority: todo.PriorityNone, Tags: []string{}}
	ownerResp, _, err := e.s.CreateTaskOnce(e.ctx, owner, nt, idem)
	if err != nil {
		t.Fatal(err)
	}
	ownerFeed := e.changes(owner, 0, 0)
	zero := todo.Stats{ByPriority: map[todo.Priority]int64{
		todo.PriorityNone: 0, todo.PriorityLow: 0, todo.PriorityMedium: 0, todo.PriorityHigh: 0}}

	for _, u := range others {
		if n := e.latest(u); n != 0 {
			t.Errorf("%s: LatestChange %d, want 0", u, n)
		}
		for _, since := range []int64{0, 1, 2} {
			checkChanges(t, fmt.Sprintf("%s's feed from %d", u, since), e.changes(u, since, 0), nil, nil, since, false)
		}
		if st := e.stats(u, e.clk.Stamp()); st.Total != 0 || st.Overdue != 0 || !maps.Equal(st.ByPriority, zero.ByPriority) {
			t.Errorf("%s: stats %+v, want zero", u, st)
		}
		for _, action := range []todo.BulkAction{todo.BulkComplete, todo.BulkDelete, todo.BulkUntag} {
			_, err := e.s.BulkTasks(e.ctx, u, todo.Bulk{Action: action, IDs: []int64{kept.ID, gone.ID}, Tags: []string{"x"}})
			var missing *todo.MissingTasksError
			if !errors.As(err, &missing) || !slices.Equal(missing.Indexes, []int{0, 1}) {
				t.Errorf("%s: bulk %s of another's tasks: %v, want *MissingTasksError{[0 1]}", u, action, err)
			}
		}
		// Another user's key is not this user's: no replay of the owner's
		// response, and the write runs as the user's own.
		_, _, err := e.s.CompleteTaskOnce(e.ctx, u, kept.ID, nil, 0, idem)
		checkNotFoundOnly(t, u+" completes another's task under the owner's key", err)
		resp, replayed, err := e.s.CreateTaskOnce(e.ctx, u, nt, idem)
		if err != nil || replayed || bytes.Equal(resp.Body, ownerResp.Body) {
			t.Errorf("%s: CreateTaskOnce under the owner's key: replayed %v, %v, body %s; want a task of their own", u, replayed, err, resp.Body)
		}
		if ch := e.changes(u, 0, 0); len(ch.Tasks) != 1 || ch.Tasks[0].UserID != u || len(ch.Deleted) != 0 {
			t.Errorf("%s: feed after their own write: %+v", u, ch)
		}
	}
	checkChanges(t, "the owner's feed after the others", e.changes(owner, 0, 0), ownerFeed.Tasks, ownerFeed.Deleted, ownerFeed.Next, false)
	if resp, replayed, err := e.s.CreateTaskOnce(e.ctx, owner, nt, idem); err != nil || !replayed {
		t.Errorf("the owner's retry: replayed %v, %v", replayed, err)
	} else {
		checkResponse(t, "the owner's retry", resp, ownerResp)
	}
}

// ReplicaOpener opens two stores on one fresh, migrated, empty database, as
// two processes of todod on one database would be, both with the clock now.
// Both are closed by the opener's own t.Cleanup.
type ReplicaOpener func(t *testing.T, now func() time.Time) (todo.Store, todo.Store)

// RunReplicas runs the checks that need two stores on one database: what one
// writes, the other reads, and idempotency keys hold across both.
func RunReplicas(t *testing.T, open ReplicaOpener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, a, b *env)
	}{
		{"Changes", testReplicaChanges},
		{"Idempotency", testReplicaIdempotency},
		{"ConcurrentWrites", testReplicaConcurrentWrites},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			a, b := open(t, clk.Now)
			ctx := context.Background()
			tc.fn(t, &env{t: t, ctx: ctx, s: a, clk: clk}, &env{t: t, ctx: ctx, s: b, clk: clk})
		})
	}
}

func testReplicaChanges(t *testing.T, a, b *env) {
	task := a.create(alice, todo.NewTask{Title: "written by a"})
	checkChanges(t, "b's feed of a's write", b.changes(alice, 0, 0), []todo.Task{task}, nil, 1, false)
	at := a.clk.Advance(time.Second)
	updated := b.update(alice, task.ID, todo.TaskPatch{Title: ptr("updated by b")}, 1)
	checkSynced(t, "b's update", updated, with(task, func(w *todo.Task) {
		w.Title, w.UpdatedAt, w.Version, w.Seq = "updated by b", at, 2, 2
	}))
	checkSynced(t, "a reads b's update", a.get(alice, task.ID), updated)
	at = a.clk.Advance(time.Second)
	a.delete(alice, task.ID)
	checkChanges(t, "b's feed of a's delete", b.changes(alice, 1, 0), nil,
		[]todo.Tombstone{{ID: task.ID, DeletedAt: at, Seq: 3}}, 3, false)
	if la, lb := a.latest(alice), b.latest(alice); la != 3 || lb != 3 {
		t.Errorf("LatestChange: a %d, b %d; want 3 on both", la, lb)
	}
	ka, errA := a.s.ServerKey(a.ctx)
	kb, errB := b.s.ServerKey(b.ctx)
	if errA != nil || errB != nil || len(ka) != 32 || !bytes.Equal(ka, kb) {
		t.Errorf("ServerKey: a %x (%v), b %x (%v); want one 32-byte key for the database", ka, errA, kb, errB)
	}
	// Stats are one database's too.
	b.create(alice, todo.NewTask{Title: "counted", Completed: true})
	if st := a.stats(alice, a.clk.Stamp()); st.Total != 1 || st.Completed != 1 {
		t.Errorf("a's stats of b's write: %+v", st)
	}
}

func testReplicaIdempotency(t *testing.T, a, b *env) {
	nt := todo.NewTask{Title: "once across replicas", Priority: todo.PriorityNone, Tags: []string{}}
	idem := todo.Idempotency{Key: "k", Fingerprint: "f", Render: renderTask}
	first, replayed, err := a.s.CreateTaskOnce(a.ctx, alice, nt, idem)
	if err != nil || replayed {
		t.Fatalf("first request through a: replayed %v, %v", replayed, err)
	}
	resp, replayed, err := b.s.CreateTaskOnce(b.ctx, alice, nt, idem)
	if err != nil || !replayed {
		t.Errorf("retry through b: replayed %v, %v; want a's response", replayed, err)
	}
	checkResponse(t, "retry through b", resp, first)
	other := idem
	other.Fingerprint = "g"
	_, _, err = b.s.CreateTaskOnce(b.ctx, alice, nt, other)
	checkErr(t, "another request under the key, through b", err, todo.ErrIdempotencyMismatch)

	// Duplicates at once, half through each replica.
	dup := todo.Idempotency{Key: "dup", Fingerprint: "f", Render: slowRender}
	outs := concurrently(8, func(i int) (todo.SavedResponse, bool, error) {
		s := a.s
		if i%2 == 1 {
			s = b.s
		}
		return s.CreateTaskOnce(a.ctx, alice, nt, dup)
	})
	checkExactlyOnce(t, "duplicates through both replicas", outs)
	if n := a.count(alice, todo.TaskFilter{}); n != 2 {
		t.Errorf("%d tasks, want 2: one per key", n)
	}
}

// testReplicaConcurrentWrites writes one user's tasks through both replicas
// at once: the change numbers are still one gap-free sequence.
func testReplicaConcurrentWrites(t *testing.T, a, b *env) {
	const each = 15
	var wg sync.WaitGroup
	for i, e := range []*env{a, b, a, b} {
		wg.Go(func() {
			for j := range each {
				task, err := e.s.CreateTask(e.ctx, alice, todo.NewTask{Title: fmt.Sprintf("w%d-%d", i, j),
					Priority: todo.PriorityNone, Tags: []string{}})
				if err == nil && j%3 == 0 {
					_, err = e.s.CompleteTask(e.ctx, alice, task.ID, nil, 0)
				}
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	const writes = 4 * (each + (each+2)/3)
	if n := b.latest(alice); n != writes {
		t.Errorf("LatestChange %d, want %d: one number per write", n, writes)
	}
	m := model{}
	if next := a.replay(alice, 0, m, 7); next != writes {
		t.Errorf("replay ends at %d, want %d", next, writes)
	}
	checkModel(t, "replayed through a", m, b.listAll(alice, todo.TaskFilter{}, todo.MaxLimit))
}
