//! The parser of plain-text agents: the result is the tail of stdout.

use super::Parsed;
use crate::bounds::marked_result;

/// Turns an agent's output into a result.
pub trait OutputParser: Send + Sync {
    /// `stdout_tail` is the last bytes of stdout (at most the result cap); `dropped` is how
    /// many bytes of stdout came before it.
    fn parse(&self, stdout_tail: &[u8], dropped: u64) -> Parsed;
}

/// The parser of plain agents: the result is stdout itself (invalid UTF-8 replaced), marked
/// like every result when its beginning was left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainParser;

impl OutputParser for PlainParser {
    fn parse(&self, stdout_tail: &[u8], dropped: u64) -> Parsed {
        // A tail cut inside a character starts at the next one.
        let skip = if dropped > 0 {
            stdout_tail
                .iter()
                .take(3)
                .take_while(|b| (**b & 0xC0) == 0x80)
                .count()
        } else {
            0
        };
        let text = String::from_utf8_lossy(&stdout_tail[skip..]);
        Parsed {
            result: marked_result(&text, dropped + skip as u64),
            ..Parsed::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_parser_keeps_text_and_replaces_bad_utf8() {
        let p = PlainParser.parse(b"ok \xff\n", 0);
        assert_eq!(p.result, "ok \u{fffd}\n");
        let p = PlainParser.parse(b"tail", 100);
        assert!(p.result.starts_with("[legate: ") && p.result.ends_with("]\ntail"));
        assert!(p.result.contains("the first 100 bytes were left out"));
        // Cut inside "é" (0xC3 0xA9): the stray continuation byte is counted as dropped.
        let p = PlainParser.parse(b"\xa9t\xc3\xa9", 5);
        assert!(p.result.ends_with("]\nté"), "{}", p.result);
        assert!(p.result.contains("first 6 bytes"));
    }
}
