//! Claude Code: legate's plugin (`integrations/claude-code`, built into this executable) as a
//! skills-directory plugin, which Claude Code loads at every session start with no
//! marketplace (`legate@skills-dir`, see `claude plugin init --help`) — `~/.claude/skills/legate/`
//! (`$CLAUDE_CONFIG_DIR/skills/legate/` when set), or the project's `.claude/skills/legate/` —
//! and the permission rule for the plugin's MCP tools in Claude Code's `settings.json` (the
//! user's, or the project's `.claude/settings.json`), without which `claude -p` refuses them.
//!
//! The plugin holds the MCP server (`legate mcp`), the hooks (`legate hook claude-code` on
//! `SessionStart`, `UserPromptSubmit`, `PostToolUse` and `Stop`) and the monitor
//! (`legate inbox --follow --claude-code`, armed at session start). The installed copy runs
//! this executable with the store variables the setup saw, as the MCP entries of the other
//! hosts do.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::{McpEntry, Scope};

/// The plugin's files as shipped in the repository: path inside the plugin, text.
pub const PLUGIN_FILES: [(&str, &str); 5] = [
    (
        ".claude-plugin/plugin.json",
        include_str!("../../../../integrations/claude-code/.claude-plugin/plugin.json"),
    ),
    (
        ".mcp.json",
        include_str!("../../../../integrations/claude-code/.mcp.json"),
    ),
    (
        "hooks/hooks.json",
        include_str!("../../../../integrations/claude-code/hooks/hooks.json"),
    ),
    (
        "monitors/monitors.json",
        include_str!("../../../../integrations/claude-code/monitors/monitors.json"),
    ),
    (
        "README.md",
        include_str!("../../../../integrations/claude-code/README.md"),
    ),
];

/// The permission rule that allows every tool of the plugin's MCP server: Claude Code names a
/// plugin's MCP tools `mcp__plugin_PLUGIN_SERVER__TOOL`.
pub const ALLOW_RULE: &str = "mcp__plugin_legate_legate";

/// Claude Code's user configuration directory: `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
fn user_dir() -> Result<PathBuf> {
    match std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(super::home()?.join(".claude")),
    }
}

/// Claude Code's configuration directory for `scope`. Errors: no home directory (user scope)
/// or no current directory (project scope).
fn config_dir(scope: Scope) -> Result<PathBuf> {
    match scope {
        Scope::User => user_dir(),
        Scope::Project => Ok(super::project_dir()?.join(".claude")),
    }
}

/// Where the plugin goes for `scope`. Errors: as [`config_dir`].
pub fn plugin_dir(scope: Scope) -> Result<PathBuf> {
    Ok(config_dir(scope)?.join("skills").join("legate"))
}

/// Where the permission rule goes for `scope`. Errors: as [`config_dir`].
pub fn settings_file(scope: Scope) -> Result<PathBuf> {
    Ok(config_dir(scope)?.join("settings.json"))
}

/// The plugin's files (path inside the plugin, text) with `entry`'s program and variables
/// pinned in every command. Errors: a shipped file is not the JSON expected (a broken build),
/// or a path cannot be quoted for the shell Claude Code runs hooks with.
pub fn plugin(entry: &McpEntry) -> Result<Vec<(&'static str, String)>> {
    let mut files = Vec::new();
    for (path, text) in PLUGIN_FILES {
        let pinned = match path {
            ".mcp.json" => pin_mcp(text, entry)?,
            "hooks/hooks.json" | "monitors/monitors.json" => pin_commands(text, entry)?,
            _ => text.to_string(),
        };
        files.push((path, pinned));
    }
    Ok(files)
}

/// The MCP server runs this executable (with the shipped arguments: `mcp --no-tasks`) with
/// the pinned variables.
fn pin_mcp(text: &str, entry: &McpEntry) -> Result<String> {
    let mut v: Value = serde_json::from_str(text).context("the plugin's .mcp.json")?;
    let server = v
        .pointer_mut("/mcpServers/legate")
        .and_then(Value::as_object_mut)
        .context("the plugin's .mcp.json has no mcpServers.legate")?;
    server.insert("command".into(), Value::String(entry.command.clone()));
    if !entry.env.is_empty() {
        server.insert("env".into(), Value::Object(entry.env_json()));
    }
    pretty(&v)
}

