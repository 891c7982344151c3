//! The config sections beyond limits and agents: `[notify]`, `[retention]` and `[hooks]`.
//! Each has its validated type (with defaults) and the raw TOML shape it is read from.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config_spans::{Refusal, check};
use crate::notify::{NotifySettings, NotifyTarget};
use crate::size::{parse_duration, parse_size};

/// The `[retention]` section: automatic pruning of finished tasks. Unfinished tasks and
/// finished ones still unacknowledged in their origin's inbox are never pruned automatically.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Prune finished tasks older than this (`None`: keep them however old).
    pub max_age: Option<Duration>,
    /// Prune the oldest finished tasks while their logs together exceed this many bytes
    /// (`None`: no size limit).
    pub max_total: Option<u64>,
    /// How often to check.
    pub interval: Duration,
    /// How long a result may stay unread in its origin's inbox before it is an orphan: then it
    /// is also offered to the next session of the same scope (project or host) that reads its
    /// inbox through MCP, and listed by `legate inbox --orphans`. Orphans are never pruned
    /// while unread either.
    pub orphan_after: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Some(Duration::from_secs(14 * 24 * 3600)),
            max_total: Some(1 << 30),
            interval: Duration::from_secs(600),
            orphan_after: Duration::from_secs(3600),
        }
    }
}

/// The `[hooks]` section: how `legate hook claude-code` behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct HookSettings {
    /// How many times in a row a `Stop` may be blocked while delegated tasks run.
    pub max_stop_blocks: u32,
    /// Characters of each result injected into the conversation (the rest stays a command away).
    pub result_chars: usize,
}

impl Default for HookSettings {
    fn default() -> Self {
        HookSettings {
            max_stop_blocks: 5,
            result_chars: 4000,
        }
    }
}

/// The `[mcp]` section: how the MCP server answers models.
#[derive(Debug, Clone, PartialEq)]
pub struct McpSettings {
    /// Characters of a result put into a tool response; the rest is a resource or command away.
    pub result_chars: usize,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            result_chars: 20_000,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    result_chars: Option<Spanned<usize>>,
}

impl RawMcp {
    pub(crate) fn validate(self) -> Result<McpSettings, Refusal> {
        let mut m = McpSettings::default();
        if let Some(c) = self.result_chars {
            m.result_chars = check("result_chars", c, at_least_100)?;
        }
        Ok(m)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    #[serde(default)]
    targets: Vec<Spanned<NotifyTarget>>,
    desktop: Option<bool>,
    timeout: Option<Spanned<String>>,
    retries: Option<u32>,
    backoff: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    max_age: Option<Spanned<String>>,
    max_total: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    orphan_after: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHooks {
    max_stop_blocks: Option<u32>,
    result_chars: Option<Spanned<usize>>,
}

impl RawNotify {
    pub(crate) fn validate(self) -> Result<NotifySettings, Refusal> {
        let mut n = NotifySettings::default();
        n.targets = targets("targets", self.targets)?;
        n.desktop = self.desktop.unwrap_or(n.desktop);
        if let Some(t) = self.timeout {
            n.timeout = check("timeout", t, |t| nonzero(parse_duration(&t)))?;
        }
        n.retries = self.retries.unwrap_or(n.retries);
        if let Some(b) = self.backoff {
            n.backoff = check("backoff", b, |b| nonzero(parse_duration(&b)))?;
        }
        Ok(n)
    }
}

impl RawRetention {
    pub(crate) fn validate(self) -> Result<Retention, Refusal> {
        let mut r = Retention::default();
        if let Some(a) = self.max_age {
            r.max_age = check("max_age", a, |a| match a.as_str() {
                "none" => Ok(None),
                a => nonzero(parse_duration(a)).map(Some),
            })?;
        }
        if let Some(t) = self.max_total {
            r.max_total = check("max_total", t, |t| match t.as_str() {
                "none" => Ok(None),
                t => parse_size(t).map(Some),
            })?;
        }
        if let Some(i) = self.interval {
            r.interval = check("interval", i, |i| nonzero(parse_duration(&i)))?;
        }
        if let Some(o) = self.orphan_after {
            r.orphan_after = check("orphan_after", o, |o| nonzero(parse_duration(&o)))?;
        }
        Ok(r)
    }
}

impl RawHooks {
    pub(crate) fn validate(self) -> Result<HookSettings, Refusal> {
        let mut h = HookSettings::default();
        h.max_stop_blocks = self.max_stop_blocks.unwrap_or(h.max_stop_blocks);
        if let Some(c) = self.result_chars {
            h.result_chars = check("result_chars", c, at_least_100)?;
        }
        Ok(h)
    }
}

/// Notify targets as written, each checked where it is written (`key` names the list).
pub(crate) fn targets(
    key: &'static str,
    targets: Vec<Spanned<NotifyTarget>>,
) -> Result<Vec<NotifyTarget>, Refusal> {
    targets
        .into_iter()
        .map(|t| {
            check(key, t, |t| match t.problem() {
                Some(p) => Err(p),
                None => Ok(t),
            })
        })
        .collect()
}

fn at_least_100(chars: usize) -> Result<usize, String> {
    if chars < 100 {
        return Err("must be at least 100".into());
    }
    Ok(chars)
}

fn nonzero(d: Result<Duration, String>) -> Result<Duration, String> {
    match d? {
        d if d.is_zero() => Err("must be longer than zero".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn sections_parse_with_defaults_and_overrides() {
        let c = Config::parse("", None).unwrap();
        assert_eq!(c.retention.max_age.unwrap().as_secs(), 14 * 24 * 3600);
        assert_eq!(c.retention.orphan_after.as_secs(), 3600);
        assert_eq!(c.hooks.max_stop_blocks, 5);
        let c = Config::parse(
            r#"
[notify]
targets = [{ command = ["notify-me"] }, { webhook = "http://127.0.0.1:9/x" }]
desktop = true
retries = 2
[retention]
max_age = "none"
max_total = "10MiB"
interval = "1s"
orphan_after = "10m"
[hooks]
max_stop_blocks = 2
"#,
            None,
        )
        .unwrap();
        assert_eq!(c.notify.targets.len(), 2);
        assert!(c.notify.desktop);
        assert_eq!(c.retention.max_age, None);
        assert_eq!(c.retention.max_total, Some(10 << 20));
        assert_eq!(c.retention.orphan_after.as_secs(), 600);
        assert_eq!(c.hooks.max_stop_blocks, 2);
    }

    #[test]
    fn bad_sections_name_their_key() {
        let e = Config::parse("[notify]\ntargets = [{ webhook = \"x\" }]\n", None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.targets"));
        assert_eq!(e.line, Some(2));
        let e = Config::parse("[retention]\ninterval = \"0s\"\n", None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("retention.interval"));
        let e = Config::parse("[hooks]\nresult_chars = 5\n", None).unwrap_err();
        assert!(e.message.contains("at least 100"), "{e}");
        let e = Config::parse(
            "[agents.a]\ncommand = [\"a\"]\nnotify = [{ command = [] }]\n",
            None,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("agents.a.notify"));
    }
}
