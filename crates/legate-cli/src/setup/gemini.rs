//! Gemini CLI: `mcpServers.legate` in `~/.gemini/settings.json`, or the project's
//! `.gemini/settings.json`. The rest of the file is kept (its keys in their order; the file
//! is written back as two-space indented JSON, as Gemini CLI writes it).
//!
//! What Gemini CLI 0.61 needs for headless use: `"trust": true` (in `-p` mode it offers an
//! MCP server's tools only when trusted) and a `timeout` (milliseconds) above legate's
//! longest wait.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Map, Value, json};

use super::{McpEntry, Scope, TOOL_TIMEOUT_SECS};

/// The settings file for `scope`. Errors: no home directory (user scope) or no current
/// directory (project scope).
pub fn settings_file(scope: Scope) -> Result<PathBuf> {
    let base = match scope {
        Scope::User => super::home()?,
        Scope::Project => super::project_dir()?,
    };
    Ok(base.join(".gemini").join("settings.json"))
}

/// `before` (the file's text, if any) with legate's server entry put in, replacing an older
/// one; ends in a newline. Errors: `before` is not a JSON object (Gemini CLI's comments
/// included: legate would lose them), or its `mcpServers` is not an object.
pub fn apply(before: Option<&str>, entry: &McpEntry, file: &Path) -> Result<String> {
    super::json_with_server(
        before,
        Map::new(),
        "mcpServers",
        server(entry),
        file,
        "legate setup gemini",
    )
}

/// `mcpServers.legate`.
fn server(entry: &McpEntry) -> Value {
    let mut s = json!({
        "command": entry.command,
        "args": entry.args,
        "trust": true,
        "timeout": TOOL_TIMEOUT_SECS * 1000,
    });
    if !entry.env.is_empty() {
        s["env"] = Value::Object(entry.env_json());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> McpEntry {
        super::super::sample_entry("/opt/legate/bin/legate", "/srv/legate")
    }

    #[test]
    fn the_entry_is_added_keeping_the_other_settings_in_their_order() {
        let before = r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}, "general": {"vimMode": true}, "mcpServers": {"docs": {"command": "docs"}}}"#;
        let after = apply(Some(before), &entry(), Path::new("s.json")).unwrap();
        let v: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(v["security"]["auth"]["selectedType"], "gemini-api-key");
        assert_eq!(v["mcpServers"]["docs"]["command"], "docs");
        let legate = &v["mcpServers"]["legate"];
        assert_eq!(legate["command"], "/opt/legate/bin/legate");
        assert_eq!(legate["trust"], true);
        assert_eq!(legate["timeout"], TOOL_TIMEOUT_SECS * 1000);
        assert_eq!(legate["env"]["LEGATE_HOME"], "/srv/legate");
        assert!(
            after.find("security").unwrap() < after.find("general").unwrap(),
            "order kept: {after}"
        );
        assert_eq!(
            apply(Some(&after), &entry(), Path::new("s.json")).unwrap(),
            after
        );
    }

    #[test]
    fn a_file_legate_cannot_edit_is_refused_with_the_entry_to_add_by_hand() {
        let e = apply(
            Some("{ // mine\n \"a\": 1 }"),
            &entry(),
            Path::new("/h/s.json"),
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("/h/s.json is not a JSON object legate can edit"),
            "{m}"
        );
        assert!(m.contains("\"trust\":true"), "{m}");
        let e = apply(Some(r#"{"mcpServers": []}"#), &entry(), Path::new("s.json")).unwrap_err();
        assert!(e.to_string().contains("\"mcpServers\""), "{e}");
    }
}
