//! The exec runner: one agent process from spawn to outcome.

use std::path::{Path, PathBuf};
use std::time::Duration;

use legate_domain::{AgentSpec, ErrorKind, Outcome, ProcessInfo, Status};
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::bounds::line_cap;
use crate::capture::{self, Alarm, LatestOutput, Logs, Report};
use crate::command::{Invocation, prepare};
use crate::lines::LineFeed;
use crate::log::{append_note, read_tail};
use crate::notes::NoteSink;
use crate::outcome::{Ending, deadline, humanize, outcome_of, wrap_up};
use crate::parse::{OutputParser, Parsed, PlainParser, stream_parser};
use crate::procfs;
use crate::run::{AgentRun, RunNote};
use crate::sink::LogSink;
use crate::tree::TaskTree;

pub use crate::command::{arg_max, command_problem, resolve_program};
pub use crate::outcome::apply_parsed;

/// How to run one task.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The task's own directory for logs and the prompt file (created by the caller).
    pub task_dir: PathBuf,
    /// Cap on each log file.
    pub log_cap: u64,
    /// Cap on the result text: its last `result_cap` bytes are kept, after a line saying how
    /// much was left out.
    pub result_cap: u64,
    /// Time between TERM and KILL.
    pub kill_grace: Duration,
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
    /// Delegation depth of the task (becomes the child's `LEGATE_DEPTH`).
    pub depth: u32,
    /// The task's attempt (its lease's fencing token): names the attempt's cgroup.
    pub attempt: u32,
    /// The agent session to continue (a follow-up), if any.
    pub resume_session: Option<String>,
    /// When that session was created (`session_created_at` of the ACP run that created it),
    /// if known: some ACP agents must not load a session too soon after creating it.
    pub resume_session_created: Option<legate_domain::Timestamp>,
    /// The submitter's environment for the agent (`None`: the fallback). Its `Debug` shows
    /// no value.
    pub env: Option<legate_domain::TaskEnv>,
}

/// Why the runner is asked to stop a task early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Someone canceled it.
    Cancel,
    /// The daemon is shutting down: end it, it will be marked interrupted.
    Shutdown,
    /// It stalled and its agent's policy is to cancel stalled tasks.
    Stall,
}

/// A started agent process.
pub struct Spawned {
    child: Child,
    info: ProcessInfo,
    tree: TaskTree,
    pump: JoinHandle<Report>,
    alarm: oneshot::Receiver<Alarm>,
    feeder: Option<JoinHandle<()>>,
    prompt_file: Option<PathBuf>,
    settings: RunSettings,
    latest: watch::Receiver<LatestOutput>,
    /// Where legate's own notes join the output, as they join `output.log`.
    noted: watch::Sender<LatestOutput>,
    steps: Option<mpsc::UnboundedReceiver<RunNote>>,
}

/// Starts the agent for a task. A failure to start is returned as the task's outcome
/// (`failed` / `spawn_failed`), with the reason in the log.
pub fn spawn(
    spec: &AgentSpec,
    task_id: &str,
    prompt: &str,
    cwd: Option<&std::path::Path>,
    settings: RunSettings,
) -> Result<Spawned, Box<Outcome>> {
    let fail = |msg: String| {
        let _ = append_note(&settings.task_dir.join("output.log"), &msg);
        Box::new(Outcome::failed(Status::Failed, ErrorKind::SpawnFailed, msg))
    };
    let logs = Logs::create(&settings.task_dir, settings.log_cap)
        .map_err(|e| fail(format!("cannot create the task's log files: {e}")))?;
    let mut prepared = prepare(&Invocation {
        spec,
        task_id,
        prompt,
        cwd,
        depth: settings.depth,
        task_dir: &settings.task_dir,
        session: settings.resume_session.as_deref(),
        env: settings.env.as_ref(),
    })
    .map_err(fail)?;
    let mut tree = TaskTree::new(task_id, settings.attempt, &settings.task_dir);
    let mut child = tree
        .spawn(&mut prepared.cmd)
        .map_err(|e| fail(crate::run::not_started(&spec.name, &prepared.cmd, &e)))?;
    let pid = child.id().unwrap_or(0) as i32;
    let info = ProcessInfo {
        pid,
        pgid: pid,
        start_time: procfs::stat(pid).map(|s| s.start_time).unwrap_or(0),
    };
    let feeder = match (child.stdin.take(), prepared.stdin_prompt.take()) {
        (Some(mut stdin), Some(text)) => Some(tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
            let _ = stdin.shutdown().await;
        })),
        _ => None,
    };
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let (sink, alarm) = LogSink::new(logs, settings.log_cap, spec.on_output_cap);
    let (latest_tx, latest) = watch::channel(LatestOutput::default());
    let (steps_tx, steps) = mpsc::unbounded_channel();
    let lines = stream_parser(spec.format, settings.result_cap)
        .map(|p| LineFeed::new(p, line_cap(settings.result_cap), NoteSink::new(steps_tx)));
    let pump = match (out, err) {
        (Some(out), Some(err)) => {
            let sinks = capture::Sinks {
                latest: latest_tx.clone(),
                lines,
            };
            tokio::spawn(capture::pump(out, err, sink, sinks))
        }
        _ => return Err(fail("the agent's output pipes were not set up".into())),
    };
    Ok(Spawned {
        child,
        info,
        tree,
        pump,
        alarm,
        feeder,
        prompt_file: prepared.prompt_file,
        settings,
        latest,
        noted: latest_tx,
        steps: Some(steps),
    })
}

