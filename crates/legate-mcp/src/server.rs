//! The MCP server: a thin adapter from MCP requests to the legate daemon's API.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use legate_api::{Client, ClientError};
use legate_domain::Task;
use legate_domain::api::InboxQuery;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    GetTaskParams, GetTaskResult, Implementation, ListResourceTemplatesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde::Serialize;

use crate::origin::Origin;
use crate::shapes::{AgentInfo, Answer, Finished, Reply, Shows};
use crate::view;

/// Told to every host at initialization: how the tools fit together.
const INSTRUCTIONS: &str = "legate runs tasks on sub-agents in the background. Call list_agents, \
then delegate a task with everything the agent needs in the prompt; you get a task_id at once \
and can keep working. Results come back by themselves: every legate tool response lists \
`finished_since_last_call` (hooks or the inbox may bring them too), so waiting is unnecessary. \
Only when you have nothing else to do, block with task_wait (several tasks), task_result with \
wait_secs (one) or delegate with wait=true; a wait=true delegate repeated after a timeout \
returns the same task. task_cancel stops a task; task_list shows what you delegated.";

/// A failed tool call, as text the model can act on.
pub(crate) struct ToolError(pub String);

impl From<ClientError> for ToolError {
    fn from(e: ClientError) -> Self {
        ToolError(match e {
            ClientError::Api(a) => match a.hint.filter(|h| !h.is_empty()) {
                Some(hint) => format!("{}\nWhat to do: {hint}", a.message),
                None => a.message,
            },
            ClientError::Connect { .. } => format!(
                "{e}\nWhat to do: the legate daemon is not running: start it with `legate daemon --detach`, then call again"
            ),
            ClientError::Untrusted(_) => {
                format!("{e}\nWhat to do: tell the user; legate will not talk to that socket")
            }
            ClientError::Protocol(m) => {
                format!("talking to the legate daemon failed: {m}; call again")
            }
            ClientError::Dropped(_) => format!("{e}\nWhat to do: call again"),
            ClientError::Timeout { .. } => format!(
                "{e}\nWhat to do: wait and call again; if it persists, the user should check the daemon (`legate daemon status`)"
            ),
        })
    }
}

/// The agents offered to models as last read, and when.
pub(crate) type AgentCache = Arc<Mutex<Option<(Instant, Vec<AgentInfo>)>>>;

/// The legate MCP server for one session (stdio) or one HTTP session.
#[derive(Clone)]
pub struct LegateMcp {
    pub(crate) client: Client,
    pub(crate) origin: Origin,
    pub(crate) result_chars: usize,
    /// The agents offered to models, as last read, and when (saves a daemon call per
    /// delegation; refreshed when stale or when an agent is not in it).
    pub(crate) agents: AgentCache,
    /// Whether `delegate` may answer with an MCP task (to a client that negotiated them).
    tasks: bool,
    tool_router: ToolRouter<Self>,
}

impl LegateMcp {
    /// A server talking to the daemon through `client`, recording `origin` on what it
    /// delegates, capping result texts at `result_chars`.
    pub fn new(client: Client, origin: Origin, result_chars: usize) -> Self {
        LegateMcp {
            client,
            origin,
            result_chars,
            agents: Arc::default(),
            tasks: true,
            tool_router: crate::schema::standard_formats(Self::tool_router()),
        }
    }

    /// The same server without the MCP tasks extension: `delegate` answers with the task at
    /// once, and results reach the client only through legate's inbox (hooks, a monitor,
    /// `finished_since_last_call`), each once. A client following an MCP task shows its
    /// result when it completes whether or not the inbox already delivered it.
    pub fn without_tasks(mut self) -> Self {
        self.tasks = false;
        self
    }

    /// Tasks of `origin` that finished since its last call, after the orphans of its scope
    /// (results earlier sessions left unread, oldest first); reading them acknowledges them,
    /// so each is reported once. A failure here must not fail the call: the news waits.
    pub(crate) async fn news(&self, origin: &str) -> Vec<Finished> {
        let q = InboxQuery {
            origin: origin.to_string(),
            ack: true,
            limit: Some(50),
            scope: self.origin.scope_of(origin),
            orphans: false,
        };
        match self.client.inbox(&q).await {
            Ok(inbox) => inbox
                .orphans
                .iter()
                .chain(&inbox.tasks)
                .map(view::finished)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Wraps a tool's outcome with the session's news.
    pub(crate) async fn answer<T: Serialize + Shows>(
        &self,
        origin: &str,
        outcome: Result<T, ToolError>,
    ) -> Result<Answer<Reply<T>>, CallToolResult> {
        let news = self.news(origin).await;
        self.answer_with(news, outcome)
    }

    /// Wraps a tool's outcome with news already read, leaving out of the news what the answer
    /// itself shows.
    pub(crate) fn answer_with<T: Serialize + Shows>(
        &self,
        mut news: Vec<Finished>,
        outcome: Result<T, ToolError>,
    ) -> Result<Answer<Reply<T>>, CallToolResult> {
        match outcome {
            Ok(body) => {
                let shown = body.shown();
                news.retain(|f| !shown.contains(&f.task_id.as_str()));
                Ok(Answer(Reply {
                    body,
                    finished_since_last_call: news,
                }))
            }
            Err(ToolError(message)) => {
                let mut text = message;
                if !news.is_empty() {
                    text.push_str("\n\nfinished_since_last_call: ");
                    text.push_str(&serde_json::to_string(&news).unwrap_or_default());
                }
                Err(CallToolResult::error(vec![ContentBlock::text(text)]))
            }
        }
    }

    /// One task by id or prefix.
    pub(crate) async fn task(&self, id: &str) -> Result<Task, ToolError> {
        let id = id.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ToolError(format!(
                "'{id}' is not a task id; pass the task_id that delegate returned"
            )));
        }
        Ok(self.client.task(id, false).await?)
    }

    /// Marks a finished task's result read in `origin`'s inbox once a tool has shown it (only
    /// a task of that origin). A failure is ignored: the result then comes again as news.
    pub(crate) async fn shown(&self, origin: &str, task: &Task) {
        let _ = self.client.mark_shown(origin, task).await;
    }
}

impl ServerHandler for LegateMcp {
    fn get_info(&self) -> ServerConfig {
        let capabilities = if self.tasks {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_tasks()
                .build()
        } else {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build()
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("legate", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tasks_ok = self.tasks
            && context
                .client_capabilities()
                .is_some_and(|caps| caps.supports_tasks());
        // `wait: true` asks for the answer in this call; otherwise the client gets a task.
        let waits = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("wait"))
            .and_then(|w| w.as_bool())
            .unwrap_or(false);
        if tasks_ok && request.name == "delegate" && !waits {
            return self.delegate_as_task(request, context).await;
        }
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tool_router.list_all()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.task_state(&request.task_id).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.cancel_for_task(&request.task_id).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(crate::resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.read(&request.uri).await.map(Into::into)
    }
}
