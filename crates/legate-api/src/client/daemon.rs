//! The daemon's own routes: its status, stopping and draining it, pruning, and its agents.

use legate_domain::agent::AgentView;
use legate_domain::api::{AgentsQuery, DaemonStatus, PruneReport, PruneRequest};

use super::{Client, ClientError};
use crate::routes::{self, with_query};

impl Client {
    /// `GET /v1/daemon`: who serves (pid, version, socket, store), how busy (tasks by
    /// status), whether draining.
    ///
    /// Errors: those of every call ([module docs](super)).
    pub async fn daemon_status(&self) -> Result<DaemonStatus, ClientError> {
        self.get(routes::DAEMON).await
    }

    /// `POST /v1/daemon/stop`: asks the daemon to stop; `Ok` once it accepted (it is still
    /// stopping then: its process exits after its tasks were ended).
    ///
    /// Errors: those of every call ([module docs](super)); [`ClientError::Protocol`]
    /// (`unexpected answer 408`) when the daemon read the request after this client stopped
    /// waiting, and so did not stop.
    pub async fn stop_daemon(&self) -> Result<(), ClientError> {
        self.post_empty(routes::STOP).await
    }

    /// `POST /v1/daemon/drain`: the daemon accepts no new task and stops once the tasks it
    /// holds have finished; answers at once with its status.
    ///
    /// Errors: those of every call ([module docs](super)); `invalid_request` when the daemon
    /// read the request after this client stopped waiting (nothing changed).
    pub async fn drain(&self) -> Result<DaemonStatus, ClientError> {
        self.call::<(), _>(hyper::Method::POST, routes::DRAIN, None)
            .await
    }

    /// `POST /v1/prune`: removes finished tasks (with their events and logs) that finished
    /// longer than `req.older_than_ms` ago; returns what was removed and what was kept unread.
    ///
    /// Errors: those of every call ([module docs](super)).
    pub async fn prune(&self, req: &PruneRequest) -> Result<PruneReport, ClientError> {
        self.post(routes::PRUNE, req).await
    }

    /// `GET /v1/agents`: the configured agents as `q` asks for them (programs looked up on
    /// `q.path`, versions when asked).
    ///
    /// Errors: those of every call ([module docs](super)).
    pub async fn agents(&self, q: &AgentsQuery) -> Result<Vec<AgentView>, ClientError> {
        self.get(&with_query(routes::AGENTS, q)?).await
    }
}
