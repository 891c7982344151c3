//! `legate opencode-session`: runs a task as a child session of an OpenCode session, in the
//! OpenCode server that session lives in, so the task appears in OpenCode's session tree.
//!
//! It is the program of the built-in agent `opencode-session` (an exec agent: legate queues,
//! caps, logs, cancels and recovers it like any other). legate's OpenCode plugin submits it
//! with the server and the calling session in the task's environment:
//!
//! - `LEGATE_OPENCODE_URL`: the server's base URL (`http://127.0.0.1:4096`);
//! - `LEGATE_OPENCODE_PARENT`: the calling session's id (the child's `parentID`);
//! - `LEGATE_OPENCODE_DIRECTORY` (optional): the project directory the server serves the
//!   session for (its `?directory=`);
//! - `OPENCODE_SERVER_PASSWORD` / `OPENCODE_SERVER_USERNAME` (optional): the server's basic
//!   authentication, as OpenCode itself reads them (user `opencode` by default).
//!
//! The prompt comes on stdin. The run follows OpenCode 1.18's HTTP API: it subscribes to
//! `GET /event`, creates the child with `POST /session {parentID, title, permission}` (denying
//! `todowrite`, `todoread`, `task` and `question`), starts it with
//! `POST /session/{id}/prompt_async`, and waits for `session.idle` of the child. Its result is
//! the text of the child's last assistant message (`GET /session/{id}/message`). On stdout it
//! prints what `opencode run --format json` prints (`step_start`, `tool_use`, `step_finish`,
//! `text`, `error` lines carrying `sessionID`), so legate's opencode parser records the session,
//! the steps, the usage and the result. When legate ends the run (cancel, timeout, stall, a
//! daemon stopping) it gets TERM and aborts the child (`POST /session/{id}/abort`) before it
//! exits. `--session ID` prompts an existing child again (a `legate send` follow-up).

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

/// The tools a child session may not use (the seed design's list).
pub const DENIED_TOOLS: [&str; 4] = ["todowrite", "todoread", "task", "question"];

/// How long one request to the server may take (not the event stream, which lasts the run).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit code after TERM or INT (128 + SIGTERM), as a shell reports a signalled process.
const EXIT_SIGNALLED: i32 = 143;

/// What can go wrong talking to the OpenCode server.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A required variable of the task's environment is missing.
    #[error(
        "{0} is not set: the agent opencode-session runs tasks that legate's OpenCode plugin delegates (async_task with agent \"opencode\")"
    )]
    Missing(&'static str),
    /// The prompt could not be read from stdin.
    #[error("reading the prompt from stdin: {0}")]
    Stdin(#[source] std::io::Error),
    /// The server could not be reached or answered with an error.
    #[error("OpenCode server {url}: {what}")]
    Server {
        /// The server's base URL (redacted).
        url: String,
        /// What failed.
        what: String,
    },
    /// The child session ended with an error.
    #[error("OpenCode session {session}: {message}")]
    Session {
        /// The child session's id.
        session: String,
        /// OpenCode's error name and message.
        message: String,
    },
}

/// Where the child runs: the server, its directory and the parent.
struct Target {
    http: reqwest::Client,
    base: String,
    directory: Option<String>,
    auth: Option<(String, String)>,
}

impl Target {
    fn from_env() -> Result<Target, SessionError> {
        let base = std::env::var("LEGATE_OPENCODE_URL")
            .map_err(|_| SessionError::Missing("LEGATE_OPENCODE_URL"))?
            .trim_end_matches('/')
            .to_string();
        let directory = std::env::var("LEGATE_OPENCODE_DIRECTORY")
            .ok()
            .filter(|d| !d.is_empty());
        let auth = std::env::var("OPENCODE_SERVER_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| {
                let user = std::env::var("OPENCODE_SERVER_USERNAME")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "opencode".into());
                (user, p)
            });
        let http = reqwest::Client::builder()
            .connect_timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| SessionError::Server {
                url: legate_domain::redact_url(&base),
                what: e.without_url().to_string(),
            })?;
        Ok(Target {
            http,
            base,
            directory,
            auth,
        })
    }

    fn fail(&self, what: impl Into<String>) -> SessionError {
        SessionError::Server {
            url: legate_domain::redact_url(&self.base),
            what: what.into(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(d) = &self.directory {
            r = r.query(&[("directory", d)]);
        }
        if let Some((u, p)) = &self.auth {
            r = r.basic_auth(u, Some(p));
        }
        r
    }

    /// Sends a request with a JSON body (or none) and returns the JSON answer (`Null` when
    /// empty).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SessionError> {
        let mut r = self.request(method.clone(), path).timeout(REQUEST_TIMEOUT);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r
            .send()
            .await
            .map_err(|e| self.fail(format!("{method} {path}: {}", e.without_url())))?;
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| self.fail(format!("{method} {path}: {}", e.without_url())))?;
        if !status.is_success() {
            return Err(self.fail(format!("{method} {path}: {status}: {}", text.trim())));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| self.fail(format!("{method} {path}: not JSON: {e}")))
    }
}

