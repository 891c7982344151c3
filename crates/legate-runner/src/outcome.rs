//! How a run ended, in the words of its outcome: exit status, timeout, stop request or
//! alarm, and what the output parser found.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use legate_domain::{ErrorKind, Outcome, Status};
use nix::sys::signal::Signal;

use crate::capture::Alarm;
use crate::exec::StopReason;
use crate::parse::AgentFailure;
use crate::stderr_tail::{StderrTail, explain};

/// Why an exec run ended.
pub(crate) enum Ending {
    /// The agent exited by itself.
    Exited(ExitStatus),
    /// It passed its wall-clock limit.
    TimedOut,
    /// legate was asked to stop it.
    Stopped(StopReason),
    /// The capture raised an alarm.
    Alarm(Alarm),
    /// Waiting for the agent process failed: legate lost track of it.
    WaitFailed(String),
}

/// The last part of every run's outcome, alike for both runners: what the cap dropped from
/// `output.log` (bytes), the notes the task's budget dropped, and the agent's stderr where it
/// explains a failure.
pub(crate) fn wrap_up(
    outcome: &mut Outcome,
    dropped: u64,
    notes_dropped: u64,
    stderr: &StderrTail,
) {
    if dropped > 0 {
        outcome
            .metadata
            .insert("output_dropped_bytes".into(), dropped.into());
    }
    note_dropped(outcome, notes_dropped);
    explain(outcome, stderr);
}

/// Records how the agent process ended: its exit code, or the signal that killed it.
pub(crate) fn record_status(outcome: &mut Outcome, status: Option<ExitStatus>) {
    if let Some(st) = status {
        outcome.exit_code = st.code();
        outcome.signal = st.signal();
    }
}

/// The outcome of a run its capture raised an alarm for.
pub(crate) fn alarmed(alarm: &Alarm) -> Outcome {
    match alarm {
        Alarm::LogFailed(msg) => {
            Outcome::failed(Status::Failed, ErrorKind::LogWriteFailed, msg.clone())
        }
        Alarm::OverCap(cap) => Outcome::failed(
            Status::Failed,
            ErrorKind::OutputTooLarge,
            format!(
                "the agent wrote more than the output cap of {cap} bytes and its policy is on_output_cap = \"fail\""
            ),
        ),
    }
}

/// The outcome of an agent that a signal not sent by legate ended, if `status` says so.
pub(crate) fn signaled(status: Option<ExitStatus>) -> Option<Outcome> {
    status?.signal().map(killed_by)
}

fn killed_by(sig: i32) -> Outcome {
    Outcome::failed(
        Status::Failed,
        ErrorKind::Signaled,
        format!("the agent was killed by signal {}", signal_name(sig)),
    )
}

/// Says in the outcome how many notes the task's budget dropped, if any.
pub(crate) fn note_dropped(outcome: &mut Outcome, dropped: u64) {
    if dropped > 0 {
        outcome
            .metadata
            .insert("progress_dropped".into(), dropped.into());
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

/// The outcome of an exec run from how it ended and the agent's exit status.
pub(crate) fn outcome_of(
    ending: &Ending,
    status: Option<ExitStatus>,
    timeout: Option<Duration>,
) -> Outcome {
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
            (None, Some(sig)) => killed_by(sig),
            (None, None) => Outcome::failed(
                Status::Failed,
                ErrorKind::Signaled,
                "the agent ended abnormally",
            ),
        },
        Ending::TimedOut => timed_out(timeout),
        Ending::Stopped(reason) => stopped(*reason),
        Ending::Alarm(alarm) => alarmed(alarm),
        Ending::WaitFailed(msg) => Outcome::failed(
            Status::Failed,
            ErrorKind::Interrupted,
            format!("waiting for the agent failed: {msg}"),
        ),
    };
    record_status(&mut o, status);
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

fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| sig.to_string())
}

pub(crate) fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use legate_domain::ErrorKind;

    use super::{Ending, outcome_of, signaled};

    #[test]
    fn a_failed_wait_is_not_reported_as_a_log_write_failure() {
        let o = outcome_of(&Ending::WaitFailed("no child".into()), None, None);
        let error = o.error.unwrap();
        assert_eq!(error.kind, ErrorKind::Interrupted);
        assert!(
            error
                .message
                .contains("waiting for the agent failed: no child")
        );
    }

    #[test]
    fn an_exit_status_records_its_signal_for_either_runner() {
        let killed = ExitStatus::from_raw(11);
        let o = outcome_of(&Ending::Exited(killed), Some(killed), None);
        assert_eq!((o.exit_code, o.signal), (None, Some(11)));
        assert_eq!(o.error.unwrap().kind, ErrorKind::Signaled);
        let acp = signaled(Some(killed)).unwrap();
        assert_eq!(
            acp.error.unwrap().message,
            "the agent was killed by signal SIGSEGV"
        );
        assert!(signaled(Some(ExitStatus::from_raw(3 << 8))).is_none());
    }
}
