//! One delivery attempt to one target: a command, a webhook, or a desktop notification.

use std::process::Stdio;
use std::time::Duration;

use legate_domain::{NotifyTarget, Task};
use nix::sys::signal::Signal;
use tokio::io::AsyncWriteExt;

/// Where one notification goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// A configured or per-task target.
    Configured(NotifyTarget),
    /// `notify-send`, found on PATH.
    Desktop(std::path::PathBuf),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Configured(t) => t.describe(),
            Target::Desktop(_) => "desktop notification".into(),
        }
    }
}

/// Tries once. The error says what failed, without the URL (reqwest's errors name it; the
/// caller logs the target redacted) or the command's output (either may carry secrets).
pub(crate) async fn attempt(
    target: &Target,
    task: &Task,
    body: &[u8],
    timeout: Duration,
    http: &reqwest::Client,
) -> Result<(), String> {
    match target {
        Target::Configured(NotifyTarget::Command(argv)) => {
            run(argv[0].as_ref(), &argv[1..], task, Some(body), timeout).await
        }
        Target::Configured(NotifyTarget::Webhook(url)) => {
            let res = http
                .post(url)
                .timeout(timeout)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if res.status().is_success() {
                Ok(())
            } else {
                Err(format!("the server answered {}", res.status()))
            }
        }
        Target::Desktop(program) => {
            let summary = format!("legate: {} {}", task.id, task.status);
            let detail = task
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .or_else(|| {
                    task.result
                        .as_deref()
                        .and_then(|r| r.lines().next())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let title: String = task.title.chars().take(120).collect();
            let text = format!("{title}\n{}", detail.chars().take(200).collect::<String>());
            let args = ["--app-name=legate".to_string(), summary, text];
            run(program.as_os_str(), &args, task, None, timeout).await
        }
    }
}

/// Runs a program directly (no shell) in its own process group, the task JSON on its stdin,
/// and kills the group if it outlives the timeout.
async fn run(
    program: &std::ffi::OsStr,
    args: &[String],
    task: &Task,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<(), String> {
    let name = program.to_string_lossy().into_owned();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("LEGATE_TASK_ID", task.id.as_str())
        .env("LEGATE_TASK_STATUS", task.status.as_str())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let pgid = child.id().map(|p| p as i32);
    let feed = async {
        if let (Some(mut pipe), Some(body)) = (child.stdin.take(), stdin) {
            // A notifier that ignores its stdin is fine: a broken pipe is not a failure.
            let _ = pipe.write_all(body).await;
        }
        child.wait().await
    };
    match tokio::time::timeout(timeout, feed).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{name} ended with {status}")),
        Ok(Err(e)) => Err(format!("waiting for {name} failed: {e}")),
        Err(_) => {
            if let Some(pgid) = pgid {
                legate_runner::procfs::signal_group(pgid, Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Err(format!(
                "{name} took longer than {timeout:?} and was killed"
            ))
        }
    }
}
