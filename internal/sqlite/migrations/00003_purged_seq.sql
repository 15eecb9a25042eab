-- +goose Up
-- The highest change number of each user whose tombstone PurgeExpired
-- removed: a feed position below it may have missed that deletion, so
-- Changes refuses it (todo.ErrCursorExpired) instead of answering with a gap.
ALTER TABLE task_users ADD COLUMN purged_seq INTEGER NOT NULL DEFAULT 0 CHECK (purged_seq >= 0);

-- +goose Down
ALTER TABLE task_users DROP COLUMN purged_seq;
