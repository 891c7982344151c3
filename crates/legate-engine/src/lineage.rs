//! Who delegates: the daemon decides a submission's parent and depth from facts a child cannot
//! forge — the process that connected (its pid, from the socket's peer credentials), walked up
//! its ancestry to the agent of a task running here — and from the recorded depth of the
//! parent the submission names. `LEGATE_TASK_ID` and `LEGATE_DEPTH` are only hints: they can
//! raise the depth, never lower it.

use crate::EngineError;
use std::collections::HashMap;

use legate_domain::api::ErrorCode;
use legate_domain::id::{ID_LEN, IdPrefix};
use legate_domain::{ProcessInfo, TaskId};
use legate_runner::procfs;

use crate::error::ServiceError;
use crate::service::Service;

/// What the API server knows about a request besides its body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caller {
    /// The connecting process (from `SO_PEERCRED`), when the connection is local.
    pub pid: Option<i32>,
    /// When the client stops waiting for the answer, in milliseconds since the Unix epoch.
    pub deadline_ms: Option<i64>,
}

impl Caller {
    /// A caller the daemon knows nothing about (no peer process, no deadline).
    pub fn unknown() -> Caller {
        Caller::default()
    }

    /// Whether the client has given up waiting for the answer by now.
    pub fn expired(&self) -> bool {
        self.deadline_ms
            .is_some_and(|d| crate::service::chrono_now() > d)
    }

    /// Refuses a request whose client has already given up waiting: acting on it would create
    /// a task its client was told had failed.
    pub(crate) fn still_waiting(&self) -> Result<(), ServiceError> {
        if self.expired() {
            return Err(EngineError::refused(
                ErrorCode::InvalidRequest,
                "the client stopped waiting for this request before the daemon could act on it; nothing was done",
                "send it again",
            ));
        }
        Ok(())
    }
}

/// The agents running here: each task's agent process and the task's depth.
pub(crate) type LocalAgents = HashMap<TaskId, (ProcessInfo, u32)>;

impl Service {
    /// Remembers a task's agent process, so its own delegations are recognised.
    pub(crate) fn track_agent(&self, id: &TaskId, process: ProcessInfo, depth: u32) {
        self.inner
            .agents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), (process, depth));
    }

    /// Forgets a task's agent process once it has ended.
    pub(crate) fn untrack_agent(&self, id: &TaskId) {
        self.inner
            .agents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// The task running here whose agent `pid` is or descends from (through its parents, or
    /// by staying in the agent's process group), nearest first, with its depth.
    fn task_of_process(&self, pid: i32) -> Option<(TaskId, u32)> {
        let agents: Vec<(TaskId, ProcessInfo, u32)> = {
            let map = self.inner.agents.lock().unwrap_or_else(|p| p.into_inner());
            map.iter()
                .map(|(id, (p, d))| (id.clone(), *p, *d))
                .collect()
        };
        if agents.is_empty() {
            return None;
        }
        procfs::lineage(pid).into_iter().find_map(|(p, st)| {
            agents
                .iter()
                .find(|(_, info, _)| {
                    (p == info.pid && st.start_time == info.start_time) || st.pgrp == info.pgid
                })
                .map(|(id, _, depth)| (id.clone(), *depth))
        })
    }

    /// The parent and the submitter's own depth for a submission: the task whose agent the
    /// caller descends from, if any, else the parent it names; the depth is the largest of
    /// what it claims, its named parent's recorded depth and the recognised agent's task's.
    pub(crate) async fn delegation(
        &self,
        named: Option<&str>,
        claimed_depth: u32,
        caller: &Caller,
    ) -> Result<(Option<TaskId>, u32), ServiceError> {
        let named = match named.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => {
                let bad = |why: String| {
                    EngineError::refused(
                        ErrorCode::InvalidRequest,
                        format!("parent task: {why}"),
                        "send the delegating task's whole id (its LEGATE_TASK_ID), or none",
                    )
                };
                let prefix = IdPrefix::parse(p).map_err(|e| bad(e.to_string()))?;
                if !prefix.is_complete() {
                    return Err(bad(format!(
                        "'{p}' is not a whole task id ({ID_LEN} characters)"
                    )));
                }
                Some(TaskId::parse(p).map_err(|e| bad(e.to_string()))?)
            }
            None => None,
        };
        let mut depth = claimed_depth;
        if let Some(p) = &named
            && let Some(t) = self.inner.store.get(p, false).await?
        {
            depth = depth.max(t.depth);
        }
        let found = caller.pid.and_then(|pid| self.task_of_process(pid));
        Ok(match found {
            Some((task, its_depth)) => (Some(task), depth.max(its_depth)),
            None => (named, depth),
        })
    }
}
