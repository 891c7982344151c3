//! The exec runner: one agent process from spawn to outcome.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use legate_domain::{AgentSpec, ErrorKind, Outcome, ProcessInfo, Status};
use nix::sys::signal::Signal;
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::capture::{self, Alarm, LatestOutput, Logs, Report};
use crate::command::{Invocation, prepare};
use crate::lines::LineFeed;
use crate::log::{append_note, read_tail};
use crate::parse::{AgentFailure, OutputParser, PlainParser, stream_parser};
use crate::procfs;
use crate::run::{AgentRun, RunNote};

pub use crate::command::resolve_program;

/// How to run one task.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The task's own directory for logs and the prompt file (created by the caller).
    pub task_dir: PathBuf,
    /// Cap on each log file.
    pub log_cap: u64,
    /// Cap on the result text.
    pub result_cap: u64,
    /// Time between TERM and KILL.
    pub kill_grace: Duration,
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
    /// Delegation depth of the task (becomes the child's `LEGATE_DEPTH`).
    pub depth: u32,
    /// The agent session to continue (a follow-up), if any.
    pub resume_session: Option<String>,
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
    let mut child = prepared
        .cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start agent '{}': {e}", spec.name)))?;
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
    let (alarm_tx, alarm) = oneshot::channel();
    let (cap, policy) = (settings.log_cap, spec.on_output_cap);
    let (latest_tx, latest) = watch::channel(LatestOutput::default());
    let (steps_tx, steps) = mpsc::unbounded_channel();
    let lines = stream_parser(spec.format).map(|p| LineFeed::new(p, steps_tx));
    let pump = match (out, err) {
        (Some(out), Some(err)) => {
            let sinks = capture::Sinks {
                alarm: alarm_tx,
                latest: latest_tx.clone(),
                lines,
            };
            tokio::spawn(capture::pump(out, err, logs, cap, policy, sinks))
        }
        _ => return Err(fail("the agent's output pipes were not set up".into())),
    };
    Ok(Spawned {
        child,
        info,
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

enum Ending {
    Exited(ExitStatus),
    TimedOut,
    Stopped(StopReason),
    Alarm(Alarm),
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
        task_id: &str,
        stop: watch::Receiver<Option<StopReason>>,
    ) -> Outcome {
        (*self).finish(task_id, stop, &PlainParser).await
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
        task_id: &str,
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
                Err(e) => Ending::Alarm(Alarm::LogFailed(format!("waiting for the agent failed: {e}"))),
            },
            _ = sleep => Ending::TimedOut,
            r = stopped => Ending::Stopped(r),
            a = alarm => Ending::Alarm(a),
        };
        let grace = self.settings.kill_grace;
        let pgid = self.info.pgid;
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
            Ending::Alarm(_) => {}
        }
        // Whatever happened, nothing of the tree may outlive the task. A clean exit with an
        // empty process group (the common case) needs no sweep of /proc.
        let clean = matches!(ending, Ending::Exited(_)) && procfs::group_members(pgid).is_empty();
        if !clean {
            end_tree(pgid, grace, task_id).await;
        }
        let status = match &ending {
            Ending::Exited(st) => Some(*st),
            _ => self.child.wait().await.ok(),
        };
        if let Some(f) = self.feeder.take() {
            f.abort();
        }
        let report = match tokio::time::timeout(Duration::from_secs(5), &mut self.pump).await {
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
        let parsed = match report.parsed {
            Some(p) => Some(p),
            None => {
                let stdout = self.settings.task_dir.join("stdout.log");
                read_tail(&stdout, self.settings.result_cap)
                    .ok()
                    .map(|(tail, cut)| parser.parse(&tail, cut || report.stdout_truncated))
            }
        };
        if let Some(parsed) = parsed {
            apply_parsed(&mut outcome, parsed);
        }
        if report.dropped > 0 {
            outcome
                .metadata
                .insert("output_dropped_bytes".into(), report.dropped.into());
        }
        outcome
    }
}

