//! The task status machine: every transition legate makes is checked here, in one place.

use std::fmt;

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

/// Where a task is in its life.
///
/// `queued → running → succeeded | failed | canceled | timed_out`, `queued → canceled`, and
/// `running → interrupted` when the runner was lost (daemon crash, lapsed lease), after which
/// the task is requeued (`interrupted → queued`) or stays interrupted, by the agent's policy.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
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
    parse_err_fn = unknown_status
)]
pub enum Status {
    /// Accepted and durable, waiting for a slot.
    Queued,
    /// Claimed by a runner; its process may be alive.
    Running,
    /// The agent finished and reported success.
    Succeeded,
    /// The agent failed (see the task's error kind).
    Failed,
    /// Someone canceled it.
    Canceled,
    /// It ran past its timeout and was ended.
    TimedOut,
    /// Its runner was lost and it was not requeued.
    Interrupted,
}

/// An illegal transition: a bug or a race lost against another writer; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task cannot go from {from} to {to}")]
pub struct TransitionError {
    /// The status the task had.
    pub from: Status,
    /// The status that was asked for.
    pub to: Status,
}

impl Status {
    /// Every status, in lifecycle order (for help texts and exhaustive tests).
    pub const ALL: &'static [Status] = <Status as VariantArray>::VARIANTS;

    /// Terminal statuses are final unless the task is requeued; `wait` returns on them.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }

    /// Whether `self → to` is a legal move.
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Queued, Running)
                | (Queued, Canceled)
                | (
                    Running,
                    Succeeded | Failed | Canceled | TimedOut | Interrupted
                )
                | (Interrupted, Queued)
        )
    }

    /// The checked transition.
    pub fn become_(self, to: Status) -> Result<Status, TransitionError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// The name used in JSON, the CLI and the store (`queued`, `timed_out`, …); parsed back
    /// by `FromStr`, whose error names every status.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of `Status::from_str`: the name given and every valid one.
fn unknown_status(s: &str) -> String {
    format!(
        "unknown status '{s}'; use one of: {}",
        crate::names::joined::<Status>(", ")
    )
}

impl Status {
    /// Statuses written comma-separated (`queued,running`; blanks around names and empty
    /// parts ignored). Errors: a name that is not a status, saying which are.
    pub fn parse_list(text: &str) -> Result<Vec<Status>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect()
    }

    /// `statuses` written comma-separated, as [`Status::parse_list`] reads them.
    pub fn join_list(statuses: &[Status]) -> String {
        let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        names.join(",")
    }
}

/// Serde for a list of statuses as one comma-separated string (a query string's
/// `status=queued,running`); use with `#[serde(with = "crate::status::comma_list")]`.
pub mod comma_list {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Status;

    /// Writes the list as `a,b`.
    pub fn serialize<S: Serializer>(statuses: &[Status], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Status::join_list(statuses))
    }

    /// Reads `a,b` (an empty string is no status).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Status>, D::Error> {
        let text = String::deserialize(d)?;
        Status::parse_list(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn legal_transitions_are_exactly_these() {
        let legal = [
            (Queued, Running),
            (Queued, Canceled),
            (Running, Succeeded),
            (Running, Failed),
            (Running, Canceled),
            (Running, TimedOut),
            (Running, Interrupted),
            (Interrupted, Queued),
        ];
        for &from in Status::ALL {
            for &to in Status::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(from.become_(to).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn finished_tasks_never_move_except_requeue_of_interrupted() {
        for from in [Succeeded, Failed, Canceled, TimedOut] {
            for &to in Status::ALL {
                assert_eq!(
                    from.become_(to),
                    Err(TransitionError { from, to }),
                    "{from} must be final"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        crate::names::assert_round_trips::<Status>();
        assert_eq!(Status::ALL.len(), 7);
        for &st in Status::ALL {
            assert_eq!(st.to_string(), st.as_str());
        }
        assert_eq!(
            "done".parse::<Status>().unwrap_err(),
            "unknown status 'done'; use one of: queued, running, succeeded, failed, canceled, \
             timed_out, interrupted"
        );
    }

    #[test]
    fn terminal_statuses() {
        assert!(!Queued.is_terminal());
        assert!(!Running.is_terminal());
        for st in [Succeeded, Failed, Canceled, TimedOut, Interrupted] {
            assert!(st.is_terminal());
        }
    }
}
