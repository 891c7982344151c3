//! Submit latency: from spawning `legate run hold x` to that process exiting after printing
//! the id, with the daemon already running and 0, 10 000 and 100 000 tasks already stored.
//! The `hold` agent runs one `sleep 3600` and queues the rest, so the daemon runs nothing
//! while submissions are timed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::Row;
use crate::fixture::{Bench, HOLD, check, fill};
use crate::stats::{Summary, median_p99, summarise};

/// Store sizes at which submissions are timed.
const LEVELS: [usize; 3] = [0, 10_000, 100_000];

/// The median target.
const TARGET_MEDIAN: Duration = Duration::from_millis(2);

/// The largest allowed median(100k) / median(0).
const TARGET_RATIO: f64 = 1.2;

/// `samples` timed submissions at each store size.
pub async fn measure(samples: usize) -> Result<Vec<Row>> {
    let b = Bench::new(HOLD)?;
    b.start()?;
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    // Tasks in the store (the timed submissions stay there too) and fixture ids used.
    let mut stored = 0usize;
    let mut filled = 0usize;
    for level in LEVELS {
        if level > stored {
            b.stop()?;
            let t = Instant::now();
            fill(&b.db(), filled, level - stored).await?;
            eprintln!(
                "  filled {} tasks in {:.1} s",
                level - stored,
                t.elapsed().as_secs_f64()
            );
            filled += level - stored;
            stored = level;
            b.start()?;
        }
        let reported = b.stored()?;
        ensure!(
            reported == stored as u64,
            "the daemon reports {reported} tasks stored, expected {stored}"
        );
        eprintln!("  submit latency at {stored} stored tasks");
        let s = time_submissions(&b, samples)?;
        medians.push(s.median);
        rows.push(Row::target(
            format!("submit latency, {stored} tasks stored: median / p99"),
            median_p99(s),
            "median ≤ 2 ms",
            s.median <= TARGET_MEDIAN,
        ));
        stored += samples;
    }
    b.ok(&["cancel", "--all"])?;
    let ratio = medians[2].as_secs_f64() / medians[0].as_secs_f64();
    rows.push(Row::target(
        "submit latency growth: median at 100 000 stored / at 0",
        format!("{ratio:.2}×"),
        "≤ 1.2×",
        ratio <= TARGET_RATIO,
    ));
    Ok(rows)
}

/// Times `samples` runs of `legate run hold x`, each checked for success and an id.
fn time_submissions(b: &Bench, samples: usize) -> Result<Summary> {
    let args = ["run", "hold", "x"];
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let mut c = b.cmd(&args);
        let t = Instant::now();
        let o = c.output().context("cannot run legate")?;
        times.push(t.elapsed());
        check(&args, &o)?;
        ensure!(
            String::from_utf8_lossy(&o.stdout).trim().len() == legate_domain::id::ID_LEN,
            "`legate run` printed no task id: {:?}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    summarise(&mut times).context("no samples")
}
