//! The configuration model: `[limits]` and `[agents.NAME]` in TOML, validated into
//! [`Config`]. Parsing is pure (text in, config or error out); reading the file is the
//! caller's job.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::agent::AgentSpec;
use crate::notify::NotifySettings;
use crate::sections::{
    HookSettings, McpSettings, RawHooks, RawMcp, RawNotify, RawRetention, Retention,
};
use crate::size::{parse_duration, parse_duration_opt, parse_size};

/// Global limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// How many tasks may run at once across all agents.
    pub max_running: u32,
    /// How deep delegation may nest (a task submitted by a person has depth 1).
    pub max_depth: u32,
    /// Per-task cap on each captured log file; past it the tail is kept.
    pub log_cap: u64,
    /// Cap on the result text kept in the store (the tail is kept).
    pub result_cap: u64,
    /// Time between TERM and KILL when ending a task's process tree.
    pub kill_grace: Duration,
    /// Timeout for tasks whose agent and submission give none (`None`: no limit).
    pub default_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_running: 4,
            max_depth: 2,
            log_cap: 64 << 20,
            result_cap: 1 << 20,
            kill_grace: Duration::from_secs(5),
            default_timeout: Some(Duration::from_secs(3600)),
        }
    }
}

/// The whole validated configuration: limits plus every agent, built-ins included.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Global limits.
    pub limits: Limits,
    /// Agents by name.
    pub agents: BTreeMap<String, AgentSpec>,
    /// Where every finished task is announced.
    pub notify: NotifySettings,
    /// Automatic pruning.
    pub retention: Retention,
    /// Claude Code hook behaviour.
    pub hooks: HookSettings,
    /// MCP server behaviour.
    pub mcp: McpSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            agents: crate::presets::builtins()
                .into_iter()
                .map(|a| (a.name.clone(), a))
                .collect(),
            notify: NotifySettings::default(),
            retention: Retention::default(),
            hooks: HookSettings::default(),
            mcp: McpSettings::default(),
        }
    }
}

/// A config file that cannot be used: where (file, line, key) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when known.
    pub file: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The offending key (dotted path), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config")?;
        if let Some(file) = &self.file {
            write!(f, " {file}")?;
        }
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, " key '{key}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    agents: BTreeMap<String, crate::agent_config::RawAgent>,
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    hooks: RawHooks,
    #[serde(default)]
    mcp: RawMcp,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_running: Option<u32>,
    max_depth: Option<u32>,
    log_cap: Option<SizeValue>,
    result_cap: Option<SizeValue>,
    kill_grace: Option<String>,
    default_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl Config {
    /// Parses and validates config text. `file` is only used in error messages.
    pub fn parse(text: &str, file: Option<&str>) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let key = line.and_then(|l| key_on_line(text, l));
            ConfigError {
                file: file.map(str::to_string),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let err = |table: &str, key: &str, message: String| ConfigError {
            file: file.map(str::to_string),
            line: locate(text, table, key),
            key: Some(format!("{table}.{key}")),
            message,
        };
        let mut config = Config::default();
        let l = &mut config.limits;
        let rl = raw.limits;
        if let Some(v) = rl.max_running {
            if v == 0 {
                return Err(err("limits", "max_running", "must be at least 1".into()));
            }
            l.max_running = v;
        }
        if let Some(v) = rl.max_depth {
            l.max_depth = v;
        }
        if let Some(v) = rl.log_cap {
            l.log_cap = size_value(v).map_err(|m| err("limits", "log_cap", m))?;
            if l.log_cap < 4096 {
                return Err(err("limits", "log_cap", "must be at least 4KiB".into()));
            }
        }
        if let Some(v) = rl.result_cap {
            l.result_cap = size_value(v).map_err(|m| err("limits", "result_cap", m))?;
        }
        if let Some(v) = rl.kill_grace {
            l.kill_grace = parse_duration(&v).map_err(|m| err("limits", "kill_grace", m))?;
        }
        if let Some(v) = rl.default_timeout {
            l.default_timeout =
                parse_duration_opt(&v).map_err(|m| err("limits", "default_timeout", m))?;
        }
        config.notify = raw
            .notify
            .validate()
            .map_err(|(k, m)| err("notify", k, m))?;
        config.retention = raw
            .retention
            .validate()
            .map_err(|(k, m)| err("retention", k, m))?;
        config.hooks = raw.hooks.validate().map_err(|(k, m)| err("hooks", k, m))?;
        config.mcp = raw.mcp.validate().map_err(|(k, m)| err("mcp", k, m))?;
        // Tables start from the pristine built-ins, whatever order they come in: adjusting
        // `[agents.claude]` does not change what `preset = "claude"` starts from elsewhere.
        let presets = Config::default().agents;
        for (name, ra) in raw.agents {
            let table = format!("agents.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError {
                    file: file.map(str::to_string),
                    line: locate(text, &table, ""),
                    key: Some(table),
                    message: "agent names use only letters, digits, '-' and '_'".into(),
                });
            }
            let base = ra
                .base(&name, &presets)
                .map_err(|(key, m)| err(&table, key, m))?;
            let spec = ra
                .into_spec(&name, base)
                .map_err(|(key, m)| err(&table, key, m))?;
            config.agents.insert(name, spec);
        }
        Ok(config)
    }

    /// The names of all agents, for "unknown agent" messages.
    pub fn agent_names(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }
}

