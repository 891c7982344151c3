//! Why a queued task waits: the caps as the claim counts them (a running task with a running
//! child has lent its slot, see `legate_store::ClaimRequest`), its place in the queue.

use crate::EngineError;
use std::collections::BTreeSet;

use legate_domain::api::{ErrorCode, QueueState};
use legate_domain::{Status, Task};
use legate_store::TaskFilter;

use crate::error::ServiceError;
use crate::service::Service;

/// The most running or queued tasks looked at to explain a wait.
const LOOKED_AT: u32 = 100_000;

impl Service {
    /// Why the queued task `reference` (id or prefix) has not started. Errors: `not_found`,
    /// `ambiguous_id`, `invalid_request` when it is not queued.
    pub async fn queue_state(&self, reference: &str) -> Result<QueueState, ServiceError> {
        let task = self.get(reference, false).await?;
        if task.status != Status::Queued {
            return Err(EngineError::refused(
                ErrorCode::InvalidRequest,
                format!("task {} is {}, not queued", task.id, task.status),
                "`legate show` tells what it is doing",
            ));
        }
        let running = self.tasks_in(Status::Running).await?;
        let queued = self.tasks_in(Status::Queued).await?;
        let ahead = queued
            .iter()
            .filter(|q| {
                q.priority > task.priority
                    || (q.priority == task.priority && q.created_at < task.created_at)
            })
            .count() as u64;
        Ok(QueueState {
            ahead,
            reason: self.reason(&task, &running),
        })
    }

    async fn tasks_in(&self, status: Status) -> Result<Vec<Task>, ServiceError> {
        let filter = TaskFilter {
            statuses: vec![status],
            limit: LOOKED_AT,
            ..Default::default()
        };
        self.inner
            .store
            .list(&filter)
            .await
            .map_err(EngineError::from)
    }

    /// The first thing that keeps `task` from a claim, as the claim sees it.
    fn reason(&self, task: &Task, running: &[Task]) -> String {
        let config = self.inner.config.last_good();
        let lending: BTreeSet<_> = running.iter().filter_map(|t| t.parent.as_ref()).collect();
        let holding: Vec<&Task> = running
            .iter()
            .filter(|t| !lending.contains(&t.id))
            .collect();
        let ids = |tasks: &[&Task]| {
            let mut shown: Vec<String> = tasks.iter().take(5).map(|t| t.id.to_string()).collect();
            if tasks.len() > 5 {
                shown.push("…".into());
            }
            shown.join(", ")
        };
        let cap = config.agents.get(&task.agent).and_then(|a| a.max_running);
        let of_agent: Vec<&Task> = holding
            .iter()
            .copied()
            .filter(|t| t.agent == task.agent)
            .collect();
        if let Some(parent) = task
            .parent
            .as_ref()
            .and_then(|p| running.iter().find(|t| &t.id == p))
        {
            if let Some(sibling) = running
                .iter()
                .find(|t| t.parent.as_ref() == Some(&parent.id))
            {
                return format!(
                    "its parent {} lends its slot to one child at a time, and {} runs in it now",
                    parent.id, sibling.id
                );
            }
            if let Some(cap) = cap.filter(|c| of_agent.len() as u32 >= *c)
                && parent.agent != task.agent
            {
                return format!(
                    "agent `{}` is at its cap (max_running = {cap}): {} run",
                    task.agent,
                    ids(&of_agent)
                );
            }
            return format!(
                "it takes its running parent {}'s slot at the next claim",
                parent.id
            );
        }
        let max = config.limits.max_running;
        if holding.len() as u32 >= max {
            return format!(
                "all {max} slot{} taken (limits.max_running = {max}): {} {}",
                if max == 1 { " is" } else { "s are" },
                ids(&holding),
                if holding.len() == 1 { "runs" } else { "run" }
            );
        }
        if let Some(cap) = cap.filter(|c| of_agent.len() as u32 >= *c) {
            return format!(
                "agent `{}` is at its cap (max_running = {cap}): {}",
                task.agent,
                if of_agent.is_empty() {
                    "it runs nothing until the cap is raised".to_string()
                } else {
                    format!(
                        "{} {}",
                        ids(&of_agent),
                        if of_agent.len() == 1 { "runs" } else { "run" }
                    )
                }
            );
        }
        let work = &self.inner.settings.work;
        if work.shared {
            return format!(
                "a slot is free: it starts when an engine that serves agent `{}` claims it",
                task.agent
            );
        }
        if let Some(agents) = work.agents.as_ref().filter(|a| !a.contains(&task.agent)) {
            let list: Vec<&str> = agents.iter().map(String::as_str).collect();
            return format!(
                "this daemon runs only agent{} {} (--agents / LEGATE_AGENTS): it starts once a \
                 daemon that serves `{}` runs",
                if list.len() == 1 { "" } else { "s" },
                list.join(", "),
                task.agent
            );
        }
        if let Some(slots) = work.slots.filter(|n| holding.len() as u32 >= *n) {
            return match slots {
                0 => "this daemon has 0 slots (--slots / LEGATE_SLOTS): it runs nothing".into(),
                n => format!(
                    "all {n} of this daemon's slots are taken (--slots / LEGATE_SLOTS): {} {}",
                    ids(&holding),
                    if holding.len() == 1 { "runs" } else { "run" }
                ),
            };
        }
        "a slot is free: it starts at the next claim".to_string()
    }
}
