//! One `[agents.NAME]` table: a new agent, or adjustments to a built-in one.
//!
//! A table named like a preset (`[agents.claude]`), or naming one (`preset = "claude"`),
//! starts from that preset and overrides only the keys it sets; any other table must give a
//! `command`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::agent::{
    AgentKind, AgentSpec, OutputCapPolicy, OutputFormat, PermissionPolicy, PromptMode, StallPolicy,
};
use crate::notify::NotifyTarget;
use crate::size::parse_duration_opt;

/// What a problem is about: the key, and the message.
type KeyError = (&'static str, String);

/// An agent table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    preset: Option<String>,
    kind: Option<AgentKind>,
    command: Option<Vec<String>>,
    prompt: Option<PromptMode>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    timeout: Option<String>,
    max_running: Option<u32>,
    description: Option<String>,
    retry_interrupted: Option<bool>,
    for_models: Option<bool>,
    on_output_cap: Option<OutputCapPolicy>,
    #[serde(default)]
    notify: Vec<NotifyTarget>,
    format: Option<OutputFormat>,
    resume: Option<Vec<String>>,
    model: Option<String>,
    model_args: Option<Vec<String>>,
    args: Option<Vec<String>>,
    stall_timeout: Option<String>,
    on_stall: Option<StallPolicy>,
    version_command: Option<Vec<String>>,
    permissions: Option<RawPermissions>,
    fs: Option<bool>,
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
    ) -> Result<Option<AgentSpec>, KeyError> {
        let builtin = |n: &str| known.get(n).filter(|a| a.builtin).cloned();
        match &self.preset {
            Some(p) => builtin(p).map(Some).ok_or_else(|| {
                let presets: Vec<&str> = known
                    .values()
                    .filter(|a| a.builtin)
                    .map(|a| a.name.as_str())
                    .collect();
                (
                    "preset",
                    format!("no built-in agent '{p}'; presets: {}", presets.join(", ")),
                )
            }),
            None => Ok(builtin(name)),
        }
    }

    /// Validates the table into an agent, over `base` when there is one.
    pub(crate) fn into_spec(
        self,
        name: &str,
        base: Option<AgentSpec>,
    ) -> Result<AgentSpec, KeyError> {
        let mut a = match (base, self.command) {
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
                return Err((
                    "command",
                    "is required: the agent's argv as a list, e.g. command = [\"my-agent\", \"{prompt}\"] (or preset = \"claude\" to start from a built-in agent)"
                        .to_string(),
                ));
            }
        };
        a.name = name.to_string();
        if a.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err((
                "command",
                "must name a program as its first element".to_string(),
            ));
        }
        if let Some(t) = self.timeout {
            a.timeout = parse_duration_opt(&t).map_err(|m| ("timeout", m))?;
        }
        if let Some(t) = self.stall_timeout {
            a.stall_timeout = parse_duration_opt(&t).map_err(|m| ("stall_timeout", m))?;
        }
        if let Some(p) = self.notify.iter().find_map(NotifyTarget::problem) {
            return Err(("notify", p));
        }
        if self.max_running == Some(0) {
            return Err(("max_running", "must be at least 1".to_string()));
        }
        if let Some(r) = &self.resume
            && !r.is_empty()
            && !r.iter().any(|x| x.contains("{session}"))
        {
            return Err((
                "resume",
                "must contain {session}, where the agent's session id goes, e.g. resume = [\"--resume\", \"{session}\"]".to_string(),
            ));
        }
        a.permissions = match self.permissions {
            None => a.permissions,
            Some(RawPermissions::Word(w)) if w == "deny" => PermissionPolicy::Deny,
            Some(RawPermissions::Word(w)) if w == "allow" => PermissionPolicy::Allow,
            Some(RawPermissions::Word(w)) => {
                return Err((
                    "permissions",
                    format!(
                        "'{w}' is not a policy: use \"deny\", \"allow\", or a list of ACP tool kinds such as [\"read\", \"search\"]"
                    ),
                ));
            }
            Some(RawPermissions::Kinds(k)) => PermissionPolicy::Kinds(k),
        };
        if !self.notify.is_empty() {
            a.notify = self.notify;
        }
        a.env.extend(self.env);
        set(&mut a.kind, self.kind);
        set(&mut a.prompt, self.prompt);
        set(&mut a.max_running, self.max_running.map(Some));
        set(&mut a.description, self.description);
        set(&mut a.retry_interrupted, self.retry_interrupted);
        set(&mut a.for_models, self.for_models);
        set(&mut a.on_output_cap, self.on_output_cap);
        set(&mut a.format, self.format);
        set(&mut a.resume, self.resume);
        set(&mut a.model, self.model.map(Some));
        set(&mut a.model_args, self.model_args);
        set(&mut a.args, self.args);
        set(&mut a.on_stall, self.on_stall);
        set(&mut a.version_command, self.version_command);
        set(&mut a.fs, self.fs);
        set(&mut a.cwd, self.cwd.map(Some));
        if a.model.is_some() && a.model_args.is_empty() {
            return Err((
                "model",
                "this agent has no model_args to pass a model with; add e.g. model_args = [\"--model\", \"{model}\"]".to_string(),
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
                "on_stall",
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
