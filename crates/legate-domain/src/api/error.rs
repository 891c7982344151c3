//! API errors: a machine-readable code for scripts, a message and a hint for people.

use std::fmt;

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

/// Machine-readable API error codes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(
    serialize_all = "snake_case",
    parse_err_ty = String,
    parse_err_fn = unknown_code
)]
pub enum ErrorCode {
    /// The request is malformed or a value is invalid.
    InvalidRequest,
    /// No task has that id.
    NotFound,
    /// The prefix matches several tasks.
    AmbiguousId,
    /// No agent has that name.
    UnknownAgent,
    /// The agent's program cannot be found or run.
    AgentUnavailable,
    /// Delegation is nested deeper than `max_depth`.
    DepthExceeded,
    /// The prompt is too large (for the API, or for the agent's command line).
    PromptTooLarge,
    /// The prompt cannot be handed to the agent whatever its size (a NUL byte in a
    /// command-line argument).
    InvalidPrompt,
    /// The task already finished.
    AlreadyFinished,
    /// The task has not finished yet (a follow-up needs a finished predecessor).
    NotFinished,
    /// The task's agent session cannot be continued.
    NotResumable,
    /// The config file is invalid.
    ConfigInvalid,
    /// The store failed (disk full, read-only, locked).
    StoreUnavailable,
    /// The daemon is stopping: a wait it held is answered with this, so the client
    /// reconnects (to the next daemon) and goes on waiting.
    ShuttingDown,
    /// The daemon is draining (`legate daemon stop --drain`): it accepts no new task.
    Draining,
    /// A git worktree cannot be made, used or changed as asked: the directory is in no git
    /// repository (or a bare one), the base is unknown, or the task's worktree is gone.
    Worktree,
    /// `merge` needs the checkout's tracked files to be unchanged, and they are not.
    DirtyCheckout,
    /// The task's branch and the checkout's branch change the same lines: nothing was merged.
    MergeConflict,
    /// Anything else; a bug.
    Internal,
}

impl ErrorCode {
    /// The name used in JSON (`invalid_request`, `not_found`, …); parsed back by `FromStr`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The error of `ErrorCode::from_str`: the name given and every valid one.
fn unknown_code(s: &str) -> String {
    format!(
        "unknown error code '{s}'; use one of: {}",
        crate::names::joined::<ErrorCode>(", ")
    )
}

/// The body of every API error: what went wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// For scripts.
    pub code: ErrorCode,
    /// For people: what went wrong.
    pub message: String,
    /// For people: what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ApiError {
    /// An error with a hint.
    pub fn new(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        let hint: String = hint.into();
        ApiError {
            code,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        crate::names::assert_round_trips::<ErrorCode>();
        // Clients and scripts match on these names: they never change.
        assert_eq!(
            crate::names::joined::<ErrorCode>(","),
            "invalid_request,not_found,ambiguous_id,unknown_agent,agent_unavailable,\
             depth_exceeded,prompt_too_large,invalid_prompt,already_finished,not_finished,\
             not_resumable,config_invalid,store_unavailable,shutting_down,draining,worktree,\
             dirty_checkout,merge_conflict,internal"
        );
    }

    #[test]
    fn errors_serialise_as_code_message_hint() {
        let e = ApiError::new(ErrorCode::NotFound, "no task ABC", "list tasks");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "not_found", "message": "no task ABC", "hint": "list tasks"})
        );
        let bare = ApiError::new(ErrorCode::Internal, "boom", "");
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            serde_json::json!({"code": "internal", "message": "boom"})
        );
        assert_eq!(e.to_string(), "no task ABC\nhint: list tasks");
    }
}
