-- Queued children by parent: a claim looks for the children of the few running tasks, which
-- take their parent's slot (a task waiting on its own children must not starve them).
CREATE INDEX tasks_queued_children ON tasks (parent, priority DESC, seq)
    WHERE status = 'queued' AND parent IS NOT NULL;