/// Puts what the parser found into the outcome. An error the agent reported explains a
/// failure better than its exit code, and turns an exit 0 into a failure.
pub fn apply_parsed(outcome: &mut Outcome, parsed: crate::parse::Parsed) {
    outcome.result = Some(parsed.result);
    if let Some(s) = parsed.session_id {
        outcome.metadata.insert("session_id".into(), s.into());
    }
    if let Some(u) = parsed.usage {
        outcome.metadata.insert("usage".into(), u);
    }
    let replaceable = matches!(
        outcome.error.as_ref().map(|e| e.kind),
        None | Some(ErrorKind::ExitNonzero)
    );
    if let Some(AgentFailure { kind, message }) = parsed.failure
        && replaceable
    {
        outcome.status = Status::Failed;
        outcome.error = Some(legate_domain::TaskError { kind, message });
    }
}

fn outcome_of(ending: &Ending, status: Option<ExitStatus>, timeout: Option<Duration>) -> Outcome {
    let mut o = match ending {
        Ending::Exited(st) => match (st.code(), st.signal()) {
            (Some(0), _) => Outcome {
                status: Status::Succeeded,
                exit_code: Some(0),
                signal: None,
                result: None,
                error: None,
                metadata: Default::default(),
            },
            (Some(code), _) => Outcome::failed(
                Status::Failed,
                ErrorKind::ExitNonzero,
                format!("the agent exited with code {code}"),
            ),
            (None, Some(sig)) => Outcome::failed(
                Status::Failed,
                ErrorKind::Signaled,
                format!("the agent was killed by signal {}", signal_name(sig)),
            ),
            (None, None) => Outcome::failed(
                Status::Failed,
                ErrorKind::Signaled,
                "the agent ended abnormally",
            ),
        },
        Ending::TimedOut => timed_out(timeout),
        Ending::Stopped(reason) => stopped(*reason),
        Ending::Alarm(Alarm::LogFailed(msg)) => {
            Outcome::failed(Status::Failed, ErrorKind::LogWriteFailed, msg.clone())
        }
        Ending::Alarm(Alarm::OverCap(cap)) => Outcome::failed(
            Status::Failed,
            ErrorKind::OutputTooLarge,
            format!(
                "the agent wrote more than the output cap of {cap} bytes and its policy is on_output_cap = \"fail\""
            ),
        ),
    };
    if let Some(st) = status {
        o.exit_code = st.code();
        o.signal = st.signal();
    }
    o
}

/// Sleeps for the wall-clock limit, or forever when there is none.
pub(crate) async fn deadline(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// The outcome of a run that passed its wall-clock limit.
pub(crate) fn timed_out(timeout: Option<Duration>) -> Outcome {
    Outcome::failed(
        Status::TimedOut,
        ErrorKind::TimedOut,
        format!(
            "the task ran past its timeout of {}; legate ended it",
            humanize(timeout.unwrap_or_default())
        ),
    )
}

/// The outcome of a run legate stopped early.
pub(crate) fn stopped(reason: StopReason) -> Outcome {
    match reason {
        StopReason::Cancel => Outcome::failed(
            Status::Canceled,
            ErrorKind::Canceled,
            "canceled while running",
        ),
        StopReason::Stall => Outcome::failed(
            Status::Failed,
            ErrorKind::Stalled,
            "the agent printed and reported nothing for its stall_timeout, and its policy is on_stall = \"cancel\"; legate ended it",
        ),
        StopReason::Shutdown => Outcome::failed(
            Status::Interrupted,
            ErrorKind::Interrupted,
            "the daemon shut down while the task ran",
        ),
    }
}

/// Ends whatever is left of a task's process tree: the group (TERM, grace, KILL), then any
/// process still carrying the task's id that left the group.
pub(crate) async fn end_tree(pgid: i32, grace: Duration, task_id: &str) {
    procfs::kill_group(pgid, grace).await;
    for pid in procfs::processes_with_env("LEGATE_TASK_ID", task_id) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
}

fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| sig.to_string())
}

fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
