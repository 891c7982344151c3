//! The measurements.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use legate_api::Client;
use legate_domain::api::{SubmitRequest, SubmitResponse, WaitRequest, WaitResponse};

use crate::Row;
use crate::fixture::{Bench, fill, rss_mib};
use crate::stats::{ms, summarise};

const HOLD: &str = "[limits]\ndefault_timeout = \"none\"\n\n[agents.hold]\ncommand = [\"sleep\", \"3600\"]\nmax_running = 1\n";

/// The floor under any CLI latency here: spawning `/bin/true`, and `legate --version` (the
/// CLI's own start-up without touching the daemon).
pub fn process_floor(samples: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (what, program, args) in [
        (
            "process spawn floor: `/bin/true`",
            PathBuf::from("/bin/true"),
            vec![],
        ),
        (
            "CLI start-up floor: `legate --version`",
            crate::fixture::legate_bin()?,
            vec!["--version"],
        ),
    ] {
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t = Instant::now();
            std::process::Command::new(&program).args(&args).output()?;
            times.push(t.elapsed());
        }
        let s = summarise(&mut times);
        rows.push(Row {
            what: format!("{what}: median / p99"),
            value: format!("{} / {}", ms(s.median), ms(s.p99)),
            target: String::new(),
            met: None,
        });
    }
    Ok(rows)
}

/// Submit latency (CLI start → id printed) at 0, 10k and 100k stored tasks; daemon RSS.
pub async fn submit_latency(samples: usize) -> Result<Vec<Row>> {
    let b = Bench::new(HOLD)?;
    let pid = b.start()?;
    let idle = rss_mib(pid);
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    let mut stored = 0usize;
    let mut filled = 0usize;
    let mut last_pid = pid;
    for target in [0usize, 10_000, 100_000] {
        if target > stored {
            b.stop()?;
            fill(&b.db(), filled, target - stored).await?;
            filled += target - stored;
            last_pid = b.start()?;
        }
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let mut c = b.cmd(&["run", "hold", "x"])?;
            let t = Instant::now();
            let o = c.output()?;
            times.push(t.elapsed());
            anyhow::ensure!(
                o.status.success(),
                "submit failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        stored = target + samples;
        let s = summarise(&mut times);
        medians.push(s.median);
        rows.push(Row {
            what: format!("submit latency, {target} tasks stored: median / p99"),
            value: format!("{} / {}", ms(s.median), ms(s.p99)),
            target: "median ≤ 2 ms".into(),
            met: Some(s.median <= Duration::from_millis(2)),
        });
    }
    let ratio = medians[2].as_secs_f64() / medians[0].as_secs_f64();
    rows.push(Row {
        what: "submit latency flatness: median at 100k / at 0".into(),
        value: format!("{ratio:.2}×"),
        target: "≤ 1.2×".into(),
        met: Some(ratio <= 1.2),
    });
    b.ok(&["cancel", "--all"])?;
    rows.push(Row {
        what: "daemon RSS idle (empty store)".into(),
        value: format!("{idle:.1} MiB"),
        target: "≤ 20 MB".into(),
        met: Some(idle * 1.048_576 <= 20.0),
    });
    rows.push(Row {
        what: format!("daemon RSS with {stored} tasks stored, after use"),
        value: format!("{:.1} MiB", rss_mib(last_pid)),
        target: String::new(),
        met: None,
    });
    Ok(rows)
}

/// `n` trivial tasks through the daemon at max_running 8.
pub async fn throughput(n: usize) -> Result<Vec<Row>> {
    let b = Bench::new(
        "[limits]\nmax_running = 8\ndefault_timeout = \"none\"\n\n[agents.noop]\ncommand = [\"true\"]\n",
    )?;
    b.start()?;
    let client = Client::new(&b.socket());
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..n / 8 {
                let req = SubmitRequest {
                    agent: "noop".into(),
                    prompt: "x".into(),
                    ..Default::default()
                };
                let r: SubmitResponse = client.post("/v1/tasks", &req).await?;
                ids.push(r.task.id.to_string());
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.extend(h.await??);
    }
    let submitted = t0.elapsed();
    let res: WaitResponse = client
        .post(
            "/v1/wait",
            &WaitRequest {
                ids,
                ..Default::default()
            },
        )
        .await?;
    let all = t0.elapsed();
    let ok = res
        .tasks
        .iter()
        .filter(|t| t.status == legate_domain::Status::Succeeded)
        .count();
    let first_start = res
        .tasks
        .iter()
        .filter_map(|t| t.started_at)
        .min()
        .map_or(0, |t| t.0);
    let last_end = res
        .tasks
        .iter()
        .filter_map(|t| t.finished_at)
        .max()
        .map_or(0, |t| t.0);
    let run_secs = ((last_end - first_start) as f64 / 1000.0).max(0.001);
    let rate = res.tasks.len() as f64 / all.as_secs_f64();
    Ok(vec![
        Row {
            what: format!(
                "throughput: {} trivial tasks (`true`), max_running 8, 8 API submitters",
                res.tasks.len()
            ),
            value: format!(
                "{rate:.0} tasks/s ({ok} succeeded in {:.2} s; submits done after {:.2} s)",
                all.as_secs_f64(),
                submitted.as_secs_f64()
            ),
            target: "≥ 500 tasks/s".into(),
            met: Some(rate >= 500.0),
        },
        Row {
            what: "execution rate: first start → last finish, as the store recorded them".into(),
            value: format!(
                "{:.0} tasks/s ({run_secs:.2} s)",
                res.tasks.len() as f64 / run_secs
            ),
            target: String::new(),
            met: None,
        },
    ])
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Time from a task's end to `legate wait` returning.
pub async fn wait_latency(samples: usize) -> Result<Vec<Row>> {
    let b = Bench::new("[limits]\ndefault_timeout = \"none\"\n")?;
    b.start()?;
    let mut lat = Vec::new();
    for _ in 0..samples {
        let o = b.ok(&["run", "sh", "sleep 0.2; date +%s%N"])?;
        let id = String::from_utf8(o.stdout)?.trim().to_string();
        let status = b
            .cmd(&["wait", &id])?
            .stdout(std::process::Stdio::null())
            .status()?;
        let returned = now_ns();
        anyhow::ensure!(status.success(), "wait failed");
        let r = b.ok(&["result", &id])?;
        let ended: i128 = String::from_utf8(r.stdout)?
            .trim()
            .parse()
            .context("task printed no time")?;
        lat.push(Duration::from_nanos((returned - ended).max(0) as u64));
    }
    let s = summarise(&mut lat);
    Ok(vec![Row {
        what: "task end → `legate wait` returns: median / p99".into(),
        value: format!("{} / {}", ms(s.median), ms(s.p99)),
        target: "median ≤ 5 ms".into(),
        met: Some(s.median <= Duration::from_millis(5)),
    }])
}
