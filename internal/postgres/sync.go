package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todod/todod/internal/todo"
)

// changesSQL reads a page of the feed in one statement, so one snapshot:
// each of the first two branches is a range of an index on (user_id, seq),
// read in order up to the given number of rows (one beyond the page); Changes
// merges the two. A tombstone row has a deleted_at, and NULLs where a task
// has its fields. The third branch is one row with id 0 (no task has it)
// carrying the user's purged position when tombstones of the user were
// purged. Being in the same snapshot as the reads, it cannot miss a purge
// that removed tombstones they would have returned.
const changesSQL = `
(SELECT id, title, description, completed, priority, tags,
        due_at, completed_at, created_at, updated_at, version, seq,
        NULL::timestamptz AS deleted_at
 FROM tasks
 WHERE user_id = $1 AND seq > $2
 ORDER BY seq
 LIMIT $3)
UNION ALL
(SELECT task_id, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, seq,
        deleted_at
 FROM task_tombstones
 WHERE user_id = $1 AND seq > $2
 ORDER BY seq
 LIMIT $3)
UNION ALL
SELECT 0::bigint, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, purged_seq,
       NULL
FROM task_users
WHERE user_id = $1 AND purged_seq > 0`

// Changes returns up to limit of the user's changes after since, oldest
// first. Errors: *todo.ValidationError, todo.ErrUnavailable.
func (s *Store) Changes(ctx context.Context, userID string, since, floor int64, limit int) (todo.Changes, error) {
	limit, err := todo.ChangesLimit(since, floor, limit)
	if err != nil {
		return todo.Changes{}, fmt.Errorf("postgres: changes: %w", err)
	}
	var tasks []todo.Task
	var gone []todo.Tombstone
	var purged int64
	err = s.run(ctx, "changes", func(conn *pgxpool.Conn) error {
		tasks, gone, purged = nil, nil, 0
		rows, err := conn.Query(ctx, changesSQL, userID, since, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, ts, err := scanChange(userID, rows)
			if err != nil {
				return err
			}
			if ts == nil && t.ID == 0 {
				purged = t.Seq
				continue
			}
			if ts != nil {
				gone = append(gone, *ts)
			} else {
				tasks = append(tasks, t)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if todo.ChangesExpired(since, floor, purged) {
			return todo.ErrCursorExpired
		}
		return nil
	})
	if err != nil {
		return todo.Changes{}, err
	}
	ch := todo.MergeChanges(tasks, gone, since, limit)
	todo.SettleChanges(&ch, since, floor, purged)
	return ch, nil
}

// scanChange reads a row of userID's Changes: a task, a tombstone (non-nil),
// or the user's purged position (a task with ID 0 and that Seq).
func scanChange(userID string, row pgx.Row) (todo.Task, *todo.Tombstone, error) {
	var (
		t                    = todo.Task{UserID: userID}
		title                *string
		completed            *bool
		rank                 *int16
		createdAt, updatedAt *time.Time
		version              *int64
		due, completedAt     *time.Time
		deletedAt            *time.Time
	)
	if err := row.Scan(&t.ID, &title, &t.Description, &completed, &rank, &t.Tags,
		&due, &completedAt, &createdAt, &updatedAt, &version, &t.Seq, &deletedAt); err != nil {
		return todo.Task{}, nil, err
	}
	if deletedAt != nil {
		return todo.Task{}, &todo.Tombstone{ID: t.ID, DeletedAt: deletedAt.UTC(), Seq: t.Seq}, nil
	}
	if t.ID == 0 {
		return todo.Task{Seq: t.Seq}, nil, nil
	}
	if title == nil || completed == nil || rank == nil || createdAt == nil || updatedAt == nil || version == nil {
		return todo.Task{}, nil, fmt.Errorf("task %d: a changes row without its fields", t.ID)
	}
	t.Title, t.Completed, t.Version = *title, *completed, *version
	t.Priority = todo.PriorityFromRank(int(*rank))
	if t.Tags == nil {
		t.Tags = []string{}
	}
	t.DueAt = utcPtr(due)
	t.CompletedAt = utcPtr(completedAt)
	t.CreatedAt = createdAt.UTC()
	t.UpdatedAt = updatedAt.UTC()
	return t, nil, nil
}

// LatestChange returns the user's highest change number, 0 before any
// write. Errors: todo.ErrUnavailable.
func (s *Store) LatestChange(ctx context.Context, userID string) (int64, error) {
	var seq int64
	err := s.run(ctx, "latest-change", func(conn *pgxpool.Conn) error {
		return conn.QueryRow(ctx, `
			SELECT coalesce((SELECT seq FROM task_users WHERE user_id = $1), 0)`,
			userID).Scan(&seq)
	})
	return seq, err
}

// BulkTasks applies b to every task it names in one transaction: the tasks
// are locked in id order (so that two bulk edits cannot deadlock), checked,
// changed in Go (todo.Bulk.Apply) and written in one statement that also
// takes one change number per task, in the order of b.IDs. Errors:
// *todo.MissingTasksError, *todo.ValidationError, todo.ErrUnavailable.
func (s *Store) BulkTasks(ctx context.Context, userID string, b todo.Bulk) ([]todo.BulkResult, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: bulk-tasks: %w", err)
	}
	var results []todo.BulkResult
	err := s.inTx(ctx, "bulk-tasks", func(tx pgx.Tx) error {
		results = nil
		rows, err := tx.Query(ctx, bulkLockSQL, userID, b.IDs)
		if err != nil {
			return err
		}
		locked, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (todo.Task, error) { return scanTask(userID, row) })
		if err != nil {
			return err
		}
		cur, err := todo.TasksInOrder(b.IDs, locked)
		if err != nil {
			return err
		}
		now := s.now()
		next, err := b.Apply(cur, now)
		if err != nil {
			return err
		}
		if b.Action == todo.BulkDelete {
			results, err = bulkDelete(ctx, tx, userID, b.IDs, now)
		} else {
			results, err = bulkWrite(ctx, tx, userID, next, now)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.changed(userID)
	return results, nil
}

// bulkLockSQL reads and locks the user's tasks among ids, in id order.
const bulkLockSQL = `
SELECT id, title, description, completed, priority, tags,
       due_at, completed_at, created_at, updated_at, version, seq
FROM tasks
WHERE user_id = $1 AND id = ANY($2::bigint[])
ORDER BY id
FOR UPDATE`

// bulkDeleteSQL deletes the user's tasks $2 (there are $3) and leaves their
// tombstones, numbered in the order of $2, deleted at $4.
const bulkDeleteSQL = `
WITH change AS (
    INSERT INTO task_users (user_id, seq) VALUES ($1, $3)
    ON CONFLICT (user_id) DO UPDATE SET seq = task_users.seq + excluded.seq
    RETURNING seq),
gone AS (
    DELETE FROM tasks WHERE user_id = $1 AND id = ANY($2::bigint[]))
INSERT INTO task_tombstones (user_id, seq, task_id, deleted_at)
SELECT $1, change.seq - $3 + ids.n, ids.id, $4
FROM change, unnest($2::bigint[]) WITH ORDINALITY AS ids (id, n)`

// bulkWriteSQL writes the completion and tags of $2 of the user's tasks at
// $3: ids $4, completed $5, completed_at $6 and tags $7 (a JSON array each),
// each with its own change number in the order given.
const bulkWriteSQL = `
WITH change AS (
    INSERT INTO task_users (user_id, seq) VALUES ($1, $2)
    ON CONFLICT (user_id) DO UPDATE SET seq = task_users.seq + excluded.seq
    RETURNING seq)
UPDATE tasks
SET completed = v.completed, completed_at = v.completed_at,
    tags = ARRAY(SELECT tag FROM jsonb_array_elements_text(v.tags::jsonb) WITH ORDINALITY AS t (tag, n)
                 ORDER BY t.n),
    updated_at = $3, version = version + 1, seq = change.seq - $2 + v.n
FROM change,
     unnest($4::bigint[], $5::boolean[], $6::timestamptz[], $7::text[])
         WITH ORDINALITY AS v (id, completed, completed_at, tags, n)
WHERE tasks.id = v.id AND tasks.user_id = $1
RETURNING tasks.id, title, description, tasks.completed, priority, tasks.tags,
          due_at, tasks.completed_at, created_at, updated_at, version, tasks.seq`

// bulkDelete deletes the locked tasks of ids and leaves their tombstones,
// numbered in the order of ids, in one statement.
func bulkDelete(ctx context.Context, tx pgx.Tx, userID string, ids []int64, now time.Time) ([]todo.BulkResult, error) {
	_, err := tx.Exec(ctx, bulkDeleteSQL, userID, ids, int64(len(ids)), now)
	if err != nil {
		return nil, err
	}
	results := make([]todo.BulkResult, len(ids))
	for i, id := range ids {
		results[i] = todo.BulkResult{ID: id, Deleted: true}
	}
	return results, nil
}

// bulkWrite writes the fields a bulk edit changes (completion and tags) of
// the locked tasks next, each with its own change number in their order, in
// one statement. Tags travel as one JSON array per task, since a
// two-dimensional array cannot hold lists of different lengths.
func bulkWrite(ctx context.Context, tx pgx.Tx, userID string, next []todo.Task, now time.Time) ([]todo.BulkResult, error) {
	ids := make([]int64, len(next))
	completed := make([]bool, len(next))
	completedAt := make([]*time.Time, len(next))
	tags := make([]string, len(next))
	for i, t := range next {
		ids[i], completed[i], completedAt[i] = t.ID, t.Completed, timeArg(t.CompletedAt)
		b, err := json.Marshal(tagsArg(t.Tags))
		if err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		tags[i] = string(b)
	}
	rows, err := tx.Query(ctx, bulkWriteSQL, userID, int64(len(next)), now, ids, completed, completedAt, tags)
	if err != nil {
		return nil, err
	}
	written, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (todo.Task, error) { return scanTask(userID, row) })
	if err != nil {
		return nil, err
	}
	// The tasks are locked, so every one was written; RETURNING has no order.
	inIDOrder, err := todo.TasksInOrder(ids, written)
	if err != nil {
		return nil, fmt.Errorf("bulk write lost locked tasks: %v", err)
	}
	results := make([]todo.BulkResult, len(inIDOrder))
	for i := range inIDOrder {
		results[i] = todo.BulkResult{ID: inIDOrder[i].ID, Task: &inIDOrder[i]}
	}
	return results, nil
}

// TaskStats counts the user's tasks in one pass over them; overdue ones are
// pending and due before now. Errors: todo.ErrUnavailable.
func (s *Store) TaskStats(ctx context.Context, userID string, now time.Time) (todo.Stats, error) {
	var st todo.Stats
	var byRank [4]int64
	err := s.run(ctx, "task-stats", func(conn *pgxpool.Conn) error {
		return conn.QueryRow(ctx, `
			SELECT count(*),
			       count(*) FILTER (WHERE completed),
			       count(*) FILTER (WHERE NOT completed AND due_at < $2),
			       count(*) FILTER (WHERE priority = 0),
			       count(*) FILTER (WHERE priority = 1),
			       count(*) FILTER (WHERE priority = 2),
			       count(*) FILTER (WHERE priority = 3)
			FROM tasks
			WHERE user_id = $1`,
			userID, todo.NormalizeTime(now)).Scan(
			&st.Total, &st.Completed, &st.Overdue, &byRank[0], &byRank[1], &byRank[2], &byRank[3])
	})
	if err != nil {
		return todo.Stats{}, err
	}
	st.Pending = st.Total - st.Completed
	st.ByPriority = make(map[todo.Priority]int64, len(todo.Priorities))
	for rank, p := range todo.Priorities {
		st.ByPriority[p] = byRank[rank]
	}
	return st, nil
}

// CreateTaskOnce is CreateTask under an idempotency key (see once).
func (s *Store) CreateTaskOnce(ctx context.Context, userID string, nt todo.NewTask, idem todo.Idempotency) (todo.SavedResponse, bool, error) {
	return s.once(ctx, "create-task-once", userID, idem, func(tx pgx.Tx, now time.Time) (todo.Task, error) {
		return createTask(ctx, tx, userID, nt, now)
	})
}

// CompleteTaskOnce is CompleteTask under an idempotency key (see once).
func (s *Store) CompleteTaskOnce(ctx context.Context, userID string, id int64, completed *bool, ifVersion int64,
	idem todo.Idempotency) (todo.SavedResponse, bool, error) {
	return s.once(ctx, "complete-task-once", userID, idem, func(tx pgx.Tx, now time.Time) (todo.Task, error) {
		return modifyTask(ctx, tx, userID, id, ifVersion, now, todo.Completion(completed))
	})
}

// once runs write at most once per (user, key), in one transaction with the
// lookup and the saving of its response.
//
// A transaction-scoped advisory lock on the pair tells a concurrent duplicate,
// in this process or another, that the first is running:
// pg_try_advisory_xact_lock fails at once, ErrIdempotencyInFlight. The lock
// is released at commit, after the saved response became visible, and the
// saved response is read by the next statement, whose snapshot is newer than
// the lock: a duplicate that gets the lock always sees what the first saved.
// Both statements go in one round trip. A live saved response is replayed,
// or refused when its fingerprint differs; otherwise write runs, idem.Render
// makes the response and it is saved with the write.
func (s *Store) once(ctx context.Context, op, userID string, idem todo.Idempotency,
	write func(tx pgx.Tx, now time.Time) (todo.Task, error)) (todo.SavedResponse, bool, error) {
	if err := idem.Validate(); err != nil {
		return todo.SavedResponse{}, false, fmt.Errorf("postgres: %s: %w", op, err)
	}
	var resp todo.SavedResponse
	var replayed bool
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		resp, replayed = todo.SavedResponse{}, false
		now := s.now()
		saved, fingerprint, found, err := claimKey(ctx, tx, userID, idem.Key, now)
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
		// A row still there for the key has expired (a live one was
		// replayed above), and is replaced.
		_, err = tx.Exec(ctx, `
			INSERT INTO idempotency_keys (user_id, key, fingerprint, status, header, body, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
			ON CONFLICT (user_id, key) DO UPDATE
			SET fingerprint = excluded.fingerprint, status = excluded.status, header = excluded.header,
			    body = excluded.body, created_at = excluded.created_at, expires_at = excluded.expires_at`,
			userID, idem.Key, idem.Fingerprint, int32(resp.Status), string(header), resp.Body,
			now, now.Add(todo.IdempotencyTTL))
		return err
	})
	if err != nil {
		return todo.SavedResponse{}, false, err
	}
	if !replayed {
		s.changed(userID)
	}
	return resp, replayed, nil
}

