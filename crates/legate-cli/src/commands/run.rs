//! `legate run`: delegate a task.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use legate_domain::api::{MAX_PROMPT_BYTES, SubmitRequest, SubmitResponse, new_idempotency_key};
use legate_domain::size::parse_duration_opt;
use legate_domain::{Delegation, Isolation, NotifyTarget, TaskEnv};

use crate::cli::{PromptArgs, RunArgs};
use crate::commands::{print_json, wait};
use crate::connect::connect;
use crate::paths::Paths;

/// Submits; prints the id (or, with `--wait`, the result) and returns the exit code.
pub async fn run(paths: &Paths, args: RunArgs, json: bool) -> Result<i32> {
    let prompt = args.text.read()?;
    let from = Delegation::from_env()?;
    let client = connect(paths).await?;
    let caller_cwd = match here() {
        Here::Dir(d) => Some(d),
        // A directory that cannot be recorded matters only when nothing else says where the
        // task runs.
        Here::Unrecordable(e)
            if args.cwd.is_none() && !agent_has_cwd(&client, &args.agent).await =>
        {
            return Err(e);
        }
        Here::Unrecordable(_) => None,
    };
    let req = SubmitRequest {
        agent: args.agent.clone(),
        prompt,
        title: args.title.clone(),
        // An explicit --cwd wins over the agent's `cwd`; this directory only stands in for
        // both.
        cwd: args.cwd.as_deref().map(working_dir).transpose()?,
        caller_cwd,
        labels: args.labels.clone(),
        priority: args.priority,
        timeout_ms: timeout_ms(args.timeout.as_deref())?,
        key: args.key.clone(),
        origin: Some(origin(args.origin.as_deref())),
        parent: from.parent.map(|p| p.to_string()),
        depth: from.depth,
        metadata: None,
        notify: notify_targets(&args)?,
        env: Some(TaskEnv::of_this_process()),
        idempotency_key: Some(new_idempotency_key()),
        isolation: match (args.worktree, args.no_worktree) {
            (true, _) => Some(Isolation::Worktree),
            (_, true) => Some(Isolation::None),
            _ => None,
        },
        base: args.base.clone(),
    };
    let res = client.submit(&req).await.map_err(unanswered)?;
    submitted(paths, client, res, args.wait, json).await
}

/// A submission the daemon did not answer in time, said truthfully: nothing was created,
/// and nothing will be (the daemon refuses a request whose client stopped waiting).
pub(crate) fn unanswered(e: legate_api::ClientError) -> anyhow::Error {
    let timed_out = matches!(e, legate_api::ClientError::Timeout { .. });
    let e = anyhow::Error::new(e);
    if timed_out {
        e.context(
            "no task was created: the daemon did not answer (twice), and it refuses the submission \
             if it reads it later, since this command stopped waiting; submit again once it answers",
        )
    } else {
        e
    }
}

/// Prints a new task's id (or `{id, status, …}`), or with `wait` waits and prints its result;
/// returns the exit code.
pub(crate) async fn submitted(
    paths: &Paths,
    client: legate_api::Client,
    res: SubmitResponse,
    wait: bool,
    json: bool,
) -> Result<i32> {
    if wait {
        if !json && std::io::stderr().is_terminal() {
            // Said first, so the id is on the screen whatever happens to the wait.
            errln!(
                "legate: task {} delegated; waiting for it (Ctrl-C stops the waiting, not the task)",
                res.task.id
            );
        }
        let w = wait::Waiting {
            ids: vec![res.task.id.to_string()],
            any: false,
            timeout: None,
            json,
            show: wait::Show::Answer,
        };
        return wait::until_done(paths, client, &w).await;
    }
    if json {
        print_json(&serde_json::json!({
            "id": res.task.id,
            "status": res.task.status,
            "agent": res.task.agent,
            "title": res.task.title,
            "deduplicated": res.deduplicated,
            "follows": res.task.metadata.get("follows"),
        }))?;
    } else {
        outln!("{}", res.task.id);
    }
    Ok(crate::exit::OK)
}

/// `--timeout` as milliseconds: `None` when not given, `Some(0)` for no limit.
pub(crate) fn timeout_ms(given: Option<&str>) -> Result<Option<u64>> {
    Ok(match given {
        Some(t) => Some(
            parse_duration_opt(t)
                .map_err(|m| anyhow::anyhow!("--timeout: {m}"))?
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        ),
        None => None,
    })
}

