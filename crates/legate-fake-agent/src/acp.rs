//! `--acp`: a deterministic Agent Client Protocol agent on stdin/stdout.
//!
//! Each prompt is a script of steps separated by newlines or `;`:
//!
//! | step | effect |
//! |---|---|
//! | `print TEXT` | an agent message chunk `TEXT` |
//! | `tool KIND TITLE` | a tool call of ACP kind KIND (`read`, `edit`, `execute`, …) |
//! | `permission KIND TITLE` | asks the client for permission for a tool call, then says `permission TITLE: allowed` or `: denied` (`: withdrawn` when cancelled) |
//! | `sleep MS` | waits MS ms; a `session/cancel` ends the turn with `cancelled` |
//! | `recall` | says `earlier: ` and the session's earlier prompts joined by ` / ` |
//! | `flood N SIZE` | N agent message chunks of SIZE bytes each (`m<i> ` and filler), one at a time |
//! | `refuse` | ends the turn with stopReason `refusal` |
//! | `agent-error MESSAGE` | answers the prompt with a JSON-RPC error MESSAGE |
//! | `exit CODE` | the process exits at once with CODE |
//! | `eprint TEXT` | TEXT and `\n` on stderr |
//! | `signal NAME` | the process sends itself SIG`NAME`, as the exec mode's `signal` does |
//!
//! `session/load` replays the session's earlier prompts as user message chunks first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, ContentBlock, ContentChunk, Implementation,
    InitializeRequest, InitializeResponse, LoadSessionRequest, LoadSessionResponse,
    NewSessionRequest, NewSessionResponse, PermissionOption, PermissionOptionKind, PromptRequest,
    PromptResponse, RequestPermissionOutcome, RequestPermissionRequest, SessionId,
    SessionNotification, SessionUpdate, StopReason, ToolCall, ToolCallUpdate, ToolCallUpdateFields,
    ToolKind,
};
use agent_client_protocol::{Agent, Client, Error, Stdio};
use tokio::sync::watch;

use crate::sessions;

type Cx = agent_client_protocol::v1::ConnectionTo<Client>;
type Turns = Arc<Mutex<HashMap<SessionId, watch::Sender<bool>>>>;

/// Serves ACP until stdin closes.
pub fn serve() -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = match rt.block_on(agent()) {
        Ok(()) => 0,
        Err(e) => {
            crate::out::err(&format!("fake-agent: acp: {}", e.message));
            1
        }
    };
    crate::out::finish(code)
}

fn say(cx: &Cx, sid: &SessionId, update: SessionUpdate) -> agent_client_protocol::Result<()> {
    cx.send_notification(SessionNotification::new(sid.clone(), update))
}

fn text(t: &str) -> SessionUpdate {
    SessionUpdate::AgentMessageChunk(ContentChunk::new(ContentBlock::from(t.to_string())))
}

fn kind(word: &str) -> ToolKind {
    serde_json::from_value(serde_json::json!(word)).unwrap_or(ToolKind::Other)
}

