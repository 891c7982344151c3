//! The tools. Each resolves this call's origin, does its work through the daemon API, and
//! answers with the session's `finished_since_last_call`.

use std::time::{Duration, Instant};

use legate_domain::agent::AgentView;
use legate_domain::api::{
    CancelRequest, DiffQuery, ListQuery, MergeRequest, SendRequest, SubmitRequest, SubmitResponse,
    WaitMode, new_idempotency_key, parse_task_ref,
};
use legate_domain::{Delegation, Isolation, TaskEnv};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{tool, tool_router};

use crate::repeat::{CALL_KEY, call_key};
use crate::server::{LegateMcp, ToolError};
use crate::shapes::{
    AgentInfo, Agents, Answer, DelegateArgs, Delegated, DiffArgs, Diffed, GatherMode, ListArgs,
    Listed, MergeArgs, Merged, OneTask, Reply, ResultArgs, SendArgs, TaskRef, Tasks, WaitArgs,
};
use crate::view::{task_view, worktree_view};

/// How long a read of the agent list is trusted.
const AGENTS_FRESH: Duration = Duration::from_secs(10);

/// The longest a single call blocks.
pub(crate) const MAX_WAIT_SECS: u64 = 600;

#[tool_router(vis = "pub(crate)")]
impl LegateMcp {
    /// Hand a task to a sub-agent in the background. Returns a task_id at once; the result then
    /// arrives by itself in `finished_since_last_call` of every later legate tool response (and
    /// through hooks or the inbox where the host has them), so there is no need to wait or
    /// poll: keep working. wait=true (up to 600 s) only when you have nothing else to do until
    /// it finishes; repeating a timed-out wait=true call with the same arguments returns the
    /// same task, never a second one. The agent sees only the prompt: include everything it
    /// needs.
    #[tool(annotations(open_world_hint = true, destructive_hint = false))]
    pub async fn delegate(
        &self,
        Parameters(args): Parameters<DelegateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<Delegated>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        if args.wait {
            let outcome = self.delegate_now(&origin, args, &ctx).await;
            return self.answer(&origin, outcome).await;
        }
        // Nothing this call does can finish a task: read the news meanwhile.
        let (outcome, news) =
            tokio::join!(self.delegate_now(&origin, args, &ctx), self.news(&origin));
        self.answer_with(news, outcome)
    }

    /// The current status of a task (no result text; use task_result for that).
    #[tool(annotations(read_only_hint = true))]
    pub async fn task_status(
        &self,
        Parameters(args): Parameters<TaskRef>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<OneTask>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = self.task(&args.task_id).await.map(|t| {
            let mut task = task_view(&t, self.result_chars);
            task.result = None;
            task.full_result = None;
            OneTask { task }
        });
        self.answer(&origin, outcome).await
    }

    /// A task's result (the end of it when long). With wait_secs, waits up to that long (at
    /// most 600 s) for it to finish; answers with the current status when it has not. Finished
    /// results also arrive by themselves in `finished_since_last_call`: wait only when you have
    /// nothing else to do.
    #[tool(annotations(read_only_hint = true))]
    pub async fn task_result(
        &self,
        Parameters(args): Parameters<ResultArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<OneTask>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = async {
            let wait = args.wait_secs.unwrap_or(0).min(MAX_WAIT_SECS);
            let task = if wait > 0 {
                let id = self.task(&args.task_id).await?.id.to_string();
                let res = self
                    .wait_for(&origin, &[id], WaitMode::All, wait, &ctx)
                    .await?;
                res.tasks
                    .into_iter()
                    .next()
                    .ok_or_else(|| ToolError("the wait returned no task".into()))?
            } else {
                // Shown here: read (a wait above marks what it returns read itself).
                let task = self.task(&args.task_id).await?;
                self.shown(&origin, &task).await;
                task
            };
            Ok(OneTask {
                task: task_view(&task, self.result_chars),
            })
        }
        .await;
        self.answer(&origin, outcome).await
    }

