package todo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Every write to a user's tasks takes the next number of that user's change
// sequence, in commit order (writes of one user are serialised), so "every change
// after N" is a complete, gap-free answer. Task.Seq is the number of a task's
// last write; a deletion leaves a Tombstone with its own number.

// Tombstone records a deleted task for the changes feed. Tombstones are kept at
// least TombstoneRetention.
type Tombstone struct {
	ID        int64
	DeletedAt time.Time
	Seq       int64
}

// TombstoneRetention is how long deletions stay in the changes feed.
const TombstoneRetention = 30 * 24 * time.Hour

// ErrCursorExpired: a position of the changes feed is older than a deletion
// whose tombstone was purged, so the changes after it can no longer be told
// exactly. The client must start again from 0, which is always exact: it
// gets every task the user has, and has nothing to delete.
var ErrCursorExpired = errors.New("the change position is older than a purged deletion")

// Changes is one page of a user's changes feed: tasks created or updated and
// tasks deleted after a position, in sequence order.
type Changes struct {
	Tasks   []Task      // current state of each task changed after the position; never nil
	Deleted []Tombstone // tasks deleted after the position; never nil
	// Next is the position to continue from: the highest sequence number in this
	// page, or the position asked for when the page is empty. On the last page
	// it is at least the user's purged position (see ErrCursorExpired), since
	// nothing is left to read below it.
	Next    int64
	HasMore bool
	// Floor is the floor to pass back with Next (or with the number of any
	// change of this page): the user's purged position when the page was
	// read from 0, the floor given otherwise. It only matters while it is
	// above the position it goes with.
	Floor int64
}

// ChangesExpired reports whether a feed position is too old to be answered
// exactly: some tombstone numbered above it was purged, and purged is the
// highest change number of the user's purged tombstones. From 0 nothing is
// too old: the client gets every task the user has and has nothing to
// delete. floor is the purged position under which a sync from 0 began (0
// for any other position): a client in the middle of such a sync never held
// the tasks of tombstones purged before it started, so those do not expire
// its positions.
func ChangesExpired(since, floor, purged int64) bool {
	return since > 0 && purged > max(since, floor)
}

// SettleChanges completes page ch, read from since with floor when the
// user's purged position was purged: it sets Floor and, on the last page,
// raises Next to purged (nothing is left to read below it), so that a sync
// from 0 never ends below the purged position. Stores call it on every page
// they return.
func SettleChanges(ch *Changes, since, floor, purged int64) {
	ch.Floor = floor
	if since == 0 {
		ch.Floor = purged
	}
	if !ch.HasMore {
		ch.Next = max(ch.Next, purged)
	}
}

// Limits on the changes feed.
const (
	DefaultChangesLimit = 500
	MaxChangesLimit     = 1000
)

// ChangesLimit checks the arguments of SyncStore.Changes and returns the
// limit to use: DefaultChangesLimit for 0. Errors: *ValidationError naming
// each of since and floor below 0 and a limit outside 0..MaxChangesLimit.
func ChangesLimit(since, floor int64, limit int) (int, error) {
	var ps problems
	if since < 0 {
		ps.add("since", "must not be negative", since)
	}
	if floor < 0 {
		ps.add("floor", "must not be negative", floor)
	}
	switch {
	case limit == 0:
		limit = DefaultChangesLimit
	case limit < 1 || limit > MaxChangesLimit:
		ps.add("limit", "must be between 1 and "+strconv.Itoa(MaxChangesLimit), limit)
	}
	if err := ps.err(); err != nil {
		return 0, err
	}
	return limit, nil
}

// MergeChanges makes a page of the feed read from since: of tasks and gone,
// each in Seq order and up to limit+1 long (one beyond the page tells that
// more follow), it keeps the limit lowest change numbers. Next is the highest
// number kept, or since when none is; Tasks and Deleted are never nil. Stores
// then complete the page with SettleChanges.
func MergeChanges(tasks []Task, gone []Tombstone, since int64, limit int) Changes {
	out := Changes{Tasks: []Task{}, Deleted: []Tombstone{}, Next: since}
	i, j := 0, 0
	for i+j < limit && (i < len(tasks) || j < len(gone)) {
		if j == len(gone) || (i < len(tasks) && tasks[i].Seq < gone[j].Seq) {
			out.Next = tasks[i].Seq
			i++
		} else {
			out.Next = gone[j].Seq
			j++
		}
	}
	out.Tasks = append(out.Tasks, tasks[:i]...)
	out.Deleted = append(out.Deleted, gone[:j]...)
	out.HasMore = len(tasks)+len(gone) > limit
	return out
}

// BulkAction is what a bulk request does to every task it names.
type BulkAction string

// The bulk actions.
const (
	BulkComplete BulkAction = "complete"
	BulkReopen   BulkAction = "reopen"
	BulkDelete   BulkAction = "delete"
	BulkTag      BulkAction = "tag"
	BulkUntag    BulkAction = "untag"
)

// MaxBulkIDs is the most tasks one bulk request may name.
const MaxBulkIDs = 500

