-- +goose Up
-- The changes feed. Every write to a user's tasks takes the next number of
-- that user's sequence in task_users, in its own transaction, so a user's
-- numbers are handed out in commit order; a task keeps the number of its last
-- write, a deletion leaves a tombstone with its own.
CREATE TABLE task_users (
    user_id TEXT    PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 255),
    seq     INTEGER NOT NULL CHECK (seq >= 1)
) STRICT, WITHOUT ROWID;

ALTER TABLE tasks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- Tasks written before the feed existed are numbered in the order of their
-- last write, so a client that reads the feed from 0 gets every one of them.
UPDATE tasks SET seq = numbered.seq
FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY updated_at, id) AS seq FROM tasks) AS numbered
WHERE tasks.id = numbered.id;
INSERT INTO task_users (user_id, seq) SELECT user_id, max(seq) FROM tasks GROUP BY user_id;

-- The feed reads a user's tasks in change order. Unique: two writes never
-- share a number.
CREATE UNIQUE INDEX tasks_user_seq_idx ON tasks (user_id, seq);

-- Deleted tasks, kept for todo.TombstoneRetention; PurgeExpired removes the
-- older ones through the deleted_at index.
CREATE TABLE task_tombstones (
    user_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    task_id    INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX task_tombstones_deleted_idx ON task_tombstones (deleted_at);

-- The first response to each idempotent request, replayed to its retries
-- until expires_at. A rowid table: the body is too large a row for WITHOUT ROWID.
CREATE TABLE idempotency_keys (
    user_id     TEXT    NOT NULL,
    key         TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    header      TEXT    NOT NULL CHECK (json_type(header) IN ('object', 'null')),
    body        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) STRICT;
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- Values created once per database, such as the key that signs change cursors.
CREATE TABLE todod_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE todod_meta;
DROP TABLE idempotency_keys;
DROP TABLE task_tombstones;
DROP INDEX tasks_user_seq_idx;
ALTER TABLE tasks DROP COLUMN seq;
DROP TABLE task_users;
