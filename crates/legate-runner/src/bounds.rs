//! What a run may keep in memory, whatever an agent prints: one line, the answer, each progress
//! step and the steps of a task are all bounded here, for every format and both runners.

use crate::parse::{Progress, ProgressKind};

/// Longest stdout line (exec) or protocol message (ACP) legate reads whole. A longer one is
/// drained and logged but not parsed (JSON that long is a flood, not a message); when the
/// task's `result_cap` is larger, the limit is `result_cap` plus [`LINE_SLACK`] instead.
pub const LINE_CAP: usize = 4 << 20;

/// Room for a line's JSON around a result of `result_cap` bytes.
pub const LINE_SLACK: usize = 64 << 10;

/// Most bytes of text in one progress step (or a permission's title, or an agent's error
/// message); the rest is replaced by a marker saying how many bytes were left out.
pub const STEP_BYTES: usize = 4 << 10;

/// Most notes (progress steps and permission answers) recorded for one run of a task. Past it
/// (or past [`NOTE_BYTES_PER_TASK`]) one last notice says so and the rest are dropped; the
/// log still has the output.
pub const NOTES_PER_TASK: u32 = 2000;

/// Most bytes of note text recorded for one run of a task.
pub const NOTE_BYTES_PER_TASK: usize = 2 << 20;

/// Longest session id or tool name kept from an agent's output.
pub const NAME_BYTES: usize = 256;

/// The line limit for a task whose result cap is `result_cap` bytes.
pub fn line_cap(result_cap: u64) -> usize {
    let cap = usize::try_from(result_cap).unwrap_or(usize::MAX);
    LINE_CAP.max(cap.saturating_add(LINE_SLACK))
}

/// The first at most `max` bytes of `s`, cut at a character boundary.
pub fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The last at most `max` bytes of `s`, cut at a character boundary.
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// `s` cut to `max` bytes, with `… [N more bytes]` when anything was cut.
pub fn cut(s: &str, max: usize) -> String {
    let kept = head(s, max);
    with_more(kept, (s.len() - kept.len()) as u64)
}

fn with_more(kept: &str, more: u64) -> String {
    if more == 0 {
        kept.to_string()
    } else {
        format!("{kept}… [{more} more bytes]")
    }
}

/// A result as stored: `text`, preceded by a line saying how many bytes before it were left
/// out when there were any.
pub fn marked_result(text: &str, dropped: u64) -> String {
    if dropped == 0 {
        return text.to_string();
    }
    format!(
        "[legate: the result is longer than result_cap; the first {dropped} bytes were left out and the last {} are kept; see `legate logs`]\n{text}",
        text.len()
    )
}

/// Text that keeps only its newest `cap` bytes and counts what it let go: an agent's answer
/// as it is written. Memory stays within twice the cap however much is pushed.
#[derive(Debug, Clone)]
pub struct TailText {
    text: String,
    cap: usize,
    dropped: u64,
}

impl TailText {
    /// Keeps at most `cap` bytes.
    pub fn new(cap: u64) -> Self {
        TailText {
            text: String::new(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            dropped: 0,
        }
    }

    /// Appends `s`, letting the oldest text go past the cap.
    pub fn push(&mut self, s: &str) {
        if s.len() >= self.cap {
            let kept = tail(s, self.cap);
            self.dropped += (self.text.len() + s.len() - kept.len()) as u64;
            self.text.clear();
            self.text.push_str(kept);
            return;
        }
        self.text.push_str(s);
        // Trimmed in halves, so keeping the tail costs O(1) per byte.
        if self.text.len() > self.cap.saturating_mul(2).max(4096) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        let start = self.text.len() - tail(&self.text, self.cap).len();
        if start > 0 {
            self.text.drain(..start);
            self.dropped += start as u64;
        }
    }

    /// Starts over (a new answer): nothing kept, nothing dropped.
    pub fn clear(&mut self) {
        self.text.clear();
        self.dropped = 0;
    }

    /// Whether nothing but whitespace is kept.
    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// Whether nothing at all is kept.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The kept text, trimmed, cut to the cap, marked when anything was left out.
    pub fn result(&mut self) -> String {
        self.trim();
        marked_result(self.text.trim(), self.dropped)
    }
}

/// A whole text capped like a result: its last `cap` bytes, marked when anything was cut.
pub fn capped_result(text: &str, cap: u64) -> String {
    let mut t = TailText::new(cap);
    t.push(text);
    t.result()
}

/// Text gathered for one progress step: its first [`STEP_BYTES`] are kept and the rest only
/// counted.
#[derive(Debug, Default, Clone)]
pub struct StepText {
    head: String,
    total: usize,
}

impl StepText {
    /// Adds `s` to the step.
    pub fn push(&mut self, s: &str) {
        self.total += s.len();
        let room = STEP_BYTES.saturating_sub(self.head.len());
        if room > 0 {
            self.head.push_str(head(s, room));
        }
    }

