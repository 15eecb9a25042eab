package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/todod/todod/internal/todo"
)

// The statements of the changes feed, bulk edits, stats, idempotency keys and
// the server key. Every one that touches a user's rows is filtered by user_id.

// changedTasksSQL reads a user's tasks written after a change number, through
// the index (user_id, seq).
const changedTasksSQL = `
SELECT id, user_id, title, description, completed, priority, tags, due_at, completed_at,
       created_at, updated_at, version, seq
FROM tasks
WHERE user_id = ? AND seq > ?
ORDER BY seq
LIMIT ?`

// tombstonesSQL reads a user's deletions after a change number, through the
// primary key (user_id, seq).
const tombstonesSQL = `
SELECT task_id, deleted_at, seq
FROM task_tombstones
WHERE user_id = ? AND seq > ?
ORDER BY seq
LIMIT ?`

const latestChangeSQL = `
SELECT seq FROM task_users WHERE user_id = ?`

// purgedSeqSQL reads the highest change number of the user's purged
// tombstones; no row means none was purged.
const purgedSeqSQL = `
SELECT purged_seq FROM task_users WHERE user_id = ?`

// bulkTasksSQL reads the tasks of a JSON array of ids that belong to the
// user. CROSS JOIN keeps the array as the outer loop, so each id is one
// primary key lookup, however many tasks the user has.
const bulkTasksSQL = `
SELECT tasks.id, user_id, title, description, completed, priority, tags, due_at, completed_at,
       created_at, updated_at, version, seq
FROM json_each(?) AS ids CROSS JOIN tasks ON tasks.id = ids.value
WHERE tasks.user_id = ?`

// bulkDeleteSQL deletes the user's tasks of a JSON array of ids. The unary
// + keeps the planner from walking the user's whole (user_id, …) index range
// instead of looking each id up by primary key.
const bulkDeleteSQL = `
DELETE FROM tasks
WHERE id IN (SELECT value FROM json_each(?)) AND +user_id = ?`

// bulkTombstonesSQL records the deletion of a JSON array of ids, numbered
// from a first change number in the order of the array.
const bulkTombstonesSQL = `
INSERT INTO task_tombstones (user_id, seq, task_id, deleted_at)
SELECT ?, ? + ids.key, ids.value, ?
FROM json_each(?) AS ids`

// taskStatsSQL counts a user's tasks in one pass over them.
const taskStatsSQL = `
SELECT count(*),
       count(*) FILTER (WHERE completed = 1),
       count(*) FILTER (WHERE completed = 0 AND due_at < ?),
       count(*) FILTER (WHERE priority = 0),
       count(*) FILTER (WHERE priority = 1),
       count(*) FILTER (WHERE priority = 2),
       count(*) FILTER (WHERE priority = 3)
FROM tasks
WHERE user_id = ?`

const idempotencyKeySQL = `
SELECT fingerprint, status, header, body, expires_at
FROM idempotency_keys
WHERE user_id = ? AND key = ?`

// saveIdempotencyKeySQL records a first response; a row still there for the
// key has expired (a live one is replayed instead), and is replaced.
const saveIdempotencyKeySQL = `
INSERT INTO idempotency_keys (user_id, key, fingerprint, status, header, body, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, key) DO UPDATE
SET fingerprint = excluded.fingerprint, status = excluded.status, header = excluded.header,
    body = excluded.body, created_at = excluded.created_at, expires_at = excluded.expires_at`

const insertServerKeySQL = `
INSERT INTO todod_meta (name, value) VALUES ('server_key', ?)
ON CONFLICT (name) DO NOTHING`

const serverKeySQL = `
SELECT value FROM todod_meta WHERE name = 'server_key'`

// purgedSeqRaiseSQL raises each user's purged_seq to the highest change
// number among the tombstones purgeTombstonesSQL is about to delete. It runs
// first, in the same transaction, so no reader sees the tombstones gone
// while the cursors they expire are still accepted.
const purgedSeqRaiseSQL = `
UPDATE task_users SET purged_seq = gone.seq
FROM (SELECT user_id, max(seq) AS seq FROM task_tombstones WHERE deleted_at < ? GROUP BY user_id) AS gone
WHERE task_users.user_id = gone.user_id AND task_users.purged_seq < gone.seq`

