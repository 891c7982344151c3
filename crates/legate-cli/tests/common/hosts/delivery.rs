//! The delivery contract, measured: every finish reaches the conversation that delegated it,
//! once. For one task, the *latency* is the time from its finish (the task's `finished_at`,
//! written when its agent exited) to the first model request that holds the task's result
//! (a marker only that result contains), outside the model's own words; the *copies* are how
//! often that request's successors carry it at the latest: more than one is a duplicate.
//!
//! [`report`] prints one line per host and channel and appends it to
//! `target/delivery-report.txt` under the repository root, where the figures are collected.

use super::super::{Home, poll_until};
use legate_domain::Timestamp;
use legate_test_model::{ModelServer, Received};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// The longest a result may take to reach the model before it counts as lost.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(120);

/// One result that reached the model.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The task's id.
    pub task: String,
    /// From the task's finish to the first model request holding its result.
    pub latency: Duration,
    /// How often the latest model request holding the result holds it (1 when delivered once).
    pub copies: usize,
}

/// Waits (up to [`DELIVERY_DEADLINE`]) until the task `task` has finished and a model request
/// holds `marker` outside the model's own replies, and measures that delivery. Panics, saying
/// the result was lost, when none does in time.
pub fn await_delivered(home: &Home, server: &ModelServer, task: &str, marker: &str) -> Delivered {
    let holding = |server: &ModelServer| -> Vec<Received> {
        server
            .received()
            .into_iter()
            .filter(|r| r.is_model_call() && r.count_outside_replies(marker) > 0)
            .collect()
    };
    let arrived = poll_until(DELIVERY_DEADLINE, || !holding(server).is_empty());
    assert!(
        arrived,
        "the result of {task} (marker {marker}) was lost: no model request holds it after {:?}",
        DELIVERY_DEADLINE
    );
    let finished = finished_at(home, task);
    let all = holding(server);
    let (first, last) = (&all[0], &all[all.len() - 1]);
    let first_ms = first
        .wall
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Delivered {
        task: task.to_string(),
        latency: Duration::from_millis(first_ms.saturating_sub(finished).max(0) as u64),
        copies: last.count_outside_replies(marker),
    }
}

/// The task's `finished_at`, in milliseconds since the epoch, once it has one.
fn finished_at(home: &Home, task: &str) -> i64 {
    let mut at = None;
    let finished = poll_until(DELIVERY_DEADLINE, || {
        at = home.show(task)["finished_at"]
            .as_str()
            .and_then(Timestamp::parse_rfc3339);
        at.is_some()
    });
    assert!(finished, "task {task} never finished");
    at.map(Timestamp::millis).unwrap_or_default()
}

/// Checks that each result arrived once (`copies == 1`), then prints
/// `delivery HOST CHANNEL n=… p50=…ms p99=…ms max=…ms lost=0 duplicated=0` on stderr and
/// appends it to `target/delivery-report.txt`.
pub fn report(host: &str, channel: &str, all: &[Delivered]) {
    assert!(!all.is_empty(), "no delivery measured for {host} {channel}");
    for d in all {
        assert_eq!(
            d.copies, 1,
            "{host} {channel}: the result of {} reached the model {} times",
            d.task, d.copies
        );
    }
    let mut ms: Vec<u128> = all.iter().map(|d| d.latency.as_millis()).collect();
    ms.sort_unstable();
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    let line = format!(
        "delivery {host} {channel} n={} p50={}ms p99={}ms max={}ms lost=0 duplicated=0",
        ms.len(),
        at(0.50),
        at(0.99),
        ms[ms.len() - 1]
    );
    eprintln!("{line}");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/delivery-report.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = writeln!(f, "{line}");
    }
}
