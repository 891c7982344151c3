//! JSON for stdout. serde_json escapes C0 control characters but writes C1 ones (U+0080 to
//! U+009F) and DEL raw, and some terminals act on C1 (U+009B is CSI); so these go out as
//! `\u00XX` escapes too. The JSON parses to exactly the same text.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// `value` as indented JSON, safe to print on a terminal.
pub fn pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        Safe(PrettyFormatter::new()),
    ))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Writes `value` as one line of JSON, safe to print on a terminal.
pub fn write_line<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> io::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut *out,
        Safe(CompactFormatter),
    ))?;
    out.write_all(b"\n")
}

/// A formatter that escapes DEL and C1 characters in strings, and otherwise formats as `F`.
struct Safe<F>(F);

impl<F: Formatter> Formatter for Safe<F> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in s.char_indices() {
            if ('\u{7f}'..='\u{9f}').contains(&c) {
                w.write_all(&s.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&s.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    #[test]
    fn c1_and_del_are_escaped_and_the_text_is_unchanged() {
        let v = json!({"t": "a\u{9b}2J\x1b[0m\u{7f}\u{9d}0;x\u{9c} ünï ✓", "n": [1, "\u{85}"]});
        let pretty = super::pretty(&v).unwrap();
        let mut line = Vec::new();
        super::write_line(&mut line, &v).unwrap();
        let line = String::from_utf8(line).unwrap();
        for text in [&pretty, &line] {
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != ' '),
                "{text:?}"
            );
            assert!(text.contains("\\u009b") && text.contains("ünï ✓"), "{text}");
            assert_eq!(serde_json::from_str::<Value>(text).unwrap(), v);
        }
        assert!(pretty.contains("\n  \"n\": [\n    1,"), "{pretty}");
        assert!(!line.trim_end().contains('\n'), "{line}");
    }
}
