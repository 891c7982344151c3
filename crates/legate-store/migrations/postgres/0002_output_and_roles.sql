-- The newest output of each task, written by whichever engine runs it, so that its log can
-- be read and followed from any machine (the full log stays on the runner's disk).
CREATE TABLE task_output (
    task_id    TEXT   PRIMARY KEY,
    attempt    BIGINT NOT NULL,
    total      BIGINT NOT NULL,
    tail       BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Jobs meant to be done by one engine at a time (the notifier), held as renewable leases.
CREATE TABLE roles (
    name       TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
