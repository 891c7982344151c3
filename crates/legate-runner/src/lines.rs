//! Feeding stdout to a line parser as it arrives, and passing its progress steps on.

use tokio::sync::mpsc;

use crate::parse::{Parsed, StreamParser};
use crate::run::RunNote;

/// Longest line kept whole: a longer one (a huge tool result echoed back) is skipped rather
/// than held in memory; parsers lose one step, never the run.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// A line parser fed with raw chunks.
pub(crate) struct LineFeed {
    parser: Box<dyn StreamParser>,
    partial: Vec<u8>,
    oversized: bool,
    steps: mpsc::UnboundedSender<RunNote>,
}

impl LineFeed {
    pub fn new(parser: Box<dyn StreamParser>, steps: mpsc::UnboundedSender<RunNote>) -> Self {
        LineFeed {
            parser,
            partial: Vec::new(),
            oversized: false,
            steps,
        }
    }

    /// Takes a chunk of stdout: complete lines go to the parser now.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(nl) = chunk.iter().position(|b| *b == b'\n') {
            if !self.oversized {
                self.partial.extend_from_slice(&chunk[..nl]);
                let line = std::mem::take(&mut self.partial);
                self.parse(&line);
            }
            self.oversized = false;
            self.partial.clear();
            chunk = &chunk[nl + 1..];
        }
        if !self.oversized {
            self.partial.extend_from_slice(chunk);
            if self.partial.len() > MAX_LINE {
                self.oversized = true;
                self.partial = Vec::new();
            }
        }
    }

    /// Ends the stream: a last line without a newline still counts.
    pub fn finish(mut self) -> Parsed {
        if !self.oversized && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.parse(&line);
        }
        self.parser.finish()
    }

    fn parse(&mut self, line: &[u8]) {
        for step in self.parser.line(line) {
            let _ = self.steps.send(RunNote::Progress(step));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_domain::OutputFormat;

    #[test]
    fn lines_split_across_chunks_are_parsed_whole() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let parser = crate::parse::stream_parser(OutputFormat::Codex).unwrap();
        let mut feed = LineFeed::new(parser, tx);
        let text = "{\"type\":\"thread.started\",\"thread_id\":\"T\"}\n{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"done\"}}";
        for piece in text.as_bytes().chunks(5) {
            feed.feed(piece);
        }
        let parsed = feed.finish();
        assert_eq!(parsed.result, "done");
        assert_eq!(parsed.session_id.as_deref(), Some("T"));
        let Ok(RunNote::Progress(step)) = rx.try_recv() else {
            panic!("expected a progress step");
        };
        assert_eq!(step.text, "done");
    }
}