#[async_trait::async_trait]
impl AgentRun for Spawned {
    fn process(&self) -> ProcessInfo {
        self.info
    }

    fn latest_output(&self) -> watch::Receiver<LatestOutput> {
        self.latest.clone()
    }

    fn take_notes(&mut self) -> Option<mpsc::UnboundedReceiver<RunNote>> {
        self.steps.take()
    }

    async fn wait(
        self: Box<Self>,
        _task_id: &str,
        stop: watch::Receiver<Option<StopReason>>,
    ) -> Outcome {
        (*self).finish(stop, &PlainParser).await
    }
}

impl Spawned {
    /// Appends a note of legate's to the log and to the output readers see.
    fn note(&self, log: &Path, note: &str) {
        let _ = append_note(log, note);
        self.noted
            .send_modify(|l| l.take(crate::log::note_line(note).as_bytes()));
    }

    /// Waits for the agent to end (or ends it on timeout, stop request or output alarm),
    /// makes sure nothing of its process tree is left, and builds the outcome.
    async fn finish(
        mut self,
        mut stop: watch::Receiver<Option<StopReason>>,
        parser: &dyn OutputParser,
    ) -> Outcome {
        let timeout = self.settings.timeout;
        let sleep = deadline(timeout);
        let stopped = async {
            loop {
                if let Some(r) = *stop.borrow_and_update() {
                    return r;
                }
                if stop.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        // The capture drops its sender when the pipes close without trouble: that is no alarm.
        let alarm = async {
            match (&mut self.alarm).await {
                Ok(a) => a,
                Err(_) => std::future::pending().await,
            }
        };
        let ending = tokio::select! {
            st = self.child.wait() => match st {
                Ok(st) => Ending::Exited(st),
                Err(e) => Ending::WaitFailed(e.to_string()),
            },
            _ = sleep => Ending::TimedOut,
            r = stopped => Ending::Stopped(r),
            a = alarm => Ending::Alarm(a),
        };
        let grace = self.settings.kill_grace;
        let log = self.settings.task_dir.join("output.log");
        match &ending {
            Ending::Exited(_) => {}
            Ending::TimedOut => {
                self.note(
                    &log,
                    &format!(
                        "timed out after {}; ending the agent's process tree",
                        humanize(timeout.unwrap_or_default())
                    ),
                );
            }
            Ending::Stopped(r) => {
                self.note(
                    &log,
                    &format!("{r:?}: ending the agent's process tree").to_lowercase(),
                );
            }
            Ending::Alarm(_) | Ending::WaitFailed(_) => {}
        }
        // Whatever happened, nothing the task started may outlive it.
        self.tree.end(grace).await;
        let status = match &ending {
            Ending::Exited(st) => Some(*st),
            _ => self.child.wait().await.ok(),
        };
        if let Some(f) = self.feeder.take() {
            f.abort();
        }
        let mut report = match tokio::time::timeout(Duration::from_secs(5), &mut self.pump).await {
            Ok(Ok(r)) => r,
            _ => {
                self.pump.abort();
                Report::default()
            }
        };
        if let Some(p) = &self.prompt_file {
            let _ = std::fs::remove_file(p);
        }
        let mut outcome = outcome_of(&ending, status, timeout);
        let parsed = match report.parsed.take() {
            Some(p) => Some(p),
            None => plain_result(&self.settings, &report, parser),
        };
        if let Some(parsed) = parsed {
            apply_parsed(&mut outcome, parsed);
        }
        wrap_up(
            &mut outcome,
            report.dropped,
            report.notes_dropped,
            &report.stderr,
        );
        outcome
    }
}

/// The result of a plain agent: the last `result_cap` bytes of its stdout.
fn plain_result(
    settings: &RunSettings,
    report: &Report,
    parser: &dyn OutputParser,
) -> Option<Parsed> {
    let stdout = settings.task_dir.join("stdout.log");
    let (mut tail, cut) = read_tail(&stdout, settings.result_cap).ok()?;
    if report.stdout_truncated && !cut {
        // The whole log fits: it starts with legate's note about the log cap, not the agent's
        // words.
        let note = tail.iter().position(|b| *b == b'\n').map_or(0, |nl| nl + 1);
        tail.drain(..note);
    }
    let dropped = report.stdout_bytes.saturating_sub(tail.len() as u64);
    Some(parser.parse(&tail, dropped))
}
