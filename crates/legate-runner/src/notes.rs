//! The one way a run reports notes: each within its size, all within the task's budget.

use tokio::sync::mpsc;

use crate::bounds::{NOTE_BYTES_PER_TASK, NOTES_PER_TASK};
use crate::parse::{Progress, ProgressKind};
use crate::run::RunNote;

/// Sends a run's notes on, until the task's budget ([`NOTES_PER_TASK`] notes,
/// [`NOTE_BYTES_PER_TASK`] bytes) is spent; then one notice says so and the rest are counted
/// and dropped. So the notes waiting to be recorded, and those recorded, stay bounded.
#[derive(Debug)]
pub(crate) struct NoteSink {
    tx: mpsc::UnboundedSender<RunNote>,
    sent: u32,
    bytes: usize,
    dropped: u64,
}

impl NoteSink {
    pub fn new(tx: mpsc::UnboundedSender<RunNote>) -> Self {
        NoteSink {
            tx,
            sent: 0,
            bytes: 0,
            dropped: 0,
        }
    }

    /// Sends a note, or drops it when the budget is spent.
    pub fn send(&mut self, note: RunNote) {
        if self.dropped > 0 {
            self.dropped += 1;
            return;
        }
        let size = match &note {
            RunNote::Progress(p) => p.text.len() + p.tool.as_ref().map_or(0, String::len),
            RunNote::Permission(v) => v.to_string().len(),
        };
        // The last place is kept for the notice.
        if self.sent + 1 >= NOTES_PER_TASK || self.bytes + size > NOTE_BYTES_PER_TASK {
            self.dropped = 1;
            let _ = self.tx.send(RunNote::Progress(Progress {
                kind: ProgressKind::Notice,
                text: format!(
                    "legate records at most {NOTES_PER_TASK} notes ({} MiB) per task; later progress steps and permission answers are not recorded as events (`legate logs` has the output)",
                    NOTE_BYTES_PER_TASK >> 20
                ),
                tool: None,
            }));
            return;
        }
        self.sent += 1;
        self.bytes += size;
        let _ = self.tx.send(note);
    }

    /// A progress step.
    pub fn progress(&mut self, step: Progress) {
        self.send(RunNote::Progress(step));
    }

    /// How many notes were dropped for the budget.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::STEP_BYTES;

    fn step(text: &str) -> Progress {
        Progress {
            kind: ProgressKind::Text,
            text: text.into(),
            tool: None,
        }
    }

    #[test]
    fn past_the_count_one_notice_and_the_rest_dropped() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut sink = NoteSink::new(tx);
        for i in 0..(NOTES_PER_TASK + 500) {
            sink.progress(step(&format!("step {i}")));
        }
        let mut got = Vec::new();
        while let Ok(RunNote::Progress(p)) = rx.try_recv() {
            got.push(p);
        }
        assert_eq!(got.len() as u32, NOTES_PER_TASK);
        let last = got.last().unwrap();
        assert_eq!(last.kind, ProgressKind::Notice);
        assert!(last.text.contains("at most 2000 notes"), "{}", last.text);
        assert_eq!(got[0].text, "step 0");
        assert_eq!(sink.dropped(), 501);
    }

    #[test]
    fn past_the_bytes_one_notice_and_the_rest_dropped() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut sink = NoteSink::new(tx);
        let big = "b".repeat(STEP_BYTES);
        for _ in 0..1000 {
            sink.progress(step(&big));
        }
        let mut bytes = 0;
        let mut n = 0;
        while let Ok(RunNote::Progress(p)) = rx.try_recv() {
            bytes += p.text.len();
            n += 1;
        }
        assert!(bytes <= NOTE_BYTES_PER_TASK + 1000, "{bytes}");
        assert_eq!(n, NOTE_BYTES_PER_TASK / STEP_BYTES + 1);
        assert!(sink.dropped() > 0);
    }
}
