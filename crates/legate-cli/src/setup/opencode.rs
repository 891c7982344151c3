//! OpenCode: legate's plugin (`integrations/opencode/legate.ts`, built into this executable)
//! in OpenCode's plugin directory — `$XDG_CONFIG_HOME/opencode/plugin/legate.ts` (default
//! `~/.config/opencode`), or the project's `.opencode/plugin/legate.ts` — and, when asked
//! (`--mcp`), `mcp.legate` in OpenCode's `opencode.json` (the user's, beside the plugin
//! directory, or the project's). The plugin gives the models `async_task` and its companions
//! and posts finished results into the delegating session; the MCP entry adds legate's MCP
//! tools beside them.
//!
//! The installed plugin pins this executable and the store variables the setup saw (its
//! `SETUP` constant), as the MCP entries of the other hosts do. OpenCode installs the package
//! the plugin imports (`@opencode-ai/plugin`) itself when it starts.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Map, Value, json};

use super::{McpEntry, Scope};

/// The plugin as shipped in the repository.
pub const PLUGIN_SOURCE: &str = include_str!("../../../../integrations/opencode/legate.ts");

/// The plugin's line that `legate setup` fills in.
const SETUP_LINE: &str = "const SETUP: { legate?: string; env?: Record<string, string> } = {}";

/// OpenCode's configuration directory for `scope`. Errors: no home directory (user scope) or
/// no current directory (project scope).
fn config_dir(scope: Scope) -> Result<PathBuf> {
    Ok(match scope {
        Scope::User => match std::env::var_os("XDG_CONFIG_HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h).join("opencode"),
            None => super::home()?.join(".config").join("opencode"),
        },
        Scope::Project => super::project_dir()?.join(".opencode"),
    })
}

/// Where the plugin goes for `scope`. Errors: as [`config_dir`].
pub fn plugin_file(scope: Scope) -> Result<PathBuf> {
    Ok(config_dir(scope)?.join("plugin").join("legate.ts"))
}

/// Where the MCP entry goes for `scope`: `opencode.json` in the user's configuration
/// directory, or in the project. Errors: as [`config_dir`].
pub fn config_file(scope: Scope) -> Result<PathBuf> {
    Ok(match scope {
        Scope::User => config_dir(scope)?.join("opencode.json"),
        Scope::Project => super::project_dir()?.join("opencode.json"),
    })
}

/// The plugin with `entry`'s program and variables pinned in its `SETUP` constant.
pub fn plugin(entry: &McpEntry) -> String {
    let pinned = json!({ "legate": entry.command, "env": entry.env_json() });
    let line =
        format!("const SETUP: {{ legate?: string; env?: Record<string, string> }} = {pinned}");
    PLUGIN_SOURCE.replacen(SETUP_LINE, &line, 1)
}

/// `before` (the text of `opencode.json`, if any) with legate's MCP server put in, replacing
/// an older one; ends in a newline. Errors: `before` is not a JSON object (comments included:
/// legate would lose them), or its `mcp` is not an object.
pub fn apply_mcp(before: Option<&str>, entry: &McpEntry, file: &Path) -> Result<String> {
    let empty = Map::from_iter([(
        "$schema".to_string(),
        Value::String("https://opencode.ai/config.json".into()),
    )]);
    super::json_with_server(
        before,
        empty,
        "mcp",
        server(entry),
        file,
        "legate setup opencode --mcp",
    )
}

/// `mcp.legate`: a local server, this executable's `mcp`, with the pinned variables.
fn server(entry: &McpEntry) -> Value {
    let mut command = vec![entry.command.clone()];
    command.extend(entry.args.iter().cloned());
    let mut s = json!({ "type": "local", "command": command, "enabled": true });
    if !entry.env.is_empty() {
        s["environment"] = Value::Object(entry.env_json());
    }
    s
}

/// What the plugin does for the user, said after it was written.
pub fn what_it_means() -> Vec<String> {
    vec![
        "OpenCode's models get async_task, async_task_result, async_task_wait and async_task_cancel"
            .into(),
        "a finished task's result is posted into the session that delegated it once that session is idle"
            .into(),
        "OpenCode installs the package the plugin imports (@opencode-ai/plugin) when it next starts"
            .into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> McpEntry {
        super::super::sample_entry("/opt/legate/bin/legate", "/srv/legate")
    }

    #[test]
    fn the_plugin_pins_the_program_and_the_store() {
        assert_eq!(PLUGIN_SOURCE.matches(SETUP_LINE).count(), 1);
        let p = plugin(&entry());
        assert!(!p.contains(SETUP_LINE));
        assert!(
            p.contains(
                r#"= {"legate":"/opt/legate/bin/legate","env":{"LEGATE_HOME":"/srv/legate"}}"#
            ),
            "{p}"
        );
        // Nothing else changes.
        let changed = p
            .lines()
            .zip(PLUGIN_SOURCE.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1);
        assert_eq!(p.lines().count(), PLUGIN_SOURCE.lines().count());
    }

    #[test]
    fn the_mcp_entry_is_added_keeping_the_rest() {
        let before = r#"{"model": "a/b", "mcp": {"docs": {"type": "remote", "url": "http://x"}}}"#;
        let after = apply_mcp(Some(before), &entry(), Path::new("o.json")).unwrap();
        let v: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(v["model"], "a/b");
        assert_eq!(v["mcp"]["docs"]["url"], "http://x");
        let legate = &v["mcp"]["legate"];
        assert_eq!(legate["type"], "local");
        assert_eq!(legate["command"], json!(["/opt/legate/bin/legate", "mcp"]));
        assert_eq!(legate["environment"]["LEGATE_HOME"], "/srv/legate");
        assert_eq!(
            apply_mcp(Some(&after), &entry(), Path::new("o.json")).unwrap(),
            after
        );
        let fresh = apply_mcp(None, &entry(), Path::new("o.json")).unwrap();
        assert!(fresh.contains("https://opencode.ai/config.json"), "{fresh}");
    }

    #[test]
    fn a_config_legate_cannot_edit_is_refused_with_the_entry_to_add_by_hand() {
        let m = apply_mcp(
            Some("{ // mine\n }"),
            &entry(),
            Path::new("/p/opencode.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            m.contains("/p/opencode.json is not a JSON object legate can edit"),
            "{m}"
        );
        assert!(m.contains("\"type\":\"local\""), "{m}");
        let e = apply_mcp(Some(r#"{"mcp": 3}"#), &entry(), Path::new("o.json")).unwrap_err();
        assert!(e.to_string().contains("\"mcp\""), "{e}");
    }
}
