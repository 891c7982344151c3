//! The ACP runner: legate as an Agent Client Protocol client of the agent process.
//!
//! The agent's stdin and stdout carry the protocol; its stderr and a readable transcript (the
//! agent's words, tool calls, plans, permission answers) go to the task's log. A cancel or
//! timeout sends `session/cancel`, waits the grace period for the turn to end, then ends the
//! process group like the exec runner does. Follow-ups continue with `session/load`.

mod fs;
mod quirks;
mod state;
mod talk;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::v1::schema::StopReason as AcpStop;
use legate_domain::{AgentSpec, ErrorKind, Outcome, ProcessInfo, Status};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::bounds::line_cap;
use crate::capture::{LatestOutput, Logs};
use crate::command::{Invocation, prepare_acp, run_dir};
use crate::exec::{RunSettings, StopReason};
use crate::log::append_note;
use crate::outcome::{alarmed, deadline, record_status, signaled, stopped, timed_out, wrap_up};
use crate::parse::classify_failure;
use crate::procfs;
use crate::run::{AgentRun, RunNote};
use crate::sink::{Alarm, LogSink};
use crate::stderr_tail::StderrTail;
use crate::tree::TaskTree;
use state::Talk;
use talk::{Brief, Ended};

/// A started ACP agent.
pub struct AcpRun {
    child: Child,
    info: ProcessInfo,
    tree: TaskTree,
    talk: Talk,
    conversation: JoinHandle<Ended>,
    relay: JoinHandle<()>,
    cancel: watch::Sender<bool>,
    /// Raised by the log sink: a log write failed, or the output passed the cap under `fail`.
    alarm: oneshot::Receiver<Alarm>,
    stderr: JoinHandle<()>,
    /// The newest of what the agent wrote on stderr (shared with the task reading it).
    stderr_tail: Arc<Mutex<StderrTail>>,
    latest: watch::Receiver<LatestOutput>,
    notes: Option<mpsc::UnboundedReceiver<RunNote>>,
    settings: RunSettings,
}

/// Starts the agent and the conversation with it.
pub fn spawn(
    spec: &AgentSpec,
    task_id: &str,
    prompt: &str,
    cwd: Option<&Path>,
    settings: RunSettings,
) -> Result<AcpRun, Box<Outcome>> {
    let fail = |msg: String| {
        let _ = append_note(&settings.task_dir.join("output.log"), &msg);
        Box::new(Outcome::failed(Status::Failed, ErrorKind::SpawnFailed, msg))
    };
    let logs = Logs::create(&settings.task_dir, settings.log_cap)
        .map_err(|e| fail(format!("cannot create the task's log files: {e}")))?;
    let inv = Invocation {
        spec,
        task_id,
        prompt,
        cwd,
        depth: settings.depth,
        task_dir: &settings.task_dir,
        session: None,
        env: settings.env.as_ref(),
    };
    let mut cmd = prepare_acp(&inv).map_err(fail)?;
    let dir = run_dir(&inv)
        .or_else(|| std::env::current_dir().ok())
        .and_then(|d| d.canonicalize().ok())
        .ok_or_else(|| fail("the task's working directory cannot be resolved".into()))?;
    let mut tree = TaskTree::new(task_id, settings.attempt, &settings.task_dir);
    let mut child = tree
        .spawn(&mut cmd)
        .map_err(|e| fail(crate::run::not_started(&spec.name, &cmd, &e)))?;
    let pid = child.id().unwrap_or(0) as i32;
    let info = ProcessInfo {
        pid,
        pgid: pid,
        start_time: procfs::stat(pid).map(|s| s.start_time).unwrap_or(0),
    };
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(fail("the agent's pipes were not set up".into()));
    };
    let (notes_tx, notes) = mpsc::unbounded_channel();
    let (latest_tx, latest) = watch::channel(LatestOutput::default());
    let (sink, alarm) = LogSink::new(logs, settings.log_cap, spec.on_output_cap);
    let talk = Talk::new(
        notes_tx,
        latest_tx,
        sink,
        spec.permissions.clone(),
        settings.result_cap,
    );
    let (messages, relay) = talk::relay(stdout, line_cap(settings.result_cap), talk.clone());
    let (cancel, cancel_rx) = watch::channel(false);
    let brief = Brief {
        prompt: prompt.to_string(),
        cwd: dir,
        resume: settings.resume_session.clone(),
        resume_created: settings.resume_session_created,
        fs: spec.fs,
    };
    let conversation = tokio::spawn(talk::converse(
        stdin,
        messages,
        brief,
        talk.clone(),
        cancel_rx,
    ));
    let stderr_tail = Arc::new(Mutex::new(StderrTail::default()));
    let stderr = tokio::spawn(pump_stderr(stderr, talk.clone(), stderr_tail.clone()));
    Ok(AcpRun {
        child,
        info,
        tree,
        talk,
        conversation,
        relay,
        cancel,
        alarm,
        stderr,
        stderr_tail,
        latest,
        notes: Some(notes),
        settings,
    })
}

