//! Taking back tasks a dead daemon left running, and letting go of ours at shutdown.

use std::collections::BTreeSet;

use legate_runner::tree;
use legate_store::{RescueScope, Rescued};
use tracing::{info, warn};

use crate::error::ServiceError;
use crate::service::Service;

impl Service {
    /// At start: the running tasks of `settings.recovery` belong to a previous daemon (this
    /// one holds the daemon lock). Each becomes `interrupted` — and `queued` again when its
    /// agent has `retry_interrupted` — and whatever is left of its process tree is killed first.
    pub(crate) async fn recover(&self) -> Result<(), ServiceError> {
        legate_runner::cgroup::announce();
        let scope = self.inner.settings.recovery.clone();
        let n = self
            .rescue(&scope, "the daemon running it stopped (crash or restart)")
            .await?;
        if n > 0 {
            info!("recovered {n} task(s) left running by a previous daemon");
        }
        Ok(())
    }

    pub(crate) async fn interrupt_own(&self, reason: &str) {
        let scope = RescueScope::OwnedBy(self.inner.settings.owner.clone());
        if let Err(e) = self.rescue(&scope, reason).await {
            warn!("marking running tasks interrupted at shutdown failed: {e}");
        }
    }

    pub(crate) async fn rescue(
        &self,
        scope: &RescueScope,
        reason: &str,
    ) -> Result<usize, ServiceError> {
        let requeue: BTreeSet<String> = self
            .inner
            .config
            .last_good()
            .agents
            .values()
            .filter(|a| a.retry_interrupted)
            .map(|a| a.name.clone())
            .collect();
        // A lapsed lease may be another machine's: the pid and group it recorded name nothing
        // here, so only what carries the task's id (its cgroup, marked processes) is killed.
        let ran_here = !matches!(scope, RescueScope::Expired);
        let kill = async |rescued: &Vec<Rescued>| {
            for r in rescued {
                let p = r
                    .process
                    .filter(|_| ran_here)
                    .map(|p| (p.pid, p.pgid, p.start_time));
                let dir = self.task_dir(&r.task.id);
                let killed =
                    tree::kill_leftovers(r.task.id.as_str(), r.task.attempt, &dir, p).await;
                if killed > 0 {
                    info!(task = %r.task.id, "killed {killed} leftover process(es)");
                }
            }
        };
        // Leftovers go before the `interrupted` events are published.
        let rescued = self
            .commit_then(|store| store.rescue(scope, &requeue, reason), kill)
            .await?;
        for r in &rescued {
            self.settle_worktree(&r.task).await;
        }
        if !rescued.is_empty() {
            self.inner.wake.notify_one();
        }
        Ok(rescued.len())
    }
}
