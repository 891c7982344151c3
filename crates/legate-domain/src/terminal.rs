//! Task text made safe for a terminal. Titles, labels, prompts, results and agents' output come
//! from models and other people; printed raw, their control characters could clear the screen,
//! set the window title, write the clipboard (OSC 52) or hide text. Every human-readable output
//! passes them through here; JSON keeps the exact text.
//!
//! The visible forms: a C0 control or DEL becomes its Unicode control picture (ESC `␛`, BEL
//! `␇`, CR `␍`, newline `␊`, tab `␉`, DEL `␡`); a C1 control (U+0080–U+009F) becomes `␛`
//! followed by the character of its 7-bit form (CSI U+009B is `␛[`, OSC U+009D is `␛]`).

use std::borrow::Cow;

/// `text` on one line: every control character, newline and tab included, in its visible form.
pub fn one_line(text: &str) -> Cow<'_, str> {
    neutralise(text, false)
}

/// `text` of several lines (a prompt, a result, a log): like [`one_line`], but newlines and
/// tabs stay.
pub fn multi_line(text: &str) -> Cow<'_, str> {
    neutralise(text, true)
}

fn neutralise(text: &str, keep_lines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && !(keep_lines && (c == '\n' || c == '\t'));
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c as u32 {
            code @ 0..=0x1f => out.push(char::from_u32(0x2400 + code).unwrap_or('\u{fffd}')),
            0x7f => out.push('\u{2421}'),
            code => {
                out.push('\u{241b}');
                out.push(char::from_u32(code - 0x40).unwrap_or('\u{fffd}'));
            }
        }
    }
    Cow::Owned(out)
}

/// Neutralises a byte stream (a log read in chunks) as [`multi_line`] text: a UTF-8 sequence
/// split between chunks is completed by the next one; bytes that are not UTF-8 become U+FFFD.
#[derive(Debug, Default)]
pub struct Neutraliser {
    /// The start of a UTF-8 sequence the last chunk ended in (at most 3 bytes).
    pending: Vec<u8>,
}

impl Neutraliser {
    /// A neutraliser with nothing pending.
    pub fn new() -> Neutraliser {
        Neutraliser::default()
    }

    /// The safe text of `chunk` (and of what the previous chunk left pending).
    pub fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let bytes = std::mem::take(&mut self.pending);
        let mut out = String::new();
        let mut rest = bytes.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(&multi_line(s));
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(&multi_line(&String::from_utf8_lossy(good)));
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{fffd}');
                            rest = &bad[n..];
                        }
                        None => {
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// What is left at the end of the stream: an incomplete sequence, as U+FFFD.
    pub fn finish(self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            "\u{fffd}".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `s` holds a character a terminal acts on (C0 but newline and tab, DEL, C1).
    fn has_controls(s: &str) -> bool {
        s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
    }

    const NASTY: &str =
        "a\x1b[2Jb\x1b]0;title\x07c\x1b]52;c;ZXZpbA==\x07d\u{9b}31me\u{9d}8;;x\u{9c}\rf\x08\x7f\0";

    #[test]
    fn every_control_character_gets_a_visible_form() {
        assert_eq!(
            one_line(NASTY),
            "a␛[2Jb␛]0;title␇c␛]52;c;ZXZpbA==␇d␛[31me␛]8;;x␛\\␍f␈␡␀"
        );
        assert_eq!(one_line("x\ny\tz"), "x␊y␉z");
        assert_eq!(multi_line("x\ny\tz\r\n"), "x\ny\tz␍\n");
        assert!(!has_controls(&one_line(NASTY)));
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let shown = one_line(&c.to_string()).into_owned();
            assert!(
                !has_controls(&shown) && !shown.contains(['\n', '\t']),
                "{c:?} → {shown:?}"
            );
        }
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in ["", "plain", "ünïcödé → ✓", "tabs\tand\nlines"] {
            assert!(matches!(multi_line(s), Cow::Borrowed(t) if t == s));
        }
        assert!(matches!(one_line("ünïcödé → ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_stream_split_anywhere_reads_as_the_whole() {
        let bytes = format!("{NASTY}\nnext ✓ line\u{9b}2J\n").into_bytes();
        let whole = multi_line(std::str::from_utf8(&bytes).unwrap()).into_owned();
        for size in 1..8 {
            let mut n = Neutraliser::new();
            let mut got: String = bytes.chunks(size).map(|c| n.push(c)).collect();
            got.push_str(&n.finish());
            assert_eq!(got, whole, "chunks of {size}");
        }
        let mut n = Neutraliser::new();
        let mut got = n.push(b"bad \xff\x9b \xc2");
        got.push_str(&n.finish());
        assert_eq!(got, "bad \u{fffd}\u{fffd} \u{fffd}");
    }
}
