//! Draining (`legate daemon stop --drain`) and stopping: a draining engine accepts no new
//! task and finishes the ones it holds — running and queued, on a store of its own; only the
//! running ones on a shared store, whose queue other engines serve — then reports itself
//! drained. A stopping engine answers the waits it holds with `shutting_down`, so their clients
//! reconnect to the next daemon instead of failing.

use crate::EngineError;
use std::time::Duration;

use legate_domain::api::ErrorCode;
use legate_domain::{Status, TaskId};

use crate::error::ServiceError;
use crate::service::Service;

/// How often a drain re-counts the tasks left, besides every event.
const DRAIN_RECHECK: Duration = Duration::from_secs(1);

impl Service {
    /// Starts draining: from now on submissions and follow-ups are refused with
    /// [`ErrorCode::Draining`]. Idempotent.
    pub fn drain(&self) {
        self.inner.draining.send_replace(true);
        self.inner.wake.notify_one();
    }

    /// Whether the engine is draining.
    pub fn is_draining(&self) -> bool {
        *self.inner.draining.borrow()
    }

    /// Returns once a draining engine holds no more work: no task queued or running in its
    /// store (a store of its own), or none running here (a shared store, where it claims
    /// nothing while draining). Errors: the store cannot be read.
    pub async fn drained(&self) -> Result<(), ServiceError> {
        let mut rx = self.inner.bus.subscribe();
        loop {
            if self.work_left().await? == 0 {
                return Ok(());
            }
            tokio::select! {
                _ = rx.recv() => {}
                _ = tokio::time::sleep(DRAIN_RECHECK) => {}
            }
        }
    }

    /// How many tasks a drain still waits for.
    pub async fn work_left(&self) -> Result<u64, ServiceError> {
        if self.inner.settings.work.shared {
            return Ok(self.running_here() as u64);
        }
        Ok(self
            .counts()
            .await?
            .iter()
            .filter(|(s, _)| matches!(s, Status::Queued | Status::Running))
            .map(|(_, n)| n)
            .sum())
    }

    /// Refuses new work while draining or stopping. While draining, a task delegated by a
    /// task running here is not new work but part of what the drain waits for: it is
    /// accepted (`parent`, when known).
    pub(crate) fn accepting(&self, parent: Option<&TaskId>) -> Result<(), ServiceError> {
        if self.inner.stopping.is_cancelled() {
            return Err(shutting_down("submit again once it is back"));
        }
        let part_of_the_drain = parent.is_some_and(|p| {
            self.inner
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(p)
        });
        if self.is_draining() && !part_of_the_drain {
            return Err(EngineError::refused(
                ErrorCode::Draining,
                "the daemon is draining (`legate daemon stop --drain`): it accepts no new task and exits once the ones it holds have finished",
                "submit again once it has stopped (the next command starts a new daemon), or see `legate daemon status`",
            ));
        }
        Ok(())
    }

    /// Begins stopping: the waits held are answered with [`ErrorCode::ShuttingDown`], new
    /// submissions are refused, and scheduling stops. [`Service::shutdown`] does the rest.
    pub fn stopping(&self) {
        self.inner.stopping.cancel();
        self.inner.wake.notify_one();
    }

    /// Returns once the engine begins stopping (at once if it has), for streams the API
    /// serves, which end then so their clients resume from the next daemon.
    pub async fn until_stopping(&self) {
        self.inner.stopping.cancelled().await
    }
}

/// The error for a call the daemon cannot finish because it is stopping.
pub(crate) fn shutting_down(hint: &str) -> ServiceError {
    EngineError::refused(ErrorCode::ShuttingDown, "the daemon is shutting down", hint)
}
