//! Pumping an agent's stdout and stderr into its capped logs.

use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::watch;

use crate::lines::LineFeed;
use crate::parse::Parsed;
use crate::sink::LogSink;
pub(crate) use crate::sink::{Alarm, Logs};
use crate::stderr_tail::StderrTail;

/// What the capture did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Bytes of combined output dropped by the cap.
    pub dropped: u64,
    /// Whether stdout itself was cut.
    pub stdout_truncated: bool,
    /// Bytes the agent wrote to stdout (all of them, kept or not).
    pub stdout_bytes: u64,
    /// What the line parser made of stdout, for agents with a structured format.
    pub parsed: Option<Parsed>,
    /// Notes (progress steps) dropped for the task's budget.
    pub notes_dropped: u64,
    /// The newest of what the agent wrote on stderr.
    pub stderr: StderrTail,
}

/// How much of the newest output [`LatestOutput::tail`] keeps.
pub const TAIL_KEEP: usize = 64 * 1024;

/// What a running task has printed lately, for progress displays, `output` events and readers
/// of its log on other machines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestOutput {
    /// The last non-empty line seen (at most 200 characters, invalid UTF-8 replaced).
    pub line: String,
    /// Bytes of output so far (stdout, stderr and legate's notes, as in `output.log`).
    pub bytes: u64,
    /// The newest output; its end is at `bytes`.
    kept: Vec<u8>,
}

impl LatestOutput {
    /// Takes in a chunk of output: counts it, keeps it in the tail and keeps its last
    /// non-empty line, if it has one.
    pub(crate) fn take(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.kept.extend_from_slice(chunk);
        // Trimmed in halves, so keeping the tail costs O(1) per byte.
        if self.kept.len() > 2 * TAIL_KEEP {
            self.kept.drain(..self.kept.len() - TAIL_KEEP);
        }
        self.take_aside(chunk);
    }

    /// The last [`TAIL_KEEP`] bytes of output (fewer when there were fewer).
    pub fn tail(&self) -> &[u8] {
        &self.kept[self.kept.len().saturating_sub(TAIL_KEEP)..]
    }

    /// Takes in words that show activity without being output (an agent's thoughts): they
    /// become the latest line only.
    pub(crate) fn take_aside(&mut self, chunk: &[u8]) {
        let last = chunk
            .split(|b| *b == b'\n')
            .map(|l| l.trim_ascii())
            .rfind(|l| !l.is_empty());
        if let Some(l) = last {
            self.line = String::from_utf8_lossy(l).chars().take(200).collect();
        }
    }
}

/// Where the capture reports besides the logs.
pub(crate) struct Sinks {
    /// The latest output line and byte count.
    pub latest: watch::Sender<LatestOutput>,
    /// The line parser of structured agents.
    pub lines: Option<LineFeed>,
}

/// Reads both pipes to their end. After an alarm it keeps draining (so the agent never
/// blocks on a full pipe before it is killed) but writes nothing more.
pub(crate) async fn pump(
    mut out: ChildStdout,
    mut err: ChildStderr,
    mut logs: LogSink,
    sinks: Sinks,
) -> Report {
    let Sinks { latest, mut lines } = sinks;
    let (mut out_open, mut err_open) = (true, true);
    let mut stdout_bytes = 0u64;
    let mut stderr = StderrTail::default();
    let mut a = vec![0u8; 64 * 1024];
    let mut b = vec![0u8; 64 * 1024];
    while out_open || err_open {
        let (chunk, is_stdout) = tokio::select! {
            r = out.read(&mut a), if out_open => match r {
                Ok(0) | Err(_) => { out_open = false; continue; }
                Ok(n) => (&a[..n], true),
            },
            r = err.read(&mut b), if err_open => match r {
                Ok(0) | Err(_) => { err_open = false; continue; }
                Ok(n) => (&b[..n], false),
            },
        };
        if is_stdout {
            stdout_bytes += chunk.len() as u64;
            if let Some(feed) = lines.as_mut() {
                feed.feed(chunk);
            }
        } else {
            stderr.take(chunk);
        }
        if logs.broken() {
            continue;
        }
        latest.send_modify(|l| l.take(chunk));
        logs.write(chunk, is_stdout);
    }
    let closed = logs.close();
    let (parsed, notes_dropped) = match lines.map(LineFeed::finish) {
        Some((p, n)) => (Some(p), n),
        None => (None, 0),
    };
    Report {
        dropped: closed.dropped,
        stdout_truncated: closed.stdout_truncated,
        stdout_bytes,
        parsed,
        notes_dropped,
        stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::LatestOutput;

    #[test]
    fn latest_output_keeps_the_last_non_empty_line() {
        let mut l = LatestOutput::default();
        l.take(b"one\ntwo\n\n");
        assert_eq!(l.line, "two");
        l.take(b"  ");
        assert_eq!(l.line, "two");
        l.take(b"partial \xff");
        assert_eq!(l.line, "partial \u{fffd}");
        l.take(&[b'x'; 500]);
        assert_eq!(l.line.len(), 200);
        assert_eq!(l.bytes, 9 + 2 + 9 + 500);
        assert_eq!(
            l.tail().len() as u64,
            l.bytes,
            "all of it, under the tail's size"
        );
        assert!(l.tail().starts_with(b"one\ntwo\n\n  partial \xff"));
    }

    #[test]
    fn the_tail_keeps_the_newest_output_and_ends_at_the_count() {
        let mut l = LatestOutput::default();
        let mut all = Vec::new();
        for i in 0..20_000u32 {
            let line = format!("line {i}\n");
            all.extend_from_slice(line.as_bytes());
            l.take(line.as_bytes());
        }
        l.take_aside(b"thinking");
        assert_eq!(l.tail().len(), super::TAIL_KEEP);
        assert!(all.ends_with(l.tail()));
        assert_eq!(l.bytes, all.len() as u64);
        assert_eq!(l.line, "thinking");
    }
}
