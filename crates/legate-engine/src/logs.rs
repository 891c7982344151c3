//! Where a task's logs are, for the API to read and follow.

use std::path::PathBuf;

use legate_domain::Task;

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

impl Service {
    /// The task and the path of the log to read.
    pub async fn log_file(
        &self,
        reference: &str,
        stream: LogStream,
    ) -> Result<(Task, PathBuf), ServiceError> {
        let task = self.get(reference, false).await?;
        let name = match stream {
            LogStream::Output => "output.log",
            LogStream::Stdout => "stdout.log",
        };
        let path = self.task_dir(&task.id).join(name);
        Ok((task, path))
    }
}
