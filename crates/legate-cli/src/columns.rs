//! Rows of columns for people and for programs: on a terminal, aligned columns that fit its
//! width (one column shrinks, text cut short ends in "…"); into a pipe or file, one line per
//! row with tab-separated fields, whole, for `cut` and `awk`. Cells hold text that already
//! went through [`legate_domain::terminal`].

use std::io::IsTerminal;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// The width when neither `$COLUMNS` nor the terminal says.
pub const DEFAULT_WIDTH: usize = 100;

/// The narrowest the shrinking column gets, however narrow the terminal.
const MIN_FLEX: usize = 12;

/// Space between columns.
const GAP: &str = "  ";

/// One column: its heading, the widest it gets, and whether it takes what room is left.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Shown above it (on a terminal, when the table has headings).
    pub heading: &'static str,
    /// Wider text is cut, ending in "…" (`None`: as wide as its widest cell).
    pub max: Option<usize>,
    /// Takes the width the others leave (cut to fit); one column should.
    pub flex: bool,
}

impl Column {
    /// A column as wide as its widest cell.
    pub const fn fixed(heading: &'static str) -> Column {
        Column {
            heading,
            max: None,
            flex: false,
        }
    }

    /// A column at most `max` wide.
    pub const fn capped(heading: &'static str, max: usize) -> Column {
        Column {
            heading,
            max: Some(max),
            flex: false,
        }
    }

    /// The column that takes the remaining width.
    pub const fn flex(heading: &'static str) -> Column {
        Column {
            heading,
            max: None,
            flex: true,
        }
    }
}

/// A cell: its text, and the ANSI colour (SGR parameters, e.g. "32") it is shown in on a
/// terminal.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Terminal-safe text.
    pub text: String,
    /// SGR colour parameters, if any.
    pub color: Option<&'static str>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, color: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

/// The width of stdout's terminal: `$COLUMNS` when it is a positive number, else what the
/// terminal reports, else [`DEFAULT_WIDTH`].
pub fn terminal_width() -> usize {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&w| w > 0);
    from_env
        .or_else(|| {
            terminal_size::terminal_size_of(std::io::stdout())
                .map(|(w, _)| usize::from(w.0))
                .filter(|&w| w > 0)
        })
        .unwrap_or(DEFAULT_WIDTH)
}

/// The rows as stdout should show them: aligned to the terminal's width (with headings when
/// `headings`), or tab-separated lines when stdout is not a terminal. Ends in a newline
/// unless empty.
pub fn for_stdout(columns: &[Column], rows: &[Vec<Cell>], headings: bool) -> String {
    if std::io::stdout().is_terminal() {
        aligned(columns, rows, headings, terminal_width(), true)
    } else {
        tab_separated(rows)
    }
}

/// One line per row, fields separated by tabs.
pub fn tab_separated(rows: &[Vec<Cell>]) -> String {
    let mut out = String::new();
    for row in rows {
        let fields: Vec<&str> = row.iter().map(|c| c.text.as_str()).collect();
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

/// Aligned columns no wider than `width` (unless the fixed columns alone are wider: then the
/// shrinking one keeps [`MIN_FLEX`]); `color` adds each cell's colour.
pub fn aligned(
    columns: &[Column],
    rows: &[Vec<Cell>],
    headings: bool,
    width: usize,
    color: bool,
) -> String {
    let mut widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let widest = rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.text.width())
                .chain(headings.then(|| col.heading.width()))
                .max()
                .unwrap_or(0);
            col.max.map_or(widest, |m| widest.min(m))
        })
        .collect();
    if let Some(flex) = columns.iter().position(|c| c.flex) {
        let others: usize = widths
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != flex)
            .map(|(_, w)| w)
            .sum::<usize>()
            + GAP.len() * columns.len().saturating_sub(1);
        let room = width.saturating_sub(others).max(MIN_FLEX);
        widths[flex] = widths[flex].min(room);
    }
    let mut out = String::new();
    let heading_row: Vec<Cell> = columns.iter().map(|c| Cell::from(c.heading)).collect();
    for row in headings.then_some(&heading_row).into_iter().chain(rows) {
        let mut line = String::new();
        for (i, w) in widths.iter().enumerate() {
            let cell = row.get(i).cloned().unwrap_or_default();
            let text = cut(&cell.text, *w);
            let pad = w.saturating_sub(text.width());
            if i > 0 {
                line.push_str(GAP);
            }
            match cell.color.filter(|_| color) {
                Some(sgr) => line.push_str(&format!("\x1b[{sgr}m{text}\x1b[0m")),
                None => line.push_str(&text),
            }
            line.push_str(&" ".repeat(pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` cut to at most `width` columns, ending in "…" when anything was cut.
pub fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[&[&str]]) -> Vec<Vec<Cell>> {
        cells
            .iter()
            .map(|r| r.iter().map(|&c| Cell::from(c)).collect())
            .collect()
    }

    const COLS: [Column; 3] = [
        Column::fixed("ID"),
        Column::capped("AGENT", 6),
        Column::flex("TITLE"),
    ];

    #[test]
    fn rows_fit_the_width_and_cuts_are_marked() {
        let long = "a title that goes on and on and on and on and on";
        let r = rows(&[&["t1", "sh", long], &["t22", "a-very-long-agent", "short"]]);
        for width in [30, 40, 60] {
            let text = aligned(&COLS, &r, true, width, false);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 3, "{text}");
            for l in &lines {
                assert!(l.width() <= width, "{width}: {l:?}");
            }
            assert!(lines[0].starts_with("ID   AGENT   TITLE"), "{text}");
            assert!(lines[1].ends_with('…'), "{text}");
            assert!(lines[2].contains("a-ver…  short"), "{text}");
        }
        let wide = aligned(&COLS, &r, false, 200, false);
        assert!(wide.lines().next().unwrap().ends_with(long), "{wide}");
        assert!(!wide.contains("TITLE"));
    }

    #[test]
    fn the_flex_column_keeps_a_minimum_and_wide_characters_count_double() {
        let r = rows(&[&["id", "ag", "日本語のタイトルです"]]);
        let text = aligned(&COLS, &r, false, 5, false);
        let title = text.trim_end().rsplit("  ").next().unwrap();
        assert_eq!(title.width(), MIN_FLEX - 1, "{text}");
        assert!(title.ends_with('…'));
        assert_eq!(cut("日本語", 4), "日…");
        assert_eq!(cut("abc", 3), "abc");
    }

    #[test]
    fn colours_do_not_count_and_pipes_get_tabs() {
        let mut r = rows(&[&["a", "b", "c"], &["aaa", "b", "c"]]);
        r[0][1].color = Some("32");
        let text = aligned(&COLS, &r, false, 80, true);
        assert_eq!(text, "a    \x1b[32mb\x1b[0m  c\naaa  b  c\n");
        assert_eq!(tab_separated(&r), "a\tb\tc\naaa\tb\tc\n");
    }
}
