package todo

import (
	"context"
	"errors"
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

// Changes is one page of a user's changes feed: tasks created or updated and
// tasks deleted after a position, in sequence order.
type Changes struct {
	Tasks   []Task      // current state of each task changed after the position
	Deleted []Tombstone // tasks deleted after the position
	// Next is the position to continue from: the highest sequence number in this
	// page, or the position asked for when the page is empty.
	Next    int64
	HasMore bool
}

// Limits on the changes feed.
const (
	DefaultChangesLimit = 500
	MaxChangesLimit     = 1000
)

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

// Bulk is a validated bulk request: all or nothing.
type Bulk struct {
	Action BulkAction
	IDs    []int64  // 1..MaxBulkIDs distinct ids
	Tags   []string // tag/untag only: 1..MaxTags normalised tags
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

// SyncStore is the part of the Store contract that serves offline-first
// clients, live updates, bulk edits and idempotent retries. Every method takes
// the user id first, like Store's.
type SyncStore interface {
	// Changes returns up to limit changes after position since (0: from the
	// beginning), oldest first. Errors: ErrUnavailable.
	Changes(ctx context.Context, userID string, since int64, limit int) (Changes, error)
	// BulkTasks applies b to every named task in one transaction. Errors:
	// *MissingTasksError, ErrUnavailable.
	BulkTasks(ctx context.Context, userID string, b Bulk) ([]BulkResult, error)
	// TaskStats counts the user's tasks in one query; overdue means not
	// completed and due before now. Errors: ErrUnavailable.
	TaskStats(ctx context.Context, userID string, now time.Time) (Stats, error)
	// CreateTaskOnce is CreateTask under an idempotency key. A retry of a
	// completed request returns the saved response and replayed = true. Errors:
	// ErrIdempotencyInFlight, ErrIdempotencyMismatch, ErrUnavailable.
	CreateTaskOnce(ctx context.Context, userID string, t NewTask, idem Idempotency) (resp SavedResponse, replayed bool, err error)
	// CompleteTaskOnce is CompleteTask under an idempotency key, as CreateTaskOnce.
	CompleteTaskOnce(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64, idem Idempotency) (resp SavedResponse, replayed bool, err error)
	// LatestChange is the user's highest change number (0 when none).
	LatestChange(ctx context.Context, userID string) (int64, error)
}
