//! The conversation with an ACP agent: initialize, a new or loaded session, one prompt turn,
//! and `session/cancel` when legate stops the task.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CancelNotification, ClientCapabilities, FileSystemCapabilities, Implementation,
    InitializeRequest, LoadSessionRequest, NewSessionRequest, PromptRequest, ReadTextFileRequest,
    RequestPermissionRequest, RequestPermissionResponse, SessionId, SessionNotification,
    StopReason, WriteTextFileRequest,
};
use agent_client_protocol::{Agent, ByteStreams, Client};
use legate_domain::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use super::fs::FileAccess;
use super::quirks;
use super::state::Talk;
use crate::lines::{LineSplitter, Piece};

/// Room between the relay and the protocol reader.
const RELAY_BUFFER: usize = 64 << 10;

/// Passes the agent's stdout on to the protocol one whole line (message) at a time, skipping
/// (and noting) a line longer than `cap`: the protocol reader would hold any line whole. Ends
/// at the agent's EOF, or when the reader is gone (then the agent's stdout is closed too).
pub(crate) fn relay(
    mut stdout: ChildStdout,
    cap: usize,
    talk: Talk,
) -> (DuplexStream, JoinHandle<()>) {
    let (mut to_reader, reader) = tokio::io::duplex(RELAY_BUFFER);
    let task = tokio::spawn(async move {
        let mut lines = LineSplitter::new(cap);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut chunk = &buf[..n];
            while let Some(piece) = lines.next(&mut chunk) {
                let sent = match piece {
                    Piece::Line(line) => pass(&mut to_reader, line).await,
                    Piece::Skipped(bytes) => {
                        talk.skipped(bytes, cap);
                        Ok(())
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        }
        match lines.finish() {
            Some(Piece::Line(line)) => {
                let _ = pass(&mut to_reader, line).await;
            }
            Some(Piece::Skipped(bytes)) => talk.skipped(bytes, cap),
            None => {}
        }
    });
    (reader, task)
}

async fn pass(to: &mut DuplexStream, line: &[u8]) -> std::io::Result<()> {
    to.write_all(line).await?;
    to.write_all(b"\n").await
}

/// After `session/load` has answered, how long the agent must stay silent before the replay of
/// the history counts as over: some agents (Gemini CLI) answer first and replay afterwards.
const REPLAY_QUIET: Duration = Duration::from_millis(300);
/// The longest legate waits for that silence before it sends the prompt anyway.
const REPLAY_LIMIT: Duration = Duration::from_secs(10);

/// What the conversation is about.
pub(crate) struct Brief {
    pub prompt: String,
    /// Absolute working directory for the session.
    pub cwd: PathBuf,
    /// The session to continue, for a follow-up.
    pub resume: Option<String>,
    /// When that session was created, if the run that created it said.
    pub resume_created: Option<Timestamp>,
    /// Whether the agent may read and write files under `cwd` through legate.
    pub fs: bool,
}

/// How the turn ended, as far as the protocol tells.
pub(crate) enum Ended {
    /// The agent answered the prompt.
    Stopped(StopReason),
    /// The agent cannot continue the session asked for.
    CannotResume(String),
    /// The protocol failed: an error answer, or the agent went away.
    Failed(String),
}

/// Talks to the agent until the turn ends. `cancel` turning true sends `session/cancel`; the
/// agent is then expected to end the turn with `cancelled`.
pub(crate) async fn converse(
    stdin: ChildStdin,
    stdout: DuplexStream,
    brief: Brief,
    talk: Talk,
    cancel: watch::Receiver<bool>,
) -> Ended {
    let transport = ByteStreams::new(stdin.compat_write(), stdout.compat());
    let (on_update, on_permission) = (talk.clone(), talk.clone());
    let files = FileAccess::new(brief.cwd.clone(), brief.fs);
    let (reader, writer) = (files.clone(), files);
    let result = Client
        .v1()
        .name("legate")
        .on_receive_request(
            async move |req: ReadTextFileRequest, responder, _cx| match reader.read(&req) {
                Ok(r) => responder.respond(r),
                Err(e) => responder.respond_with_error(e),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: WriteTextFileRequest, responder, _cx| match writer.write(&req) {
                Ok(r) => responder.respond(r),
                Err(e) => responder.respond_with_error(e),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |n: SessionNotification, _cx| {
                on_update.update(&n.update);
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |req: RequestPermissionRequest, responder, _cx| {
                let outcome = on_permission.permission(&req);
                responder.respond(RequestPermissionResponse::new(outcome))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(transport, async move |cx: ConnectionTo<Agent>| {
            Ok(turn(&cx, brief, &talk, cancel).await)
        })
        .await;
    match result {
        Ok(ended) => ended,
        Err(e) => Ended::Failed(describe(&e)),
    }
}

async fn turn(
    cx: &ConnectionTo<Agent>,
    brief: Brief,
    talk: &Talk,
    mut cancel: watch::Receiver<bool>,
) -> Ended {
    let caps = ClientCapabilities::new()
        .fs(FileSystemCapabilities::new()
            .read_text_file(brief.fs)
            .write_text_file(brief.fs))
        .terminal(false);
    let init = InitializeRequest::new(ProtocolVersion::V1)
        .client_capabilities(caps)
        .client_info(Implementation::new("legate", env!("CARGO_PKG_VERSION")));
    let init = match cx.send_request(init).block_task().await {
        Ok(i) => i,
        Err(e) => return Ended::Failed(format!("initialize failed: {}", describe(&e))),
    };
    let session: SessionId = match brief.resume {
        Some(id) if init.agent_capabilities.load_session => {
            let agent = init.agent_info.as_ref().map(|i| i.name.as_str());
            if let Some(at) = quirks::load_not_before(agent, brief.resume_created)
                && let Ok(wait) = at.duration_since(SystemTime::now())
            {
                talk.log(
                    &format!(
                        "[waiting {} ms before session/load: this agent loses a session loaded within the minute it was created]\n",
                        wait.as_millis()
                    ),
                    false,
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.wait_for(|c| *c) => return Ended::Stopped(StopReason::Cancelled),
                }
            }
            talk.set_replaying(true);
            let load = LoadSessionRequest::new(SessionId::from(id.clone()), brief.cwd.clone());
            let loaded = cx.send_request(load).block_task().await;
            if let Err(e) = loaded {
                return Ended::CannotResume(format!(
                    "session/load of {id} failed: {}",
                    describe(&e)
                ));
            }
            talk.quiet(REPLAY_QUIET, REPLAY_LIMIT).await;
            talk.set_replaying(false);
            SessionId::from(id)
        }
        Some(_) => {
            return Ended::CannotResume(
                "the agent does not offer session/load, so its sessions cannot be continued".into(),
            );
        }
        None => match cx
            .send_request(NewSessionRequest::new(brief.cwd.clone()))
            .block_task()
            .await
        {
            Ok(s) => {
                talk.set_session_created(Timestamp(now_ms()));
                s.session_id
            }
            Err(e) => return Ended::Failed(format!("session/new failed: {}", describe(&e))),
        },
    };
    talk.set_session(&session.to_string());
    let prompt = PromptRequest::new(session.clone(), vec![brief.prompt.into()]);
    // The request is kept until it is answered: dropping it would abandon the turn.
    let answer = cx.send_request(prompt).block_task();
    tokio::pin!(answer);
    let answered = tokio::select! {
        a = &mut answer => a,
        _ = async { cancel.wait_for(|c| *c).await.map(|_| ()) } => {
            let _ = cx.send_notification(CancelNotification::new(session));
            answer.await
        }
    };
    match answered {
        Ok(r) => Ended::Stopped(r.stop_reason),
        Err(e) => Ended::Failed(describe(&e)),
    }
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A protocol error in words: its message, and its data when that says more.
fn describe(e: &agent_client_protocol::Error) -> String {
    match &e.data {
        Some(serde_json::Value::String(s)) if !e.message.contains(s.as_str()) => {
            format!("{}: {s}", e.message)
        }
        Some(v) if !v.is_null() && !v.is_string() => format!("{} ({v})", e.message),
        _ => e.message.clone(),
    }
}