async fn agent() -> agent_client_protocol::Result<()> {
    let turns: Turns = Arc::default();
    let for_cancel = turns.clone();
    Agent
        .v1()
        .name("legate-fake-agent")
        .on_receive_request(
            async move |init: InitializeRequest, responder, _cx| {
                responder.respond(
                    InitializeResponse::new(init.protocol_version)
                        .agent_capabilities(AgentCapabilities::new().load_session(true))
                        .agent_info(Implementation::new(
                            "legate-fake-agent",
                            env!("CARGO_PKG_VERSION"),
                        )),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |_req: NewSessionRequest, responder, _cx| {
                let id = format!("fake-acp-{}-{}", std::process::id(), crate::out::now_ms());
                responder.respond(NewSessionResponse::new(id))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: LoadSessionRequest, responder, cx: Cx| {
                let id = req.session_id.to_string();
                if !sessions::exists(&id) {
                    return responder.respond_with_error(
                        Error::invalid_params().data(serde_json::json!(format!("no session {id}"))),
                    );
                }
                for p in sessions::earlier(&id) {
                    let chunk = ContentChunk::new(ContentBlock::from(p));
                    say(&cx, &req.session_id, SessionUpdate::UserMessageChunk(chunk))?;
                    say(&cx, &req.session_id, text("(replayed answer)"))?;
                }
                responder.respond(LoadSessionResponse::new())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: PromptRequest, responder, cx: Cx| {
                let (tx, rx) = watch::channel(false);
                turns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(req.session_id.clone(), tx);
                // The turn runs outside the dispatch loop so that session/cancel and the
                // permission answer can arrive meanwhile.
                cx.spawn({
                    let cx = cx.clone();
                    async move {
                        match turn(&cx, &req, rx).await {
                            Ok(stop) => responder.respond(PromptResponse::new(stop)),
                            Err(e) => responder.respond_with_error(e),
                        }
                    }
                })
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |n: CancelNotification, _cx| {
                if let Some(tx) = for_cancel
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&n.session_id)
                {
                    let _ = tx.send(true);
                }
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .connect_to(Stdio::new())
        .await
}

async fn turn(
    cx: &Cx,
    req: &PromptRequest,
    mut cancel: watch::Receiver<bool>,
) -> agent_client_protocol::Result<StopReason> {
    let sid = &req.session_id;
    let prompt: String = req
        .prompt
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text(t) => Some(t.text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let earlier = sessions::earlier(&sid.to_string());
    sessions::remember(&sid.to_string(), &prompt);
    for (n, step) in prompt
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let (word, arg) = step.split_once(' ').unwrap_or((step, ""));
        match word {
            "print" => say(cx, sid, text(arg))?,
            "shout" => say(cx, sid, text(&arg.to_uppercase()))?,
            "tool" => {
                let (k, title) = arg.split_once(' ').unwrap_or((arg, ""));
                say(
                    cx,
                    sid,
                    SessionUpdate::ToolCall(
                        ToolCall::new(format!("call-{n}"), title).kind(kind(k)),
                    ),
                )?;
            }
            "permission" => {
                let (k, title) = arg.split_once(' ').unwrap_or((arg, ""));
                let call = ToolCallUpdate::new(
                    format!("call-{n}"),
                    ToolCallUpdateFields::new().title(title).kind(kind(k)),
                );
                let ask = RequestPermissionRequest::new(
                    sid.clone(),
                    call,
                    vec![
                        PermissionOption::new(
                            "allow",
                            "Allow once",
                            PermissionOptionKind::AllowOnce,
                        ),
                        PermissionOption::new("reject", "Reject", PermissionOptionKind::RejectOnce),
                    ],
                );
                let answer = tokio::select! {
                    a = cx.send_request(ask).block_task() => a?,
                    _ = async { cancel.wait_for(|c| *c).await.map(|_| ()) } => return Ok(StopReason::Cancelled),
                };
                let said = match &answer.outcome {
                    RequestPermissionOutcome::Selected(s) if &*s.option_id.0 == "allow" => {
                        "allowed"
                    }
                    RequestPermissionOutcome::Selected(_) => "denied",
                    _ => "withdrawn",
                };
                say(cx, sid, text(&format!("permission {title}: {said}\n")))?;
            }
            "sleep" => {
                let ms = arg.parse().unwrap_or(0);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    _ = async { cancel.wait_for(|c| *c).await.map(|_| ()) } => return Ok(StopReason::Cancelled),
                }
            }
            "recall" => say(cx, sid, text(&format!("earlier: {}", earlier.join(" / "))))?,
            "flood" => {
                let mut nums = arg
                    .split_whitespace()
                    .map(|n| n.parse::<u64>().unwrap_or(0));
                let (n, size) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
                let mut message = String::new();
                for i in 0..n {
                    crate::script::flood_message(i, size, &mut message);
                    say(cx, sid, text(&message))?;
                }
            }
            "refuse" => return Ok(StopReason::Refusal),
            "agent-error" => return Err(Error::internal_error().data(serde_json::json!(arg))),
            "exit" => crate::out::finish(arg.parse().unwrap_or(1)),
            "eprint" => crate::out::err(arg),
            "signal" => crate::script::signal(arg),
            other => say(
                cx,
                sid,
                text(&format!("fake-agent: unknown step '{other}'")),
            )?,
        }
    }
    Ok(StopReason::EndTurn)
}
