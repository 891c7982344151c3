//! Workers on a shared Postgres store: how fast 4 `legate worker` processes claim and run
//! no-op tasks, and how long a submitted task waits before a worker starts it.
//!
//! Needs a server: `LEGATE_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! it uses a scratch schema and drops it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::Row;
use crate::fixture::{Bench, check};
use crate::stats::{median_p99, summarise};

/// Config: a cap wide enough that claims never wait for finishes, and an agent that does nothing.
const CONFIG: &str = "[limits]\nmax_running = 4000\ndefault_timeout = \"none\"\n\n\
[agents.noop]\ncommand = [\"true\"]\ndescription = \"does nothing\"\n";

/// Tasks queued before the workers start.
const TASKS: usize = 3000;
/// Workers started.
const WORKERS: usize = 4;
/// Samples of wake latency.
const WAKE_SAMPLES: usize = 30;

/// A home on a scratch schema, whose frontend daemon runs nothing itself.
struct Shared {
    bench: Bench,
    url: String,
    schema: String,
    workers: Vec<Child>,
}

impl Shared {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.bench.cmd(args);
        c.env("LEGATE_STORE", &self.url)
            .env("LEGATE_STORE_SCHEMA", &self.schema)
            .env("LEGATE_SLOTS", "0");
        c
    }

    fn sql(&self, q: &str) -> Result<String> {
        let o = Command::new("psql")
            .args([&self.url, "-Atc", q])
            .output()
            .context("psql runs")?;
        if !o.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&o.stderr));
        }
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    fn start_workers(&mut self) -> Result<()> {
        for _ in 0..WORKERS {
            let w = self
                .cmd(&["worker"])
                .env_remove("LEGATE_SLOTS")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            self.workers.push(w);
        }
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.cmd(&["daemon", "stop", "--yes"]).output();
        let _ = self.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

/// Submits `n` no-op tasks from 8 concurrent clients.
fn fill(s: &Shared, n: usize) -> Result<()> {
    std::thread::scope(|scope| {
        let hs: Vec<_> = (0..8)
            .map(|c| {
                scope.spawn(move || -> Result<()> {
                    for _ in (c..n).step_by(8) {
                        let o = s.cmd(&["run", "noop", "x"]).output()?;
                        check(&["run"], &o)?;
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .try_for_each(|h| h.join().expect("a submitter panicked"))
    })
}

/// Runs the measurement.
pub fn run() -> Result<Vec<Row>> {
    let url = std::env::var("LEGATE_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut s = Shared {
        bench: Bench::new(CONFIG)?,
        url,
        schema: format!("legate_bench_{}", std::process::id()),
        workers: Vec::new(),
    };
    s.sql("SELECT 1")
        .context("the Postgres server (LEGATE_BENCH_POSTGRES_URL) is not reachable")?;
    eprintln!("workers: queueing {TASKS} no-op tasks");
    fill(&s, TASKS)?;
    let t = Instant::now();
    s.start_workers()?;
    let q = format!(
        "SELECT count(*) FROM {}.tasks WHERE status IN ('queued','running')",
        s.schema
    );
    while s.sql(&q)? != "0" {
        if t.elapsed() > Duration::from_secs(600) {
            bail!("the workers did not finish {TASKS} tasks in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = t.elapsed();
    // The store's own clock: first claim to last claim, and first claim to last finish.
    let spans = s.sql(&format!(
        "SELECT max(started_at) - min(started_at), max(finished_at) - min(started_at), count(DISTINCT lease_owner) FROM {}.tasks",
        s.schema
    ))?;
    let f: Vec<f64> = spans.split('|').map(|x| x.parse().unwrap_or(0.0)).collect();
    let owners = s.sql(&format!(
        "SELECT count(DISTINCT data::jsonb->>'worker') FROM {}.events WHERE kind = 'started'",
        s.schema
    ))?;
    let claims_per_s = TASKS as f64 / (f[0].max(1.0) / 1000.0);
    let done_per_s = TASKS as f64 / (f[1].max(1.0) / 1000.0);
    eprintln!("workers: wake latency, {WAKE_SAMPLES} samples");
    let mut wake = Vec::new();
    for _ in 0..WAKE_SAMPLES {
        let o = s.cmd(&["run", "noop", "x"]).output()?;
        check(&["run"], &o)?;
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let q = format!(
            "SELECT started_at - created_at FROM {}.tasks WHERE id = '{id}' AND started_at IS NOT NULL",
            s.schema
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let ms = loop {
            let v = s.sql(&q)?;
            if !v.is_empty() {
                break v.parse::<f64>().unwrap_or(0.0);
            }
            if Instant::now() > deadline {
                bail!("task {id} was not started within 30 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        wake.push(Duration::from_secs_f64(ms / 1000.0));
        std::thread::sleep(Duration::from_millis(50));
    }
    let wake = summarise(&mut wake).context("no wake samples")?;
    Ok(vec![
        Row::target(
            format!(
                "claims/s: {TASKS} queued no-op tasks, {WORKERS} `legate worker` processes on Postgres (store clock: first → last claim; {owners} workers took part)"
            ),
            format!("{claims_per_s:.0} claims/s"),
            "≥ 2000 claims/s",
            claims_per_s >= 2000.0,
        ),
        Row::info(
            "end to end on the same run: first claim → last finish (store clock); wall clock from starting the workers",
            format!("{done_per_s:.0} tasks/s; {:.2} s wall", wall.as_secs_f64()),
        ),
        Row::info(
            format!(
                "wake latency: submit → a waiting worker starts it (created_at → started_at, {WAKE_SAMPLES} samples): median / p99"
            ),
            median_p99(wake),
        ),
    ])
}