const purgeTombstonesSQL = `
DELETE FROM task_tombstones WHERE deleted_at < ?`

const purgeIdempotencyKeysSQL = `
DELETE FROM idempotency_keys WHERE expires_at <= ?`

// Changes returns up to limit of the user's changes after since, oldest first.
func (s *Store) Changes(ctx context.Context, userID string, since, floor int64, limit int) (todo.Changes, error) {
	const op = "changes"
	limit, err := todo.ChangesLimit(since, floor, limit)
	if err != nil {
		return todo.Changes{}, fmt.Errorf("%s: %w", op, err)
	}
	var tasks []todo.Task
	var gone []todo.Tombstone
	var purged int64
	// One snapshot for every read: a write between them could otherwise show
	// a task's deletion without its last update, or the reverse, and a purge
	// could remove tombstones after the check that since is recent enough.
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, purgedSeqSQL, userID).Scan(&purged)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case todo.ChangesExpired(since, floor, purged):
			return todo.ErrCursorExpired
		}
		rows, err := tx.QueryContext(ctx, changedTasksSQL, userID, since, limit+1)
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
		if err := closeRows(rows); err != nil {
			return err
		}
		if rows, err = tx.QueryContext(ctx, tombstonesSQL, userID, since, limit+1); err != nil {
			return err
		}
		for rows.Next() {
			var ts todo.Tombstone
			var deletedAt int64
			if err := rows.Scan(&ts.ID, &deletedAt, &ts.Seq); err != nil {
				_ = rows.Close()
				return err
			}
			ts.DeletedAt = fromMicros(deletedAt)
			gone = append(gone, ts)
		}
		return closeRows(rows)
	})
	if err != nil {
		return todo.Changes{}, s.mapErr(ctx, op, err)
	}
	ch := todo.MergeChanges(tasks, gone, since, limit)
	todo.SettleChanges(&ch, since, floor, purged)
	return ch, nil
}

// LatestChange returns the user's highest change number, 0 before any write.
func (s *Store) LatestChange(ctx context.Context, userID string) (int64, error) {
	var seq int64
	err := s.read.QueryRowContext(ctx, latestChangeSQL, userID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.mapErr(ctx, "latest change", err)
	}
	return seq, nil
}

// BulkTasks applies b to every task it names, all or nothing.
func (s *Store) BulkTasks(ctx context.Context, userID string, b todo.Bulk) ([]todo.BulkResult, error) {
	const op = "bulk tasks"
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	ids, err := json.Marshal(b.IDs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	results := make([]todo.BulkResult, len(b.IDs))
	err = s.userTx(ctx, userID, func(tx *sql.Tx) error {
		cur, err := bulkTasks(ctx, tx, userID, b.IDs, ids)
		if err != nil {
			return err
		}
		now := s.clock()
		next, err := b.Apply(cur, now)
		if err != nil {
			return err
		}
		last, err := nextSeq(ctx, tx, userID, len(b.IDs))
		if err != nil {
			return err
		}
		first := last - int64(len(b.IDs)) + 1
		if b.Action == todo.BulkDelete {
			if _, err := tx.ExecContext(ctx, bulkDeleteSQL, ids, userID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, bulkTombstonesSQL, userID, first, now.UnixMicro(), ids); err != nil {
				return err
			}
			for i, id := range b.IDs {
				results[i] = todo.BulkResult{ID: id, Deleted: true}
			}
			return nil
		}
		for i := range next {
			written, err := writeBack(ctx, tx, cur[i], next[i], now, first+int64(i))
			if err != nil {
				return err
			}
			results[i] = todo.BulkResult{ID: written.ID, Task: &written}
		}
		return nil
	})
	if err != nil {
		var missing *todo.MissingTasksError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		return nil, s.mapErr(ctx, op, err)
	}
	return results, nil
}

// bulkTasks reads the user's tasks named by ids (idsJSON is the same list as
// a JSON array) in a write transaction, in the order of ids, or returns a
// *todo.MissingTasksError naming the positions of those that are missing or
// another user's.
func bulkTasks(ctx context.Context, tx *sql.Tx, userID string, ids []int64, idsJSON []byte) ([]todo.Task, error) {
	rows, err := tx.QueryContext(ctx, bulkTasksSQL, idsJSON, userID)
	if err != nil {
		return nil, err
	}
	found := make([]todo.Task, 0, len(ids))
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			_ = rows.Close()
			return nil, err
		}
		found = append(found, t)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	return todo.TasksInOrder(ids, found)
}