fn size_value(v: SizeValue) -> Result<u64, String> {
    match v {
        SizeValue::Bytes(b) => Ok(b),
        SizeValue::Text(t) => parse_size(&t),
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line - 1)?;
    let key = l.split('=').next()?.trim().trim_matches(['[', ']']).trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// Finds the line of `key` inside `[table]` (or of the table header when `key` is empty).
fn locate(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut in_table = false;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            let name = l.trim_matches(['[', ']']).trim().replace(['"', '\''], "");
            in_table = name == table;
            if in_table && key.is_empty() {
                return Some(i + 1);
            }
            continue;
        }
        if in_table && l.split('=').next().map(str::trim) == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{OutputCapPolicy, PromptMode};

    #[test]
    fn empty_config_gives_defaults_with_sh() {
        let c = Config::parse("", None).unwrap();
        assert_eq!(c.limits, Limits::default());
        assert!(c.agents.contains_key("sh"));
        assert!(!c.agents["sh"].for_models);
    }

    #[test]
    fn full_config_parses() {
        let c = Config::parse(
            r#"
[limits]
max_running = 8
max_depth = 3
log_cap = "1MiB"
kill_grace = "2s"
default_timeout = "none"

[agents.fake]
command = ["fake", "{prompt}"]
prompt = "stdin"
env = { A = "1" }
timeout = "10m"
max_running = 2
description = "a fake"
retry_interrupted = true
on_output_cap = "fail"
"#,
            Some("c.toml"),
        )
        .unwrap();
        assert_eq!(c.limits.max_running, 8);
        assert_eq!(c.limits.log_cap, 1 << 20);
        assert_eq!(c.limits.default_timeout, None);
        let a = &c.agents["fake"];
        assert_eq!(a.prompt, PromptMode::Stdin);
        assert_eq!(a.max_running, Some(2));
        assert_eq!(a.timeout, Some(Duration::from_secs(600)));
        assert!(a.retry_interrupted);
        assert_eq!(a.on_output_cap, OutputCapPolicy::Fail);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = Config::parse("[limits]\nmax_runing = 3\n", Some("/x/config.toml")).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("max_runing"));
        let s = e.to_string();
        assert!(s.contains("/x/config.toml") && s.contains("line 2"), "{s}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Config::parse("[agents.a]\ncommand = []\n", Some("f")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("agents.a.command"));
        assert_eq!(e.line, Some(2));
        let e = Config::parse("[agents.a]\ndescription = \"x\"\n", None).unwrap_err();
        assert!(e.message.contains("required"));
        let e = Config::parse("[limits]\nmax_running = 0\n", None).unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = Config::parse("[limits]\nkill_grace = \"soon\"\n", None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("limits.kill_grace"));
        let e = Config::parse("[limits]\nmax_running = \"four\"\n", None).unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = Config::parse("[agents.\"a b\"]\ncommand = [\"x\"]\n", None).unwrap_err();
        assert!(e.message.contains("agent names"));
    }
}
