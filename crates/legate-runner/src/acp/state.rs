//! What an ACP conversation gathers as the agent talks: the answer, the session, progress
//! steps and permission answers for events, and a readable transcript for the log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::v1::schema::{
    ContentBlock, PermissionOptionKind, RequestPermissionOutcome, RequestPermissionRequest,
    SelectedPermissionOutcome, SessionUpdate,
};
use legate_domain::{PermissionPolicy, Timestamp};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::bounds::{STEP_BYTES, StepText, TailText, cut};
use crate::capture::LatestOutput;
use crate::notes::NoteSink;
use crate::parse::{Progress, ProgressKind};
use crate::run::RunNote;
use crate::sink::LogSink;

/// Shared between the protocol handlers and the conversation.
#[derive(Clone)]
pub(crate) struct Talk {
    inner: Arc<Mutex<Heard>>,
    latest: watch::Sender<LatestOutput>,
    logs: Arc<Mutex<Option<LogSink>>>,
    policy: PermissionPolicy,
    /// Counts the `session/update`s received, so a quiet spell can be waited for.
    heard_updates: Arc<watch::Sender<u64>>,
}

struct Heard {
    /// Text since the last tool call: the answer the turn concludes with (its last
    /// `result_cap` bytes).
    answer: TailText,
    /// Agent text not yet published as a step (chunks are gathered into one).
    pending: StepText,
    /// While `session/load` replays history, updates are old news.
    replaying: bool,
    session: Option<String>,
    /// When the agent created the session, if this run created it.
    session_created: Option<Timestamp>,
    /// Where progress steps and permission answers go, within the task's budget.
    notes: NoteSink,
}

