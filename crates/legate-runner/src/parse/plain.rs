//! The parser of plain-text agents: the result is the tail of stdout.

use super::Parsed;

/// Turns an agent's output into a result.
pub trait OutputParser: Send + Sync {
    /// `stdout_tail` is the last bytes of stdout (at most the result cap); `truncated` says
    /// whether earlier output was left out.
    fn parse(&self, stdout_tail: &[u8], truncated: bool) -> Parsed;
}

/// The parser of plain agents: the result is stdout itself (invalid UTF-8 replaced).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainParser;

impl OutputParser for PlainParser {
    fn parse(&self, stdout_tail: &[u8], truncated: bool) -> Parsed {
        let text = String::from_utf8_lossy(stdout_tail);
        let result = if truncated {
            format!("[…earlier output left out; see `legate logs`]\n{text}")
        } else {
            text.into_owned()
        };
        Parsed {
            result,
            ..Parsed::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_parser_keeps_text_and_replaces_bad_utf8() {
        let p = PlainParser.parse(b"ok \xff\n", false);
        assert_eq!(p.result, "ok \u{fffd}\n");
        let p = PlainParser.parse(b"tail", true);
        assert!(p.result.starts_with("[…") && p.result.ends_with("tail"));
    }
}
