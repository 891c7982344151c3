//! The agent's last words on stderr, carried in the error of a run that failed, so `show`,
//! `--json`, MCP and notifications say why in the agent's own words, not only its exit code.
//!
//! Both runners feed every stderr chunk to a [`StderrTail`] (it keeps a bounded tail) and hand
//! it to [`explain`] with the outcome. The lines are made terminal-safe here, where the message
//! is made: they reach people through paths that print error messages as they are.

use legate_domain::terminal::one_line;
use legate_domain::{ErrorKind, Outcome};

/// At most this many of the last non-empty lines go into an error.
pub const TAIL_LINES: usize = 10;

/// At most this many bytes of them (the newest kept).
pub const TAIL_BYTES: usize = 2048;

/// How much of the stream is held to find those lines in.
const KEEP: usize = 2 * TAIL_BYTES;

/// The newest bytes an agent wrote on stderr.
#[derive(Debug, Clone, Default)]
pub struct StderrTail {
    kept: Vec<u8>,
    /// Whether older bytes were let go (the first kept line may be the end of one).
    cut: bool,
}

impl StderrTail {
    /// Takes in a chunk of stderr.
    pub fn take(&mut self, chunk: &[u8]) {
        self.kept.extend_from_slice(chunk);
        // Trimmed in halves, so keeping the tail costs O(1) per byte.
        if self.kept.len() > 2 * KEEP {
            self.kept.drain(..self.kept.len() - KEEP);
            self.cut = true;
        }
    }

    /// The last non-empty lines (at most [`TAIL_LINES`], [`TAIL_BYTES`] bytes), each on one
    /// line with control characters in their visible form; `None` when there are none.
    pub fn lines(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.kept);
        let mut picked: Vec<String> = Vec::new();
        let mut bytes = 0;
        for (i, line) in text
            .split('\n')
            .enumerate()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            let line = line.trim_end();
            if line.trim().is_empty() {
                continue;
            }
            if picked.len() == TAIL_LINES || bytes >= TAIL_BYTES {
                break;
            }
            let mut shown = one_line(line).into_owned();
            if i == 0 && self.cut {
                // The start of this line was let go.
                shown.insert(0, '…');
            }
            let shown = if bytes + shown.len() > TAIL_BYTES {
                // Only the end of this line fits.
                let room = TAIL_BYTES - bytes;
                let mut start = shown.len() - room.min(shown.len());
                while !shown.is_char_boundary(start) {
                    start += 1;
                }
                format!("…{}", &shown[start..])
            } else {
                shown
            };
            bytes += shown.len();
            picked.push(shown);
        }
        if picked.is_empty() {
            return None;
        }
        picked.reverse();
        Some(picked.join("\n"))
    }
}

/// Adds the agent's last stderr lines to the error of a run that failed by the agent's doing
/// (anything but a cancel or a daemon shutdown, which are legate's own ends), indented under
/// a line that says what they are.
pub fn explain(outcome: &mut Outcome, tail: &StderrTail) {
    let Some(error) = outcome.error.as_mut() else {
        return;
    };
    if matches!(error.kind, ErrorKind::Canceled | ErrorKind::Interrupted) {
        return;
    }
    let Some(lines) = tail.lines() else {
        return;
    };
    let indented: Vec<String> = lines.lines().map(|l| format!("  {l}")).collect();
    error.message.push_str(&format!(
        "\nthe agent's last words on stderr:\n{}",
        indented.join("\n")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_domain::Status;

    fn tail_of(chunks: &[&[u8]]) -> StderrTail {
        let mut t = StderrTail::default();
        for c in chunks {
            t.take(c);
        }
        t
    }

    #[test]
    fn the_last_non_empty_lines_are_kept_neutralised() {
        let t = tail_of(&[b"one\n\n  two  \r\n", b"thr", b"ee \x1b[2J\x1b]0;x\x07\n\n"]);
        assert_eq!(t.lines().unwrap(), "one\n  two\nthree ␛[2J␛]0;x␇");
        assert_eq!(tail_of(&[b"\n \n"]).lines(), None);
        assert_eq!(StderrTail::default().lines(), None);
        assert_eq!(
            tail_of(&[b"bad \xff utf8"]).lines().unwrap(),
            "bad \u{fffd} utf8"
        );
    }

    #[test]
    fn at_most_ten_lines_and_two_kib_whatever_was_written() {
        let mut t = StderrTail::default();
        for i in 0..100_000 {
            t.take(format!("line {i}\n").as_bytes());
        }
        let lines = t.lines().unwrap();
        let expected: Vec<String> = (99_990..100_000).map(|i| format!("line {i}")).collect();
        assert_eq!(lines, expected.join("\n"));
        assert!(t.kept.len() <= 2 * KEEP);

        let long = "y".repeat(10_000);
        let t = tail_of(&[b"before\n", long.as_bytes(), "ü\n".as_bytes()]);
        let lines = t.lines().unwrap();
        assert!(lines.starts_with('…') && lines.ends_with("yü"), "{lines}");
        assert!(lines.len() <= TAIL_BYTES + '…'.len_utf8());
    }

    #[test]
    fn failures_of_the_agent_carry_them_and_legates_own_ends_do_not() {
        let t = tail_of(&[b"Error: not trusted\nexiting\n"]);
        let mut o = Outcome::failed(
            Status::Failed,
            ErrorKind::ExitNonzero,
            "the agent exited with code 55",
        );
        explain(&mut o, &t);
        assert_eq!(
            o.error.unwrap().message,
            "the agent exited with code 55\nthe agent's last words on stderr:\n  Error: not trusted\n  exiting"
        );
        let mut c = Outcome::failed(
            Status::Canceled,
            ErrorKind::Canceled,
            "canceled while running",
        );
        explain(&mut c, &t);
        assert_eq!(c.error.unwrap().message, "canceled while running");
        let mut quiet = Outcome::failed(Status::Failed, ErrorKind::Signaled, "killed");
        explain(&mut quiet, &StderrTail::default());
        assert_eq!(quiet.error.unwrap().message, "killed");
    }
}
