//! The task's logs as both runners write them: the output cap applied by the agent's policy,
//! and the first failure (a log write, the cap under `on_output_cap = "fail"`) raised as an
//! alarm that ends the task.

use std::path::Path;

use legate_domain::OutputCapPolicy;
use tokio::sync::oneshot;

use crate::log::CappedLog;

/// Why the capture asks for the task to be ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Alarm {
    /// A log write failed (full disk, I/O error).
    LogFailed(String),
    /// The output passed the cap (in bytes) and the agent's policy is to fail.
    OverCap(u64),
}

/// The two logs of a task: everything as a terminal would show it, and stdout alone (an
/// ACP agent's words) for the output parser.
pub(crate) struct Logs {
    pub output: CappedLog,
    pub stdout: CappedLog,
}

impl Logs {
    /// Creates (truncates) `output.log` and `stdout.log` in `dir`, each capped at `cap` bytes.
    pub fn create(dir: &Path, cap: u64) -> std::io::Result<Self> {
        Ok(Logs {
            output: CappedLog::create(&dir.join("output.log"), cap)?,
            stdout: CappedLog::create(&dir.join("stdout.log"), cap)?,
        })
    }
}

/// What the logs kept, once closed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Closed {
    /// Bytes of `output.log` the cap dropped.
    pub dropped: u64,
    /// Whether `stdout.log` was cut.
    pub stdout_truncated: bool,
}

/// A task's logs with its cap policy. After the first alarm nothing more is written.
pub(crate) struct LogSink {
    logs: Logs,
    cap: u64,
    policy: OutputCapPolicy,
    alarm: Option<oneshot::Sender<Alarm>>,
    broken: bool,
}

impl LogSink {
    /// Wraps the logs; the receiver hears the alarm, if one is raised (it sees the sender
    /// dropped, without an alarm, when the sink is closed or dropped).
    pub fn new(logs: Logs, cap: u64, policy: OutputCapPolicy) -> (Self, oneshot::Receiver<Alarm>) {
        let (tx, rx) = oneshot::channel();
        let sink = LogSink {
            logs,
            cap,
            policy,
            alarm: Some(tx),
            broken: false,
        };
        (sink, rx)
    }

    /// Whether an alarm was raised (later writes are dropped).
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// Writes `chunk` to `output.log`, and to `stdout.log` too when `words` (the agent's own
    /// output). A failed write, or a write past the cap under the `fail` policy, raises the
    /// alarm once and stops the writing.
    pub fn write(&mut self, chunk: &[u8], words: bool) {
        if self.broken {
            return;
        }
        let logs = &mut self.logs;
        let written = logs.output.write(chunk).and_then(|rot| {
            if words {
                logs.stdout.write(chunk).map(|r2| rot || r2)
            } else {
                Ok(rot)
            }
        });
        let raise = match written {
            Err(e) => Some(Alarm::LogFailed(format!(
                "writing the task's log failed: {e}"
            ))),
            Ok(true) if self.policy == OutputCapPolicy::Fail => Some(Alarm::OverCap(self.cap)),
            Ok(_) => None,
        };
        if let Some(reason) = raise {
            self.broken = true;
            if let Some(tx) = self.alarm.take() {
                let _ = tx.send(reason);
            }
        }
    }

    /// Joins the logs' segments and says what the cap dropped.
    pub fn close(self) -> Closed {
        let stdout_truncated = self.logs.stdout.truncated();
        let dropped = self.logs.output.finish().unwrap_or(0);
        let _ = self.logs.stdout.finish();
        Closed {
            dropped,
            stdout_truncated,
        }
    }
}
