//! The MCP tasks extension (`io.modelcontextprotocol/tasks`) for `delegate`: the MCP task *is*
//! the legate task — same id, state read from the daemon on every `tasks/get` — so it is
//! durable and shared by every process and stateless HTTP request, with nothing kept in memory.

use legate_domain::api::CancelRequest;
use legate_domain::{Status, Task};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CreateTaskResult,
    DetailedTask, GetTaskResult, IntoContents, Task as McpTask, TaskPayload, TaskStatus,
};
use rmcp::service::{RequestContext, RoleServer};

use crate::server::{LegateMcp, ToolError};
use crate::shapes::{Answer, DelegateArgs};
use crate::view::task_view;

/// How often clients are asked to poll.
const POLL_MS: u64 = 1000;

fn invalid(e: ToolError) -> ErrorData {
    ErrorData::invalid_params(e.0, None)
}

fn base(t: &Task) -> McpTask {
    let updated = t.finished_at.or(t.started_at).unwrap_or(t.created_at);
    McpTask::new(
        t.id.to_string(),
        TaskStatus::Working,
        t.created_at.to_string(),
        updated.to_string(),
    )
    .with_poll_interval_ms(POLL_MS)
    .with_status_message(format!("{} ({})", t.status, t.title))
}

impl LegateMcp {
    /// `delegate` for a client that negotiated tasks: submit, then hand back the task at once.
    pub(crate) async fn delegate_as_task(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args: DelegateArgs = serde_json::from_value(serde_json::Value::Object(
            request.arguments.unwrap_or_default(),
        ))
        .map_err(|e| ErrorData::invalid_params(format!("delegate: {e}"), None))?;
        let origin = self.origin.resolve(&context);
        // The task handle replaces waiting: the client polls tasks/get instead.
        let args = DelegateArgs {
            wait: false,
            ..args
        };
        let submitted = match self.submit(&origin, args, None).await {
            Ok(s) => s,
            // A bad delegation is the model's to read, like any tool error.
            Err(ToolError(m)) => {
                return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(m),
                ])));
            }
        };
        Ok(CallToolResponse::Task(CreateTaskResult::new(base(
            &submitted.task,
        ))))
    }

    /// `tasks/get`: the legate task's state as an MCP task.
    pub(crate) async fn task_state(&self, id: &str) -> Result<GetTaskResult, ErrorData> {
        let t = self.task(id).await.map_err(invalid)?;
        let payload = match t.status {
            Status::Queued | Status::Running => TaskPayload::Working,
            Status::Canceled => TaskPayload::Cancelled,
            Status::Succeeded | Status::Failed | Status::TimedOut | Status::Interrupted => {
                let view = task_view(&t, self.result_chars);
                // The task, once, as the tools answer (see `Answer`).
                let mut result = CallToolResult::success(Answer(view).into_contents());
                result.is_error = Some(t.status != Status::Succeeded);
                let object = match serde_json::to_value(&result) {
                    Ok(serde_json::Value::Object(o)) => o,
                    _ => Default::default(),
                };
                TaskPayload::Completed { result: object }
            }
        };
        Ok(GetTaskResult::new(DetailedTask::new(base(&t), payload)))
    }

    /// `tasks/cancel`: cancel the legate task; a finished one needs nothing.
    pub(crate) async fn cancel_for_task(&self, id: &str) -> Result<(), ErrorData> {
        let t = self.task(id).await.map_err(invalid)?;
        if t.status.is_terminal() {
            return Ok(());
        }
        let req = CancelRequest {
            ids: vec![t.id.to_string()],
            ..Default::default()
        };
        let res = self.client.cancel(&req).await;
        res.map(|_| ()).map_err(|e| invalid(e.into()))
    }
}
