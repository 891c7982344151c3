//! Claiming: queued tasks become `running` under a lease, within the global and per-agent
//! caps, in priority then FIFO order; a running task lends its slot to one child at a time.
//! Every worker waits on the same lock while one claims, so a claim is: take the lock, one
//! statement that counts, picks, starts and logs a whole batch (and announces it), then one
//! statement per child that takes its parent's slot.

use legate_domain::{Event, EventKind, Status, Timestamp};
use serde_json::json;
use sqlx::{PgConnection, Row};

use crate::rows::{COLUMNS, built, env_from_row, task_from_row};
use crate::{ClaimRequest, Claimed, Lease, StoreError, now_ms};

/// The key of the advisory lock that serialises claims across every worker, so global and
/// per-agent caps hold however many machines claim at once.
const CLAIM_LOCK: i64 = 0x6c65_6761_7465; // "legate"

/// Running tasks per agent that hold a slot (a running task with a running child has lent
/// its slot to that child and does not count), and the room each capped agent has left.
/// `$1`/`$2` per-agent caps (names, caps).
const COUNTED: &str = "
WITH running AS (
    SELECT agent, count(*) AS n FROM tasks WHERE status = 'running'
      AND id NOT IN (SELECT parent FROM tasks WHERE status = 'running' AND parent IS NOT NULL)
    GROUP BY agent
), room AS (
    SELECT c.agent, c.cap - COALESCE(r.n, 0) AS free
    FROM unnest($1::text[], $2::bigint[]) AS c(agent, cap) LEFT JOIN running r USING (agent)
)";

/// Starts the `chosen` tasks and writes their `started` events in claim order (and announces
/// them). `{NOW}`, `{OWNER}`, `{EXPIRES}` name the placeholders of now, owner, lease expiry.
const START: &str = "
, started AS (
    UPDATE tasks t SET status = 'running', attempt = t.attempt + 1, started_at = {NOW},
        lease_owner = {OWNER}, lease_expires_at = {EXPIRES}, cancel_requested = 0, acked_at = NULL,
        pid = NULL, pgid = NULL, proc_start = NULL
    FROM chosen WHERE t.id = chosen.id AND t.status = 'queued'
    RETURNING t.*
), logged AS (
    INSERT INTO events (task_id, kind, at, data, origin, labels)
    SELECT id, 'started', {NOW}, jsonb_build_object('attempt', attempt, 'worker', {OWNER}::text)::text,
        origin, labels
    FROM started ORDER BY priority DESC, seq
    RETURNING seq AS event_seq, task_id AS event_task
), announced AS (
    -- Runs only when read below, so only when a task was claimed.
    SELECT pg_notify(current_setting('legate.channel', true), 'started')
)
SELECT {COLUMNS}, prompt, env, event_seq, (SELECT count(*) FROM announced) AS announced
FROM started JOIN logged ON logged.event_task = started.id
ORDER BY event_seq";

/// Takes the next queued tasks that fit the caps (skipping rows another claimer holds), in
/// priority then FIFO order. A batch may hold more of one agent than its cap leaves room for:
/// those stay queued for the next claim.
///
/// After [`COUNTED`]: `$3` only these agents (NULL: any), `$4` most to take, `$5` global cap;
/// [`START`] with `$6` now, `$7` owner, `$8` lease expiry.
const NEXT: &str = "
, locked AS (
    SELECT id, agent, priority, seq FROM tasks
    WHERE status = 'queued'
      AND agent NOT IN (SELECT agent FROM room WHERE free <= 0)
      AND ($3::text[] IS NULL OR agent = ANY($3))
    ORDER BY priority DESC, seq
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id FROM (
        SELECT l.id, l.priority, l.seq, room.free,
               row_number() OVER (PARTITION BY l.agent ORDER BY l.priority DESC, l.seq) AS nth
        FROM locked l LEFT JOIN room USING (agent)
    ) ranked
    WHERE free IS NULL OR nth <= free
    ORDER BY priority DESC, seq
    LIMIT GREATEST($5 - (SELECT COALESCE(sum(n), 0) FROM running), 0)
)";

