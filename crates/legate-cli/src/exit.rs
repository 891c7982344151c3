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
            eprintln!("error: {}", api.message);
            if let Some(h) = &api.hint {
                eprintln!("hint: {h}");
            }
        }
        _ => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
        }
    }
}