// TaskStats counts the user's tasks; overdue ones are pending and due before now.
func (s *Store) TaskStats(ctx context.Context, userID string, now time.Time) (todo.Stats, error) {
	var st todo.Stats
	var byRank [4]int64
	err := s.read.QueryRowContext(ctx, taskStatsSQL, todo.NormalizeTime(now).UnixMicro(), userID).Scan(
		&st.Total, &st.Completed, &st.Overdue, &byRank[0], &byRank[1], &byRank[2], &byRank[3])
	if err != nil {
		return todo.Stats{}, s.mapErr(ctx, "task stats", err)
	}
	st.Pending = st.Total - st.Completed
	st.ByPriority = make(map[todo.Priority]int64, len(todo.Priorities))
	for rank, p := range todo.Priorities {
		st.ByPriority[p] = byRank[rank]
	}
	return st, nil
}

// CreateTaskOnce is CreateTask under an idempotency key.
func (s *Store) CreateTaskOnce(ctx context.Context, userID string, nt todo.NewTask, idem todo.Idempotency) (todo.SavedResponse, bool, error) {
	const op = "create task once"
	if err := nt.Normalize(); err != nil {
		return todo.SavedResponse{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return s.once(ctx, op, userID, idem, func(tx *sql.Tx, now time.Time) (todo.Task, error) {
		return createTask(ctx, tx, userID, nt, now)
	})
}

// CompleteTaskOnce is CompleteTask under an idempotency key.
func (s *Store) CompleteTaskOnce(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64,
	idem todo.Idempotency) (todo.SavedResponse, bool, error) {
	return s.once(ctx, "complete task once", userID, idem, func(tx *sql.Tx, now time.Time) (todo.Task, error) {
		return modifyTask(ctx, tx, userID, id, ifVersion, now, todo.Completion(completed))
	})
}

// once runs write at most once per (user, key), in one write transaction
// with the lookup and the saving of its response: a live saved response is
// replayed (or refused when its fingerprint differs), otherwise write runs,
// idem.Render makes the response and it is saved with the write.
//
// A duplicate that arrives while the first is running is refused with
// ErrIdempotencyInFlight, which the in-flight set of this Store detects:
// SQLite would only make the duplicate wait for the writer and then replay,
// but the contract answers a concurrent duplicate at once. A duplicate from
// another process on the same file waits for the write lock instead, then
// finds the saved response and replays it.
func (s *Store) once(ctx context.Context, op, userID string, idem todo.Idempotency,
	write func(tx *sql.Tx, now time.Time) (todo.Task, error)) (todo.SavedResponse, bool, error) {
	if err := idem.Validate(); err != nil {
		return todo.SavedResponse{}, false, fmt.Errorf("%s: %w", op, err)
	}
	release, ok := s.inFlight.claim(userID, idem.Key)
	if !ok {
		return todo.SavedResponse{}, false, fmt.Errorf("%s: %w", op, todo.ErrIdempotencyInFlight)
	}
	defer release()

	var resp todo.SavedResponse
	var replayed bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		saved, fingerprint, found, err := savedResponse(ctx, tx, userID, idem.Key, now)
		switch {
		case err != nil:
			return err
		case found && fingerprint != idem.Fingerprint:
			return todo.ErrIdempotencyMismatch
		case found:
			resp, replayed = saved, true
			return nil
		}
		task, err := write(tx, now)
		if err != nil {
			return err
		}
		if resp, err = idem.Response(task); err != nil {
			return err
		}
		header, err := json.Marshal(resp.Header)
		if err != nil {
			return fmt.Errorf("saved response header: %w", err)
		}
		_, err = tx.ExecContext(ctx, saveIdempotencyKeySQL, userID, idem.Key, idem.Fingerprint, resp.Status,
			string(header), resp.Body, now.UnixMicro(), now.Add(todo.IdempotencyTTL).UnixMicro())
		return err
	})
	if err != nil {
		return todo.SavedResponse{}, false, s.mapErr(ctx, op, err)
	}
	if !replayed {
		s.hub.Notify(userID)
	}
	return resp, replayed, nil
}

