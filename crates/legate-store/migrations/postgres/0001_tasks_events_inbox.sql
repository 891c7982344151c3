-- Tasks: one row per delegation. `seq` gives submission order (FIFO within a priority);
-- `id` is the short public id. JSON columns are text, decoded by legate.
CREATE TABLE tasks (
    seq              BIGSERIAL PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    agent            TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    prompt           TEXT    NOT NULL,
    cwd              TEXT,
    labels           TEXT    NOT NULL DEFAULT '[]',
    priority         BIGINT  NOT NULL DEFAULT 0,
    timeout_ms       BIGINT,
    dedupe_key       TEXT,
    parent           TEXT,
    origin           TEXT    NOT NULL,
    depth            BIGINT  NOT NULL,
    status           TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    exit_code        BIGINT,
    signal           BIGINT,
    result           TEXT,
    error_kind       TEXT,
    error_message    TEXT,
    attempt          BIGINT  NOT NULL DEFAULT 0,
    cancel_requested BIGINT  NOT NULL DEFAULT 0,
    pid              BIGINT,
    pgid             BIGINT,
    proc_start       BIGINT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    metadata         TEXT    NOT NULL DEFAULT '{}',
    notify           TEXT    NOT NULL DEFAULT '[]',
    acked_at         BIGINT
);
CREATE INDEX tasks_by_status ON tasks (status, priority DESC, seq);
CREATE UNIQUE INDEX tasks_live_key ON tasks (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_inbox ON tasks (origin, finished_at, seq) WHERE acked_at IS NULL;

-- The append-only event log, with its task's origin and labels copied on for filtering.
CREATE TABLE events (
    seq     BIGSERIAL PRIMARY KEY,
    task_id TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    at      BIGINT  NOT NULL,
    data    TEXT    NOT NULL DEFAULT '{}',
    origin  TEXT    NOT NULL DEFAULT '',
    labels  TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX events_by_task ON events (task_id, seq);
CREATE INDEX events_by_origin ON events (origin, seq);

-- Durable cursors of in-daemon event consumers.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);
INSERT INTO cursors (name, seq) VALUES ('notifier', 0);
