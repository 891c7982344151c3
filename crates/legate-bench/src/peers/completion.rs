//! Completion detection: a task `sleep 0.2; date +%s%N > F` records its own end time; the
//! system's waiter (`legate wait ID`, `pueue wait ID`, `tsp -w ID`, the nohup polling loop)
//! is spawned right after the submit, and latency = the instant it exits − the time in F.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::metric::{Kind, Metric};
use super::peer::{SYSTEMS, rotation, submit};
use super::procs::quote;
use crate::wait_latency::unix_nanos;

/// `samples` tasks per system, one at a time, the systems taking turns.
pub fn measure(samples: usize) -> Result<Metric> {
    let dir = tempfile::Builder::new().prefix("lgb-ends").tempdir()?;
    let mut peers = Vec::new();
    for s in SYSTEMS {
        peers.push(s.start(1)?);
    }
    let mut lat: Vec<Vec<Duration>> = vec![Vec::with_capacity(samples); SYSTEMS.len()];
    for round in 0..samples {
        for (i, s) in rotation(round) {
            let file = dir.path().join(format!("{round}-{i}"));
            let script = format!("sleep 0.2; date +%s%N > {}", quote(&file.to_string_lossy()));
            let p = peers[i].as_mut();
            let (_, id) = submit(p, &script)?;
            let o = p.wait_cmd(&id).output().context("cannot run the waiter")?;
            let returned = unix_nanos()?;
            ensure!(
                o.status.success(),
                "{} waiter for {id} failed ({}): {}",
                s.name(),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            );
            lat[i].push(since(&file, returned)?);
        }
    }
    Ok(Metric::from_times(
        format!("completion detection: task end → waiter returns ({samples} tasks of `sleep 0.2`)"),
        Kind::Latency,
        lat,
    ))
}

/// From the Unix-nanosecond end time written in `file` to `at`.
fn since(file: &Path, at: u128) -> Result<Duration> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("the task did not write {}", file.display()))?;
    let ended: u128 = text
        .trim()
        .parse()
        .with_context(|| format!("{} holds {text:?}, not a time", file.display()))?;
    ensure!(
        at >= ended,
        "the waiter returned before the task wrote its end time"
    );
    Ok(Duration::from_nanos((at - ended) as u64))
}
