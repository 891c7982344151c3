//! One `[agents.NAME]` table: a new agent, or adjustments to a built-in one.
//!
//! A table named like a preset (`[agents.claude]`), or naming one (`preset = "claude"`),
//! starts from that preset and overrides only the keys it sets; any other table must give a
//! `command`.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::agent::{
    AgentKind, AgentSpec, OutputCapPolicy, OutputFormat, PermissionPolicy, PromptMode, StallPolicy,
};
use crate::config_spans::{Refusal, check};
use crate::notify::NotifyTarget;
use crate::sections::targets;
use crate::size::parse_duration_opt;

/// An agent table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    preset: Option<Spanned<String>>,
    kind: Option<AgentKind>,
    command: Option<Spanned<Vec<String>>>,
    prompt: Option<PromptMode>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    timeout: Option<Spanned<String>>,
    max_running: Option<Spanned<u32>>,
    description: Option<String>,
    retry_interrupted: Option<bool>,
    for_models: Option<bool>,
    on_output_cap: Option<OutputCapPolicy>,
    #[serde(default)]
    notify: Vec<Spanned<NotifyTarget>>,
    format: Option<OutputFormat>,
    resume: Option<Spanned<Vec<String>>>,
    model: Option<Spanned<String>>,
    model_args: Option<Vec<String>>,
    args: Option<Vec<String>>,
    stall_timeout: Option<Spanned<String>>,
    on_stall: Option<StallPolicy>,
    version_command: Option<Vec<String>>,
    permissions: Option<Spanned<RawPermissions>>,
    fs: Option<bool>,
    isolation: Option<crate::Isolation>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPermissions {
    Word(String),
    Kinds(Vec<String>),
}

impl RawAgent {
    /// The agent this table starts from: the preset it names, or the built-in of its own name.
    pub(crate) fn base(
        &self,
        name: &str,
        known: &BTreeMap<String, AgentSpec>,
    ) -> Result<Option<AgentSpec>, Refusal> {
        let builtin = |n: &str| known.get(n).filter(|a| a.builtin).cloned();
        match &self.preset {
            Some(p) => builtin(p.get_ref()).map(Some).ok_or_else(|| {
                let presets: Vec<&str> = known
                    .values()
                    .filter(|a| a.builtin)
                    .map(|a| a.name.as_str())
                    .collect();
                Refusal::new(
                    "preset",
                    p.span(),
                    format!(
                        "no built-in agent '{}'; presets: {}",
                        p.get_ref(),
                        presets.join(", ")
                    ),
                )
            }),
            None => Ok(builtin(name)),
        }
    }

    /// Validates the table into an agent, over `base` when there is one. `table` is where the
    /// table is written (its header, or its key), for problems no value of its own shows.
    pub(crate) fn into_spec(
        self,
        name: &str,
        base: Option<AgentSpec>,
        table: Range<usize>,
    ) -> Result<AgentSpec, Refusal> {
        let command_at = self.command.as_ref().map_or(table.clone(), Spanned::span);
        let command = self.command.map(Spanned::into_inner);
        let mut a = match (base, command) {
            (Some(mut b), command) => {
                if let Some(c) = command {
                    // The version is asked of the program that actually runs.
                    if b.version_command.first() == b.command.first()
                        && let (Some(v), Some(p)) = (b.version_command.first_mut(), c.first())
                    {
                        *v = p.clone();
                    }
                    b.command = c;
                }
                b.builtin = false;
                b
            }
            (None, Some(c)) => AgentSpec::new(name, self.kind.unwrap_or(AgentKind::Exec), c),
            (None, None) => {
                return Err(Refusal::new(
                    "command",
                    table,
                    "is required: the agent's argv as a list, e.g. command = [\"my-agent\", \"{prompt}\"] (or preset = \"claude\" to start from a built-in agent)",
                ));
            }
        };
        a.name = name.to_string();
        if a.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(Refusal::new(
                "command",
                command_at,
                "must name a program as its first element",
            ));
        }
        if let Some(t) = self.timeout {
            a.timeout = check("timeout", t, |t| parse_duration_opt(&t))?;
        }
        if let Some(t) = self.stall_timeout {
            a.stall_timeout = check("stall_timeout", t, |t| parse_duration_opt(&t))?;
        }
        let notify = targets("notify", self.notify)?;
        if let Some(m) = self.max_running {
            a.max_running = Some(check("max_running", m, |m| match m {
                0 => Err("must be at least 1".to_string()),
                m => Ok(m),
            })?);
        }
        if let Some(r) = self.resume {
            a.resume = check("resume", r, |r| {
                if !r.is_empty() && !r.iter().any(|x| x.contains("{session}")) {
                    return Err("must contain {session}, where the agent's session id goes, e.g. resume = [\"--resume\", \"{session}\"]".to_string());
                }
                Ok(r)
            })?;
        }
        if let Some(p) = self.permissions {
            a.permissions = check("permissions", p, |p| match p {
                RawPermissions::Word(w) if w == "deny" => Ok(PermissionPolicy::Deny),
                RawPermissions::Word(w) if w == "allow" => Ok(PermissionPolicy::Allow),
                RawPermissions::Word(w) => Err(format!(
                    "'{w}' is not a policy: use \"deny\", \"allow\", or a list of ACP tool kinds such as [\"read\", \"search\"]"
                )),
                RawPermissions::Kinds(k) => Ok(PermissionPolicy::Kinds(k)),
            })?;
        }
        if !notify.is_empty() {
            a.notify = notify;
        }
        let model_at = self.model.as_ref().map_or(table, Spanned::span);
        a.env.extend(self.env);
        set(&mut a.kind, self.kind);
        set(&mut a.prompt, self.prompt);
        set(&mut a.description, self.description);
        set(&mut a.retry_interrupted, self.retry_interrupted);
        set(&mut a.for_models, self.for_models);
        set(&mut a.on_output_cap, self.on_output_cap);
        set(&mut a.format, self.format);
        set(&mut a.model, self.model.map(|m| Some(m.into_inner())));
        set(&mut a.model_args, self.model_args);
        set(&mut a.args, self.args);
        set(&mut a.on_stall, self.on_stall);
        set(&mut a.version_command, self.version_command);
        set(&mut a.fs, self.fs);
        set(&mut a.isolation, self.isolation);
        set(&mut a.cwd, self.cwd.map(Some));
        if a.model.is_some() && a.model_args.is_empty() {
            return Err(Refusal::new(
                "model",
                model_at,
                "this agent has no model_args to pass a model with; add e.g. model_args = [\"--model\", \"{model}\"]",
            ));
        }
        Ok(a)
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

#[cfg(test)]
mod tests {
    use crate::agent::{AgentKind, OutputFormat, PermissionPolicy, StallPolicy};
    use crate::config::Config;

