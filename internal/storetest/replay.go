package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/todod/todod/internal/todo"
)

// model is what an offline-first client knows: the tasks by id.
type model map[int64]todo.Task

// apply plays one page of the feed onto m, in change order.
func (m model) apply(ch todo.Changes) {
	ts, ds := ch.Tasks, ch.Deleted
	for len(ts) > 0 || len(ds) > 0 {
		if len(ds) == 0 || (len(ts) > 0 && ts[0].Seq < ds[0].Seq) {
			m[ts[0].ID] = ts[0]
			ts = ts[1:]
		} else {
			delete(m, ds[0].ID)
			ds = ds[1:]
		}
	}
}

// checkPage checks what every page of the feed promises, whatever the data:
// both lists in strictly increasing change order, every number in
// (since, Next], Next the highest of them (since when empty), at most limit
// changes and no HasMore on a short page.
func checkPage(ch todo.Changes, since int64, limit int) error {
	var seqs []int64
	for _, t := range ch.Tasks {
		seqs = append(seqs, t.Seq)
	}
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		return fmt.Errorf("tasks out of change order: %v", seqs)
	}
	var dseqs []int64
	for _, d := range ch.Deleted {
		dseqs = append(dseqs, d.Seq)
	}
	if !slices.IsSorted(dseqs) || len(slices.Compact(slices.Clone(dseqs))) != len(dseqs) {
		return fmt.Errorf("deletions out of change order: %v", dseqs)
	}
	all := append(seqs, dseqs...)
	highest := since
	for _, s := range all {
		if s <= since || s > ch.Next {
			return fmt.Errorf("change %d outside (%d, %d]", s, since, ch.Next)
		}
		highest = max(highest, s)
	}
	switch {
	case highest != ch.Next:
		return fmt.Errorf("Next %d, want the highest change %d", ch.Next, highest)
	case len(all) > limit:
		return fmt.Errorf("%d changes, limit %d", len(all), limit)
	case len(all) < limit && ch.HasMore:
		return fmt.Errorf("%d changes below the limit %d, yet HasMore", len(all), limit)
	}
	return nil
}

// replay reads the feed of user from since onto m, limit at a time, until
// it has no more; it returns the last position. Each page must keep the
// page contract.
func (e *env) replay(user string, since int64, m model, limit int) int64 {
	e.t.Helper()
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			e.t.Fatalf("the feed of %s from %d never ends", user, since)
		}
		ch := e.changes(user, since, limit)
		if err := checkPage(ch, since, limit); err != nil {
			e.t.Fatalf("page of %s after %d, limit %d: %v", user, since, limit, err)
		}
		m.apply(ch)
		since = ch.Next
		if !ch.HasMore {
			return since
		}
	}
}

// checkModel fails unless m is exactly the user's tasks, every field and
// change number included.
func checkModel(t *testing.T, what string, m model, truth []todo.Task) {
	t.Helper()
	want := make(map[int64]todo.Task, len(truth))
	for _, task := range truth {
		want[task.ID] = task
	}
	got := slices.Sorted(maps.Keys(m))
	if wantIDs := slices.Sorted(maps.Keys(want)); !slices.Equal(got, wantIDs) {
		t.Errorf("%s: ids %v, want %v", what, got, wantIDs)
		return
	}
	for _, id := range got {
		checkSynced(t, fmt.Sprintf("%s: task %d", what, id), m[id], want[id])
	}
}

// checkpoint is a client's state at a position of the feed.
type checkpoint struct {
	since int64
	m     model
}