impl Talk {
    pub fn new(
        notes: mpsc::UnboundedSender<RunNote>,
        latest: watch::Sender<LatestOutput>,
        logs: LogSink,
        policy: PermissionPolicy,
        result_cap: u64,
    ) -> Self {
        Talk {
            inner: Arc::new(Mutex::new(Heard {
                answer: TailText::new(result_cap),
                pending: StepText::default(),
                replaying: false,
                session: None,
                session_created: None,
                notes: NoteSink::new(notes),
            })),
            latest,
            logs: Arc::new(Mutex::new(Some(logs))),
            policy,
            heard_updates: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Returns once the agent has sent no `session/update` for `quiet`, or after `limit`.
    pub async fn quiet(&self, quiet: Duration, limit: Duration) {
        let mut updates = self.heard_updates.subscribe();
        let spell = async {
            while let Ok(Ok(())) = tokio::time::timeout(quiet, updates.changed()).await {}
        };
        let _ = tokio::time::timeout(limit, spell).await;
    }

    fn heard(&self) -> std::sync::MutexGuard<'_, Heard> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes to the task's log through its sink (cap policy, write failures raise the
    /// alarm): everything to `output.log`, the agent's words also to `stdout.log`; and counts
    /// it as activity. After an alarm nothing more is written or counted, as in exec runs.
    pub fn log(&self, text: &str, words: bool) {
        let bytes = text.as_bytes();
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(logs) = logs.as_mut().filter(|l| !l.broken()) {
            self.latest.send_modify(|l| l.take(bytes));
            logs.write(bytes, words);
        }
    }

    /// Closes the logs (joining their segments); returns the bytes the cap dropped. Later
    /// writes are ignored.
    pub fn close_logs(&self) -> u64 {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner()).take();
        logs.map_or(0, |l| l.close().dropped)
    }

    pub fn set_replaying(&self, on: bool) {
        self.heard().replaying = on;
    }

    pub fn set_session(&self, id: &str) {
        self.heard().session = Some(id.to_string());
    }

    pub fn session(&self) -> Option<String> {
        self.heard().session.clone()
    }

    pub fn set_session_created(&self, at: Timestamp) {
        self.heard().session_created = Some(at);
    }

    pub fn session_created(&self) -> Option<Timestamp> {
        self.heard().session_created
    }

    /// The answer so far, capped like every result (after publishing any gathered text).
    pub fn answer(&self) -> String {
        let mut h = self.heard();
        h.flush();
        h.answer.result()
    }

    /// How many notes the task's budget dropped.
    pub fn notes_dropped(&self) -> u64 {
        self.heard().notes.dropped()
    }

    fn step(&self, step: Progress) {
        let mut h = self.heard();
        h.flush();
        h.notes.progress(step);
    }

    /// A protocol message too long to read was skipped.
    pub fn skipped(&self, bytes: u64, cap: usize) {
        let step = crate::lines::skipped_line(bytes, cap);
        self.log(&format!("\n[{}]\n", step.text), false);
        self.step(step);
    }

    /// Takes one `session/update`.
    pub fn update(&self, update: &SessionUpdate) {
        self.heard_updates.send_modify(|n| *n += 1);
        if self.heard().replaying {
            return;
        }
        match update {
            SessionUpdate::AgentMessageChunk(c) => {
                if let ContentBlock::Text(t) = &c.content {
                    self.log(&t.text, true);
                    let mut h = self.heard();
                    h.answer.push(&t.text);
                    h.pending.push(&t.text);
                }
            }
            SessionUpdate::ToolCall(call) => {
                let kind = kind_name(call.kind);
                self.log(&format!("\n[tool {kind}] {}\n", call.title), false);
                self.heard().answer.clear();
                self.step(crate::parse::collect_step(
                    ProgressKind::Tool,
                    &call.title,
                    Some(&kind),
                ));
            }
            SessionUpdate::Plan(plan) => {
                let items: Vec<&str> = plan.entries.iter().map(|e| e.content.as_str()).collect();
                let text = format!("plan: {}", items.join("; "));
                self.log(&format!("\n[{text}]\n"), false);
                self.step(crate::parse::collect_step(
                    ProgressKind::Notice,
                    &text,
                    None,
                ));
            }
            SessionUpdate::AgentThoughtChunk(c) => {
                if let ContentBlock::Text(t) = &c.content {
                    self.latest.send_modify(|l| l.take_aside(t.text.as_bytes()));
                }
            }
            _ => {}
        }
    }

    /// Answers a permission request by the agent's policy, and reports the answer.
    pub fn permission(&self, req: &RequestPermissionRequest) -> RequestPermissionOutcome {
        let fields = &req.tool_call.fields;
        let kind = fields.kind.map(kind_name);
        let title = cut(
            fields
                .title
                .as_deref()
                .unwrap_or(&req.tool_call.tool_call_id.to_string()),
            STEP_BYTES,
        );
        let allow = self.policy.allows(kind.as_deref());
        let wanted: &[PermissionOptionKind] = if allow {
            &[
                PermissionOptionKind::AllowOnce,
                PermissionOptionKind::AllowAlways,
            ]
        } else {
            &[
                PermissionOptionKind::RejectOnce,
                PermissionOptionKind::RejectAlways,
            ]
        };
        let choice = wanted
            .iter()
            .find_map(|k| req.options.iter().find(|o| o.kind == *k));
        let decision = match (allow, choice.is_some()) {
            (true, true) => "allowed",
            (false, true) => "denied",
            // The agent offered no option of the wanted kind: the request is withdrawn.
            (_, false) => "denied",
        };
        self.log(
            &format!(
                "\n[permission {decision}: {title} ({})]\n",
                kind.as_deref().unwrap_or("unknown kind")
            ),
            false,
        );
        self.heard().notes.send(RunNote::Permission(json!({
            "tool": title,
            "tool_kind": kind,
            "decision": decision,
            "policy": policy_name(&self.policy),
        })));
        match choice {
            Some(o) => RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(
                o.option_id.clone(),
            )),
            None => RequestPermissionOutcome::Cancelled,
        }
    }
}

impl Heard {
    /// Publishes the gathered text as a step.
    fn flush(&mut self) {
        if let Some(step) = self.pending.step(ProgressKind::Text) {
            self.notes.progress(step);
        }
    }
}

fn kind_name<T: serde::Serialize>(kind: T) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "other".into())
}

fn policy_name(p: &PermissionPolicy) -> String {
    match p {
        PermissionPolicy::Deny => "deny".into(),
        PermissionPolicy::Allow => "allow".into(),
        PermissionPolicy::Kinds(k) => format!("allow {}", k.join(", ")),
    }
}
