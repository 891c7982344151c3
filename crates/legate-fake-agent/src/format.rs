//! `--format`: speak like a real agent CLI, so the presets' parsers and follow-ups are tested
//! end to end. `print` steps become the format's assistant text, `tool NAME DETAIL` a tool
//! call, `agent-error MESSAGE` the format's error (then exit 1), and the end of the script its
//! final event with the answer, the session id and usage.
//!
//! Sessions: `--resume ID`, `--session ID` or a positional `resume ID` continue session ID,
//! kept as a file of earlier prompts under `$FAKE_AGENT_SESSIONS`; `recall` prints them.

use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use crate::out;

/// The formats, named like legate's `format` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Claude,
    Codex,
    Gemini,
    Opencode,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "claude" => Ok(Format::Claude),
            "codex" => Ok(Format::Codex),
            "gemini" => Ok(Format::Gemini),
            "opencode" => Ok(Format::Opencode),
            other => Err(format!(
                "unknown format '{other}' (claude, codex, gemini, opencode)"
            )),
        }
    }
}

struct Speaker {
    format: Format,
    session: String,
    answer: String,
    earlier: Vec<String>,
}

static SPEAKER: OnceLock<Mutex<Speaker>> = OnceLock::new();

fn line(v: Value) {
    out::stdout(format!("{v}\n").as_bytes());
}

fn with<R>(f: impl FnOnce(&mut Speaker) -> R) -> Option<R> {
    SPEAKER
        .get()
        .map(|m| f(&mut m.lock().unwrap_or_else(|p| p.into_inner())))
}

/// Starts speaking `format` in `session`, and records `prompt` in the session's history.
pub fn start(format: Format, session: Option<String>, prompt: &str) {
    let resumed = session.is_some();
    let session = session.unwrap_or_else(|| format!("fake-{}", std::process::id()));
    let earlier = crate::sessions::earlier(&session);
    let s = session.clone();
    match format {
        Format::Claude => {
            line(json!({"type":"system","subtype":"init","session_id":s,"model":"fake"}))
        }
        Format::Codex => {
            line(json!({"type":"thread.started","thread_id":s}));
            line(json!({"type":"turn.started"}));
        }
        Format::Gemini => line(json!({"type":"init","session_id":s,"model":"fake"})),
        Format::Opencode => {
            line(json!({"type":"step_start","sessionID":s,"part":{"type":"step-start"}}))
        }
    }
    let unknown = resumed && !crate::sessions::exists(&session);
    crate::sessions::remember(&session, prompt);
    let _ = SPEAKER.set(Mutex::new(Speaker {
        format,
        session: session.clone(),
        answer: String::new(),
        earlier,
    }));
    if unknown {
        error(&format!("no session {session} to resume"));
    }
}

/// The earlier prompts of the session, for `recall`.
pub fn earlier() -> Option<Vec<String>> {
    with(|sp| sp.earlier.clone())
}

/// Says `text` in the format; false when no format is active (plain output then).
pub fn text(text: &str) -> bool {
    with(|sp| {
        sp.answer.push_str(text);
        say(sp, text)
    })
    .is_some()
}

/// Says one message of a flood: like [`text`], but the answer becomes this message alone, so
/// a flood is never held whole.
pub fn flood_text(text: &str) -> bool {
    with(|sp| {
        sp.answer.clear();
        sp.answer.push_str(text);
        say(sp, text)
    })
    .is_some()
}

/// Prints `text` as the format's assistant text. The envelope is serialized around a
/// placeholder and the text spliced in, so a flood's large messages cost one copy each.
fn say(sp: &Speaker, text: &str) {
    const HOLE: &str = "\u{1}";
    let s = &sp.session;
    let envelope = match sp.format {
        Format::Claude => json!({"type":"assistant","message":{"content":[{"type":"text","text":HOLE}]},"session_id":s}),
        Format::Codex => json!({"type":"item.completed","item":{"type":"agent_message","text":HOLE}}),
        Format::Gemini => json!({"type":"message","role":"assistant","content":HOLE,"delta":true}),
        Format::Opencode => json!({"type":"text","sessionID":s,"part":{"type":"text","text":HOLE}}),
    }
    .to_string();
    let Some((before, after)) = envelope.split_once("\\u0001") else {
        return;
    };
    let plain = text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    let quoted;
    let body = if plain {
        text
    } else {
        quoted = serde_json::to_string(text).unwrap_or_default();
        &quoted[1..quoted.len().saturating_sub(1).max(1)]
    };
    out::stdout(&[before.as_bytes(), body.as_bytes(), after.as_bytes(), b"\n"].concat());
}

/// A tool call.
pub fn tool(name: &str, detail: &str) {
    with(|sp| {
        sp.answer.clear();
        let s = &sp.session;
        match sp.format {
            Format::Claude => line(
                json!({"type":"assistant","message":{"content":[{"type":"tool_use","name":name,"input":{"command":detail}}]},"session_id":s}),
            ),
            Format::Codex => line(
                json!({"type":"item.started","item":{"type":"command_execution","command":detail,"status":"in_progress"}}),
            ),
            Format::Gemini => {
                line(json!({"type":"tool_use","tool_name":name,"parameters":{"command":detail}}))
            }
            Format::Opencode => line(
                json!({"type":"tool_use","sessionID":s,"part":{"tool":name,"state":{"status":"completed","title":detail}}}),
            ),
        }
    });
}

/// The format's error, then exit 1.
pub fn error(message: &str) -> ! {
    with(|sp| {
        let s = &sp.session;
        match sp.format {
            Format::Claude => line(
                json!({"type":"result","subtype":"error_during_execution","is_error":true,"result":message,"session_id":s}),
            ),
            Format::Codex => line(json!({"type":"turn.failed","error":{"message":message}})),
            Format::Gemini => line(
                json!({"type":"result","status":"error","error":{"type":"Error","message":message}}),
            ),
            Format::Opencode => line(
                json!({"type":"error","sessionID":s,"error":{"name":"APIError","data":{"message":message}}}),
            ),
        }
    });
    out::finish(1)
}

/// The final event of a successful run.
pub fn finish() {
    with(|sp| {
        let (s, answer) = (&sp.session, sp.answer.trim());
        match sp.format {
            Format::Claude => line(
                json!({"type":"result","subtype":"success","is_error":false,"result":answer,"session_id":s,"total_cost_usd":0.001,"usage":{"input_tokens":10,"output_tokens":5}}),
            ),
            Format::Codex => line(
                json!({"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":0,"output_tokens":5}}),
            ),
            Format::Gemini => line(
                json!({"type":"result","status":"success","stats":{"total_tokens":15,"input_tokens":10,"output_tokens":5}}),
            ),
            Format::Opencode => line(
                json!({"type":"step_finish","sessionID":s,"part":{"type":"step-finish","tokens":{"input":10,"output":5},"cost":0.001}}),
            ),
        }
    });
}