// savedResponse reads the live response saved for (userID, key) at now;
// found is false when there is none or it has expired.
func savedResponse(ctx context.Context, tx *sql.Tx, userID, key string, now time.Time) (resp todo.SavedResponse, fingerprint string, found bool, err error) {
	var header string
	var expiresAt int64
	err = tx.QueryRowContext(ctx, idempotencyKeySQL, userID, key).Scan(
		&fingerprint, &resp.Status, &header, &resp.Body, &expiresAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return todo.SavedResponse{}, "", false, nil
	case err != nil:
		return todo.SavedResponse{}, "", false, err
	case expiresAt <= now.UnixMicro():
		return todo.SavedResponse{}, "", false, nil
	}
	if err := json.Unmarshal([]byte(header), &resp.Header); err != nil {
		return todo.SavedResponse{}, "", false, fmt.Errorf("saved response header: %w", err)
	}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	return resp, fingerprint, true, nil
}

// inFlight is the set of (user, key) pairs whose idempotent write is running
// in this Store. The zero value is an empty set.
type inFlight struct {
	mu   sync.Mutex
	keys map[[2]string]struct{}
}

// claim adds (userID, key) to the set and returns the function that removes
// it, or reports false when it is there already.
func (f *inFlight) claim(userID, key string) (release func(), ok bool) {
	k := [2]string{userID, key}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.keys[k]; busy {
		return nil, false
	}
	if f.keys == nil {
		f.keys = make(map[[2]string]struct{})
	}
	f.keys[k] = struct{}{}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.keys, k)
	}, true
}

// serverKey caches the database's server key after the first read.
type serverKey struct {
	mu    sync.Mutex
	value []byte
}

// ServerKey returns the database's random key for signing change cursors,
// creating it on the first call against a new database.
func (s *Store) ServerKey(ctx context.Context) ([]byte, error) {
	s.key.mu.Lock()
	defer s.key.mu.Unlock()
	if s.key.value != nil {
		return bytes.Clone(s.key.value), nil
	}
	fresh := make([]byte, todo.ServerKeyLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	var value []byte
	// Insert if absent, then read: of processes racing on a new database,
	// the first insert wins and every one reads the same key.
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, insertServerKeySQL, fresh); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, serverKeySQL).Scan(&value)
	})
	if err != nil {
		return nil, s.mapErr(ctx, "server key", err)
	}
	if len(value) != todo.ServerKeyLen {
		return nil, fmt.Errorf("server key: the stored key has %d bytes, want %d", len(value), todo.ServerKeyLen)
	}
	s.key.value = value
	return bytes.Clone(value), nil
}

// PurgeExpired deletes the tombstones older than todo.TombstoneRetention and
// the idempotency keys expired at now, and raises each user's purged_seq to
// the highest change number it deleted, in one transaction: Changes refuses
// positions below it with todo.ErrCursorExpired. It is not part of
// todo.Store: the server calls it periodically.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) error {
	now = todo.NormalizeTime(now)
	cutoff := now.Add(-todo.TombstoneRetention).UnixMicro()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, purgedSeqRaiseSQL, cutoff); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, purgeTombstonesSQL, cutoff); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, purgeIdempotencyKeysSQL, now.UnixMicro())
		return err
	})
	return s.mapErr(ctx, "purge expired", err)
}

// closeRows closes rows and returns the error that ended them, if any.
func closeRows(rows *sql.Rows) error {
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}
