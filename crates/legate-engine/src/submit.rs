//! Accepting a task: validate everything first, then one durable insert.

use crate::EngineError;
use std::path::Path;

use legate_domain::api::{ErrorCode, MAX_PROMPT_BYTES, SubmitRequest, SubmitResponse};
use legate_domain::task::default_title;
use legate_domain::worktree::WORKTREE_KEY;
use legate_domain::{AgentSpec, Config, Isolation, NewTask, TaskId, Worktree};
use legate_runner::environment::search_path;
use legate_runner::exec::{command_problem, resolve_program};

use crate::error::ServiceError;
use crate::lineage::Caller;
use crate::service::Service;

/// The longest idempotency key accepted.
const MAX_KEY_BYTES: usize = 128;

fn invalid(message: impl Into<String>, hint: impl Into<String>) -> ServiceError {
    EngineError::refused(ErrorCode::InvalidRequest, message, hint)
}

impl Service {
    /// Validates and stores a task; returns once it is durable. Nothing is stored when any
    /// check fails, nor when the caller stopped waiting before the task could be stored. The
    /// parent and depth are decided from the caller's process ancestry and the recorded
    /// parent; the request's `parent` and `depth` can only raise the depth (see
    /// [`crate::Caller`]).
    pub async fn submit(
        &self,
        req: SubmitRequest,
        caller: &Caller,
    ) -> Result<SubmitResponse, ServiceError> {
        self.submit_with_worktree(req, caller, None).await
    }

    /// [`Service::submit`], for a follow-up that continues in its predecessor's worktree
    /// (`inherited`: that worktree's record, which the new task takes over).
    pub(crate) async fn submit_with_worktree(
        &self,
        req: SubmitRequest,
        caller: &Caller,
        inherited: Option<Worktree>,
    ) -> Result<SubmitResponse, ServiceError> {
        caller.still_waiting()?;
        let config = self.inner.config.current().map_err(|e| {
            EngineError::refused(
                ErrorCode::ConfigInvalid,
                e.to_string(),
                "fix the config file: no task is accepted until it loads again (the tasks already accepted go on)",
            )
        })?;
        let (parent, depth) = self
            .delegation(req.parent.as_deref(), req.depth, caller)
            .await?;
        self.accepting(parent.as_ref())?;
        let base = req.base.clone();
        let (mut new, isolation) = validate(&config, req, parent, depth)?;
        let record = match (inherited, isolation) {
            (Some(record), _) => Some(record),
            (None, Isolation::Worktree) => {
                let Some(cwd) = new.cwd.as_deref() else {
                    return Err(invalid(
                        "worktree isolation needs a working directory inside a git repository, and this task has none",
                        "pass --cwd (API clients: cwd or caller_cwd)",
                    ));
                };
                Some(crate::worktree::locate(cwd, base.as_deref()).await?)
            }
            (None, Isolation::None) if base.is_some() => {
                return Err(invalid(
                    "--base applies only to a task that runs in a worktree",
                    "add --worktree (API: \"isolation\": \"worktree\"), or drop --base",
                ));
            }
            (None, Isolation::None) => None,
        };
        if let Some(record) = record {
            if let Some(m) = new.metadata.as_object_mut() {
                m.extend(record.as_metadata());
            }
            // The agent's git must work on its worktree, whatever the submitter's git said.
            new.env = new
                .env
                .map(|e| e.without(legate_domain::worktree::REPOSITORY_VARIABLES));
        }
        caller.still_waiting()?;
        let (reply, stored) = tokio::sync::oneshot::channel();
        let gone = || crate::drain::shutting_down("submit again once it is back");
        self.inner
            .intake
            .send((new, reply))
            .await
            .map_err(|_| gone())?;
        let inserted = stored.await.map_err(|_| gone())??;
        Ok(SubmitResponse {
            task: inserted.task,
            deduplicated: inserted.deduplicated,
        })
    }
}

/// Finds an agent or explains which ones exist.
pub(crate) fn find_agent<'c>(
    config: &'c Config,
    name: &str,
) -> Result<&'c AgentSpec, ServiceError> {
    config.agents.get(name).ok_or_else(|| {
        let list: Vec<String> = config
            .agents
            .values()
            .map(|a| {
                if a.description.is_empty() {
                    a.name.clone()
                } else {
                    format!("{} ({})", a.name, a.description)
                }
            })
            .collect();
        EngineError::refused(
            ErrorCode::UnknownAgent,
            format!(
                "unknown agent '{name}'; the agents are:\n  {}",
                list.join("\n  ")
            ),
            "pick one of those, or add [agents.NAME] to the config (see `legate agents`)",
        )
    })
}

/// A working directory that is absolute and exists.
fn checked_dir(c: &str, what_to_do: &str) -> Result<String, ServiceError> {
    let p = Path::new(c);
    if !p.is_absolute() {
        return Err(invalid(
            format!("the working directory '{c}' is not an absolute path"),
            "pass an absolute path (the CLI resolves relative ones for you)",
        ));
    }
    if !p.is_dir() {
        return Err(invalid(
            format!("the working directory '{c}' does not exist or is not a directory"),
            format!("create it or {what_to_do}"),
        ));
    }
    Ok(c.to_string())
}