/// The server's event stream (`GET /event`, server-sent events), one JSON event at a time.
struct Events {
    res: reqwest::Response,
    buf: Vec<u8>,
}

impl Events {
    async fn open(t: &Target) -> Result<Events, SessionError> {
        let res = t
            .request(reqwest::Method::GET, "/event")
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| t.fail(format!("GET /event: {}", e.without_url())))?;
        if !res.status().is_success() {
            return Err(t.fail(format!("GET /event: {}", res.status())));
        }
        Ok(Events {
            res,
            buf: Vec::new(),
        })
    }

    /// The next event's JSON; `None` when the server closed the stream.
    async fn next(&mut self) -> Result<Option<Value>, reqwest::Error> {
        loop {
            while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                if let Some(data) = line.trim_end().strip_prefix("data:")
                    && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                {
                    return Ok(Some(v));
                }
            }
            match self.res.chunk().await? {
                Some(bytes) => self.buf.extend_from_slice(&bytes),
                None => return Ok(None),
            }
        }
    }
}

/// Prints one line of `opencode run --format json` shape on stdout.
fn emit(kind: &str, session: &str, part: Value) {
    outln!(
        "{}",
        json!({"type": kind, "sessionID": session, "part": part})
    );
}

/// The assistant messages of a session, oldest first (`GET /session/{id}/message`).
async fn assistant_messages(t: &Target, session: &str) -> Result<Vec<Value>, SessionError> {
    let all = t
        .call(
            reqwest::Method::GET,
            &format!("/session/{session}/message"),
            None,
        )
        .await?;
    Ok(all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["info"]["role"] == "assistant")
        .cloned()
        .collect())
}

