//! Where things are in a config file, from the TOML parser's spans: the line and column of a
//! byte offset, the key a parse error is about, and the refusal of one value at its span.
//!
//! Every location comes from a span the parser gave, never from scanning the text for
//! `key =`, so a key written in an inline table, as a dotted key or beside other keys on one
//! line is found where it is.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// A value validation refused: its key inside its table, the span of the value (or of the
/// key or table when the problem is a missing value), and what is wrong.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The key, relative to the table it is in (`max_running` in `[limits]`).
    pub(crate) key: &'static str,
    /// Byte range in the config text.
    pub(crate) span: Range<usize>,
    /// What is wrong and what to write instead.
    pub(crate) message: String,
}

impl Refusal {
    /// A refusal of `key` at `span`.
    pub(crate) fn new(key: &'static str, span: Range<usize>, message: impl Into<String>) -> Self {
        Refusal {
            key,
            span,
            message: message.into(),
        }
    }
}

/// Checks one spanned value with `check`; its error becomes a refusal of `key` at the value.
pub(crate) fn check<T, U>(
    key: &'static str,
    value: Spanned<T>,
    check: impl FnOnce(T) -> Result<U, String>,
) -> Result<U, Refusal> {
    let span = value.span();
    check(value.into_inner()).map_err(|m| Refusal::new(key, span, m))
}

/// The 1-based line and column (counted in characters) of byte offset `at` in `text`; an
/// offset past the end is the end, one inside a character is that character.
pub(crate) fn position(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// The dotted key whose key or value holds byte offset `at` (the innermost one), for errors
/// the parser reports by span only (an unknown key, a value of the wrong type). `None` when
/// the text is not TOML or no key is there.
pub(crate) fn key_at(text: &str, at: usize) -> Option<String> {
    let root: Node = toml::from_str(text).ok()?;
    let mut best = None;
    root.find(at, &mut Vec::new(), &mut best);
    best.map(|path| path.join("."))
}

/// The bare or quoted key (or `[table]` header) starting at byte `at`, as written: what a
/// message about text the parser refuses as a whole (a key written twice) can name.
pub(crate) fn written_key(text: &str, at: usize) -> Option<String> {
    let rest = text.get(at..)?.trim_start_matches('[');
    let end = rest.find(['=', ']', '\n']).unwrap_or(rest.len());
    let key = rest[..end].trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// A TOML table or array reduced to its keys and spans; other values are leaves.
#[derive(Default)]
struct Node {
    /// A table's keys and values, in the document's order.
    entries: Vec<(Spanned<String>, Spanned<Node>)>,
    /// An array's elements.
    items: Vec<Spanned<Node>>,
}

impl Node {
    /// Records in `best` the longest key path (below `path`) whose key or value span holds
    /// `at`. A standard table's span is its header only, so every child is searched, not just
    /// those inside the parent's span.
    fn find<'a>(&'a self, at: usize, path: &mut Vec<&'a str>, best: &mut Option<Vec<&'a str>>) {
        let holds =
            |s: Range<usize>| s.start <= at && (at < s.end || s.is_empty() && at == s.start);
        for (key, value) in &self.entries {
            path.push(key.get_ref());
            if (holds(key.span()) || holds(value.span()))
                && best.as_ref().is_none_or(|b| b.len() < path.len())
            {
                *best = Some(path.clone());
            }
            value.get_ref().find(at, path, best);
            path.pop();
        }
        for item in &self.items {
            item.get_ref().find(at, path, best);
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut node = Node::default();
        loop {
            match map.next_key::<Spanned<String>>() {
                Ok(Some(key)) => node.entries.push((key, map.next_value()?)),
                Ok(None) => return Ok(node),
                // A datetime is handed over as a map whose one key has no span: a leaf.
                Err(_) if node.entries.is_empty() => return Ok(node),
                Err(e) => return Err(e),
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut node = Node::default();
        while let Some(item) = seq.next_element()? {
            node.items.push(item);
        }
        Ok(node)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::default())
    }

    // Integers too big for 64 bits (toml hands them over as 128-bit ones).
    fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
        Ok(Node::default())
    }

    fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
        Ok(Node::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::default())
    }
}
