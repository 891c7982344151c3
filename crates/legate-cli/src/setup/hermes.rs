//! Hermes (`hermes-agent` 0.19): everything in Hermes' home, `$HERMES_HOME` (default
//! `~/.hermes`; Hermes reads one configuration per profile, so there is no project scope):
//!
//! - `config.yaml`: the MCP server `mcp_servers.legate` (this executable, `mcp`, the pinned
//!   store variables in `env:` — Hermes passes a stdio server only PATH, HOME, USER, LANG,
//!   LC_ALL, TERM, SHELL, TMPDIR and XDG_* besides — and a `timeout:` above legate's longest
//!   wait, Hermes' default being 300 s); the shell hook `hooks.pre_llm_call` running `legate
//!   hook hermes`; and `legate` in `plugins.enabled` (Hermes loads user plugins only when
//!   listed there). The rest of the file is kept, in its order; a file with comments is not
//!   edited (they would be lost): legate prints what to add by hand instead.
//! - `shell-hooks-allowlist.json`: the approval of that hook command (Hermes asks for it on
//!   the first interactive run otherwise, and skips the hook where nobody can answer).
//! - `plugins/legate/`: legate's plugin (`integrations/hermes/legate/`, built into this
//!   executable), which wakes an idle interactive session with a finished result.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_yaml_ng::{Mapping, Value};

use super::{McpEntry, TOOL_TIMEOUT_SECS};

/// The plugin's manifest as shipped in the repository.
pub const PLUGIN_MANIFEST: &str =
    include_str!("../../../../integrations/hermes/legate/plugin.yaml");

/// The plugin's code as shipped in the repository.
pub const PLUGIN_SOURCE: &str = include_str!("../../../../integrations/hermes/legate/__init__.py");

/// The plugin's line that `legate setup` fills in.
const SETUP_LINE: &str = "SETUP: Dict[str, Any] = {}";

/// The Hermes event legate's shell hook answers.
pub const HOOK_EVENT: &str = "pre_llm_call";

/// Hermes' home: `$HERMES_HOME`, else `~/.hermes`. Errors: no home directory.
pub fn hermes_home() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("HERMES_HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h),
            None => super::home()?.join(".hermes"),
        },
    )
}

/// The command Hermes runs for the hook (split by Hermes with `shlex`, run without a shell):
/// this executable's `hook hermes`, through `/usr/bin/env` when store variables are pinned.
/// Errors: a part cannot be quoted (it holds a NUL byte).
pub fn hook_command(entry: &McpEntry) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    if !entry.env.is_empty() {
        parts.push("/usr/bin/env".into());
        parts.extend(entry.env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.push(entry.command.clone());
    parts.extend(["hook".into(), "hermes".into()]);
    let quoted = shlex::try_join(parts.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("cannot write the hook command: {e}"))?;
    Ok(quoted)
}

/// Whether `text` may hold YAML comments: a `#` opening a line or after a blank (strings
/// holding ` #` count too; such a file is left alone, which is only cautious).
fn has_comments(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with('#') || l.contains(" #") || l.contains("\t#")
    })
}

/// `before` (the text of `config.yaml`, if any) with legate's MCP server, hook and plugin put
/// in (older ones of legate replaced), the rest kept in its order. Errors: `before` has
/// comments or is not a YAML mapping (the message says what to add by hand), or one of the
/// keys legate edits has another shape.
pub fn apply_config(before: Option<&str>, entry: &McpEntry, file: &Path) -> Result<String> {
    let hook = hook_command(entry)?;
    let by_hand = || by_hand(entry, &hook);
    let text = before.unwrap_or("");
    let mut config: Mapping = if text.trim().is_empty() {
        Mapping::new()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a YAML mapping legate can edit ({e}), so legate leaves it alone\nadd \
                 this yourself, or fix the file and run `legate setup hermes` again:\n{}",
                file.display(),
                by_hand()
            )
        })?
    };
    let original = config.clone();
    let shape = |key: &str, what: &str| {
        anyhow::anyhow!(
            "`{key}` in {} is not {what}; fix it, then run `legate setup hermes` again",
            file.display()
        )
    };
    // mcp_servers.legate
    mapping_at(&mut config, "mcp_servers")
        .ok_or_else(|| shape("mcp_servers", "a mapping"))?
        .insert("legate".into(), server(entry));
    // hooks.pre_llm_call: legate's entry, once.
    let hooks = mapping_at(&mut config, "hooks").ok_or_else(|| shape("hooks", "a mapping"))?;
    let list = list_at(hooks, HOOK_EVENT).ok_or_else(|| shape("hooks.pre_llm_call", "a list"))?;
    list.retain(|h| !is_legate_hook(h));
    list.push(Value::Mapping(Mapping::from_iter([(
        "command".into(),
        Value::String(hook.clone()),
    )])));
    // plugins.enabled has legate; plugins.disabled does not.
    let plugins =
        mapping_at(&mut config, "plugins").ok_or_else(|| shape("plugins", "a mapping"))?;
    let enabled = list_at(plugins, "enabled").ok_or_else(|| shape("plugins.enabled", "a list"))?;
    if !enabled.iter().any(|v| v.as_str() == Some("legate")) {
        enabled.push("legate".into());
    }
    if let Some(Value::Sequence(disabled)) = plugins.get_mut("disabled") {
        disabled.retain(|v| v.as_str() != Some("legate"));
    }
    if config == original {
        // Nothing to add (the user may have added it by hand): the file stays as it is.
        return Ok(text.to_string());
    }
    if has_comments(text) {
        anyhow::bail!(
            "{} has comments, which legate would lose, so legate leaves it alone\nadd this \
             yourself (merging with keys you have), or remove the comments and run `legate \
             setup hermes` again:\n{}",
            file.display(),
            by_hand()
        );
    }
    Ok(serde_yaml_ng::to_string(&config)?)
}

