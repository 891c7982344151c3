//! `legate-bench`: measures the real `legate` binary and daemon and prints a Markdown table
//! (also written to `bench/results/core.md`). Figures are reported next to their targets;
//! nothing here asserts on time.
//!
//! Run: `cargo build --release -p legate-cli && cargo run -p legate-bench --release -- core`.

mod fixture;
mod measure;
mod stats;

use std::fmt::Write as _;

use anyhow::Result;

/// One line of the results table.
pub struct Row {
    /// What was measured.
    pub what: String,
    /// The figure.
    pub value: String,
    /// The target, if any.
    pub target: String,
    /// Whether the target was met (`None`: no target).
    pub met: Option<bool>,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("core");
    if !matches!(which, "core" | "all") {
        anyhow::bail!("usage: legate-bench [core|all] [--samples N]");
    }
    let samples = args
        .iter()
        .position(|a| a == "--samples")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Runtime::new()?;
    let mut rows = measure::process_floor(samples)?;
    rows.extend(rt.block_on(measure::submit_latency(samples))?);
    rows.extend(rt.block_on(measure::throughput(1000))?);
    rows.extend(rt.block_on(measure::wait_latency(30))?);
    let table = render(&rows);
    let report = format!("{}\n{table}", fixture::machine());
    println!("{report}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("core.md"), &report)?;
    Ok(())
}

fn render(rows: &[Row]) -> String {
    let mut s = String::from("| measurement | result | target | met |\n|---|---|---|---|\n");
    for r in rows {
        let met = match r.met {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "",
        };
        let _ = writeln!(s, "| {} | {} | {} | {} |", r.what, r.value, r.target, met);
    }
    s
}
