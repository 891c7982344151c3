//! Splitting an agent's output into lines without holding an unbounded one, and feeding
//! stdout to a line parser as it arrives.

use crate::notes::NoteSink;
use crate::parse::{Parsed, Progress, ProgressKind, StreamParser};

/// What the splitter found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// A whole line, without its newline.
    Line(&'a [u8]),
    /// A line longer than the cap: drained, not kept; its length in bytes.
    Skipped(u64),
}

/// Splits a byte stream into lines of at most `cap` bytes; a longer line is drained and
/// reported as [`Piece::Skipped`], so at most `cap` bytes are ever held.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    cap: usize,
    partial: Vec<u8>,
    /// `partial` was handed out as a line and is to be cleared.
    handed: bool,
    /// Bytes of an overlong line seen so far.
    skipping: Option<u64>,
}

impl LineSplitter {
    pub fn new(cap: usize) -> Self {
        LineSplitter {
            cap,
            partial: Vec::new(),
            handed: false,
            skipping: None,
        }
    }

    /// The next piece that `chunk` completes, advancing `chunk` past it; `None` once the rest
    /// of `chunk` is kept (or drained) waiting for its newline.
    pub fn next<'a, 'c: 'a>(&'a mut self, chunk: &mut &'c [u8]) -> Option<Piece<'a>> {
        if self.handed {
            self.partial.clear();
            self.handed = false;
        }
        let data: &'c [u8] = chunk;
        match data.iter().position(|b| *b == b'\n') {
            Some(nl) => {
                *chunk = &data[nl + 1..];
                let line = &data[..nl];
                if let Some(seen) = self.skipping.take() {
                    return Some(Piece::Skipped(seen + nl as u64));
                }
                if self.partial.len() + nl > self.cap {
                    let n = (self.partial.len() + nl) as u64;
                    self.partial = Vec::new();
                    return Some(Piece::Skipped(n));
                }
                if self.partial.is_empty() {
                    return Some(Piece::Line(line));
                }
                self.partial.extend_from_slice(line);
                self.handed = true;
                Some(Piece::Line(&self.partial))
            }
            None => {
                *chunk = &[];
                self.hold(data);
                None
            }
        }
    }

    fn hold(&mut self, data: &[u8]) {
        if let Some(seen) = self.skipping.as_mut() {
            *seen += data.len() as u64;
        } else if self.partial.len() + data.len() > self.cap {
            self.skipping = Some((self.partial.len() + data.len()) as u64);
            // Give the memory back: the line will not be kept.
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(data);
        }
    }

    /// At the end of the stream: a last line without a newline still counts.
    pub fn finish(&mut self) -> Option<Piece<'_>> {
        if self.handed {
            self.partial.clear();
            self.handed = false;
        }
        if let Some(seen) = self.skipping.take() {
            return Some(Piece::Skipped(seen));
        }
        if self.partial.is_empty() {
            return None;
        }
        self.handed = true;
        Some(Piece::Line(&self.partial))
    }
}

/// A line parser fed with raw chunks of stdout.
pub(crate) struct LineFeed {
    parser: Box<dyn StreamParser>,
    lines: LineSplitter,
    notes: NoteSink,
    skipped: u64,
}

impl LineFeed {
    pub fn new(parser: Box<dyn StreamParser>, cap: usize, notes: NoteSink) -> Self {
        LineFeed {
            parser,
            lines: LineSplitter::new(cap),
            notes,
            skipped: 0,
        }
    }

    /// Takes a chunk of stdout: complete lines go to the parser now.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(piece) = self.lines.next(&mut chunk) {
            let steps = match piece {
                Piece::Line(line) => self.parser.line(line),
                Piece::Skipped(n) => {
                    self.skipped += 1;
                    vec![skipped_line(n, self.lines.cap)]
                }
            };
            for step in steps {
                self.notes.progress(step);
            }
        }
    }

    /// Ends the stream: what the parser made of it, and how many notes the budget dropped.
    pub fn finish(mut self) -> (Parsed, u64) {
        let last = match self.lines.finish() {
            Some(Piece::Line(line)) => self.parser.line(line),
            Some(Piece::Skipped(n)) => {
                self.skipped += 1;
                vec![skipped_line(n, self.lines.cap)]
            }
            None => Vec::new(),
        };
        for step in last {
            self.notes.progress(step);
        }
        let mut parsed = self.parser.finish();
        if parsed.result.is_empty() && self.skipped > 0 {
            parsed.result = format!(
                "[legate: no answer could be read: {} output line(s) were longer than the {} bytes legate parses; see `legate logs`]",
                self.skipped, self.lines.cap
            );
        }
        (parsed, self.notes.dropped())
    }
}