/// The text of a message's own text parts (not the synthetic ones).
fn text_of(message: &Value) -> String {
    message["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["type"] == "text" && p["synthetic"] != true)
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// OpenCode's error object as `name: message`.
fn error_text(e: &Value) -> String {
    let name = e["name"].as_str().unwrap_or("error");
    let message = e["data"]["message"]
        .as_str()
        .or(e["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string());
    format!("{name}: {message}")
}

/// Runs the task; returns the exit code.
pub async fn opencode_session(resume: Option<String>) -> anyhow::Result<i32> {
    let t = Target::from_env()?;
    let mut prompt = String::new();
    std::io::stdin()
        .read_to_string(&mut prompt)
        .map_err(SessionError::Stdin)?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    // Subscribed before the child exists, so none of its events is missed.
    let mut events = Events::open(&t).await?;
    let session = match resume {
        Some(s) => s,
        None => create_child(&t, &prompt).await?,
    };
    errln!(
        "legate: OpenCode session {session} at {}",
        legate_domain::redact_url(&t.base)
    );
    emit(
        "step_start",
        &session,
        json!({"type": "step-start", "sessionID": session}),
    );
    let before = assistant_messages(&t, &session).await?.len();
    t.call(
        reqwest::Method::POST,
        &format!("/session/{session}/prompt_async"),
        Some(json!({"parts": [{"type": "text", "text": prompt}]})),
    )
    .await?;

    let run = follow(&t, &mut events, &session, before);
    tokio::select! {
        r = run => r,
        _ = term.recv() => abort(&t, &session).await,
        _ = int.recv() => abort(&t, &session).await,
    }
}

/// Creates the child session of `LEGATE_OPENCODE_PARENT`; returns its id.
async fn create_child(t: &Target, prompt: &str) -> Result<String, SessionError> {
    let parent = std::env::var("LEGATE_OPENCODE_PARENT")
        .map_err(|_| SessionError::Missing("LEGATE_OPENCODE_PARENT"))?;
    let task = std::env::var("LEGATE_TASK_ID").unwrap_or_default();
    let first = prompt.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let short: String = first.trim().chars().take(60).collect();
    let title = format!("legate {task}: {short}");
    let permission: Vec<Value> = DENIED_TOOLS
        .iter()
        .map(|p| json!({"permission": p, "pattern": "*", "action": "deny"}))
        .collect();
    let created = t
        .call(
            reqwest::Method::POST,
            "/session",
            Some(json!({"parentID": parent, "title": title, "permission": permission})),
        )
        .await?;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| t.fail(format!("POST /session answered without an id: {created}")))
}

/// Ends the child's turn after TERM or INT, then exits as signalled.
async fn abort(t: &Target, session: &str) -> anyhow::Result<i32> {
    match t
        .call(
            reqwest::Method::POST,
            &format!("/session/{session}/abort"),
            None,
        )
        .await
    {
        Ok(_) => errln!("legate: aborted OpenCode session {session}"),
        Err(e) => errln!("legate: aborting OpenCode session {session}: {e}"),
    }
    Ok(EXIT_SIGNALLED)
}

/// Follows the child until its turn ends; prints its steps and result.
async fn follow(
    t: &Target,
    events: &mut Events,
    session: &str,
    before: usize,
) -> anyhow::Result<i32> {
    let mut shown: HashSet<String> = HashSet::new();
    let mut failure: Option<String> = None;
    loop {
        let Some(e) = events
            .next()
            .await
            .map_err(|e| t.fail(format!("event stream: {}", e.without_url())))?
        else {
            return Err(t
                .fail(format!(
                    "the server closed its event stream before session {session} finished"
                ))
                .into());
        };
        let p = &e["properties"];
        let of_child = p["sessionID"] == session || p["part"]["sessionID"] == session;
        if !of_child {
            continue;
        }
        match e["type"].as_str().unwrap_or_default() {
            "message.part.updated" => step(session, &p["part"], &mut shown),
            "session.error" => failure = Some(error_text(&p["error"])),
            "permission.asked" | "permission.updated" => {
                // Answered in OpenCode, as for its own subagents; the log says what waits.
                let what = p["permission"]
                    .as_str()
                    .or(p["type"].as_str())
                    .unwrap_or("a tool");
                errln!(
                    "legate: OpenCode session {session} asks permission for {what}: answer it in OpenCode"
                );
                continue;
            }
            "session.idle" => {}
            "session.status" if p["status"]["type"] == "idle" => {}
            _ => continue,
        }
        if !(e["type"] == "session.idle" || e["type"] == "session.status") {
            continue;
        }
        let messages = assistant_messages(t, session).await?;
        let Some(last) = messages.last().filter(|_| messages.len() > before) else {
            if let Some(f) = failure {
                return finish_failed(session, f);
            }
            continue;
        };
        let info = &last["info"];
        if info["time"]["completed"].is_null() && info["error"].is_null() && failure.is_none() {
            continue;
        }
        if let Some(parts) = last["parts"].as_array() {
            for part in parts {
                step(session, part, &mut shown);
            }
        }
        let text = text_of(last);
        if !text.is_empty() {
            emit("text", session, json!({"type": "text", "text": text}));
        }
        if !info["error"].is_null() {
            return finish_failed(session, error_text(&info["error"]));
        }
        if let Some(f) = failure {
            return finish_failed(session, f);
        }
        return Ok(0);
    }
}

/// Prints a finished tool call or step of the child once.
fn step(session: &str, part: &Value, shown: &mut HashSet<String>) {
    let id = part["id"].as_str().unwrap_or_default().to_string();
    let kind = match part["type"].as_str() {
        Some("tool")
            if matches!(
                part["state"]["status"].as_str(),
                Some("completed" | "error")
            ) =>
        {
            "tool_use"
        }
        Some("step-finish") => "step_finish",
        _ => return,
    };
    if id.is_empty() || shown.insert(id) {
        emit(kind, session, part.clone());
    }
}

/// Reports the child's error (as opencode's `error` line and on stderr); exit code 1.
fn finish_failed(session: &str, message: String) -> anyhow::Result<i32> {
    let line = json!({"type": "error", "sessionID": session, "error": {"name": "SessionError", "data": {"message": message}}});
    outln!("{line}");
    Err(SessionError::Session {
        session: session.to_string(),
        message,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_is_the_messages_own_text() {
        let m = json!({"parts": [
            {"type": "text", "text": "first"},
            {"type": "tool", "tool": "bash"},
            {"type": "text", "text": "reminder", "synthetic": true},
            {"type": "text", "text": "second"}
        ]});
        assert_eq!(text_of(&m), "first\nsecond");
        assert_eq!(text_of(&json!({})), "");
    }

    #[test]
    fn errors_read_as_name_and_message() {
        let aborted = json!({"name": "MessageAbortedError", "data": {"message": "Aborted"}});
        assert_eq!(error_text(&aborted), "MessageAbortedError: Aborted");
        assert_eq!(error_text(&json!({"message": "boom"})), "error: boom");
    }

    #[test]
    fn steps_are_printed_once_when_done() {
        let mut shown = HashSet::new();
        let running = json!({"id": "p1", "type": "tool", "state": {"status": "running"}});
        step("s", &running, &mut shown);
        assert!(shown.is_empty(), "a running tool is not a step yet");
        let done = json!({"id": "p1", "type": "tool", "state": {"status": "completed"}});
        step("s", &done, &mut shown);
        assert!(!shown.insert("p1".into()), "printed once");
    }

    #[test]
    fn a_missing_server_names_the_plugin() {
        let e = SessionError::Missing("LEGATE_OPENCODE_URL").to_string();
        assert!(
            e.contains("LEGATE_OPENCODE_URL is not set") && e.contains("async_task"),
            "{e}"
        );
    }
}