    /// Wait for several tasks: until all (mode "all") or the first (mode "any") finish, or
    /// timeout_secs (at most 600) passes. Returns each task with its result so far. Results
    /// also arrive by themselves in `finished_since_last_call` of every legate response: wait
    /// only when you have nothing else to do.
    #[tool(annotations(read_only_hint = true))]
    pub async fn task_wait(
        &self,
        Parameters(args): Parameters<WaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<Tasks>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = async {
            if args.task_ids.is_empty() {
                return Err(ToolError(
                    "task_ids is empty: pass the ids delegate returned".into(),
                ));
            }
            let mode = match args.mode {
                GatherMode::All => WaitMode::All,
                GatherMode::Any => WaitMode::Any,
            };
            let secs = args
                .timeout_secs
                .unwrap_or(MAX_WAIT_SECS)
                .min(MAX_WAIT_SECS);
            let res = self
                .wait_for(&origin, &args.task_ids, mode, secs, &ctx)
                .await?;
            Ok(Tasks {
                tasks: res
                    .tasks
                    .iter()
                    .map(|t| task_view(t, self.result_chars))
                    .collect(),
                timed_out: res.timed_out,
            })
        }
        .await;
        self.answer(&origin, outcome).await
    }

    /// Cancel a task: a queued one never starts, a running one has its whole process tree
    /// ended.
    #[tool(annotations(destructive_hint = true, idempotent_hint = true))]
    pub async fn task_cancel(
        &self,
        Parameters(args): Parameters<TaskRef>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<OneTask>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = async {
            let id = self.task(&args.task_id).await?.id.to_string();
            let req = CancelRequest {
                ids: vec![id],
                ..Default::default()
            };
            let res = self.client.cancel(&req).await?;
            let task = res
                .tasks
                .into_iter()
                .next()
                .ok_or_else(|| ToolError("nothing was canceled".into()))?;
            Ok(OneTask {
                task: task_view(&task, self.result_chars),
            })
        }
        .await;
        self.answer(&origin, outcome).await
    }

    /// List tasks this session delegated (all=true: everyone's), newest last.
    #[tool(annotations(read_only_hint = true))]
    pub async fn task_list(
        &self,
        Parameters(args): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<Listed>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = async {
            let q = ListQuery {
                status: legate_domain::Status::parse_list(args.status.as_deref().unwrap_or(""))
                    .map_err(|m| ToolError(format!("status: {m}")))?,
                origin: (!args.all).then(|| origin.clone()),
                limit: Some(args.limit.unwrap_or(50).clamp(1, 1000)),
                ..ListQuery::default()
            };
            let tasks = self.client.tasks(&q).await?;
            Ok(Listed {
                tasks: tasks
                    .iter()
                    .map(|t| {
                        let mut v = task_view(t, self.result_chars);
                        v.result = None;
                        v.full_result = None;
                        v
                    })
                    .collect(),
            })
        }
        .await;
        self.answer(&origin, outcome).await
    }

    /// Continue a finished task's agent session with a follow-up prompt: a new task that
    /// resumes the same conversation (the agent remembers the earlier turns), linked to it.
    /// Returns the new task_id at once (its result arrives in `finished_since_last_call`), or
    /// with wait=true its result.
    #[tool(annotations(open_world_hint = true, destructive_hint = false))]
    pub async fn task_send(
        &self,
        Parameters(args): Parameters<SendArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<Delegated>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = self.send_now(&origin, args, &ctx).await;
        self.answer(&origin, outcome).await
    }

