//! Where a task's log is, for the API to read and follow: the file in the task's directory
//! when this machine has it, otherwise (a task run by a worker elsewhere on a shared store)
//! the newest output that worker stored.

use crate::EngineError;
use std::path::PathBuf;

use legate_domain::api::ErrorCode;
use legate_domain::{Task, TaskId};
use legate_store::OutputTail;

use crate::error::ServiceError;
use crate::service::Service;

/// Which captured stream to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// stdout and stderr interleaved, with legate's notes.
    Output,
    /// stdout alone.
    Stdout,
}

/// Where a log can be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    /// The whole (capped) log, in a file on this machine.
    File(PathBuf),
    /// The newest output the engine running the task stored in the shared store, read with
    /// [`Service::stored_output`].
    Stored,
}

impl Service {
    /// The task and where to read its log.
    pub async fn log_source(
        &self,
        reference: &str,
        stream: LogStream,
    ) -> Result<(Task, LogSource), ServiceError> {
        let task = self.get(reference, false).await?;
        let name = match stream {
            LogStream::Output => "output.log",
            LogStream::Stdout => "stdout.log",
        };
        let path = self.task_dir(&task.id).join(name);
        if !self.inner.settings.work.shared || path.exists() {
            return Ok((task, LogSource::File(path)));
        }
        if stream == LogStream::Stdout {
            return Err(EngineError::refused(
                ErrorCode::InvalidRequest,
                format!(
                    "task {} did not run on this machine, and stdout alone is kept only where it ran",
                    task.id
                ),
                format!(
                    "run `legate logs {}` without --stdout to see its output from any machine, or ask on the machine that ran it",
                    task.id
                ),
            ));
        }
        Ok((task, LogSource::Stored))
    }

    /// The newest output stored for a task by the engine that ran it, if any.
    pub async fn stored_output(&self, id: &TaskId) -> Result<Option<OutputTail>, ServiceError> {
        self.inner.store.output(id).await.map_err(EngineError::from)
    }
}