// claimKey takes the advisory lock of (userID, key) for the transaction and
// reads the live response saved for it at now (found false when there is
// none or it has expired). It fails with ErrIdempotencyInFlight when another
// transaction holds the lock.
func claimKey(ctx context.Context, tx pgx.Tx, userID, key string, now time.Time) (resp todo.SavedResponse, fingerprint string, found bool, err error) {
	// The length prefix keeps ("a:b", "c") and ("a", "b:c") apart.
	lockKey := strconv.Itoa(len(userID)) + ":" + userID + ":" + key
	batch := &pgx.Batch{}
	batch.Queue(`SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`, lockKey)
	batch.Queue(`
		SELECT fingerprint, status, header, body, expires_at
		FROM idempotency_keys
		WHERE user_id = $1 AND key = $2`,
		userID, key)
	br := tx.SendBatch(ctx, batch)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	var locked bool
	if err := br.QueryRow().Scan(&locked); err != nil {
		return todo.SavedResponse{}, "", false, err
	}
	if !locked {
		return todo.SavedResponse{}, "", false, todo.ErrIdempotencyInFlight
	}
	var status int32
	var header []byte
	var expiresAt time.Time
	err = br.QueryRow().Scan(&fingerprint, &status, &header, &resp.Body, &expiresAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return todo.SavedResponse{}, "", false, nil
	case err != nil:
		return todo.SavedResponse{}, "", false, err
	case !expiresAt.After(now):
		return todo.SavedResponse{}, "", false, nil
	}
	resp.Status = int(status)
	if err := json.Unmarshal(header, &resp.Header); err != nil {
		return todo.SavedResponse{}, "", false, fmt.Errorf("saved response header: %w", err)
	}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	return resp, fingerprint, true, nil
}