    /// What a task delegated with isolation "worktree" changed in its worktree: the patch from
    /// where it started (committed and uncommitted), or with stat=true a summary; with
    /// against_task_id, the files both tasks changed. Read it before task_merge.
    #[tool(annotations(read_only_hint = true))]
    pub async fn task_diff(
        &self,
        Parameters(args): Parameters<DiffArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<Diffed>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = async {
            let id = self.task(&args.task_id).await?.id.to_string();
            let q = DiffQuery {
                stat: args.stat,
                against: args.against_task_id,
            };
            let report = self.client.diff(&id, &q).await?;
            let diff = (report.overlap.is_none()).then(|| {
                // The beginning is kept: a patch read from its start still makes sense.
                let mut text: String = report.text.chars().take(self.result_chars).collect();
                if text.len() < report.text.len() {
                    text.push_str(&format!(
                        "\n… (cut: call again with stat=true, or run `legate diff {id}`)"
                    ));
                }
                text
            });
            Ok(Diffed {
                task_id: report.task.to_string(),
                worktree: worktree_view(&report.worktree),
                diff,
                changed_by_both: report.overlap.map(|o| o.files),
            })
        }
        .await;
        self.answer(&origin, outcome).await
    }

    /// Merge a finished worktree task's changes into the current branch of the repository it
    /// was delegated in (its uncommitted changes are committed first), then remove its worktree
    /// and branch. Refused, changing nothing, when that checkout has uncommitted changes or the
    /// merge would conflict (the answer names the files).
    #[tool(annotations(destructive_hint = false, open_world_hint = false))]
    pub async fn task_merge(
        &self,
        Parameters(args): Parameters<MergeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<Merged>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = async {
            let id = self.task(&args.task_id).await?.id.to_string();
            let req = MergeRequest {
                squash: args.squash,
            };
            let report = self.client.merge(&id, &req).await?;
            Ok(Merged {
                task_id: report.task.to_string(),
                merged_into: report.into,
                commit: report.commit,
                worktree: worktree_view(&report.worktree),
            })
        }
        .await;
        self.answer(&origin, outcome).await
    }

