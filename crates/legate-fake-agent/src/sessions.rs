//! Agent sessions for follow-ups: the prompts of each session, one file per session id under
//! `$FAKE_AGENT_SESSIONS` (or the system temp dir).

use std::io::Write;
use std::path::PathBuf;

fn file(session: &str) -> PathBuf {
    let dir = std::env::var_os("FAKE_AGENT_SESSIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("legate-fake-agent-sessions"));
    let _ = std::fs::create_dir_all(&dir);
    let safe: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(safe)
}

/// The prompts sent earlier in `session`, oldest first.
pub fn earlier(session: &str) -> Vec<String> {
    std::fs::read_to_string(file(session))
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether `session` exists (had a prompt before).
pub fn exists(session: &str) -> bool {
    file(session).exists()
}

/// Adds `prompt` (its first line) to `session`'s history.
pub fn remember(session: &str, prompt: &str) {
    let first = prompt.lines().next().unwrap_or_default();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file(session))
    {
        let _ = writeln!(f, "{first}");
    }
}