/// Takes one queued child of a running task that has no running child: it takes its parent's
/// slot, so it needs no room in the global cap, and none in its agent's cap when it is its
/// parent's agent. Driven from the few running tasks through `tasks_queued_children`.
///
/// After [`COUNTED`]: `$3` only these agents (NULL: any); [`START`] with `$4` now, `$5` owner,
/// `$6` lease expiry.
const NEXT_LENT: &str = "
, chosen AS (
    SELECT c.id FROM tasks p JOIN tasks c ON c.parent = p.id AND c.status = 'queued'
    WHERE p.status = 'running'
      AND p.id NOT IN (SELECT parent FROM tasks WHERE status = 'running' AND parent IS NOT NULL)
      AND (c.agent = p.agent OR c.agent NOT IN (SELECT agent FROM room WHERE free <= 0))
      AND ($3::text[] IS NULL OR c.agent = ANY($3))
    ORDER BY c.priority DESC, c.seq
    LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
)";

/// The whole statement: counts, a choice, the start.
fn statement(choice: &str, now: &str, owner: &str, expires: &str) -> String {
    let start = START
        .replace("{NOW}", now)
        .replace("{OWNER}", owner)
        .replace("{EXPIRES}", expires)
        .replace("{COLUMNS}", COLUMNS);
    format!("{COUNTED}{choice}{start}")
}

/// Claims a batch within the caps, then the children that take their running parents' slots
/// one by one (a task waiting on its own children must not starve them), all under the claim
/// lock in one transaction.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    req: &ClaimRequest,
) -> Result<Vec<Claimed>, StoreError> {
    if req.max_claims == 0 || req.max_running == 0 {
        return Ok(Vec::new());
    }
    Status::Queued.become_(Status::Running)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CLAIM_LOCK)
        .execute(&mut *conn)
        .await?;
    let (capped, caps): (Vec<String>, Vec<i64>) = req
        .agent_caps
        .iter()
        .map(|(agent, cap)| (agent.clone(), i64::from(*cap)))
        .unzip();
    let only: Option<Vec<String>> = req.agents.as_ref().map(|a| a.iter().cloned().collect());
    let now = now_ms();
    let expires = now + req.lease_ttl.as_millis() as i64;
    let mut rows = sqlx::query(built(statement(NEXT, "$6", "$7", "$8")))
        .bind(&capped)
        .bind(&caps)
        .bind(&only)
        .bind(i64::from(req.max_claims))
        .bind(i64::from(req.max_running))
        .bind(now)
        .bind(&req.owner)
        .bind(expires)
        .fetch_all(&mut *conn)
        .await?;
    let lent = statement(NEXT_LENT, "$4", "$5", "$6");
    while (rows.len() as u32) < req.max_claims {
        let Some(row) = sqlx::query(built(lent.clone()))
            .bind(&capped)
            .bind(&caps)
            .bind(&only)
            .bind(now)
            .bind(&req.owner)
            .bind(expires)
            .fetch_optional(&mut *conn)
            .await?
        else {
            break;
        };
        rows.push(row);
    }
    rows.iter()
        .map(|row| {
            let task = task_from_row(row, true)?;
            // The event as the statement wrote it: only its number comes back.
            let event = Event {
                seq: row.try_get("event_seq")?,
                task_id: task.id.clone(),
                kind: EventKind::Started,
                at: Timestamp(now),
                origin: task.origin.clone(),
                labels: task.labels.clone(),
                data: json!({"attempt": task.attempt, "worker": req.owner}),
            };
            Ok(Claimed {
                lease: Lease {
                    task_id: task.id.clone(),
                    owner: req.owner.clone(),
                    attempt: task.attempt,
                },
                task,
                event,
                env: env_from_row(row)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_claim_statements_name_every_placeholder_they_bind() {
        for (statement, binds) in [
            (super::statement(super::NEXT, "$6", "$7", "$8"), 8),
            (super::statement(super::NEXT_LENT, "$4", "$5", "$6"), 6),
        ] {
            for n in 1..=binds {
                assert!(statement.contains(&format!("${n}")), "${n} unused");
            }
            assert!(!statement.contains(&format!("${}", binds + 1)));
            assert!(!statement.contains('{'), "every name replaced");
        }
    }
}
