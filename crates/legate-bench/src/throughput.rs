//! Throughput: `n` tasks of an agent that does nothing (`true`), max_running 8, submitted by
//! 8 concurrent API clients (the `legate-api` client over the socket, not `legate run`
//! processes), then waited for with `legate wait`. Timed from the first submit to the moment
//! `legate wait` returns with every task finished.

use std::collections::HashSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use legate_api::Client;
use legate_domain::api::SubmitRequest;
use legate_domain::{Status, Task};

use crate::Row;
use crate::fixture::{Bench, NOOP};

/// Concurrent submitters.
const SUBMITTERS: usize = 8;

/// Ids per `legate wait` invocation (keeps the argument list short).
const WAIT_CHUNK: usize = 1000;

/// The target rate.
const TARGET_RATE: f64 = 500.0;

/// Submits `n` tasks and waits for them; call from a multi-threaded runtime.
pub async fn measure(n: usize) -> Result<Vec<Row>> {
    let b = Bench::new(NOOP)?;
    b.start()?;
    let client = Client::new(&b.socket());
    let t0_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for k in 0..SUBMITTERS {
        let client = client.clone();
        // Spread n over the submitters; the first n % SUBMITTERS take one more.
        let count = n / SUBMITTERS + usize::from(k < n % SUBMITTERS);
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                let req = SubmitRequest {
                    agent: "noop".into(),
                    prompt: "x".into(),
                    ..Default::default()
                };
                let r = client.submit(&req).await?;
                ids.push(r.task.id.to_string());
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(n);
    for h in handles {
        ids.extend(h.await??);
    }
    let submitted = t0.elapsed();
    for chunk in ids.chunks(WAIT_CHUNK) {
        let mut args = vec!["wait"];
        args.extend(chunk.iter().map(String::as_str));
        let o = b.cmd(&args).output().context("cannot run legate wait")?;
        // Exit 0 only when every task succeeded.
        let what = format!("<{} ids>", chunk.len());
        crate::fixture::check(&["wait", &what], &o)?;
    }
    let all = t0.elapsed();

    let limit = (n + 1000).to_string();
    let o = b.ok(&["ls", "--json", "--limit", &limit])?;
    let listed: Vec<Task> = serde_json::from_slice(&o.stdout).context("`legate ls --json`")?;
    let ours: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let tasks: Vec<&Task> = listed
        .iter()
        .filter(|t| ours.contains(t.id.as_str()))
        .collect();
    ensure!(tasks.len() == n, "listed {} of {n} tasks", tasks.len());
    let succeeded = tasks
        .iter()
        .filter(|t| t.status == Status::Succeeded)
        .count();
    let first_start = tasks.iter().filter_map(|t| t.started_at).min();
    let last_end = tasks
        .iter()
        .filter_map(|t| t.finished_at)
        .max()
        .context("no finished_at")?;

    let rate = n as f64 / all.as_secs_f64();
    let store_secs = ((last_end.millis() - t0_unix_ms) as f64 / 1000.0).max(0.001);
    let mut rows = vec![
        Row::target(
            format!(
                "throughput: {n} trivial tasks (`true`), max_running 8, {SUBMITTERS} API-client submitters, `legate wait`"
            ),
            format!(
                "{rate:.0} tasks/s ({succeeded} succeeded; all done after {:.2} s, submits done after {:.2} s)",
                all.as_secs_f64(),
                submitted.as_secs_f64()
            ),
            "≥ 500 tasks/s",
            rate >= TARGET_RATE,
        ),
        Row::info(
            "throughput, store clock: first submit → last finished_at",
            format!("{:.0} tasks/s ({store_secs:.2} s)", n as f64 / store_secs),
        ),
    ];
    if let Some(first) = first_start {
        let run_secs = ((last_end.millis() - first.millis()) as f64 / 1000.0).max(0.001);
        rows.push(Row::info(
            "execution rate, store clock: first started_at → last finished_at",
            format!("{:.0} tasks/s ({run_secs:.2} s)", n as f64 / run_secs),
        ));
    }
    Ok(rows)
}