// testReplay is the property of the feed: clients writing at random at the
// same time, and readers syncing while they write, then every replay, from
// the beginning or from any position a reader stopped at, with any page
// size, reaches exactly the state ListTasks shows.
func testReplay(t *testing.T, open Opener) {
	e := newEnv(t, open)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (the random operations of this run)", seed)
	users := []string{"replay-a", "replay-b", "replay-c"}
	const clients, opsPerClient = 6, 60

	w := &writer{e: e, known: map[string][]int64{}}
	done := make(chan struct{})
	checkpoints := make([][]checkpoint, len(users))
	var readers, writers sync.WaitGroup
	for ui, user := range users {
		readers.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(1000+ui)))
			m := model{}
			var since int64
			for {
				select {
				case <-done:
					return
				default:
				}
				limit := 1 + r.IntN(7)
				ch, err := e.s.Changes(e.ctx, user, since, 0, limit)
				if err != nil {
					t.Errorf("reader of %s: Changes(%d, %d): %v", user, since, limit, err)
					return
				}
				if err := checkPage(ch, since, limit); err != nil {
					t.Errorf("reader of %s, page after %d, limit %d: %v", user, since, limit, err)
					return
				}
				m.apply(ch)
				since = ch.Next
				checkpoints[ui] = append(checkpoints[ui], checkpoint{since, maps.Clone(m)})
				if !ch.HasMore {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	for c := range clients {
		writers.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(c)))
			for range opsPerClient {
				w.random(r, users[r.IntN(len(users))])
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	if t.Failed() {
		return
	}

	for ui, user := range users {
		truth := e.listAll(user, todo.TaskFilter{Sort: todo.SortCreated}, todo.MaxLimit)
		latest := e.latest(user)
		all := e.changes(user, 0, todo.MaxChangesLimit)
		if len(truth) == 0 || len(all.Deleted) == 0 {
			t.Fatalf("%s has %d tasks and %d deletions after the run: too few operations to test anything", user, len(truth), len(all.Deleted))
		}
		t.Logf("%s: %d writes, %d tasks, %d deletions, %d positions taken by the reader during the writes",
			user, latest, len(truth), len(all.Deleted), len(checkpoints[ui]))
		// A client that was never online, with every page size.
		var quiet []checkpoint
		for _, limit := range []int{1, 2, 5, todo.MaxChangesLimit} {
			m := model{}
			if next := e.replay(user, 0, m, limit); next != latest {
				t.Errorf("%s: replay from 0 by %d ends at %d, want LatestChange %d", user, limit, next, latest)
			}
			checkModel(t, fmt.Sprintf("%s replayed from 0 by %d", user, limit), m, truth)
			if limit == 2 {
				// Positions of a quiet replay, to resume from below.
				m, since := model{}, int64(0)
				for since < latest {
					ch := e.changes(user, since, 2)
					m.apply(ch)
					since = ch.Next
					quiet = append(quiet, checkpoint{since, maps.Clone(m)})
				}
			}
		}
		// Clients that went offline where a reader stopped, during the
		// writes or after them, and come back with another page size.
		for i, cp := range append(sample(checkpoints[ui], 8), sample(quiet, 4)...) {
			m := maps.Clone(cp.m)
			limit := []int{1, 3, todo.DefaultChangesLimit}[i%3]
			e.replay(user, cp.since, m, limit)
			checkModel(t, fmt.Sprintf("%s resumed from %d by %d", user, cp.since, limit), m, truth)
		}
	}
}

// sample returns up to n checkpoints spread over cps, the last included.
func sample(cps []checkpoint, n int) []checkpoint {
	if len(cps) <= n {
		return cps
	}
	out := make([]checkpoint, 0, n)
	for i := range n {
		out = append(out, cps[(len(cps)-1)*i/(n-1)])
	}
	return out
}

// writer makes random writes for the replay test and remembers the ids it
// created, so that later writes can aim at them (deleted or not).
type writer struct {
	e     *env
	mu    sync.Mutex
	known map[string][]int64
	keys  int
}

func (w *writer) remember(user string, id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.known[user] = append(w.known[user], id)
}

// pick returns up to n distinct ids of user's tasks, some maybe deleted.
func (w *writer) pick(r *rand.Rand, user string, n int) []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := slices.Clone(w.known[user])
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids[:min(n, len(ids))]
}

// idemKey returns a key of a small set, so that some creates are retries.
func (w *writer) idemKey(r *rand.Rand) string {
	return fmt.Sprintf("replay-key-%d", r.IntN(8))
}

var replayTags = []string{"home", "work", "urgent", "later"}

func randomTags(r *rand.Rand) []string {
	tags := []string{}
	for _, tag := range replayTags {
		if r.IntN(3) == 0 {
			tags = append(tags, tag)
		}
	}
	return tags
}

func (w *writer) randomTime(r *rand.Rand) *time.Time {
	if r.IntN(3) == 0 {
		return nil
	}
	d := w.e.clk.Stamp().Add(time.Duration(r.IntN(1_000_000)-500_000) * time.Second)
	return &d
}