/// Every `command` that starts with `legate ` runs this executable, with the pinned variables
/// set before it (`LEGATE_HOME=… /path/to/legate hook claude-code`: Claude Code runs hook and
/// monitor commands with a shell).
fn pin_commands(text: &str, entry: &McpEntry) -> Result<String> {
    let mut prefix = String::new();
    for (k, v) in &entry.env {
        let v = shlex::try_quote(v).with_context(|| format!("{k} cannot be quoted for a shell"))?;
        prefix.push_str(&format!("{k}={v} "));
    }
    let exe = shlex::try_quote(&entry.command)
        .context("the legate executable's path cannot be quoted for a shell")?;
    prefix.push_str(&exe);
    let mut v: Value = serde_json::from_str(text).context("a shipped plugin file")?;
    pin_in(&mut v, &prefix);
    pretty(&v)
}

fn pin_in(v: &mut Value, prefix: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(s) if k == "command" => {
                        if let Some(rest) = s.strip_prefix("legate ") {
                            *s = format!("{prefix} {rest}");
                        }
                    }
                    _ => pin_in(x, prefix),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| pin_in(x, prefix)),
        _ => {}
    }
}

fn pretty(v: &Value) -> Result<String> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(s)
}

/// `before` (the text of Claude Code's `settings.json`, if any) with [`ALLOW_RULE`] in
/// `permissions.allow`, the rest kept in its order; ends in a newline. Errors: `before` is not
/// a JSON object (comments included: legate would lose them), or `permissions` is not an
/// object or its `allow` not an array.
pub fn apply_settings(before: Option<&str>, file: &std::path::Path) -> Result<String> {
    let again = "legate setup claude-code";
    let allowed = |s: &Map<String, Value>| {
        s.get("permissions")
            .and_then(|p| p.get("allow"))
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|r| r.as_str() == Some(ALLOW_RULE)))
    };
    let mut settings: Map<String, Value> = match before.filter(|b| !b.trim().is_empty()) {
        None => Map::new(),
        // A file with comments (JSONC) that already allows the tools needs nothing.
        Some(text)
            if serde_json::from_str::<Value>(text).is_err()
                && super::read_jsonc(text).is_some_and(|s| allowed(&s)) =>
        {
            return Ok(text.to_string());
        }
        Some(text) => serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a JSON object legate can edit ({e}; comments are not kept either), so \
                 legate leaves it alone\nadd \"{ALLOW_RULE}\" to \"permissions\": {{\"allow\": \
                 [...]}} yourself, or fix the file and run `{again}` again",
                file.display(),
            )
        })?,
    };
    let wrong = |what: &str| {
        anyhow::anyhow!(
            "{what} in {} is not what Claude Code reads; fix it, then run `{again}` again",
            file.display()
        )
    };
    let allow = settings
        .entry("permissions")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| wrong("\"permissions\""))?
        .entry("allow")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| wrong("\"permissions.allow\""))?;
    if !allow.iter().any(|r| r.as_str() == Some(ALLOW_RULE)) {
        allow.push(Value::String(ALLOW_RULE.into()));
    }
    pretty(&Value::Object(settings))
}

/// `legate setup claude-code`: the plugin's files and the settings file are worked out (and
/// checked) before any is written; with `print`, shown instead.
pub fn setup(entry: &McpEntry, scope: Scope, print: bool) -> Result<i32> {
    let dir = plugin_dir(scope)?;
    let mut files = Vec::new();
    for (path, new) in plugin(entry)? {
        let file = dir.join(path);
        files.push((super::read_existing(&file)?, file, new));
    }
    let settings = settings_file(scope)?;
    let old = super::read_existing(&settings)?;
    // Settings first: a refusal to write them leaves nothing half done. Settings legate cannot
    // edit (comments) leave one step to the user, but the plugin is installed all the same.
    let mut by_hand = None;
    match apply_settings(old.as_deref(), &settings) {
        Ok(new) => files.insert(0, (old, settings.clone(), new)),
        Err(e) if !print => by_hand = Some(e),
        Err(e) => return Err(e),
    }
    if print {
        for (_, file, new) in &files {
            errln!("legate: {} would be:", file.display());
            out!("{new}");
        }
        return Ok(crate::exit::OK);
    }
    let mut changed = false;
    for (old, file, new) in &files {
        if old.as_deref() != Some(new.as_str()) {
            super::write_whole(file, new)?;
            changed = true;
        }
    }
    if let Some(e) = by_hand {
        anyhow::bail!(
            "legate installed its Claude Code plugin in {}, but one step is left for you:\n{e}",
            dir.display()
        );
    }
    if !changed {
        errln!(
            "legate: legate's Claude Code plugin in {} and its permission in {} are up to date; \
             nothing changed",
            dir.display(),
            settings.display()
        );
        return Ok(crate::exit::OK);
    }
    errln!(
        "legate: wrote legate's Claude Code plugin into {}",
        dir.display()
    );
    errln!(
        "legate: allowed its tools ({ALLOW_RULE}) in {}",
        settings.display()
    );
    for line in what_it_means(scope) {
        errln!("  {line}");
    }
    Ok(crate::exit::OK)
}

