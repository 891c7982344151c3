//! Where a submission says it comes from: inside an agent, legate sets `LEGATE_TASK_ID` (the
//! task the agent runs) and `LEGATE_DEPTH` (its depth), and a `legate run` or MCP `delegate`
//! from there passes them on. They are a hint the daemon checks against what it knows — the
//! recorded parent's depth and the submitting process's ancestry — and can only raise the
//! depth, never lower it. Every frontend reads them with [`Delegation::parse`], so a value one
//! refuses, all refuse.

use crate::TaskId;
use crate::id::IdPrefix;

/// The variable naming the task an agent runs.
pub const TASK_ID_VAR: &str = "LEGATE_TASK_ID";
/// The variable holding the depth of the task an agent runs (1 for a person's task).
pub const DEPTH_VAR: &str = "LEGATE_DEPTH";

/// The delegating task and its depth, as the submitter's environment claims them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delegation {
    /// The delegating task (`LEGATE_TASK_ID`), if any.
    pub parent: Option<TaskId>,
    /// The submitter's own depth (`LEGATE_DEPTH`; 0 outside any agent).
    pub depth: u32,
}

/// Why the delegation variables cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    /// `LEGATE_DEPTH` is not a whole number from 0.
    #[error(
        "LEGATE_DEPTH is '{0}', not a delegation depth (a whole number from 0); legate sets it inside agents: unset it or fix it"
    )]
    Depth(String),
    /// `LEGATE_TASK_ID` is not a whole task id.
    #[error(
        "LEGATE_TASK_ID is '{value}', not a task id ({reason}); legate sets it inside agents: unset it or fix it"
    )]
    TaskId {
        /// The value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Delegation {
    /// [`Delegation::parse`] of this process's `LEGATE_TASK_ID` and `LEGATE_DEPTH` (values that
    /// are not UTF-8 are refused like any other invalid value).
    pub fn from_env() -> Result<Delegation, DelegationError> {
        let var = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        Delegation::parse(var(TASK_ID_VAR).as_deref(), var(DEPTH_VAR).as_deref())
    }

    /// Reads the two variables' values (`None` or empty: unset). Refuses a depth that is not a
    /// whole number from 0 (`-1`, `abc`, `1.5`) and a task id that is not a whole id.
    pub fn parse(
        task_id: Option<&str>,
        depth: Option<&str>,
    ) -> Result<Delegation, DelegationError> {
        let depth = match depth.map(str::trim).filter(|d| !d.is_empty()) {
            None => 0,
            Some(d) if d.bytes().all(|b| b.is_ascii_digit()) => d
                .parse::<u32>()
                .map_err(|_| DelegationError::Depth(d.to_string()))?,
            Some(d) => return Err(DelegationError::Depth(d.to_string())),
        };
        let parent = match task_id.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => {
                let bad = |reason: String| DelegationError::TaskId {
                    value: t.to_string(),
                    reason,
                };
                let prefix = IdPrefix::parse(t).map_err(|e| bad(e.to_string()))?;
                if !prefix.is_complete() {
                    return Err(bad(format!("ids have {} characters", crate::id::ID_LEN)));
                }
                Some(TaskId::parse(t).map_err(|e| bad(e.to_string()))?)
            }
        };
        Ok(Delegation { parent, depth })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_empty_mean_outside_any_agent() {
        assert_eq!(Delegation::parse(None, None), Ok(Delegation::default()));
        assert_eq!(
            Delegation::parse(Some(""), Some(" ")),
            Ok(Delegation::default())
        );
    }

    #[test]
    fn valid_values_are_read() {
        let id = TaskId::generate();
        let d = Delegation::parse(Some(id.as_str()), Some("2")).unwrap();
        assert_eq!(d.parent, Some(id));
        assert_eq!(d.depth, 2);
    }

    #[test]
    fn invalid_values_are_refused() {
        for bad in ["-1", "abc", "1.5", "+1", "99999999999"] {
            let e = Delegation::parse(None, Some(bad)).unwrap_err();
            assert!(e.to_string().contains("LEGATE_DEPTH"), "{e}");
        }
        for bad in ["abc", "../x", "0123", "0123456789"] {
            let e = Delegation::parse(Some(bad), None).unwrap_err();
            assert!(e.to_string().contains("LEGATE_TASK_ID"), "{bad}: {e}");
        }
    }
}
