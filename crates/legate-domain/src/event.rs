//! Events: the append-only log of everything that happened to tasks.

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

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
    /// Who delegated the task, so followers and inboxes can route without a lookup.
    #[serde(default)]
    pub origin: String,
    /// The task's labels, for the same reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Details (status, error, attempt, pid...), a JSON object.
    pub data: serde_json::Value,
}

/// What an event says happened.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
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
    parse_err_fn = unknown_kind
)]
pub enum EventKind {
    /// The task was accepted.
    Queued,
    /// A runner claimed it and its attempt began.
    Started,
    /// Someone asked to cancel it while it ran.
    CancelRequested,
    /// The agent reported a step: data has `kind` (`text`, `tool`, `thinking`), `text`, and
    /// for tools `tool`.
    Progress,
    /// A running task's latest output line, at most about once a second: data has `line`.
    Output,
    /// It reached a terminal status (data has `status`, and `error` when it did not succeed).
    Finished,
    /// Its runner was lost.
    Interrupted,
    /// It went back to the queue for another attempt.
    Requeued,
    /// It printed and reported nothing for its agent's `stall_timeout` (data has `idle_ms`
    /// and `action`: `report` or `cancel`).
    Stalled,
    /// The agent asked for a permission and legate answered by the agent's policy (data has
    /// `tool`, `tool_kind`, `decision`): denials are never silent.
    Permission,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [EventKind] = <EventKind as VariantArray>::VARIANTS;

    /// The name used in JSON, the store and change notices (`queued`, `cancel_requested`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses a stored name; `None` for a name no kind has (`FromStr` says which are).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// The error of `EventKind::from_str`: the name given and every valid one.
fn unknown_kind(s: &str) -> String {
    format!(
        "unknown event kind '{s}'; use one of {}",
        crate::names::joined::<EventKind>(", ")
    )
}

/// Which events a follower wants. Every field narrows; an empty filter takes everything.
/// The store applies it to history and the engine to live events, with the same meaning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this task.
    pub task: Option<TaskId>,
    /// Only tasks from this origin.
    pub origin: Option<String>,
    /// Only tasks carrying this label.
    pub label: Option<String>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<EventKind>,
}

impl EventFilter {
    /// Whether a live event passes.
    pub fn matches(&self, e: &Event) -> bool {
        self.task.as_ref().is_none_or(|t| *t == e.task_id)
            && self.origin.as_ref().is_none_or(|o| *o == e.origin)
            && self.label.as_ref().is_none_or(|l| e.labels.contains(l))
            && (self.kinds.is_empty() || self.kinds.contains(&e.kind))
    }

    /// Parses a comma-separated list of kinds, naming the valid ones on error.
    pub fn parse_kinds(list: &str) -> Result<Vec<EventKind>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::parse)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, origin: &str, labels: &[&str]) -> Event {
        Event {
            seq: 1,
            task_id: TaskId::parse("ABCDEFGH").unwrap(),
            kind,
            at: Timestamp(0),
            origin: origin.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn filter_narrows_by_every_field() {
        let e = event(EventKind::Finished, "cli:ann", &["ci"]);
        assert!(EventFilter::default().matches(&e));
        let f = |f: EventFilter| f.matches(&e);
        assert!(f(EventFilter {
            origin: Some("cli:ann".into()),
            ..Default::default()
        }));
        assert!(!f(EventFilter {
            origin: Some("cli:bob".into()),
            ..Default::default()
        }));
        assert!(f(EventFilter {
            label: Some("ci".into()),
            ..Default::default()
        }));
        assert!(!f(EventFilter {
            label: Some("nightly".into()),
            ..Default::default()
        }));
        assert!(f(EventFilter {
            kinds: vec![EventKind::Started, EventKind::Finished],
            ..Default::default()
        }));
        assert!(!f(EventFilter {
            kinds: vec![EventKind::Started],
            ..Default::default()
        }));
        assert!(!f(EventFilter {
            task: Some(TaskId::parse("ABCDEFGJ").unwrap()),
            ..Default::default()
        }));
    }

    #[test]
    fn kinds_parse_from_a_list() {
        assert_eq!(
            EventFilter::parse_kinds("finished, output").unwrap(),
            vec![EventKind::Finished, EventKind::Output]
        );
        let e = EventFilter::parse_kinds("finished,done").unwrap_err();
        assert!(e.contains("'done'") && e.contains("progress"), "{e}");
        assert!(
            e.starts_with("unknown event kind 'done'; use one of queued, started, "),
            "{e}"
        );
    }

    #[test]
    fn kinds_round_trip() {
        crate::names::assert_round_trips::<EventKind>();
        for &k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("nope"), None);
        // The names are stored and announced: they never change.
        assert_eq!(
            crate::names::joined::<EventKind>(","),
            "queued,started,cancel_requested,progress,output,finished,interrupted,requeued,\
             stalled,permission"
        );
    }
}