/// What the plugin does for the user, said after it was written.
pub fn what_it_means(scope: Scope) -> Vec<String> {
    let mut lines = vec![
        "Claude Code loads it at its next session start (as legate@skills-dir)".into(),
        "its models get legate's MCP tools, allowed so that `claude -p` can call them".into(),
        "finished results reach the session through its hooks (next prompt or tool use; the stop waits for running tasks)".into(),
        "and through its monitor, which wakes an idle interactive session".into(),
    ];
    if scope == Scope::Project {
        lines.push(
            "Claude Code loads a project's plugin once the project is trusted, but arms no monitor \
             a project supplies: for the wake, run `legate setup claude-code` without --project"
                .into(),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn entry() -> McpEntry {
        super::super::sample_entry("/opt/my legate/legate", "/srv/legate")
    }

    #[test]
    fn commented_settings_that_already_allow_the_tools_are_left_as_they_are() {
        let text =
            format!("{{\n  // mine\n  \"permissions\": {{\"allow\": [\"{ALLOW_RULE}\"]}}\n}}\n");
        let same = apply_settings(Some(&text), Path::new("settings.json")).unwrap();
        assert_eq!(same, text);
        let e = apply_settings(Some("{ // mine\n}"), Path::new("settings.json")).unwrap_err();
        assert!(e.to_string().contains(ALLOW_RULE), "{e}");
    }

    #[test]
    fn every_command_runs_the_pinned_executable() {
        let files = plugin(&entry()).unwrap();
        assert_eq!(files.len(), PLUGIN_FILES.len());
        let file = |p: &str| -> Value {
            serde_json::from_str(&files.iter().find(|(f, _)| *f == p).unwrap().1).unwrap()
        };
        let mcp = file(".mcp.json");
        assert_eq!(
            mcp["mcpServers"]["legate"]["command"],
            "/opt/my legate/legate"
        );
        assert_eq!(
            mcp["mcpServers"]["legate"]["args"],
            json!(["mcp", "--no-tasks"])
        );
        assert_eq!(
            mcp["mcpServers"]["legate"]["env"]["LEGATE_HOME"],
            "/srv/legate"
        );
        let hooks = file("hooks/hooks.json");
        for event in ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"] {
            assert_eq!(
                hooks["hooks"][event][0]["hooks"][0]["command"],
                "LEGATE_HOME=/srv/legate '/opt/my legate/legate' hook claude-code",
                "{event}"
            );
        }
        let monitors = file("monitors/monitors.json");
        assert_eq!(monitors[0]["when"], "always");
        assert_eq!(
            monitors[0]["command"],
            "LEGATE_HOME=/srv/legate '/opt/my legate/legate' inbox --follow --claude-code"
        );
        let manifest = file(".claude-plugin/plugin.json");
        assert_eq!(manifest["name"], "legate");
    }

    #[test]
    fn the_allow_rule_is_added_once_keeping_the_rest() {
        let before =
            r#"{"model": "x", "permissions": {"allow": ["Bash(ls)"], "deny": ["Read(.env)"]}}"#;
        let after = apply_settings(Some(before), Path::new("s.json")).unwrap();
        let v: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(v["model"], "x");
        assert_eq!(v["permissions"]["allow"], json!(["Bash(ls)", ALLOW_RULE]));
        assert_eq!(v["permissions"]["deny"], json!(["Read(.env)"]));
        assert_eq!(
            apply_settings(Some(&after), Path::new("s.json")).unwrap(),
            after
        );
        let fresh: Value =
            serde_json::from_str(&apply_settings(None, Path::new("s.json")).unwrap()).unwrap();
        assert_eq!(fresh, json!({"permissions": {"allow": [ALLOW_RULE]}}));
    }

    #[test]
    fn settings_legate_cannot_edit_are_refused() {
        let m = apply_settings(Some("{ // mine\n}"), Path::new("/p/settings.json"))
            .unwrap_err()
            .to_string();
        assert!(m.contains("/p/settings.json is not a JSON object"), "{m}");
        assert!(m.contains(ALLOW_RULE), "{m}");
        let e =
            apply_settings(Some(r#"{"permissions": {"allow": "x"}}"#), Path::new("s")).unwrap_err();
        assert!(e.to_string().contains("permissions.allow"), "{e}");
    }
}
