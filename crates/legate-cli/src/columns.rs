//! Rows of columns for people and for programs: on a terminal, aligned columns that fit its
//! width (one column shrinks, text cut short ends in "…"); into a pipe or file, one line per
//! row with tab-separated fields, whole, for `cut` and `awk`. Cells hold text that already
//! went through [`legate_domain::terminal`].

use std::io::IsTerminal;

use comfy_table::presets::NOTHING;
use comfy_table::{Color, ColumnConstraint, ContentArrangement, Row, Table, Width};
use unicode_width::UnicodeWidthStr;

/// The width when neither `$COLUMNS` nor the terminal says.
pub const DEFAULT_WIDTH: usize = 100;

/// The narrowest the shrinking column gets, however narrow the terminal.
const MIN_FLEX: usize = 12;

/// Space between columns.
const GAP: usize = 2;

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

/// A cell: its text, and the colour it is shown in on a terminal.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Terminal-safe text.
    pub text: String,
    /// Its colour, if any.
    pub color: Option<Color>,
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

/// `line` as stdout should show it: cut to the terminal's width (ending in "…") on a
/// terminal, whole into a pipe or file.
pub fn line_for_stdout(line: &str) -> std::borrow::Cow<'_, str> {
    if std::io::stdout().is_terminal() {
        fit(line, terminal_width())
    } else {
        line.into()
    }
}

/// A progress line for stderr's terminal: cut to `$COLUMNS`, else the terminal's width, so a
/// line redrawn in place never wraps.
pub fn line_for_stderr(line: &str) -> std::borrow::Cow<'_, str> {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&w| w > 0)
        .or_else(|| {
            terminal_size::terminal_size_of(std::io::stderr())
                .map(|(w, _)| usize::from(w.0))
                .filter(|&w| w > 0)
        })
        .unwrap_or(DEFAULT_WIDTH);
    fit(line, width)
}

/// Whether a terminal gets colours: unless `$NO_COLOR` is set (no-color.org).
pub fn colors_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The rows as stdout should show them: aligned to the terminal's width (with headings when
/// `headings`), or tab-separated lines when stdout is not a terminal. Ends in a newline
/// unless empty.
pub fn for_stdout(columns: &[Column], rows: &[Vec<Cell>], headings: bool) -> String {
    if std::io::stdout().is_terminal() {
        aligned(columns, rows, headings, terminal_width(), colors_wanted())
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

/// Aligned columns no wider than `width` (laid out as if the shrinking one had at least
/// [`MIN_FLEX`], then every line cut to `width`); `color` adds each cell's colour. Laid out by
/// comfy-table: fixed columns as wide as their text (capped ones at most `max`), the flex
/// column takes the rest, every cell on one line, cut text ending in "…".
pub fn aligned(
    columns: &[Column],
    rows: &[Vec<Cell>],
    headings: bool,
    width: usize,
    color: bool,
) -> String {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_truncation_indicator("…")
        .force_no_tty();
    if color {
        table.enforce_styling();
    }
    let fixed: usize = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.flex)
        .map(|(i, c)| {
            let widest = rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.text.width())
                .chain(headings.then(|| c.heading.width()))
                .max()
                .unwrap_or(0);
            // A capped column gives way down to the flex column's minimum on a narrow
            // terminal; an uncapped one (ids, statuses) never does.
            c.max.map_or(widest, |m| widest.min(m).min(MIN_FLEX)) + GAP
        })
        .sum();
    let layout = width.max(fixed + MIN_FLEX);
    table.set_width(u16::try_from(layout).unwrap_or(u16::MAX));
    if headings {
        let mut header = Row::from(columns.iter().map(|c| c.heading));
        header.max_height(1);
        table.set_header(header);
    }
    for row in rows {
        let mut r = Row::from(row.iter().map(|cell| {
            let c = comfy_table::Cell::new(&cell.text);
            match cell.color {
                Some(rgb) => c.fg(rgb),
                None => c,
            }
        }));
        r.max_height(1);
        table.add_row(r);
    }
    let last = columns.len().saturating_sub(1);
    for (i, col) in columns.iter().enumerate() {
        if let Some(c) = table.column_mut(i) {
            c.set_padding((0, if i == last { 0 } else { GAP as u16 }));
            c.set_constraint(match (col.flex, col.max) {
                (true, _) => ColumnConstraint::LowerBoundary(Width::Fixed(MIN_FLEX as u16)),
                (false, Some(max)) => {
                    ColumnConstraint::UpperBoundary(Width::Fixed((max + GAP) as u16))
                }
                (false, None) => ColumnConstraint::ContentWidth,
            });
        }
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(&fit(line.trim_end(), width));
        out.push('\n');
    }
    out
}

