-- Events carry their task's origin and labels, so followers filter history and live events
-- alike without a lookup.
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
UPDATE events SET
    origin = COALESCE((SELECT origin FROM tasks WHERE tasks.id = events.task_id), ''),
    labels = COALESCE((SELECT labels FROM tasks WHERE tasks.id = events.task_id), '[]');
CREATE INDEX events_by_origin ON events (origin, seq);

-- The inbox: a finished task stays in its origin's inbox until acknowledged. Tasks that
-- finished before the inbox existed count as read.
ALTER TABLE tasks ADD COLUMN acked_at INTEGER;
UPDATE tasks SET acked_at = finished_at WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_inbox ON tasks (origin, finished_at, seq) WHERE acked_at IS NULL;

-- Where each finished task is announced besides the inbox (a JSON list of targets).
ALTER TABLE tasks ADD COLUMN notify TEXT NOT NULL DEFAULT '[]';

-- Durable cursors of event consumers inside the daemon (the notifier): the last sequence
-- number fully handled, so a restart resumes without losing or repeating work.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
-- Finishes from before notifications existed are not announced.
INSERT INTO cursors (name, seq) SELECT 'notifier', COALESCE(MAX(seq), 0) FROM events;
