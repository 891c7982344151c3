//! The configuration model: `[limits]` and `[agents.NAME]` in TOML, validated into
//! [`Config`]. Parsing is pure (text in, config or error out); reading the file is the
//! caller's job.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::agent::AgentSpec;
use crate::config_spans::{Refusal, check, key_at, position, written_key};
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

/// A config file that cannot be used: where (file, line, column, key) and what to do.
/// Shown as `invalid config FILE:LINE:COLUMN key 'KEY': MESSAGE` (the parts known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when known.
    pub file: Option<String>,
    /// 1-based line of the offending value (or key, or table), when known.
    pub line: Option<usize>,
    /// 1-based column on that line, counted in characters, when known.
    pub column: Option<usize>,
    /// The offending key (full dotted path, e.g. `agents.claude.timeout`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config")?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " {file}:{line}")?,
            (Some(file), None) => write!(f, " {file}")?,
            (None, Some(line)) => write!(f, " line {line}")?,
            (None, None) => {}
        }
        if let (Some(column), Some(_)) = (self.column, self.line) {
            match self.file {
                Some(_) => write!(f, ":{column}")?,
                None => write!(f, ", column {column}")?,
            }
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
    agents: BTreeMap<Spanned<String>, Spanned<crate::agent_config::RawAgent>>,
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
    max_running: Option<Spanned<u32>>,
    max_depth: Option<Spanned<u32>>,
    log_cap: Option<Spanned<SizeValue>>,
    result_cap: Option<Spanned<SizeValue>>,
    kill_grace: Option<Spanned<String>>,
    default_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl Config {
    /// Parses and validates config text. `file` is only used in error messages. An error
    /// names the line and column of the value (or key, or table) at fault, from the TOML
    /// parser's spans, and its full dotted key.
    pub fn parse(text: &str, file: Option<&str>) -> Result<Config, ConfigError> {
        let at = |byte: usize, key: Option<String>, message: String| {
            let (line, column) = position(text, byte);
            ConfigError {
                file: file.map(str::to_string),
                line: Some(line),
                column: Some(column),
                key,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let message = e.message().trim();
                let message = match written_key(text, span.start) {
                    // The parser names no key it finds twice.
                    Some(k) if message.starts_with("duplicate") => format!("{message} '{k}'"),
                    _ => message.to_string(),
                };
                at(span.start, key_at(text, span.start), message)
            }
            None => ConfigError {
                file: file.map(str::to_string),
                line: None,
                column: None,
                key: None,
                message: e.message().trim().to_string(),
            },
        })?;
        let refused = |table: &str, r: Refusal| {
            at(r.span.start, Some(format!("{table}.{}", r.key)), r.message)
        };
        let mut config = Config {
            limits: raw.limits.validate().map_err(|r| refused("limits", r))?,
            notify: raw.notify.validate().map_err(|r| refused("notify", r))?,
            retention: raw
                .retention
                .validate()
                .map_err(|r| refused("retention", r))?,
            hooks: raw.hooks.validate().map_err(|r| refused("hooks", r))?,
            mcp: raw.mcp.validate().map_err(|r| refused("mcp", r))?,
            ..Config::default()
        };
        // Tables start from the pristine built-ins, whatever order they come in: adjusting
        // `[agents.claude]` does not change what `preset = "claude"` starts from elsewhere.
        let presets = Config::default().agents;
        for (name, ra) in raw.agents {
            let (name_at, name) = (name.span(), name.into_inner());
            let table = format!("agents.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(at(
                    name_at.start,
                    Some(table),
                    "agent names use only letters, digits, '-' and '_'".into(),
                ));
            }
            let (table_at, ra) = (ra.span(), ra.into_inner());
            let base = ra.base(&name, &presets).map_err(|r| refused(&table, r))?;
            let spec = ra
                .into_spec(&name, base, table_at)
                .map_err(|r| refused(&table, r))?;
            config.agents.insert(name, spec);
        }
        Ok(config)
    }

    /// The names of all agents, for "unknown agent" messages.
    pub fn agent_names(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }
}

impl RawLimits {
    fn validate(self) -> Result<Limits, Refusal> {
        let mut l = Limits::default();
        if let Some(v) = self.max_running {
            l.max_running = check("max_running", v, |v| match v {
                0 => Err("must be at least 1".to_string()),
                v => Ok(v),
            })?;
        }
        if let Some(v) = self.max_depth {
            // Depth 1 is a task submitted by a person or a host: 0 would refuse every task.
            l.max_depth = check("max_depth", v, |v| match v {
                0 => Err("must be at least 1 (1: tasks delegate nothing further)".to_string()),
                v => Ok(v),
            })?;
        }
        if let Some(v) = self.log_cap {
            l.log_cap = check("log_cap", v, |v| match size_value(v)? {
                b if b < 4096 => Err("must be at least 4KiB".to_string()),
                b => Ok(b),
            })?;
        }
        if let Some(v) = self.result_cap {
            l.result_cap = check("result_cap", v, size_value)?;
        }
        if let Some(v) = self.kill_grace {
            l.kill_grace = check("kill_grace", v, |v| parse_duration(&v))?;
        }
        if let Some(v) = self.default_timeout {
            l.default_timeout = check("default_timeout", v, |v| parse_duration_opt(&v))?;
        }
        Ok(l)
    }
}

fn size_value(v: SizeValue) -> Result<u64, String> {
    match v {
        SizeValue::Bytes(b) => Ok(b),
        SizeValue::Text(t) => parse_size(&t),
    }
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
        assert_eq!(e.key.as_deref(), Some("limits.max_runing"));
        let s = e.to_string();
        assert!(s.contains("/x/config.toml:2:1"), "{s}");
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
