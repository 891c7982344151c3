//! The pieces an origin is made of: what a host tells an MCP server about the session it serves
//! (request `_meta`, HTTP headers, `clientInfo`), the project a stdio server works in, and
//! keeping all of it printable and bounded.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The longest origin legate makes, in bytes (the engine refuses longer ones).
pub const MAX_ORIGIN_BYTES: usize = 512;

/// The longest client name kept from `clientInfo.name`, in characters.
const MAX_CLIENT_CHARS: usize = 64;

/// The longest session id kept from what a host sends, in characters.
const MAX_SESSION_CHARS: usize = 128;

/// The `_meta` key under which Hermes (`hermes-agent`, with `forward_hermes_context: true` in
/// the server's entry) sends the calling chat: an object with `session_key` (one chat on one
/// platform) and `session_id` (one conversation).
pub const HERMES_CONTEXT: &str = "io.nous.hermes/context";

/// The `_meta` key a client may set to a string naming its own origin on each request.
pub const META_ORIGIN: &str = "legate/origin";

/// The HTTP header a host may be configured to send naming its origin (e.g. one per project:
/// `claude mcp add --transport http legate URL --header "X-Legate-Origin: myproject"`).
pub const ORIGIN_HEADER: &str = "x-legate-origin";

/// The HTTP header carrying a Claude Code session id, when Claude Code sends it.
pub const CLAUDE_SESSION_HEADER: &str = "x-claude-code-session-id";

/// `s` with control characters replaced by `?`, trimmed, at most `max` bytes: a longer one
/// keeps its end (the most specific part of a path), marked with a leading `…`.
pub fn printable(s: &str, max: usize) -> String {
    let clean: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.len() <= max {
        return clean;
    }
    let mut start = clean.len() - max.saturating_sub('…'.len_utf8());
    while !clean.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &clean[start..])
}

/// A client's name as an origin part: letters, digits, `-`, `_` and `.` only, lower case, at
/// most 64 characters; `mcp` when nothing is left.
pub fn client_part(name: Option<&str>) -> String {
    let kept: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(MAX_CLIENT_CHARS)
        .collect::<String>()
        .to_ascii_lowercase();
    if kept.is_empty() { "mcp".into() } else { kept }
}

/// A session id a host sent, as an origin part (printable, at most 128 characters), if it
/// is not empty.
pub fn session_part(id: &str) -> Option<String> {
    let id: String = printable(id, usize::MAX)
        .chars()
        .take(MAX_SESSION_CHARS)
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The origin a request's `_meta` names, if any: [`META_ORIGIN`] as given, or the Hermes
/// chat ([`HERMES_CONTEXT`]: `hermes:SESSION_KEY`, else `hermes:SESSION_ID`).
pub fn meta_origin(meta: &Map<String, Value>) -> Option<String> {
    if let Some(o) = meta.get(META_ORIGIN).and_then(Value::as_str)
        && !o.trim().is_empty()
    {
        return Some(printable(o, MAX_ORIGIN_BYTES));
    }
    let hermes = meta.get(HERMES_CONTEXT)?;
    ["session_key", "session_id"]
        .iter()
        .find_map(|k| hermes.get(k).and_then(Value::as_str).and_then(session_part))
        .map(|s| format!("hermes:{s}"))
}

/// The project a server started in `cwd` works on: the nearest directory at or above `cwd`
/// holding `.git` (a repository's top level, or a worktree's), else `cwd` itself.
pub fn project_dir(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// The scope of a project: later sessions in it receive its orphaned results.
pub fn project_scope(project: &Path) -> String {
    printable(&format!("project:{}", project.display()), MAX_ORIGIN_BYTES)
}

/// The origin of a host's sessions in a project, when the host says nothing more specific:
/// `mcp:CLIENT:PROJECT`.
pub fn host_project_origin(client: Option<&str>, project: &Path) -> String {
    printable(
        &format!("mcp:{}:{}", client_part(client), project.display()),
        MAX_ORIGIN_BYTES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origins_stay_printable_and_bounded() {
        assert_eq!(printable(" a\u{7}b\n ", 100), "a?b");
        let long = format!("/{}", "x/".repeat(600));
        let p = printable(&long, MAX_ORIGIN_BYTES);
        assert!(p.len() <= MAX_ORIGIN_BYTES && p.starts_with('…') && p.ends_with("x/"));
        let wide = "é".repeat(400);
        assert!(printable(&wide, 101).len() <= 101);
        assert_eq!(client_part(Some("OpenCode 1.2/x")), "opencode1.2x");
        assert_eq!(client_part(Some("\u{1b}[31m")), "31m");
        assert_eq!(client_part(None), "mcp");
        assert_eq!(session_part(" \t"), None);
        assert_eq!(session_part(&"s".repeat(500)).unwrap().len(), 128);
    }

    #[test]
    fn a_host_names_its_chat_in_meta() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        let hermes = m(
            json!({HERMES_CONTEXT: {"version": "1", "session_id": "s1", "session_key": "telegram:42"}}),
        );
        assert_eq!(meta_origin(&hermes).as_deref(), Some("hermes:telegram:42"));
        let id_only = m(json!({HERMES_CONTEXT: {"session_id": "s1"}}));
        assert_eq!(meta_origin(&id_only).as_deref(), Some("hermes:s1"));
        let own = m(json!({META_ORIGIN: "team:ann", HERMES_CONTEXT: {"session_id": "s1"}}));
        assert_eq!(meta_origin(&own).as_deref(), Some("team:ann"));
        assert_eq!(
            meta_origin(&m(json!({HERMES_CONTEXT: {"session_id": ""}}))),
            None
        );
        assert_eq!(meta_origin(&m(json!({"progressToken": 1}))), None);
    }

    #[test]
    fn the_project_is_the_repository_top_level() {
        let dir = std::env::temp_dir().join(format!("legate-project-{}", std::process::id()));
        let deep = dir.join("repo/src/deep");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(
            project_dir(&deep),
            deep,
            "no repository: the directory itself"
        );
        std::fs::create_dir_all(dir.join("repo/.git")).unwrap();
        assert_eq!(project_dir(&deep), dir.join("repo"));
        assert_eq!(
            host_project_origin(Some("opencode"), &dir.join("repo")),
            format!("mcp:opencode:{}", dir.join("repo").display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
