//! Finding and removing finished tasks that retention no longer keeps.

use legate_domain::{TaskId, Timestamp, WorktreeState};

use super::{Sql, args};
use crate::rows::{TERMINAL, parse_id};
use crate::{PruneCandidates, Pruned, StoreError};

/// The condition on acknowledgement: none when `unacked` tasks may go too.
fn acked(unacked: bool) -> &'static str {
    if unacked {
        ""
    } else {
        " AND acked_at IS NOT NULL"
    }
}

/// Finished tasks older than `before` (all when `None`), acknowledged unless `unacked`, in
/// the order they finished, apart from those whose worktree still exists; and how many
/// unacknowledged ones were kept.
pub(crate) async fn prune_candidates(
    conn: &mut impl Sql,
    before: Option<Timestamp>,
    unacked: bool,
) -> Result<PruneCandidates, StoreError> {
    let cutoff = before.map_or(i64::MAX, |b| b.millis());
    let state = conn.dialect().field("metadata", "worktree.state");
    let old = format!(
        "FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1 AND {TERMINAL}{}",
        acked(unacked)
    );
    let [active, kept] = WorktreeState::EXISTING.map(WorktreeState::as_str);
    let holds = format!("COALESCE({state}, '') IN ($2, $3)");
    let sql = format!("SELECT id, finished_at {old} AND NOT {holds} ORDER BY finished_at, seq");
    let rows = conn.text_ints(&sql, &args![cutoff, active, kept]).await?;
    let sql = format!("SELECT id {old} AND {holds} ORDER BY finished_at, seq");
    let with_worktree = conn.texts(&sql, &args![cutoff, active, kept]).await?;
    let kept_unacked = if unacked {
        0
    } else {
        let sql = format!(
            "SELECT COUNT(*) FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1 \
             AND {TERMINAL} AND acked_at IS NULL"
        );
        let n = conn.ints(&sql, &args![cutoff]).await?;
        n.first().copied().flatten().unwrap_or(0)
    };
    Ok(PruneCandidates {
        tasks: rows
            .into_iter()
            .map(|(id, at)| Ok((parse_id(&id)?, Timestamp(at))))
            .collect::<Result<_, StoreError>>()?,
        kept_unacked: kept_unacked as u64,
        with_worktree: with_worktree
            .iter()
            .map(|id| parse_id(id))
            .collect::<Result<_, StoreError>>()?,
    })
}

/// Removes the given tasks, their stored output and their events, skipping any that is not
/// finished (any more) and, unless `unacked`, any still unacknowledged.
pub(crate) async fn remove(
    conn: &mut impl Sql,
    ids: &[TaskId],
    unacked: bool,
) -> Result<Pruned, StoreError> {
    let sql = format!(
        "DELETE FROM tasks WHERE id = $1 AND finished_at IS NOT NULL AND {TERMINAL}{}",
        acked(unacked)
    );
    let mut out = Pruned::default();
    for id in ids {
        if conn.execute(&sql, &args![id]).await? == 0 {
            continue;
        }
        conn.execute("DELETE FROM task_output WHERE task_id = $1", &args![id])
            .await?;
        out.events += conn
            .execute("DELETE FROM events WHERE task_id = $1", &args![id])
            .await?;
        out.tasks.push(id.clone());
    }
    Ok(out)
}