async fn pump_stderr(mut err: ChildStderr, talk: Talk, tail: Arc<Mutex<StderrTail>>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = err.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(&buf[..n]);
        talk.log(&String::from_utf8_lossy(&buf[..n]), false);
    }
}

enum Why {
    Ended(Ended),
    TimedOut,
    Stopped(StopReason),
    Alarm(Alarm),
}

#[async_trait::async_trait]
impl AgentRun for AcpRun {
    fn process(&self) -> ProcessInfo {
        self.info
    }

    fn latest_output(&self) -> watch::Receiver<LatestOutput> {
        self.latest.clone()
    }

    fn take_notes(&mut self) -> Option<mpsc::UnboundedReceiver<RunNote>> {
        self.notes.take()
    }

    async fn wait(
        mut self: Box<Self>,
        _task_id: &str,
        mut stop: watch::Receiver<Option<StopReason>>,
    ) -> Outcome {
        let timeout = self.settings.timeout;
        let grace = self.settings.kill_grace;
        let sleep = deadline(timeout);
        // The sink drops its sender when the logs close without trouble: that is no alarm.
        let alarm = async {
            match (&mut self.alarm).await {
                Ok(a) => a,
                Err(_) => std::future::pending().await,
            }
        };
        let mut why = tokio::select! {
            ended = &mut self.conversation => Why::Ended(ended.unwrap_or_else(|e| Ended::Failed(e.to_string()))),
            _ = sleep => Why::TimedOut,
            r = async { stop.wait_for(|r| r.is_some()).await.map(|r| *r) } => match r {
                Ok(r) => Why::Stopped(r.unwrap_or(StopReason::Cancel)),
                Err(_) => Why::Stopped(StopReason::Shutdown),
            },
            a = alarm => Why::Alarm(a),
        };
        // A turn that ended after an alarm was raised still ends by the alarm.
        if matches!(why, Why::Ended(_))
            && let Ok(a) = self.alarm.try_recv()
        {
            why = Why::Alarm(a);
        }
        if !matches!(why, Why::Ended(_)) {
            // Ask the agent to end its turn, and give it the grace period to do so.
            let _ = self.cancel.send(true);
            if tokio::time::timeout(grace, &mut self.conversation)
                .await
                .is_err()
            {
                self.conversation.abort();
            }
        }
        // The conversation is over and its end of the pipes closed: an ACP agent exits on EOF.
        let exited = tokio::time::timeout(grace, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        // Whatever happened, nothing the task started may outlive it.
        self.tree.end(grace).await;
        let status = match exited {
            Some(s) => Some(s),
            None => self.child.wait().await.ok(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.stderr).await;
        self.relay.abort();
        let mut outcome = match why {
            Why::Ended(ended) => ended_outcome(ended, status),
            Why::TimedOut => timed_out(timeout),
            Why::Stopped(r) => stopped(r),
            Why::Alarm(a) => alarmed(&a),
        };
        record_status(&mut outcome, status);
        let dropped = self.talk.close_logs();
        outcome.result = Some(self.talk.answer());
        if let Some(s) = self.talk.session() {
            outcome.metadata.insert("session_id".into(), s.into());
        }
        if let Some(at) = self.talk.session_created() {
            outcome
                .metadata
                .insert("session_created_at".into(), at.to_rfc3339().into());
        }
        let stderr = self
            .stderr_tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        wrap_up(&mut outcome, dropped, self.talk.notes_dropped(), &stderr);
        outcome
    }
}

/// The outcome of a turn the agent ended (or the protocol broke).
fn ended_outcome(ended: Ended, status: Option<std::process::ExitStatus>) -> Outcome {
    let failed = |kind, msg: String| Outcome::failed(Status::Failed, kind, msg);
    let mut o = match ended {
        Ended::Stopped(AcpStop::EndTurn) => Outcome {
            status: Status::Succeeded,
            exit_code: None,
            signal: None,
            result: None,
            error: None,
            metadata: Default::default(),
        },
        Ended::Stopped(AcpStop::Refusal) => failed(
            ErrorKind::Refused,
            "the model declined the request (stopReason: refusal)".into(),
        ),
        Ended::Stopped(other) => {
            let name = serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            failed(
                ErrorKind::AgentError,
                format!("the agent ended its turn early (stopReason: {name})"),
            )
        }
        Ended::CannotResume(msg) => failed(ErrorKind::AgentError, msg),
        // The agent went away: a signal not sent by legate that killed it says why best.
        Ended::Failed(msg) => signaled(status).unwrap_or_else(|| {
            let exit = status
                .map(|s| format!(" (the agent process ended: {s})"))
                .unwrap_or_default();
            failed(classify_failure(&msg), format!("{msg}{exit}"))
        }),
    };
    o.metadata.insert("protocol".into(), "acp".into());
    o
}
