-- The submitting client's environment (a JSON object of strings), which the task's agent
-- inherits; never shown. NULL for tasks submitted without one (and every task from before):
-- their agents get the minimal fallback environment.
ALTER TABLE tasks ADD COLUMN env TEXT;
-- A submission's idempotency key: a retried submission with the same origin and key returns
-- the stored task instead of creating another, whatever its status.
ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX tasks_idempotency ON tasks (origin, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
