-- +goose Up
-- The changes feed. Every write to a user's tasks takes the next number of
-- that user's sequence in task_users, in the write's own statement; the row
-- lock it takes on the counter is held until commit, so a user's numbers are
-- handed out in commit order and a reader never sees a number before the
-- smaller ones. A task keeps the number of its last write, a deletion leaves
-- a tombstone with its own.
CREATE TABLE task_users (
    user_id text   PRIMARY KEY CHECK (char_length(user_id) BETWEEN 1 AND 255),
    seq     bigint NOT NULL CHECK (seq >= 1)
);

-- A constant default adds the column without rewriting the table.
ALTER TABLE tasks ADD COLUMN seq bigint NOT NULL DEFAULT 0;

-- Tasks written before the feed existed are numbered in the order of their
-- last write, so a client that reads the feed from 0 gets every one of them.
UPDATE tasks SET seq = numbered.seq
FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY updated_at, id) AS seq FROM tasks) AS numbered
WHERE tasks.id = numbered.id;
INSERT INTO task_users (user_id, seq) SELECT user_id, max(seq) FROM tasks GROUP BY user_id;
-- From here on every write brings its number.
ALTER TABLE tasks ALTER COLUMN seq DROP DEFAULT;

-- The feed reads a user's tasks in change order. Unique: two writes never
-- share a number.
CREATE UNIQUE INDEX tasks_user_seq_idx ON tasks (user_id, seq);

-- Deleted tasks, kept for todo.TombstoneRetention; PurgeExpired removes the
-- older ones through the deleted_at index.
CREATE TABLE task_tombstones (
    user_id    text        NOT NULL,
    seq        bigint      NOT NULL,
    task_id    bigint      NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX task_tombstones_deleted_idx ON task_tombstones (deleted_at);

-- The first response to each idempotent request, replayed to its retries
-- until expires_at.
CREATE TABLE idempotency_keys (
    user_id     text        NOT NULL,
    key         text        NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 255),
    fingerprint text        NOT NULL,
    status      integer     NOT NULL,
    header      jsonb       NOT NULL,
    body        bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- Values created once per database, such as the key that signs change cursors.
CREATE TABLE todod_meta (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);

-- +goose Down
DROP TABLE todod_meta;
DROP TABLE idempotency_keys;
DROP TABLE task_tombstones;
DROP INDEX tasks_user_seq_idx;
ALTER TABLE tasks DROP COLUMN seq;
DROP TABLE task_users;