// Bulk is a validated bulk request: all or nothing. Every named task is
// written, as CompleteTask or UpdateTask would write it, even when its fields
// end up as they were: its Version and UpdatedAt move and it takes a change
// number of its own, in the order of IDs.
type Bulk struct {
	Action BulkAction
	IDs    []int64  // 1..MaxBulkIDs distinct ids
	Tags   []string // tag/untag only: 1..MaxTags normalised tags
}

// Validate checks what a store relies on: a known action, 1..MaxBulkIDs
// distinct ids, and for tag and untag 1..MaxTags tags. Stores call it
// defensively; the API validates its input in its own words first.
func (b Bulk) Validate() error {
	var ps problems
	switch b.Action {
	case BulkComplete, BulkReopen, BulkDelete:
	case BulkTag, BulkUntag:
		if len(b.Tags) == 0 || len(b.Tags) > MaxTags {
			ps.add("tags", fmt.Sprintf("must have 1 to %d tags", MaxTags), len(b.Tags))
		}
	default:
		ps.add("action", "must be one of complete, reopen, delete, tag, untag", string(b.Action))
	}
	if len(b.IDs) == 0 || len(b.IDs) > MaxBulkIDs {
		ps.add("ids", fmt.Sprintf("must have 1 to %d ids", MaxBulkIDs), len(b.IDs))
	}
	seen := make(map[int64]bool, len(b.IDs))
	for i, id := range b.IDs {
		if seen[id] {
			ps.add(fmt.Sprintf("ids[%d]", i), "duplicate id", id)
		}
		seen[id] = true
	}
	return ps.err()
}

