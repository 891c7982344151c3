//! Wait latency: a task (built-in `sh` agent) prints its own end time in Unix nanoseconds;
//! `legate wait` is spawned right after submission and the instant it exits is taken in the
//! same clock. Latency = exit instant − printed end time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};

use crate::Row;
use crate::fixture::Bench;
use crate::stats::{median_p99, summarise};

/// The median target.
const TARGET_MEDIAN: Duration = Duration::from_millis(5);

/// The default config has the built-in `sh` agent; only the timeout is lifted.
const CONFIG: &str = "[limits]\ndefault_timeout = \"none\"\n";

/// `samples` tasks, one at a time.
pub fn measure(samples: usize) -> Result<Vec<Row>> {
    let b = Bench::new(CONFIG)?;
    b.start()?;
    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let o = b.ok(&["run", "sh", "sleep 0.2; date +%s%N"])?;
        let id = String::from_utf8(o.stdout)?.trim().to_string();
        let w = b
            .cmd(&["wait", &id])
            .output()
            .context("cannot run legate wait")?;
        let returned = unix_nanos()?;
        crate::fixture::check(&["wait", &id], &w)?;
        lat.push(since_task_end(&b, &id, returned, "`legate wait` returned")?);
    }
    let s = summarise(&mut lat).context("no samples")?;
    Ok(vec![Row::target(
        format!("wait latency: task end → `legate wait` exits ({samples} samples): median / p99"),
        median_p99(s),
        "median ≤ 5 ms",
        s.median <= TARGET_MEDIAN,
    )])
}

/// The time from the end a latency task printed (its result) to `at`, both Unix nanoseconds.
pub fn since_task_end(b: &Bench, id: &str, at: u128, what: &str) -> Result<Duration> {
    let r = b.ok(&["result", id])?;
    let text = String::from_utf8(r.stdout)?;
    let ended: u128 = text
        .trim()
        .parse()
        .with_context(|| format!("task {id} printed {text:?}, not a time"))?;
    ensure!(at >= ended, "{what} before task {id} printed its end time");
    Ok(Duration::from_nanos((at - ended) as u64))
}

/// Now, in Unix nanoseconds (the clock the tasks print with `date +%s%N`).
pub fn unix_nanos() -> Result<u128> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos())
}