/// The notice for a line too long to read.
pub(crate) fn skipped_line(bytes: u64, cap: usize) -> Progress {
    Progress {
        kind: ProgressKind::Notice,
        text: format!(
            "legate skipped an output line of {bytes} bytes: longer than the {cap} bytes it reads whole (`legate logs` has it)"
        ),
        tool: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::RunNote;
    use legate_domain::OutputFormat;
    use tokio::sync::mpsc;

    fn pieces(cap: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new(cap);
        let mut out = Vec::new();
        for c in chunks {
            let mut c: &[u8] = c;
            while let Some(p) = s.next(&mut c) {
                out.push(show(p));
            }
            assert!(s.partial.len() <= cap, "never holds more than the cap");
        }
        if let Some(p) = s.finish() {
            out.push(show(p));
        }
        out
    }

    fn show(p: Piece<'_>) -> String {
        match p {
            Piece::Line(l) => String::from_utf8_lossy(l).into_owned(),
            Piece::Skipped(n) => format!("<skipped {n}>"),
        }
    }

    #[test]
    fn long_lines_are_drained_not_kept() {
        assert_eq!(
            pieces(4, &[b"ab\ncd", b"efg\n", b"abcd\nabcde\nx"]),
            ["ab", "<skipped 5>", "abcd", "<skipped 5>", "x"]
        );
        assert_eq!(
            pieces(4, &[b"abc", b"def", b"ghi", b"\nok\n"]),
            ["<skipped 9>", "ok"]
        );
        assert_eq!(pieces(4, &[b"abc", b"defgh"]), ["<skipped 8>"]);
        assert_eq!(pieces(4, &[b"", b"\n\n"]), ["", ""]);
    }

    #[test]
    fn a_flood_of_one_line_holds_at_most_the_cap() {
        let mut s = LineSplitter::new(1 << 20);
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..1000 {
            let mut c: &[u8] = &chunk;
            assert!(s.next(&mut c).is_none());
            assert!(s.partial.capacity() <= 2 << 20);
        }
        let mut c: &[u8] = b"\n";
        assert_eq!(s.next(&mut c), Some(Piece::Skipped(1000 * (64 << 10))));
    }

    #[test]
    fn lines_split_across_chunks_are_parsed_whole() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let parser = crate::parse::stream_parser(OutputFormat::Codex, 1 << 20).unwrap();
        let mut feed = LineFeed::new(parser, 1 << 20, NoteSink::new(tx));
        let text = "{\"type\":\"thread.started\",\"thread_id\":\"T\"}\n{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"done\"}}";
        for piece in text.as_bytes().chunks(5) {
            feed.feed(piece);
        }
        let (parsed, dropped) = feed.finish();
        assert_eq!(parsed.result, "done");
        assert_eq!(parsed.session_id.as_deref(), Some("T"));
        assert_eq!(dropped, 0);
        let Ok(RunNote::Progress(step)) = rx.try_recv() else {
            panic!("expected a progress step");
        };
        assert_eq!(step.text, "done");
    }

    #[test]
    fn an_overlong_line_is_noted_and_said_in_an_empty_result() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let parser = crate::parse::stream_parser(OutputFormat::Claude, 16).unwrap();
        let mut feed = LineFeed::new(parser, 64, NoteSink::new(tx));
        let line = format!(
            "{{\"type\":\"result\",\"result\":\"{}\"}}\n",
            "r".repeat(500)
        );
        feed.feed(line.as_bytes());
        let (parsed, _) = feed.finish();
        assert!(
            parsed
                .result
                .contains("1 output line(s) were longer than the 64 bytes"),
            "{}",
            parsed.result
        );
        let Ok(RunNote::Progress(step)) = rx.try_recv() else {
            panic!("expected a notice");
        };
        assert!(step.text.contains("of 529 bytes"), "{}", step.text);
    }
}