    /// The agents you can delegate to, with what each is for and whether it is installed.
    #[tool(annotations(read_only_hint = true))]
    pub async fn list_agents(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Answer<Reply<Agents>>, CallToolResult> {
        let origin = self.origin.resolve(&ctx);
        let outcome = self.offered_agents().await.map(|agents| Agents { agents });
        self.answer(&origin, outcome).await
    }
}

impl LegateMcp {
    /// The agents models may use, read from the daemon now.
    pub(crate) async fn offered_agents(&self) -> Result<Vec<AgentInfo>, ToolError> {
        // Looked up as this server's delegations would be: on its PATH.
        let q = legate_domain::api::AgentsQuery {
            path: std::env::var("PATH").ok(),
            ..Default::default()
        };
        let all: Vec<AgentView> = self.client.agents(&q).await?;
        let offered: Vec<AgentInfo> = all
            .into_iter()
            // Presets whose CLI is not installed here would only mislead a model.
            .filter(|a| a.for_models && (a.available || !a.builtin))
            .map(|a| AgentInfo {
                name: a.name,
                description: a.description,
                available: a.available,
                max_running: a.max_running,
                resumable: a.resumable,
            })
            .collect();
        *self.agents.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), offered.clone()));
        Ok(offered)
    }

    /// Whether `name` is offered to models: from the recent list when it is there, else
    /// from the daemon (an agent just added to the config is found at once).
    async fn is_offered(&self, name: &str) -> Result<Option<Vec<AgentInfo>>, ToolError> {
        let cached = self
            .agents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((at, list)) = cached
            && at.elapsed() < AGENTS_FRESH
            && list.iter().any(|a| a.name == name)
        {
            return Ok(None);
        }
        let list = self.offered_agents().await?;
        Ok((!list.iter().any(|a| a.name == name)).then_some(list))
    }

    /// Submits a follow-up, and waits when asked.
    async fn send_now(
        &self,
        origin: &str,
        args: SendArgs,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Delegated, ToolError> {
        parse_task_ref(&args.task_id).map_err(|e| ToolError(e.to_string()))?;
        Delegation::from_env().map_err(|e| ToolError(e.to_string()))?;
        let req = SendRequest {
            prompt: args.prompt,
            title: None,
            origin: Some(origin.to_string()),
            timeout_ms: args.timeout_secs.map(|s| s.saturating_mul(1000)),
            env: Some(TaskEnv::of_this_process()),
            idempotency_key: Some(new_idempotency_key()),
        };
        let res = self.client.send(&args.task_id, &req).await?;
        self.settle(origin, res, args.wait, ctx).await
    }

    /// Waits for a just-submitted task when asked, and shapes the answer.
    async fn settle(
        &self,
        origin: &str,
        res: SubmitResponse,
        wait: bool,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Delegated, ToolError> {
        let mut task = res.task;
        if wait {
            let ids = [task.id.to_string()];
            let waited = self
                .wait_for(origin, &ids, WaitMode::All, MAX_WAIT_SECS, ctx)
                .await?;
            if let Some(t) = waited.tasks.into_iter().next() {
                task = t;
            }
        }
        Ok(Delegated {
            task: task_view(&task, self.result_chars),
            deduplicated: res.deduplicated,
            still_running: !task.status.is_terminal(),
        })
    }

    /// Submits (refusing agents not offered to models), and waits when asked.
    pub(crate) async fn delegate_now(
        &self,
        origin: &str,
        args: DelegateArgs,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Delegated, ToolError> {
        let wait = args.wait;
        let res = if wait {
            // A host may have timed out an identical call: its task is this call's.
            let call = call_key(&args);
            match self.earlier_call(origin, &call).await? {
                Some(task) => SubmitResponse {
                    task,
                    deduplicated: true,
                },
                None => self.submit(origin, args, Some(call)).await?,
            }
        } else {
            self.submit(origin, args, None).await?
        };
        self.settle(origin, res, wait, ctx).await
    }

    /// Submits with this call's origin, refusing agents not offered to models; `call`, a
    /// waiting call's implicit key, is kept in the task's metadata (see [`crate::repeat`]).
    pub(crate) async fn submit(
        &self,
        origin: &str,
        args: DelegateArgs,
        call: Option<String>,
    ) -> Result<SubmitResponse, ToolError> {
        if let Some(offered) = self.is_offered(&args.agent).await? {
            let list: Vec<String> = offered
                .iter()
                .map(|a| {
                    let missing = if a.available {
                        ""
                    } else {
                        " (not installed here)"
                    };
                    format!("- {}: {}{missing}", a.name, a.description)
                })
                .collect();
            return Err(ToolError(format!(
                "unknown agent '{}'. Delegate to one of these agents:\n{}",
                args.agent,
                if list.is_empty() {
                    "(none is configured for models)".to_string()
                } else {
                    list.join("\n")
                }
            )));
        }
        // The server's own environment: its host's, or the agent's that started it (whose
        // delegations the daemon then recognises by the process ancestry).
        let from = Delegation::from_env().map_err(|e| ToolError(e.to_string()))?;
        let req = SubmitRequest {
            agent: args.agent,
            prompt: args.prompt,
            title: args.title,
            // An explicit cwd wins over the agent's; the server's directory only stands in
            // for both.
            cwd: args.cwd,
            caller_cwd: std::env::current_dir()
                .ok()
                .map(|d| d.display().to_string()),
            timeout_ms: args.timeout_secs.map(|s| s.saturating_mul(1000)),
            key: args.key,
            origin: Some(origin.to_string()),
            parent: from.parent.map(|p| p.to_string()),
            depth: from.depth,
            env: Some(TaskEnv::of_this_process()),
            idempotency_key: Some(new_idempotency_key()),
            metadata: {
                let mut m = serde_json::Map::new();
                if let Some(c) = call {
                    m.insert(CALL_KEY.into(), c.into());
                }
                if let Some(s) = self.origin.scope_of(origin) {
                    m.insert(legate_domain::api::SCOPE_KEY.into(), s.into());
                }
                (!m.is_empty()).then_some(serde_json::Value::Object(m))
            },
            isolation: args.isolation.map(Isolation::from),
            base: args.base,
            ..SubmitRequest::default()
        };
        Ok(self.client.submit(&req).await?)
    }
}