/// Whether a `hooks.pre_llm_call` entry is legate's (this or another legate's `hook hermes`).
fn is_legate_hook(h: &Value) -> bool {
    h.get("command")
        .and_then(Value::as_str)
        .and_then(shlex::split)
        .is_some_and(|argv| argv.ends_with(&["hook".to_string(), "hermes".to_string()]))
}

/// The mapping under `key`, made when absent; `None` when it is something else.
fn mapping_at<'a>(m: &'a mut Mapping, key: &str) -> Option<&'a mut Mapping> {
    let v = m
        .entry(key.into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if v.is_null() {
        *v = Value::Mapping(Mapping::new());
    }
    v.as_mapping_mut()
}

/// The list under `key`, made when absent; `None` when it is something else.
fn list_at<'a>(m: &'a mut Mapping, key: &str) -> Option<&'a mut Vec<Value>> {
    let v = m
        .entry(key.into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if v.is_null() {
        *v = Value::Sequence(Vec::new());
    }
    v.as_sequence_mut()
}

/// `mcp_servers.legate`.
fn server(entry: &McpEntry) -> Value {
    let mut s = Mapping::new();
    s.insert("command".into(), entry.command.clone().into());
    s.insert(
        "args".into(),
        Value::Sequence(entry.args.iter().cloned().map(Value::String).collect()),
    );
    if !entry.env.is_empty() {
        let env = entry
            .env
            .iter()
            .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
            .collect();
        s.insert("env".into(), Value::Mapping(env));
    }
    s.insert("timeout".into(), TOOL_TIMEOUT_SECS.into());
    Value::Mapping(s)
}

/// What to add by hand to a `config.yaml` legate will not edit.
fn by_hand(entry: &McpEntry, hook: &str) -> String {
    let mut m = Mapping::new();
    m.insert(
        "mcp_servers".into(),
        Value::Mapping(Mapping::from_iter([("legate".into(), server(entry))])),
    );
    let hook = Mapping::from_iter([("command".into(), Value::String(hook.to_string()))]);
    m.insert(
        "hooks".into(),
        Value::Mapping(Mapping::from_iter([(
            HOOK_EVENT.into(),
            Value::Sequence(vec![Value::Mapping(hook)]),
        )])),
    );
    m.insert(
        "plugins".into(),
        Value::Mapping(Mapping::from_iter([(
            "enabled".into(),
            Value::Sequence(vec!["legate".into()]),
        )])),
    );
    serde_yaml_ng::to_string(&m).unwrap_or_default()
}

/// `before` (the text of `shell-hooks-allowlist.json`, if any) with the hook command approved
/// for [`HOOK_EVENT`] (an approval already there is kept as it is). Errors: `before` is not
/// the JSON object Hermes writes.
pub fn apply_allowlist(before: Option<&str>, command: &str, file: &Path) -> Result<String> {
    use serde_json::{Map, Value as Json, json};
    let mut doc: Map<String, Json> = match before.filter(|b| !b.trim().is_empty()) {
        None => Map::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a JSON object ({e}); approve the hook when Hermes asks, or fix the \
                 file and run `legate setup hermes` again",
                file.display()
            )
        })?,
    };
    let approvals = doc
        .entry("approvals")
        .or_insert_with(|| Json::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| anyhow::anyhow!("\"approvals\" in {} is not a list", file.display()))?;
    let known = approvals.iter().any(|a| {
        a.get("event").and_then(Json::as_str) == Some(HOOK_EVENT)
            && a.get("command").and_then(Json::as_str) == Some(command)
    });
    if !known {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        approvals.push(json!({
            "event": HOOK_EVENT,
            "command": command,
            "approved_at": legate_domain::Timestamp(ms).to_rfc3339(),
            "script_mtime_at_approval": null,
        }));
    }
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    Ok(text)
}

/// The plugin's `__init__.py` with `entry`'s program and variables pinned in `SETUP`.
pub fn plugin(entry: &McpEntry) -> String {
    // A JSON object of strings is a Python dict literal.
    let pinned = serde_json::json!({ "legate": entry.command, "env": entry.env_json() });
    PLUGIN_SOURCE.replacen(SETUP_LINE, &format!("SETUP: Dict[str, Any] = {pinned}"), 1)
}

