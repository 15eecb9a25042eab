-- +goose Up
-- Times are INTEGER microseconds since the Unix epoch, UTC, generated in Go, so
-- that both engines store and compare them identically. STRICT makes SQLite
-- reject a value of the wrong type instead of storing it as given.
CREATE TABLE tasks (
    -- AUTOINCREMENT: ids are never reused, even after the newest task is deleted.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    title        TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    -- todo.TitleKey(title); BINARY collation orders it by bytes, as PostgreSQL's "C".
    title_key    TEXT    NOT NULL,
    description  TEXT    CHECK (length(description) <= 5000),
    -- todo.SearchKey(title, description): q is a plain substring of it.
    search_key   TEXT    NOT NULL,
    completed    INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    priority     INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 3),
    -- A JSON array of strings.
    tags         TEXT    NOT NULL DEFAULT '[]'
                 CHECK (json_type(tags) = 'array' AND json_array_length(tags) <= 20),
    due_at       INTEGER,
    completed_at INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    CONSTRAINT tasks_completed_at_check CHECK (completed = (completed_at IS NOT NULL))
) STRICT;

-- One index per sort key of a list, each led by user_id, so that a page of one
-- user's tasks is a range scan in the requested order and never a sort.
CREATE INDEX tasks_user_created_idx  ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_idx  ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_title_idx    ON tasks (user_id, title_key, id);
CREATE INDEX tasks_user_due_idx      ON tasks (user_id, due_at, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);

-- +goose Down
DROP TABLE tasks;
