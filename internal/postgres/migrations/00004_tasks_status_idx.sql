-- +goose Up
-- A list filtered by status (pending or completed) in the default order reads
-- the user's tasks of that status straight from this index, newest or oldest
-- first, so a page costs the same for a user with 100,000 tasks as for one
-- with 10, whatever share of them has the status; a count by status reads
-- the index alone. Without it the only plans walk all of the user's tasks
-- through another index, filtering, or scan the whole table, which is what a
-- prepared statement's generic plan chose on a table of few users.
--
-- Building it blocks writes to tasks for as long as it takes (about a second
-- per million rows), which may exceed the connection's statement timeout.
-- Waiting for the table's lock is bounded more tightly, because writes queue
-- behind a waiting build: a long transaction on tasks fails the migration
-- after a minute (retry the deploy) instead of holding writes for ten. An
-- index made by hand under this name is kept.
SET LOCAL statement_timeout = '10min';
SET LOCAL lock_timeout = '1min';
CREATE INDEX IF NOT EXISTS tasks_user_status_idx ON tasks (user_id, completed, created_at, id);

-- +goose Down
DROP INDEX IF EXISTS tasks_user_status_idx;
