//! Daemon memory: resident set (`VmRSS`) right after start with an empty store, and after
//! start with 100 000 stored tasks once it has served a `legate ls` and a few submissions.

use anyhow::Result;

use crate::Row;
use crate::fixture::{Bench, NOOP, fill, rss_bytes};

/// Tasks stored for the second figure.
const STORED: usize = 100_000;

/// Submissions (and waits) after the restart.
const SUBMITS: usize = 5;

/// The idle target: 20 MB, decimal.
const TARGET_IDLE: u64 = 20_000_000;

/// Both figures, from one fresh home.
pub async fn measure() -> Result<Vec<Row>> {
    let b = Bench::new(NOOP)?;
    let pid = b.start()?;
    let idle = rss_bytes(pid)?;
    b.stop()?;
    fill(&b.db(), 0, STORED).await?;
    let pid = b.start()?;
    let started = rss_bytes(pid)?;
    b.ok(&["ls"])?;
    let mut ids = Vec::new();
    for _ in 0..SUBMITS {
        let o = b.ok(&["run", "noop", "x"])?;
        ids.push(String::from_utf8(o.stdout)?.trim().to_string());
    }
    let mut args = vec!["wait"];
    args.extend(ids.iter().map(String::as_str));
    b.ok(&args)?;
    b.ok(&["ls"])?;
    let used = rss_bytes(pid)?;
    Ok(vec![
        Row::target(
            "daemon RSS idle, empty store, right after start",
            mb(idle),
            "≤ 20 MB",
            idle <= TARGET_IDLE,
        ),
        Row::info(
            "daemon RSS with 100 000 tasks stored, right after start",
            mb(started),
        ),
        Row::info(
            format!("daemon RSS with 100 000 tasks stored, after `legate ls` and {SUBMITS} tasks"),
            mb(used),
        ),
    ])
}

/// Bytes as "x.x MB (y.y MiB)".
fn mb(bytes: u64) -> String {
    format!(
        "{:.1} MB ({:.1} MiB)",
        bytes as f64 / 1e6,
        bytes as f64 / (1u64 << 20) as f64
    )
}