/// `line` cut to `width` terminal columns, ending in "…" when cut: for terminals narrower than
/// the fixed columns, and for wide characters the layout counted short. Colour escapes
/// (`ESC [ … m`) take no width and are kept; a cut line resets the colour before the "…".
fn fit(line: &str, width: usize) -> std::borrow::Cow<'_, str> {
    use unicode_width::UnicodeWidthChar;
    let visible = |s: &str| -> usize {
        let mut w = 0;
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars.by_ref().find(|&e| e == 'm');
            } else {
                w += c.width().unwrap_or(0);
            }
        }
        w
    };
    if visible(line) <= width {
        return line.into();
    }
    let room = width.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            for e in chars.by_ref() {
                out.push(e);
                if e == 'm' {
                    break;
                }
            }
            continue;
        }
        let w = c.width().unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    if out.contains('\x1b') {
        out.push_str("\x1b[0m");
    }
    if width > 0 {
        out.push('…');
    }
    out.into()
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
    fn no_line_is_wider_than_the_terminal_with_wide_characters_or_too_many_columns() {
        let r = rows(&[
            &["id", "ag", "日本語のタイトルです"],
            &[
                "日本語のID",
                "日本語のエージェント",
                "日本語のタイトルです、とても長い",
            ],
        ]);
        for width in 1..=80 {
            for color in [false, true] {
                let mut r = r.clone();
                r[1][0].color = color.then_some(Color::Green);
                let text = aligned(&COLS, &r, true, width, color);
                for l in text.lines() {
                    let plain = l.replace("\x1b[0m", "");
                    let plain = plain
                        .split('\x1b')
                        .enumerate()
                        .map(|(i, part)| {
                            if i == 0 {
                                part
                            } else {
                                part.split_once('m').map_or("", |p| p.1)
                            }
                        })
                        .collect::<String>();
                    assert!(plain.width() <= width, "{width}: {l:?}");
                }
            }
        }
        // Where there is room, a wide title is cut to the flex column and marked.
        let text = aligned(&COLS, &r[..1], false, 20, false);
        assert!(text.trim_end().ends_with('…'), "{text}");
    }

    #[test]
    fn a_cut_line_keeps_its_colours_closed() {
        let cut = fit("\x1b[32mgreen text\x1b[0m and more", 8);
        assert_eq!(cut, "\x1b[32mgreen t\x1b[0m…");
        assert_eq!(fit("short", 8), "short");
        assert_eq!(fit("日本語です", 6), "日本…");
    }

    #[test]
    fn colours_come_on_request_and_pipes_get_tabs() {
        let mut r = rows(&[&["a", "b", "c"], &["aaa", "b", "c"]]);
        r[0][1].color = Some(Color::Green);
        let text = aligned(&COLS, &r, false, 80, true);
        assert!(text.contains("\x1b["), "coloured: {text:?}");
        let plain = aligned(&COLS, &r, false, 80, false);
        assert_eq!(plain, "a    b  c\naaa  b  c\n");
        assert_eq!(tab_separated(&r), "a\tb\tc\naaa\tb\tc\n");
    }
}
