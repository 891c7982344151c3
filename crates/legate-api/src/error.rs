//! Why a call to the daemon failed.

use std::path::PathBuf;
use std::time::Duration;

use legate_domain::api::ApiError;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon is not reachable at the socket.
    #[error("cannot connect to the legate daemon at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The socket cannot be trusted: the directories on the way to it could be changed by
    /// another user, or another user's process listens there. Nothing was sent.
    #[error("{0}")]
    Untrusted(#[from] legate_engine::trust::TrustError),
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// The exchange itself failed (bad response).
    #[error("talking to the legate daemon failed: {0}")]
    Protocol(String),
    /// The connection closed before the daemon answered (it stopped or restarted).
    #[error("the legate daemon closed the connection before answering: {0}")]
    Dropped(String),
    /// The daemon did not accept the connection, or did not answer, in time.
    #[error(
        "the legate daemon at {} {}did not answer within {}: it may be stopped (SIGSTOP, Ctrl-Z) or overloaded",
        .socket.display(),
        .pid.map(|p| format!("(pid {p}) ")).unwrap_or_default(),
        seconds(*.after)
    )]
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// How long the client waited.
        after: Duration,
        /// The daemon's pid, when the connection told it.
        pid: Option<u32>,
    },
}

impl ClientError {
    /// Whether the daemon went away (stopped, restarted, crashed) rather than refusing the
    /// request: the client may reconnect — to the next daemon — and ask again. True for a
    /// failed connection, a connection closed before the answer (or in the middle of a
    /// stream), and the `shutting_down` answer of a stopping daemon.
    pub fn daemon_went_away(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Dropped(_) => true,
            ClientError::Api(e) => e.code == legate_domain::api::ErrorCode::ShuttingDown,
            _ => false,
        }
    }
}

/// A duration as people read it: `2s`, `1.5s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s:.1}s")
    }
}
