//! Every configuration example in the README loads as pasted: each ```toml block is parsed by
//! legate's own config parser, except the blocks that configure another program (they start
//! with a comment naming it, e.g. `# Codex`), which must still be valid TOML.

use legate_domain::Config;

/// The README's ```toml blocks, with the line each starts on.
fn toml_blocks() -> Vec<(usize, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md at the workspace root");
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in readme.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some((n + 2, String::new())),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_config_example_in_the_readme_loads() {
    let blocks = toml_blocks();
    assert!(blocks.len() >= 2, "the README has legate config examples");
    let mut legate = 0;
    for (line, text) in &blocks {
        let other_program = text
            .lines()
            .next()
            .is_some_and(|l| l.trim_start().starts_with("# ") && !l.contains("legate"));
        if other_program {
            toml::from_str::<toml::Table>(text)
                .unwrap_or_else(|e| panic!("README line {line}: not valid TOML: {e}"));
        } else {
            Config::parse(text, Some("README.md"))
                .unwrap_or_else(|e| panic!("README line {line}: the example does not load: {e}"));
            legate += 1;
        }
    }
    assert!(legate >= 2, "legate's own examples were checked");
}