/// Checks a submission whose parent and submitter depth are decided; the task it makes and
/// where it runs.
fn validate(
    config: &Config,
    req: SubmitRequest,
    parent: Option<TaskId>,
    submitter_depth: u32,
) -> Result<(NewTask, Isolation), ServiceError> {
    let spec = find_agent(config, &req.agent)?;
    let isolation = req.isolation.unwrap_or(spec.isolation);
    if req.prompt.trim().is_empty() {
        return Err(invalid(
            "the prompt is empty",
            "give the task as arguments, with --file FILE, or on stdin with `-`",
        ));
    }
    if req.prompt.len() > MAX_PROMPT_BYTES {
        return Err(EngineError::refused(
            ErrorCode::PromptTooLarge,
            format!(
                "the prompt is {} bytes; the limit is {MAX_PROMPT_BYTES} bytes (8 MiB)",
                req.prompt.len()
            ),
            "put large material in a file in the task's working directory and refer to it in the prompt",
        ));
    }
    if let Some(problem) = spec.prompt_problem(&req.prompt) {
        return Err(problem.into());
    }
    let depth = submitter_depth.saturating_add(1);
    if depth > config.limits.max_depth {
        return Err(EngineError::refused(
            ErrorCode::DepthExceeded,
            format!(
                "delegation is nested too deep: this task would run at depth {depth}, and max_depth is {}",
                config.limits.max_depth
            ),
            "do the work in this agent instead of delegating further, or raise [limits] max_depth",
        ));
    }
    // An explicit directory wins over the agent's; the submitter's own applies only when
    // neither is given. The one that applies is checked and recorded, so `show` says where
    // the task runs.
    let cwd = match (&req.cwd, &spec.cwd, &req.caller_cwd) {
        (Some(c), _, _) => Some(checked_dir(c, "pass another --cwd")?),
        (None, Some(c), _) => Some(checked_dir(
            c,
            &format!(
                "fix the `cwd` of agent `{}` in the config, or pass --cwd",
                spec.name
            ),
        )?),
        (None, None, Some(c)) => Some(checked_dir(
            c,
            "run it from an existing directory, or pass --cwd",
        )?),
        (None, None, None) => None,
    };
    let run_dir = cwd.as_deref().map(Path::new);
    if let Some(p) = req.env.as_ref().and_then(|e| e.problem()) {
        return Err(invalid(
            p,
            "agents inherit the environment of the command that submits: unset large or odd \
             variables there (API clients: send the environment as a JSON object of strings, or none)",
        ));
    }
    // Looked up in the PATH the agent will have: the submitter's (or the fallback's).
    let program = resolve_program(spec, run_dir, search_path(spec, req.env.as_ref())).map_err(|m| {
        EngineError::refused(
            ErrorCode::AgentUnavailable,
            m,
            "install the program (on the PATH of the client that submits) or fix the agent's command in the config",
        )
    })?;
    // The command line the prompt becomes (a follow-up's with its resume arguments) and the
    // environment the agent will have, as the kernel will count them.
    let session = req
        .metadata
        .as_ref()
        .and_then(|m| m.get(crate::followup::RESUME_KEY))
        .and_then(|s| s.as_str());
    if let Some(problem) = command_problem(spec, &req.prompt, session, &program, req.env.as_ref()) {
        return Err(problem.into());
    }
    if req.labels.iter().any(|l| l.trim().is_empty()) {
        return Err(invalid(
            "a label is empty",
            "labels are non-empty words such as --label review",
        ));
    }
    if req.key.as_deref().is_some_and(|k| k.trim().is_empty()) {
        return Err(invalid(
            "the dedupe key is empty",
            "pass a non-empty --key or none",
        ));
    }
    if let Some(k) = &req.idempotency_key
        && (k.trim().is_empty() || k.len() > MAX_KEY_BYTES)
    {
        return Err(invalid(
            format!("the idempotency key must be 1 to {MAX_KEY_BYTES} bytes"),
            "send a fresh random key per submission, or none",
        ));
    }
    let metadata = match req.metadata {
        None => serde_json::json!({}),
        Some(m @ serde_json::Value::Object(_)) => m,
        Some(_) => return Err(invalid("metadata must be a JSON object", "")),
    };
    if metadata.get(WORKTREE_KEY).is_some() {
        return Err(invalid(
            format!("metadata.{WORKTREE_KEY} is legate's own record of a task's worktree"),
            "ask for a worktree with isolation = \"worktree\" (CLI: --worktree) instead",
        ));
    }
    if let Some(p) = req.notify.iter().find_map(|t| t.problem()) {
        return Err(invalid(
            p,
            "give a command as an argv list, e.g. {\"command\": [\"notify-send\", \"done\"]}, or an http(s) URL as {\"webhook\": \"https://…\"}",
        ));
    }
    let timeout_ms = match req.timeout_ms {
        Some(0) => None,
        Some(ms) => Some(ms),
        None => spec
            .timeout
            .or(config.limits.default_timeout)
            .map(|d| d.as_millis() as u64),
    };
    let origin = match req.origin {
        Some(o) if let Some((problem, hint)) = legate_domain::api::origin_problem(&o) => {
            return Err(invalid(problem, hint));
        }
        Some(o) => o,
        None => "api".into(),
    };
    let title = req
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| default_title(&req.prompt));
    let task = NewTask {
        agent: spec.name.clone(),
        title,
        cwd,
        labels: req.labels,
        priority: req.priority,
        timeout_ms,
        dedupe_key: req.key,
        parent,
        origin,
        depth,
        metadata,
        notify: req.notify,
        prompt: req.prompt,
        env: req.env,
        idempotency_key: req.idempotency_key,
    };
    Ok((task, isolation))
}
