//! Bounded waits, with progress notifications for clients that asked for them.

use std::time::Duration;

use legate_domain::api::{WaitMode, WaitRequest, WaitResponse};
use rmcp::model::ProgressNotificationParam;
use rmcp::service::{RequestContext, RoleServer};
use tokio::time::Instant;

use crate::server::{LegateMcp, ToolError};

/// How often a waiting call reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl LegateMcp {
    /// Waits up to `secs` for the tasks; results returned finished count as read by `origin`.
    /// With a progress token it waits in slices and reports how many have finished; a request
    /// the client cancels stops waiting.
    pub(crate) async fn wait_for(
        &self,
        origin: &str,
        ids: &[String],
        mode: WaitMode,
        secs: u64,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<WaitResponse, ToolError> {
        let token = ctx.meta.get_progress_token();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = if token.is_some() {
                left.min(PROGRESS_EVERY)
            } else {
                left
            };
            let req = WaitRequest {
                ids: ids.to_vec(),
                mode,
                timeout_ms: Some(slice.as_millis() as u64),
                ack_origin: Some(origin.to_string()),
            };
            let res: WaitResponse = tokio::select! {
                r = self.client.wait(&req, slice) => r?,
                _ = ctx.ct.cancelled() => return Err(ToolError("the call was cancelled".into())),
            };
            if !res.timed_out || Instant::now() >= deadline {
                return Ok(res);
            }
            if let Some(token) = &token {
                let done = res.tasks.iter().filter(|t| t.status.is_terminal()).count();
                let running: Vec<String> = res
                    .tasks
                    .iter()
                    .filter(|t| !t.status.is_terminal())
                    .take(3)
                    .map(|t| format!("{} ({}, {})", t.id, t.title, t.status))
                    .collect();
                let message = format!(
                    "{done} of {} finished; waiting for {}",
                    res.tasks.len(),
                    running.join(", ")
                );
                let param = ProgressNotificationParam::new(token.clone(), done as f64)
                    .with_total(res.tasks.len() as f64)
                    .with_message(message);
                let _ = ctx.peer.notify_progress(param).await;
            }
        }
    }
}