/// What the setup did for the user, said after it was written.
pub fn what_it_means() -> Vec<String> {
    vec![
        format!("Hermes' models get legate's MCP tools; a call may take {TOOL_TIMEOUT_SECS} s (legate's longest wait is shorter)"),
        "each turn starts with the session's unread results (the pre_llm_call hook, approved for you), in `hermes -z` too"
            .into(),
        "an idle interactive session is woken by a finished result (the legate plugin, enabled)".into(),
        "restart running Hermes processes to load them".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> McpEntry {
        super::super::sample_entry("/opt/legate/bin/legate", "/srv/my legate")
    }

    #[test]
    fn the_hook_command_splits_back_into_its_argv() {
        let c = hook_command(&entry()).unwrap();
        assert_eq!(
            shlex::split(&c).unwrap(),
            [
                "/usr/bin/env",
                "LEGATE_HOME=/srv/my legate",
                "/opt/legate/bin/legate",
                "hook",
                "hermes"
            ]
        );
        let bare = McpEntry {
            env: vec![],
            ..entry()
        };
        assert_eq!(
            hook_command(&bare).unwrap(),
            "/opt/legate/bin/legate hook hermes"
        );
    }

    #[test]
    fn the_config_gets_server_hook_and_plugin_keeping_the_rest() {
        let before = "model:\n  default: m\nmcp_servers:\n  docs:\n    url: http://x\nhooks:\n  pre_llm_call:\n  - command: /usr/bin/other\n  - command: /old/legate hook hermes\nplugins:\n  disabled: [legate]\n";
        let after = apply_config(Some(before), &entry(), Path::new("c.yaml")).unwrap();
        let v: Value = serde_yaml_ng::from_str(&after).unwrap();
        assert_eq!(v["model"]["default"], "m");
        assert_eq!(v["mcp_servers"]["docs"]["url"], "http://x");
        let legate = &v["mcp_servers"]["legate"];
        assert_eq!(legate["command"], "/opt/legate/bin/legate");
        assert_eq!(legate["args"][0], "mcp");
        assert_eq!(legate["env"]["LEGATE_HOME"], "/srv/my legate");
        assert_eq!(legate["timeout"], TOOL_TIMEOUT_SECS);
        let hooks = v["hooks"]["pre_llm_call"].as_sequence().unwrap();
        assert_eq!(hooks.len(), 2, "{after}");
        assert_eq!(hooks[0]["command"], "/usr/bin/other");
        assert_eq!(
            hooks[1]["command"],
            hook_command(&entry()).unwrap().as_str()
        );
        assert_eq!(v["plugins"]["enabled"][0], "legate");
        assert!(v["plugins"]["disabled"].as_sequence().unwrap().is_empty());
        // Again: the same.
        assert_eq!(
            apply_config(Some(&after), &entry(), Path::new("c.yaml")).unwrap(),
            after
        );
        assert!(apply_config(None, &entry(), Path::new("c.yaml")).is_ok());
    }

    #[test]
    fn a_config_with_comments_is_refused_with_what_to_add_by_hand() {
        let e = apply_config(
            Some("# mine\nmodel: {default: m}\n"),
            &entry(),
            Path::new("/h/config.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/h/config.yaml has comments"), "{e}");
        assert!(e.contains("pre_llm_call") && e.contains("timeout:"), "{e}");
        let e = apply_config(Some("hooks: 3\n"), &entry(), Path::new("c.yaml")).unwrap_err();
        assert!(e.to_string().contains("`hooks`"), "{e}");
    }

    #[test]
    fn a_config_with_comments_that_already_has_it_all_is_left_as_it_is() {
        let done = apply_config(None, &entry(), Path::new("c.yaml")).unwrap();
        let commented = format!("# ── Security (Hermes writes these)\n{done}# end\n");
        let again = apply_config(Some(&commented), &entry(), Path::new("c.yaml")).unwrap();
        assert_eq!(again, commented);
    }

    #[test]
    fn the_hook_is_approved_once() {
        let c = "/opt/legate/bin/legate hook hermes";
        let a = apply_allowlist(None, c, Path::new("a.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v["approvals"][0]["event"], "pre_llm_call");
        assert_eq!(v["approvals"][0]["command"], c);
        assert_eq!(
            apply_allowlist(Some(&a), c, Path::new("a.json")).unwrap(),
            a
        );
    }

    #[test]
    fn the_plugin_pins_the_program_and_the_store() {
        assert_eq!(PLUGIN_SOURCE.matches(SETUP_LINE).count(), 1);
        let p = plugin(&entry());
        assert!(
            p.contains(r#"SETUP: Dict[str, Any] = {"legate":"/opt/legate/bin/legate","env":{"LEGATE_HOME":"/srv/my legate"}}"#),
            "{p}"
        );
    }
}