// random makes one random write for user, advancing the clock by 0 to 2 ms
// (0 gives ties), and fails the test on an error that the write's
// circumstances do not explain.
func (w *writer) random(r *rand.Rand, user string) {
	e := w.e
	e.clk.Advance(time.Duration(r.IntN(3)) * time.Millisecond)
	var err error
	target := w.pick(r, user, 1)
	op := r.IntN(100)
	if len(target) == 0 {
		op = 0
	}
	version := int64(0)
	if r.IntN(4) == 0 {
		version = 1 + int64(r.IntN(3)) // sometimes right, mostly stale
	}
	switch {
	case op < 25:
		nt := todo.NewTask{Title: fmt.Sprintf("task %d", r.IntN(1000)), Completed: r.IntN(4) == 0,
			Priority: todo.Priorities[r.IntN(4)], Tags: randomTags(r), DueAt: w.randomTime(r)}
		if r.IntN(2) == 0 {
			nt.Description = ptr(fmt.Sprintf("about %d", r.IntN(10)))
		}
		if err = nt.Normalize(); err != nil {
			e.t.Errorf("the replay's own task is invalid: %v", err)
			return
		}
		var task todo.Task
		if r.IntN(4) == 0 {
			// The same key always goes with the same request, as a retry would.
			key := w.idemKey(r)
			nt := todo.NewTask{Title: key, Priority: todo.PriorityNone, Tags: []string{}}
			var resp todo.SavedResponse
			var replayed bool
			resp, replayed, err = e.s.CreateTaskOnce(e.ctx, user, nt, todo.Idempotency{Key: key, Fingerprint: key, Render: renderTask})
			if err == nil && !replayed {
				var saved struct{ ID int64 }
				if err = json.Unmarshal(resp.Body, &saved); err == nil {
					w.remember(user, saved.ID)
				}
			}
			break
		}
		if task, err = e.s.CreateTask(e.ctx, user, nt); err == nil {
			w.remember(user, task.ID)
		}
	case op < 45:
		var p todo.TaskPatch
		switch r.IntN(6) {
		case 0:
			p.Title = ptr(fmt.Sprintf("renamed %d", r.IntN(1000)))
		case 1:
			p.Description = todo.Optional[string]{Set: true}
			if r.IntN(2) == 0 {
				p.Description.Value = ptr("described")
			}
		case 2:
			p.Priority = ptr(todo.Priorities[r.IntN(4)])
		case 3:
			p.Tags = ptr(randomTags(r))
		case 4:
			p.DueAt = todo.Optional[time.Time]{Set: true, Value: w.randomTime(r)}
		case 5:
			p.Completed = ptr(r.IntN(2) == 0)
		}
		if err = p.Normalize(); err == nil {
			_, err = e.s.UpdateTask(e.ctx, user, target[0], p, version)
		}
	case op < 60:
		var completed *bool
		if r.IntN(3) > 0 {
			completed = ptr(r.IntN(2) == 0)
		}
		if r.IntN(3) == 0 {
			w.mu.Lock()
			w.keys++
			key := fmt.Sprintf("complete-%d", w.keys)
			w.mu.Unlock()
			_, _, err = e.s.CompleteTaskOnce(e.ctx, user, target[0], completed, version,
				todo.Idempotency{Key: key, Fingerprint: key, Render: renderTask})
		} else {
			_, err = e.s.CompleteTask(e.ctx, user, target[0], completed, version)
		}
	case op < 75:
		_, err = e.s.DeleteTask(e.ctx, user, target[0], version)
	default:
		actions := []todo.BulkAction{todo.BulkComplete, todo.BulkReopen, todo.BulkDelete, todo.BulkTag, todo.BulkUntag}
		b := todo.Bulk{Action: actions[r.IntN(len(actions))], IDs: w.pick(r, user, 1+r.IntN(4))}
		if b.Action == todo.BulkTag || b.Action == todo.BulkUntag {
			b.Tags = []string{replayTags[r.IntN(len(replayTags))]}
		}
		_, err = e.s.BulkTasks(e.ctx, user, b)
	}
	var missing *todo.MissingTasksError
	switch {
	case err == nil, errors.Is(err, todo.ErrNotFound), errors.Is(err, todo.ErrPreconditionFailed),
		errors.As(err, &missing), errors.Is(err, todo.ErrIdempotencyInFlight):
	default:
		e.t.Errorf("random write for %s: %v", user, err)
	}
}