    /// Whether nothing but whitespace was gathered.
    pub fn is_blank(&self) -> bool {
        self.head.trim().is_empty()
    }

    /// The step's text (trimmed, marked when cut), leaving the gatherer empty.
    pub fn take(&mut self) -> String {
        let more = (self.total - self.head.len()) as u64;
        let text = std::mem::take(&mut self.head);
        self.total = 0;
        let text = if more == 0 {
            text.trim()
        } else {
            text.trim_start()
        };
        with_more(text, more)
    }

    /// The gathered text as a step of `kind`, unless it is blank; the gatherer is left empty.
    pub fn step(&mut self, kind: ProgressKind) -> Option<Progress> {
        let blank = self.is_blank();
        let text = self.take();
        (!blank).then_some(Progress {
            kind,
            text,
            tool: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_text_keeps_the_last_cap_bytes_and_counts_the_rest() {
        let mut t = TailText::new(10);
        for i in 0..1000 {
            t.push(&format!("{i:04}"));
        }
        let r = t.result();
        let (marker, kept) = r.split_once('\n').unwrap();
        assert_eq!(kept, "9709980999");
        assert!(
            marker.contains("first 3990 bytes were left out"),
            "{marker}"
        );
        assert!(marker.contains("the last 10 are kept"), "{marker}");

        // One push larger than the cap keeps only its own tail.
        let mut t = TailText::new(8);
        t.push("abc");
        t.push(&"x".repeat(100));
        assert_eq!(t.result().split_once('\n').unwrap().1, "xxxxxxxx");

        // Under the cap nothing is marked; clear starts over.
        let mut t = TailText::new(100);
        t.push("  hello  ");
        assert_eq!(t.result(), "hello");
        t.push(&"y".repeat(500));
        t.clear();
        t.push("new");
        assert_eq!(t.result(), "new");
    }

    #[test]
    fn tail_text_memory_stays_within_twice_the_cap() {
        let mut t = TailText::new(1 << 16);
        let piece = "z".repeat(1000);
        for _ in 0..10_000 {
            t.push(&piece);
            assert!(t.text.len() <= 2 << 16);
        }
        let r = t.result();
        assert!(r.len() <= (1 << 16) + 200);
        assert!(r.contains("first 9934464 bytes"));
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let s = "é".repeat(10); // 20 bytes, 2 per character
        assert_eq!(head(&s, 5), "éé");
        assert_eq!(tail(&s, 5), "éé");
        let mut t = TailText::new(5);
        t.push(&s);
        assert!(t.result().ends_with("\néé"));
        assert_eq!(cut(&s, 3), "é… [18 more bytes]");
        assert_eq!(cut("short", 100), "short");
    }

    #[test]
    fn step_text_keeps_a_head_and_counts_the_rest() {
        let mut s = StepText::default();
        assert!(s.is_blank());
        for _ in 0..1000 {
            s.push(&"w".repeat(100));
        }
        let text = s.take();
        assert!(text.starts_with(&"w".repeat(STEP_BYTES)));
        assert!(text.ends_with(&format!("… [{} more bytes]", 100_000 - STEP_BYTES)));
        assert!(s.is_blank());
        assert_eq!(s.take(), "");
    }

    #[test]
    fn the_line_cap_grows_with_a_large_result_cap() {
        assert_eq!(line_cap(1 << 20), LINE_CAP);
        assert_eq!(line_cap(16 << 20), (16 << 20) + LINE_SLACK);
    }
}