// serverKey caches the database's server key after the first read.
type serverKey struct {
	mu    sync.Mutex
	value []byte
}

// ServerKey returns the database's random key for signing change cursors,
// creating it on the first call against a new database. Errors:
// todo.ErrUnavailable.
func (s *Store) ServerKey(ctx context.Context) ([]byte, error) {
	s.key.mu.Lock()
	defer s.key.mu.Unlock()
	if s.key.value != nil {
		return bytes.Clone(s.key.value), nil
	}
	fresh := make([]byte, todo.ServerKeyLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("postgres: server-key: %w", err)
	}
	var value []byte
	err := s.run(ctx, "server-key", func(conn *pgxpool.Conn) error {
		// Insert if absent, then read in a later statement, whose snapshot
		// sees the row whichever of several racing processes inserted it.
		if _, err := conn.Exec(ctx, `
			INSERT INTO todod_meta (name, value) VALUES ('server_key', $1)
			ON CONFLICT (name) DO NOTHING`, fresh); err != nil {
			return err
		}
		return conn.QueryRow(ctx, `SELECT value FROM todod_meta WHERE name = 'server_key'`).Scan(&value)
	})
	if err != nil {
		return nil, err
	}
	if len(value) != todo.ServerKeyLen {
		return nil, fmt.Errorf("postgres: server-key: the stored key has %d bytes, want %d", len(value), todo.ServerKeyLen)
	}
	s.key.value = value
	return bytes.Clone(value), nil
}

