//! Exit codes, documented in the README: scripts rely on them.

use legate_api::ClientError;
use legate_domain::Status;

/// Success (for task outcomes: every task succeeded).
pub const OK: i32 = 0;
/// An error: bad input, unknown id, unreachable daemon... (the message says which).
pub const ERROR: i32 = 1;
/// A waited-for task failed.
pub const FAILED: i32 = 3;
/// A waited-for task was canceled.
pub const CANCELED: i32 = 4;
/// A waited-for task timed out.
pub const TIMED_OUT: i32 = 5;
/// A waited-for task was interrupted (its runner was lost).
pub const INTERRUPTED: i32 = 6;
/// `wait --timeout` passed before the tasks finished.
pub const WAIT_TIMEOUT: i32 = 8;
/// The daemon did not answer in time (stopped with SIGSTOP, or overloaded), or did not stop
/// when asked.
pub const NO_ANSWER: i32 = 9;
/// `daemon stop` refused: tasks are running and interrupting them was not confirmed (no
/// `--yes`, and no terminal to ask, or the answer was no). Nothing was stopped.
pub const REFUSED: i32 = 10;

/// The exit code for a command that failed with `e`.
pub fn for_error(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Timeout { .. }) => NO_ANSWER,
        _ => ERROR,
    }
}

/// What to do about a daemon that does not answer: resume it when it is stopped, else check
/// on it.
pub fn unresponsive_hint(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "check it with `legate daemon status`, or stop it with `legate daemon stop --force`"
            .into();
    };
    let stopped = legate_runner::procfs::stat(pid as i32).is_some_and(|s| s.state == 'T');
    if stopped {
        format!(
            "pid {pid} is stopped (state T): resume it with `kill -CONT {pid}`, or end it with `legate daemon stop --force`"
        )
    } else {
        format!(
            "pid {pid} is running but busy: try again, raise LEGATE_CLIENT_TIMEOUT, or restart it with `legate daemon stop --force`"
        )
    }
}

/// The exit code for a task's status.
pub fn for_status(s: Status) -> i32 {
    match s {
        Status::Succeeded => OK,
        Status::Failed => FAILED,
        Status::Canceled => CANCELED,
        Status::TimedOut => TIMED_OUT,
        Status::Interrupted => INTERRUPTED,
        Status::Queued | Status::Running => WAIT_TIMEOUT,
    }
}

/// Prints an error for people: the message, then the hint if the daemon gave one.
pub fn report(e: &anyhow::Error) {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Api(api)) => {
            errln!("error: {}", api.message);
            if let Some(h) = &api.hint {
                errln!("hint: {h}");
            }
        }
        Some(ClientError::Timeout { pid, .. }) => {
            errln!("error: {e}");
            for cause in e.chain().skip(1) {
                errln!("  {cause}");
            }
            errln!("hint: {}", unresponsive_hint(*pid));
        }
        _ => {
            errln!("error: {e}");
            for cause in e.chain().skip(1) {
                errln!("  caused by: {cause}");
            }
        }
    }
}
