//! Codex: `[mcp_servers.legate]` in `$CODEX_HOME/config.toml` (default `~/.codex`), or the
//! project's `.codex/config.toml` (read by Codex for trusted projects). The rest of the file,
//! comments included, is kept (edited with `toml_edit`).
//!
//! What Codex 0.169 needs for headless use: `default_tools_approval_mode = "approve"` (`codex
//! exec` cannot ask for approval), the `LEGATE_*`/`XDG_*` variables listed in `env_vars`
//! (Codex starts MCP servers with a reduced environment), and a `tool_timeout_sec` above
//! legate's longest wait (Codex's default is 60 s).

use std::path::{Path, PathBuf};

use anyhow::Result;
use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::{McpEntry, PASSED_THROUGH, Scope, TOOL_TIMEOUT_SECS};

/// The configuration file for `scope`. Errors: no home directory (user scope) or no
/// current directory (project scope).
pub fn config_file(scope: Scope) -> Result<PathBuf> {
    Ok(match scope {
        Scope::User => match std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h).join("config.toml"),
            None => super::home()?.join(".codex").join("config.toml"),
        },
        Scope::Project => super::project_dir()?.join(".codex").join("config.toml"),
    })
}

/// `before` (the file's text, if any) with legate's server entry put in, replacing an older
/// one. Errors: `before` is not TOML, or its `mcp_servers` is not a table.
pub fn apply(before: Option<&str>, entry: &McpEntry, file: &Path) -> Result<String> {
    let mut doc: DocumentMut = before.unwrap_or("").parse().map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid TOML, so legate leaves it alone: {e}\nfix it (or move it away), then run `legate setup codex` again",
            file.display()
        )
    })?;
    let item = doc.entry("mcp_servers").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    // `mcp_servers = { … }` (an inline table) is a table too.
    if let Some(inline) = item.as_inline_table() {
        *item = Item::Table(inline.clone().into_table());
    }
    let servers = item.as_table_mut().ok_or_else(|| {
        anyhow::anyhow!(
            "`mcp_servers` in {} is not a table; fix it, then run `legate setup codex` again",
            file.display()
        )
    })?;
    let mut ours = server_table(entry);
    // Keys the user added to an earlier entry (`enabled`, `startup_timeout_sec`…) are kept.
    if let Some(before) = servers.get("legate").and_then(Item::as_table_like) {
        for (k, v) in before.iter() {
            if !ours.contains_key(k) {
                ours.insert(k, v.clone());
            }
        }
    }
    servers.insert("legate", Item::Table(ours));
    Ok(doc.to_string())
}

/// `[mcp_servers.legate]`.
fn server_table(entry: &McpEntry) -> Table {
    let mut t = Table::new();
    t.insert("command", value(entry.command.as_str()));
    t.insert("args", value(entry.args.iter().collect::<Array>()));
    let pinned: Vec<&str> = entry.env.iter().map(|(k, _)| k.as_str()).collect();
    let passed: Array = PASSED_THROUGH
        .iter()
        .filter(|k| !pinned.contains(k))
        .copied()
        .collect();
    t.insert("env_vars", value(passed));
    t.insert("default_tools_approval_mode", value("approve"));
    t.insert("tool_timeout_sec", value(TOOL_TIMEOUT_SECS as i64));
    if !entry.env.is_empty() {
        let mut env = Table::new();
        for (k, v) in &entry.env {
            env.insert(k, value(v.as_str()));
        }
        t.insert("env", Item::Table(env));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(env: &[(&str, &str)]) -> McpEntry {
        McpEntry {
            command: "/opt/legate/bin/legate".into(),
            args: vec!["mcp".into()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_users_own_keys_of_an_earlier_entry_are_kept_and_an_inline_table_is_read() {
        let before = "mcp_servers = { legate = { command = \"old\", enabled = false, startup_timeout_sec = 30 } }\n";
        let after = apply(Some(before), &entry(&[]), Path::new("c.toml")).unwrap();
        let doc: toml_edit::DocumentMut = after.parse().unwrap();
        let legate = &doc["mcp_servers"]["legate"];
        assert_eq!(legate["command"].as_str(), Some("/opt/legate/bin/legate"));
        assert_eq!(legate["enabled"].as_bool(), Some(false));
        assert_eq!(legate["startup_timeout_sec"].as_integer(), Some(30));
    }

    #[test]
    fn the_entry_is_added_and_the_rest_of_the_file_kept() {
        let before =
            "# my settings\nmodel = \"o4\"\n\n[mcp_servers.docs]\ncommand = \"docs\" # keep\n";
        let after = apply(Some(before), &entry(&[]), Path::new("c.toml")).unwrap();
        assert!(after.starts_with(before), "{after}");
        let doc: DocumentMut = after.parse().unwrap();
        let legate = &doc["mcp_servers"]["legate"];
        assert_eq!(legate["command"].as_str(), Some("/opt/legate/bin/legate"));
        assert_eq!(
            legate["args"]
                .as_array()
                .unwrap()
                .get(0)
                .and_then(|v| v.as_str()),
            Some("mcp")
        );
        assert_eq!(
            legate["default_tools_approval_mode"].as_str(),
            Some("approve")
        );
        assert_eq!(
            legate["tool_timeout_sec"].as_integer(),
            Some(TOOL_TIMEOUT_SECS as i64)
        );
        let passed: Vec<&str> = legate["env_vars"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(passed.contains(&"LEGATE_HOME") && passed.contains(&"XDG_RUNTIME_DIR"));
        assert!(legate.get("env").is_none());
        assert_eq!(doc["mcp_servers"]["docs"]["command"].as_str(), Some("docs"));
    }

    #[test]
    fn a_second_setup_replaces_the_entry_and_pins_the_store() {
        let first = apply(None, &entry(&[]), Path::new("c.toml")).unwrap();
        let second = apply(
            Some(&first),
            &entry(&[("LEGATE_HOME", "/srv/legate")]),
            Path::new("c.toml"),
        )
        .unwrap();
        let doc: DocumentMut = second.parse().unwrap();
        let legate = &doc["mcp_servers"]["legate"];
        assert_eq!(legate["env"]["LEGATE_HOME"].as_str(), Some("/srv/legate"));
        let passed = legate["env_vars"].as_array().unwrap();
        assert!(!passed.iter().any(|v| v.as_str() == Some("LEGATE_HOME")));
        assert_eq!(
            second.matches("[mcp_servers.legate]").count(),
            1,
            "{second}"
        );
        // Idempotent.
        let third = apply(
            Some(&second),
            &entry(&[("LEGATE_HOME", "/srv/legate")]),
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(third, second);
    }

    #[test]
    fn a_file_that_is_not_toml_or_has_odd_servers_is_refused() {
        let e = apply(Some("model = \n"), &entry(&[]), Path::new("/h/c.toml")).unwrap_err();
        assert!(e.to_string().contains("/h/c.toml is not valid TOML"), "{e}");
        let e = apply(Some("mcp_servers = 3\n"), &entry(&[]), Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("`mcp_servers`"), "{e}");
    }
}