// PurgeExpired deletes the tombstones older than todo.TombstoneRetention and
// the idempotency keys expired at now, and raises each user's purged_seq to
// the highest change number it deleted, in one statement: Changes refuses
// positions below it with todo.ErrCursorExpired, and no reader sees the
// tombstones gone while those positions are still accepted. It is not part
// of todo.Store: the server calls it periodically. Errors:
// todo.ErrUnavailable.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) error {
	now = todo.NormalizeTime(now)
	return s.run(ctx, "purge-expired", func(conn *pgxpool.Conn) error {
		_, err := conn.Exec(ctx, purgeExpiredSQL, now.Add(-todo.TombstoneRetention), now)
		return err
	})
}

// purgeExpiredSQL deletes the tombstones deleted before $1 and the
// idempotency keys expired at $2, and raises purged_seq of the users whose
// tombstones went. The guard keeps purged_seq from going down when a
// concurrent purge of another replica got there first.
const purgeExpiredSQL = `
WITH gone AS (
    DELETE FROM task_tombstones WHERE deleted_at < $1
    RETURNING user_id, seq),
purged AS (
    UPDATE task_users SET purged_seq = last.seq
    FROM (SELECT user_id, max(seq) AS seq FROM gone GROUP BY user_id) AS last
    WHERE task_users.user_id = last.user_id AND task_users.purged_seq < last.seq)
DELETE FROM idempotency_keys WHERE expires_at <= $2`
