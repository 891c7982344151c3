//! Pruning finished tasks: on request (`legate prune`) and automatically by age and total log
//! size. Unfinished tasks are never touched, nor — unless asked — results still unread in their
//! origin's inbox.

use std::path::Path;
use std::time::Duration;

use legate_domain::api::{PruneReport, PruneRequest};
use legate_domain::{TaskId, Timestamp};
use tracing::{info, warn};

use crate::error::ServiceError;
use crate::service::{Service, chrono_now};

impl Service {
    /// Removes finished tasks older than the cutoff, with their events and logs.
    pub async fn prune(&self, req: &PruneRequest) -> Result<PruneReport, ServiceError> {
        let before = Timestamp(chrono_now() - req.older_than_ms.min(i64::MAX as u64) as i64);
        let found = self
            .inner
            .store
            .prune_candidates(Some(before), req.unacked)
            .await?;
        let mut ids: Vec<TaskId> = found.tasks.into_iter().map(|(id, _)| id).collect();
        let (discarded, kept) = self.spare_worktrees(found.with_worktree, req.force).await;
        ids.extend(discarded);
        let mut report = self.remove_tasks(&ids, req.unacked).await?;
        report.kept_unacked = found.kept_unacked;
        report.kept_worktrees = kept;
        Ok(report)
    }

    /// What becomes of tasks old enough to go whose worktree still holds work nobody merged
    /// or discarded: kept, or with `force` discarded first (the tasks that may then go, and
    /// those kept). A worktree that cannot be discarded (a follow-up still works in it, its
    /// repository is gone) keeps its task, so no worktree is left without its task.
    async fn spare_worktrees(&self, ids: Vec<TaskId>, force: bool) -> (Vec<TaskId>, Vec<TaskId>) {
        if !force {
            if !ids.is_empty() {
                info!(
                    "kept {} finished task(s) whose worktree holds unmerged changes (merge or discard them, or prune --force)",
                    ids.len()
                );
            }
            return (Vec::new(), ids);
        }
        let (mut go, mut kept) = (Vec::new(), Vec::new());
        for id in ids {
            // Discarded as `legate discard` does: refused while a follow-up still works in
            // it, and recorded in every task of its chain.
            match self.discard(id.as_str()).await {
                Ok(_) => go.push(id),
                Err(e) => {
                    warn!(task = %id, "the worktree of a pruned task stays: {e}");
                    kept.push(id);
                }
            }
        }
        (go, kept)
    }

    async fn remove_tasks(
        &self,
        ids: &[TaskId],
        unacked: bool,
    ) -> Result<PruneReport, ServiceError> {
        let pruned = self.commit(|store| store.remove(ids, unacked)).await?;
        let mut log_bytes = 0;
        for id in &pruned.tasks {
            let dir = self.task_dir(id);
            log_bytes += dir_size(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(PruneReport {
            tasks: pruned.tasks.len() as u64,
            events: pruned.events,
            log_bytes,
            ..PruneReport::default()
        })
    }

    /// Applies `[retention]` once: by age, then by total log size (oldest first).
    pub(crate) async fn apply_retention(&self) -> Result<PruneReport, ServiceError> {
        let policy = self.inner.config.last_good().retention.clone();
        let mut total = PruneReport::default();
        if let Some(age) = policy.max_age {
            let r = self
                .prune(&PruneRequest {
                    older_than_ms: age.as_millis() as u64,
                    unacked: false,
                    force: false,
                })
                .await?;
            add(&mut total, &r);
        }
        if let Some(cap) = policy.max_total {
            let mut used = dir_size_deep(&self.inner.settings.logs_dir);
            if used > cap {
                let found = self.inner.store.prune_candidates(None, false).await?;
                let (_, kept) = self.spare_worktrees(found.with_worktree, false).await;
                total.kept_worktrees.extend(kept);
                let mut doomed = Vec::new();
                for (id, _) in found.tasks {
                    if used <= cap {
                        break;
                    }
                    used = used.saturating_sub(dir_size(&self.task_dir(&id)));
                    doomed.push(id);
                }
                add(&mut total, &self.remove_tasks(&doomed, false).await?);
            }
        }
        Ok(total)
    }

    /// Runs retention at start, then every `interval` and whenever the configuration changes,
    /// until shutdown.
    pub(crate) fn spawn_retention(&self) {
        let svc = self.clone();
        tokio::spawn(async move {
            let stop = svc.inner.stopping.clone();
            loop {
                match svc.apply_retention().await {
                    Ok(r) if r.tasks > 0 => info!(
                        "retention removed {} finished tasks, {} events, {} bytes of logs",
                        r.tasks, r.events, r.log_bytes
                    ),
                    Ok(_) => {}
                    Err(e) => warn!("retention failed: {e}; will try again"),
                }
                let every = svc.inner.config.last_good().retention.interval;
                tokio::select! {
                    _ = tokio::time::sleep(every.max(Duration::from_millis(100))) => {}
                    _ = svc.inner.config.changed() => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
}

fn add(total: &mut PruneReport, r: &PruneReport) {
    total
        .kept_worktrees
        .extend(r.kept_worktrees.iter().cloned());
    total.tasks += r.tasks;
    total.events += r.events;
    total.log_bytes += r.log_bytes;
}

/// Bytes of the files directly in a task's log directory.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Bytes of every task's logs.
fn dir_size_deep(logs: &Path) -> u64 {
    std::fs::read_dir(logs)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| dir_size(&e.path()))
        .sum()
}
