-- Tasks: one row per delegation. `seq` gives submission order (FIFO within a priority);
-- `id` is the short public id.
CREATE TABLE tasks (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    agent            TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    prompt           TEXT    NOT NULL,
    cwd              TEXT,
    labels           TEXT    NOT NULL DEFAULT '[]',
    priority         INTEGER NOT NULL DEFAULT 0,
    timeout_ms       INTEGER,
    dedupe_key       TEXT,
    parent           TEXT,
    origin           TEXT    NOT NULL,
    depth            INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    exit_code        INTEGER,
    signal           INTEGER,
    result           TEXT,
    error_kind       TEXT,
    error_message    TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    pid              INTEGER,
    pgid             INTEGER,
    proc_start       INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    metadata         TEXT    NOT NULL DEFAULT '{}'
);

-- The claim order: queued tasks by priority, then submission order.
CREATE INDEX tasks_by_status ON tasks (status, priority DESC, seq);
-- At most one unfinished task per dedupe key.
CREATE UNIQUE INDEX tasks_live_key ON tasks (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;

-- The append-only event log; `seq` is the global sequence number followers resume from.
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    data    TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_task ON events (task_id, seq);
