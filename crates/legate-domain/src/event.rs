//! Events: the append-only log of everything that happened to tasks.

use serde::{Deserialize, Serialize};

use crate::{TaskId, Timestamp};

/// One entry of the event log. `seq` is global and increasing: a follower that remembers the
/// last `seq` it saw can resume from there and miss nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Global sequence number, assigned by the store at commit.
    pub seq: i64,
    /// The task it is about.
    pub task_id: TaskId,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: Timestamp,
    /// Details (status, error, attempt, pid...), a JSON object.
    pub data: serde_json::Value,
}

/// What an event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The task was accepted.
    Queued,
    /// A runner claimed it and its attempt began.
    Started,
    /// Someone asked to cancel it while it ran.
    CancelRequested,
    /// It reached a terminal status (data has `status`, and `error` when it did not succeed).
    Finished,
    /// Its runner was lost.
    Interrupted,
    /// It went back to the queue for another attempt.
    Requeued,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 6] = [
        EventKind::Queued,
        EventKind::Started,
        EventKind::CancelRequested,
        EventKind::Finished,
        EventKind::Interrupted,
        EventKind::Requeued,
    ];

    /// The name used in JSON and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Started => "started",
            EventKind::CancelRequested => "cancel_requested",
            EventKind::Finished => "finished",
            EventKind::Interrupted => "interrupted",
            EventKind::Requeued => "requeued",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