impl PromptArgs {
    /// The prompt from the words, `-` (stdin) or `--file`, checked for size, UTF-8 and content.
    pub(crate) fn read(&self) -> Result<String> {
        read_prompt(&self.prompt, self.file.as_deref())
    }
}

fn read_prompt(words: &[String], file: Option<&std::path::Path>) -> Result<String> {
    let bytes = if let Some(f) = file {
        std::fs::read(f).with_context(|| format!("cannot read the prompt file {}", f.display()))?
    } else if words.len() == 1 && words[0] == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_PROMPT_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .context("cannot read the prompt from stdin")?;
        buf
    } else if words.len() > 1 && words[0] == "-" {
        bail!(
            "a prompt of `-` reads stdin and stands alone, but other words follow it; pipe the \
             whole prompt to `-`, or quote the text so `-` is part of it"
        );
    } else {
        words.join(" ").into_bytes()
    };
    if bytes.len() > MAX_PROMPT_BYTES {
        bail!(
            "the prompt is over the limit of {MAX_PROMPT_BYTES} bytes (8 MiB); put large material in a file in the task's working directory and refer to it"
        );
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("the prompt is not valid UTF-8; legate prompts are text"))?;
    if text.trim().is_empty() {
        bail!("the prompt is empty; give it as arguments, with --file FILE, or on stdin with `-`");
    }
    Ok(text)
}

/// `--cwd`, made absolute against the current directory.
fn working_dir(given: &std::path::Path) -> Result<String> {
    let path = if given.is_absolute() {
        given.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(given)
    };
    utf8_dir(path, "pass a --cwd whose path is UTF-8")
}

/// The current directory, as far as a task can record it.
enum Here {
    /// Its path.
    Dir(String),
    /// A directory that cannot be read (removed) or whose path is not UTF-8: the error that
    /// says so.
    Unrecordable(anyhow::Error),
}

/// The current directory.
fn here() -> Here {
    let read = std::env::current_dir()
        .context("cannot read the current directory (was it removed?); run legate from another directory, or pass --cwd")
        .and_then(|d| utf8_dir(d, "run legate from another directory, or pass --cwd"));
    match read {
        Ok(d) => Here::Dir(d),
        Err(e) => Here::Unrecordable(e),
    }
}

/// Whether `agent` is configured with a directory of its own (false when that cannot be
/// learnt: the submission then stands on its own directory).
async fn agent_has_cwd(client: &legate_api::Client, agent: &str) -> bool {
    client
        .agents(&legate_domain::api::AgentsQuery::default())
        .await
        .is_ok_and(|all| all.iter().any(|a| a.name == agent && a.cwd.is_some()))
}

/// A directory's path as text: tasks record where they run as UTF-8.
fn utf8_dir(path: std::path::PathBuf, what_to_do: &str) -> Result<String> {
    path.into_os_string().into_string().map_err(|p| {
        anyhow::anyhow!(
            "the working directory {} is not valid UTF-8, which legate cannot record; {what_to_do}",
            std::path::Path::new(&p).display()
        )
    })
}

/// `--notify` commands (split like shell words, never run by a shell) and `--webhook` URLs.
fn notify_targets(args: &RunArgs) -> Result<Vec<NotifyTarget>> {
    let mut targets = Vec::new();
    for cmd in &args.notify {
        let argv = shlex::split(cmd).with_context(|| {
            format!("--notify {cmd:?}: unbalanced quotes; quote the command like shell words")
        })?;
        if argv.is_empty() {
            bail!(
                "--notify: the command is empty; give a program, e.g. --notify 'notify-send done'"
            );
        }
        targets.push(NotifyTarget::Command(argv));
    }
    for url in &args.webhooks {
        let t = NotifyTarget::Webhook(url.clone());
        if let Some(p) = t.problem() {
            bail!("--webhook: {p}");
        }
        targets.push(t);
    }
    Ok(targets)
}

/// The origin results go back to.
pub(crate) fn origin(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| {
            std::env::var("LEGATE_ORIGIN")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| {
            let user = std::env::var("USER").unwrap_or_else(|_| nix::unistd::geteuid().to_string());
            format!("cli:{user}")
        })
}

/// [`origin`], checked for reading an inbox or events: an origin no task can have (empty,
/// control characters, over 1024 bytes) is refused rather than followed forever. Errors: what
/// is wrong with it and what to do.
pub(crate) fn read_origin(given: Option<&str>) -> anyhow::Result<String> {
    let o = origin(given);
    match legate_domain::api::origin_problem(&o) {
        Some((problem, hint)) => bail!("{problem}; {hint}"),
        None => Ok(o),
    }
}
