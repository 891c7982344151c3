//! The API's routes, written once: the server's router matches these patterns and the client
//! builds its request paths from them (a task's id in place of `{id}`, the query string from
//! the request's typed shape), so the two cannot disagree on a route's text.

use legate_domain::api::parse_task_ref;
use serde::{Deserialize, Serialize};

use crate::error::ClientError;

/// `POST`: submit a task; `GET`: list tasks.
pub(crate) const TASKS: &str = "/v1/tasks";
/// `POST`: cancel tasks.
pub(crate) const CANCEL: &str = "/v1/tasks/cancel";
/// `GET`: one task.
pub(crate) const TASK: &str = "/v1/tasks/{id}";
/// `GET`: a task's log, streamed.
pub(crate) const LOG: &str = "/v1/tasks/{id}/log";
/// `GET`: why a queued task waits.
pub(crate) const QUEUE: &str = "/v1/tasks/{id}/queue";
/// `POST`: a follow-up to a finished task.
pub(crate) const SEND: &str = "/v1/tasks/{id}/send";
/// `GET`: what a task's worktree changed.
pub(crate) const DIFF: &str = "/v1/tasks/{id}/diff";
/// `POST`: merge a task's worktree into its checkout.
pub(crate) const MERGE: &str = "/v1/tasks/{id}/merge";
/// `POST`: throw a task's worktree away.
pub(crate) const DISCARD: &str = "/v1/tasks/{id}/discard";
/// `POST`: wait for tasks to finish.
pub(crate) const WAIT: &str = "/v1/wait";
/// `GET`: the configured agents.
pub(crate) const AGENTS: &str = "/v1/agents";
/// `POST`: remove finished tasks.
pub(crate) const PRUNE: &str = "/v1/prune";
/// `GET`: the event log, as a page or a live stream.
pub(crate) const EVENTS: &str = "/v1/events";
/// `GET`: an origin's unread results.
pub(crate) const INBOX: &str = "/v1/inbox";
/// `POST`: acknowledge inbox entries.
pub(crate) const ACK: &str = "/v1/inbox/ack";
/// `POST`: may an orchestrator stop now?
pub(crate) const STOP_GATE: &str = "/v1/stop-gate";
/// `GET`: the daemon's status.
pub(crate) const DAEMON: &str = "/v1/daemon";
/// `POST`: stop the daemon.
pub(crate) const STOP: &str = "/v1/daemon/stop";
/// `POST`: drain the daemon.
pub(crate) const DRAIN: &str = "/v1/daemon/drain";

/// The query string of [`TASK`] (the log's is [`crate::LogRead`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskQuery {
    /// The task's prompt too (left out otherwise, as it may be large).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) prompt: bool,
}

/// Where a route names its task.
const ID: &str = "{id}";

/// The path of `route` for task `id` (an id or unique prefix). The id is checked first
/// ([`parse_task_ref`]), so the path holds nothing but id characters.
///
/// Errors: [`ClientError::Api`] (`invalid_request`) for a malformed id.
pub(crate) fn for_task(route: &str, id: &str) -> Result<String, ClientError> {
    parse_task_ref(id).map_err(ClientError::Api)?;
    Ok(route.replace(ID, id.trim()))
}

/// `path` with `q` as its query string (none when `q` sets no field).
///
/// Errors: [`ClientError::Protocol`] when `q` cannot be encoded.
pub(crate) fn with_query(path: &str, q: &impl Serialize) -> Result<String, ClientError> {
    let query = serde_urlencoded::to_string(q)
        .map_err(|e| ClientError::Protocol(format!("cannot encode the query: {e}")))?;
    Ok(if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    })
}

#[cfg(test)]
mod tests {
    use legate_domain::api::{ErrorCode, EventsQuery, ListQuery};

    use super::*;

    #[test]
    fn a_task_route_holds_the_checked_id() {
        assert_eq!(for_task(TASK, " Ab12 ").unwrap(), "/v1/tasks/Ab12");
        assert_eq!(for_task(SEND, "ab12").unwrap(), "/v1/tasks/ab12/send");
        for bad in ["", "../etc", "ab/send", "ab?prompt=true", "a b"] {
            match for_task(TASK, bad) {
                Err(ClientError::Api(e)) => assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn the_client_writes_the_query_strings_the_server_reads() {
        let task = for_task(TASK, "ab12").unwrap();
        assert_eq!(with_query(&task, &TaskQuery::default()).unwrap(), task);
        let with_prompt = with_query(&task, &TaskQuery { prompt: true }).unwrap();
        assert_eq!(with_prompt, "/v1/tasks/ab12?prompt=true");
        let read: TaskQuery = serde_urlencoded::from_str("prompt=true").unwrap();
        assert!(read.prompt);

        let log = crate::LogRead {
            follow: true,
            stdout: false,
            from: 42,
            attempt: Some(2),
        };
        let path = with_query(&for_task(LOG, "ab12").unwrap(), &log).unwrap();
        let (route, query) = path.split_once('?').unwrap();
        assert_eq!(route, "/v1/tasks/ab12/log");
        assert_eq!(
            serde_urlencoded::from_str::<crate::LogRead>(query).unwrap(),
            log
        );
        assert_eq!(
            serde_urlencoded::from_str::<crate::LogRead>("").unwrap(),
            crate::LogRead::default()
        );
        assert!(serde_urlencoded::from_str::<crate::LogRead>("tail=5").is_err());
    }

    #[test]
    fn a_query_string_follows_the_path_only_when_it_says_something() {
        assert_eq!(
            with_query(TASKS, &ListQuery::default()).unwrap(),
            "/v1/tasks"
        );
        let q = ListQuery {
            status: vec![
                legate_domain::Status::Queued,
                legate_domain::Status::Running,
            ],
            limit: Some(5),
            ..ListQuery::default()
        };
        assert_eq!(
            with_query(TASKS, &q).unwrap(),
            "/v1/tasks?status=queued%2Crunning&limit=5"
        );
        let e = EventsQuery {
            after: 7,
            kind: Some("finished".into()),
            ..EventsQuery::default()
        };
        assert_eq!(
            with_query(EVENTS, &e).unwrap(),
            "/v1/events?after=7&kind=finished"
        );
    }
}