// Apply returns the state b leaves each task in: cur[i] is the current state
// of the task b.IDs[i]. Complete and reopen follow SetCompleted; tag appends
// the tags a task lacks, in b.Tags' order; untag removes b.Tags. It does not
// touch UpdatedAt, Version or Seq; stores do. For BulkDelete it returns cur.
// When tagging would give tasks more than MaxTags tags it returns a
// *ValidationError naming each of them as "ids[i]".
func (b Bulk) Apply(cur []Task, now time.Time) ([]Task, error) {
	if b.Action == BulkDelete {
		return cur, nil
	}
	var ps problems
	out := make([]Task, len(cur))
	for i, t := range cur {
		switch b.Action {
		case BulkComplete:
			t = SetCompleted(t, true, now)
		case BulkReopen:
			t = SetCompleted(t, false, now)
		case BulkTag:
			tags := slices.Clone(t.Tags)
			for _, tag := range b.Tags {
				if !slices.Contains(tags, tag) {
					tags = append(tags, tag)
				}
			}
			if len(tags) > MaxTags {
				ps.add(fmt.Sprintf("ids[%d]", i),
					fmt.Sprintf("tagging would give task %d %d tags; a task has at most %d", t.ID, len(tags), MaxTags), t.ID)
			}
			t.Tags = tags
		case BulkUntag:
			t.Tags = slices.DeleteFunc(slices.Clone(t.Tags), func(tag string) bool { return slices.Contains(b.Tags, tag) })
		}
		if t.Tags == nil {
			t.Tags = []string{}
		}
		out[i] = t
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// BulkResult is the outcome for one id: the task as it is afterwards, or
// Deleted for BulkDelete.
type BulkResult struct {
	ID      int64
	Task    *Task
	Deleted bool
}

// MissingTasksError names the positions (indexes into Bulk.IDs) of ids that are
// missing or belong to another user; nothing was applied.
type MissingTasksError struct {
	Indexes []int
}

func (e *MissingTasksError) Error() string { return "some tasks do not exist" }

// TasksInOrder returns the tasks of ids in their order, picked from found
// (the user's tasks a store read, in any order), or a *MissingTasksError
// naming the positions of the ids not among found.
func TasksInOrder(ids []int64, found []Task) ([]Task, error) {
	byID := make(map[int64]Task, len(found))
	for _, t := range found {
		byID[t.ID] = t
	}
	cur := make([]Task, len(ids))
	var missing []int
	for i, id := range ids {
		t, ok := byID[id]
		if !ok {
			missing = append(missing, i)
		}
		cur[i] = t
	}
	if len(missing) > 0 {
		return nil, &MissingTasksError{Indexes: missing}
	}
	return cur, nil
}

// Stats counts a user's tasks.
type Stats struct {
	Total, Completed, Pending, Overdue int64
	ByPriority                         map[Priority]int64 // every priority present, zero included
}

// Idempotency errors.
var (
	// ErrIdempotencyInFlight: a request with the same key is being processed now.
	ErrIdempotencyInFlight = errors.New("a request with this idempotency key is in progress")
	// ErrIdempotencyMismatch: the key was used before with a different request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
)

// IdempotencyTTL is how long a key's first response is kept.
const IdempotencyTTL = 24 * time.Hour

// MaxIdempotencyKeyLen is the longest idempotency key, in bytes. Stores refuse
// an empty or longer key with a *ValidationError on field "Idempotency-Key".
const MaxIdempotencyKeyLen = 255

// SavedResponse is the first response to an idempotent request, replayed to
// retries.
type SavedResponse struct {
	Status int
	Header map[string]string // e.g. Location, ETag
	Body   []byte
}

// Idempotency asks a write to run at most once per (user, Key): Fingerprint
// identifies the request (method, route, body); Render turns the write's
// result into the response to save, in the same transaction as the write, so
// an acknowledged write always has its key recorded.
type Idempotency struct {
	Key         string
	Fingerprint string
	Render      func(Task) (SavedResponse, error)
}

// Validate refuses a key stores cannot hold (empty or longer than
// MaxIdempotencyKeyLen: a *ValidationError on field "Idempotency-Key") and a
// missing Render. Stores call it before anything else.
func (idem Idempotency) Validate() error {
	if len(idem.Key) == 0 || len(idem.Key) > MaxIdempotencyKeyLen {
		return &ValidationError{Errors: []FieldError{{Field: "Idempotency-Key",
			Message: "must be 1 to " + strconv.Itoa(MaxIdempotencyKeyLen) + " bytes", Value: len(idem.Key)}}}
	}
	if idem.Render == nil {
		return errors.New("idempotency without a Render function")
	}
	return nil
}

// Response is Render's response for t, with a Body never nil, as a store
// reads a saved one back. Errors: Render's, wrapped.
func (idem Idempotency) Response(t Task) (SavedResponse, error) {
	resp, err := idem.Render(t)
	if err != nil {
		return SavedResponse{}, fmt.Errorf("render the response: %w", err)
	}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	return resp, nil
}

// ServerKeyLen is the size in bytes of SyncStore.ServerKey, the key that
// signs change cursors.
const ServerKeyLen = 32

// ChangeNotifier tells a process that a user's tasks changed.
type ChangeNotifier interface {
	// Subscribe returns a channel that receives a signal after a write to
	// userID's tasks commits, in this process or in another one on the same
	// database where the engine supports it, and a function that ends the
	// subscription (call it exactly once; it does not close the channel).
	// Signals carry no data and coalesce: the channel holds at most one, and
	// a writer never waits for a subscriber. A signal may also be spurious
	// (for instance after a lost connection, when changes may have been
	// missed), so a subscriber answers every signal by reading Changes from
	// its position. Other users' writes never signal. The channel is closed
	// when the store is closed.
	Subscribe(userID string) (<-chan struct{}, func())
}

// SyncStore is the part of the Store contract that serves offline-first
// clients, live updates, bulk edits and idempotent retries. Every method takes
// the user id first, like Store's.
type SyncStore interface {
	// Changes returns up to limit changes after position since (0: from the
	// beginning), oldest first: Tasks and Deleted are each in Seq order, and
	// together hold the lowest sequence numbers above since. floor is the
	// Floor of the page that gave since (0 if none). A limit of 0 means
	// DefaultChangesLimit. From 0 the feed is always exact; from a later
	// position it is ErrCursorExpired once a tombstone numbered above both
	// since and floor has been purged (ChangesExpired), so a page never
	// leaves a deletion out silently. Errors: *ValidationError (since or
	// floor < 0, limit outside 0..MaxChangesLimit), ErrCursorExpired,
	// ErrUnavailable.
	Changes(ctx context.Context, userID string, since, floor int64, limit int) (Changes, error)
	// BulkTasks applies b to every named task in one transaction and returns
	// one result per id, in the order of b.IDs. Tag adds the tags a task
	// lacks, after its own, and untag removes them. Errors: *MissingTasksError,
	// *ValidationError (field "ids[i]": tagging would give that task more than
	// MaxTags tags), ErrUnavailable; nothing is applied on any error.
	BulkTasks(ctx context.Context, userID string, b Bulk) ([]BulkResult, error)
	// TaskStats counts the user's tasks in one query; overdue means not
	// completed and due before now. Errors: ErrUnavailable.
	TaskStats(ctx context.Context, userID string, now time.Time) (Stats, error)
	// CreateTaskOnce is CreateTask under an idempotency key. A retry of a
	// completed request returns the saved response and replayed = true. A
	// write that fails saves nothing, so its retry runs again. Errors:
	// ErrIdempotencyInFlight, ErrIdempotencyMismatch, *ValidationError (the
	// key), an error of Render, ErrUnavailable.
	CreateTaskOnce(ctx context.Context, userID string, t NewTask, idem Idempotency) (resp SavedResponse, replayed bool, err error)
	// CompleteTaskOnce is CompleteTask under an idempotency key, as
	// CreateTaskOnce; ErrNotFound and ErrPreconditionFailed save nothing.
	CompleteTaskOnce(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64, idem Idempotency) (resp SavedResponse, replayed bool, err error)
	// LatestChange is the user's highest change number (0 when none).
	// Errors: ErrUnavailable.
	LatestChange(ctx context.Context, userID string) (int64, error)
	// ServerKey is a random ServerKeyLen-byte secret created once per
	// database and the same for every process on it, for signing change
	// cursors. Errors: ErrUnavailable.
	ServerKey(ctx context.Context) ([]byte, error)
	ChangeNotifier
}
