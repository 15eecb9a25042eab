-- +goose Up
CREATE TABLE tasks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text        NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 255),
    title        text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    -- COLLATE "C" orders titles by bytes, as SQLite's BINARY does, so both
    -- engines return the same order for the same title keys.
    title_key    text COLLATE "C" NOT NULL,
    description  text        CHECK (char_length(description) <= 5000),
    search_key   text        NOT NULL,
    completed    boolean     NOT NULL DEFAULT false,
    priority     smallint    NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 3),
    tags         text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    due_at       timestamptz,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL DEFAULT 1,
    CONSTRAINT tasks_completed_at_check CHECK (completed = (completed_at IS NOT NULL))
);

-- One index per sort key of a list, each led by user_id, so that a page of one
-- user's tasks is a range scan in the requested order and never a sort.
CREATE INDEX tasks_user_created_idx  ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_idx  ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_title_idx    ON tasks (user_id, title_key, id);
CREATE INDEX tasks_user_due_idx      ON tasks (user_id, due_at, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);

-- +goose Down
DROP TABLE tasks;