    #[test]
    fn a_table_named_like_a_preset_adjusts_it() {
        let c = Config::parse(
            "[agents.claude]\nmodel = \"opus\"\nargs = [\"--permission-mode\", \"acceptEdits\"]\nenv = { A = \"1\" }\nmax_running = 4\n",
            None,
        )
        .unwrap();
        let a = &c.agents["claude"];
        assert_eq!(a.format, OutputFormat::Claude);
        assert_eq!(a.model.as_deref(), Some("opus"));
        assert_eq!(a.args, vec!["--permission-mode", "acceptEdits"]);
        assert_eq!(a.max_running, Some(4));
        assert_eq!(a.env["A"], "1");
        assert!(!a.builtin);
        assert_eq!(a.command[0], "claude");
    }

    #[test]
    fn a_preset_adjusted_in_place_can_still_be_derived_from() {
        let c = Config::parse(
            "[agents.claude]\nmax_running = 4\n\n[agents.claude-opus]\npreset = \"claude\"\nmodel = \"opus\"\n",
            None,
        )
        .unwrap();
        assert_eq!(c.agents["claude"].max_running, Some(4));
        let opus = &c.agents["claude-opus"];
        assert_eq!(opus.model.as_deref(), Some("opus"));
        assert_eq!(opus.format, OutputFormat::Claude);
        assert_eq!(opus.command, c.agents["claude"].command);
    }

    #[test]
    fn a_table_can_start_from_a_named_preset() {
        let c = Config::parse(
            "[agents.fast]\npreset = \"codex\"\nmodel = \"o4-mini\"\nstall_timeout = \"30s\"\non_stall = \"cancel\"\n",
            None,
        )
        .unwrap();
        let a = &c.agents["fast"];
        assert_eq!((a.name.as_str(), a.format), ("fast", OutputFormat::Codex));
        assert_eq!(a.on_stall, StallPolicy::Cancel);
        assert_eq!(a.stall_timeout, Some(std::time::Duration::from_secs(30)));
        assert!(c.agents.contains_key("codex"), "the preset itself stays");
    }

    #[test]
    fn acp_agents_take_a_permission_policy() {
        let c = Config::parse(
            "[agents.a]\nkind = \"acp\"\ncommand = [\"x\", \"acp\"]\npermissions = [\"read\", \"search\"]\n[agents.b]\nkind = \"acp\"\ncommand = [\"y\"]\npermissions = \"allow\"\n",
            None,
        )
        .unwrap();
        assert_eq!(c.agents["a"].kind, AgentKind::Acp);
        assert!(c.agents["a"].permissions.allows(Some("read")));
        assert!(!c.agents["a"].permissions.allows(Some("edit")));
        assert!(!c.agents["a"].permissions.allows(None));
        assert_eq!(c.agents["b"].permissions, PermissionPolicy::Allow);
    }

    #[test]
    fn bad_agent_tables_say_which_key_and_what_to_do() {
        let cases = [
            (
                "[agents.a]\npreset = \"nope\"\n",
                "agents.a.preset",
                "presets: ",
            ),
            (
                "[agents.a]\ncommand = [\"x\"]\npermissions = \"maybe\"\n",
                "agents.a.permissions",
                "\"deny\"",
            ),
            (
                "[agents.a]\ncommand = [\"x\"]\nresume = [\"--resume\"]\n",
                "agents.a.resume",
                "{session}",
            ),
            (
                "[agents.a]\ncommand = [\"x\"]\nmodel = \"m\"\n",
                "agents.a.model",
                "model_args",
            ),
            (
                "[agents.a]\ncommand = [\"x\"]\nstall_timeout = \"soon\"\n",
                "agents.a.stall_timeout",
                "",
            ),
            (
                "[agents.a]\ncommand = [\"x\"]\non_stall = \"explode\"\n",
                "agents.a.on_stall",
                "unknown variant",
            ),
        ];
        for (text, key, says) in cases {
            let e = Config::parse(text, None).unwrap_err();
            assert!(
                e.key.as_deref().is_some_and(|k| k.starts_with(key)),
                "{text}: {e}"
            );
            assert!(e.message.contains(says), "{text}: {e}");
        }
    }
}
