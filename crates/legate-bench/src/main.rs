//! `legate-bench`: measures the release `legate` binary and its daemon (submit latency as the
//! store grows, throughput, wait latency, daemon memory) and prints a Markdown table, also
//! written to `bench/results/core.md` with a description of the machine. Each figure is shown
//! next to its target with ✓ or ✗; nothing here asserts on time.
//!
//! `peers` compares legate with pueue, task-spooler and `nohup … &` in one run (see
//! [`peers`]) and writes `bench/results/peers.md` and `peers.png`.
//!
//! Run: `cargo build --release -p legate-cli && cargo run -p legate-bench --release -- core`
//! (`all` runs `core` then `peers`; `--samples N` sets the submit-latency samples per store
//! size).

mod fixture;
mod floor;
mod machine;
mod mcp_roundtrip;
mod memory;
mod peers;
mod sse_latency;
mod stats;
mod submit;
mod throughput;
mod wait_latency;
mod workers;
mod worktree;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: legate-bench [core|peers|workers|all|mcp|throughput|worktree] [--samples N]\n\
  mcp            only the MCP round trip\n\
  worktree       worktree isolation on a repository of 10 000 files\n\
  workers        4 `legate worker`s on Postgres: claims/s and wake latency (LEGATE_BENCH_POSTGRES_URL)\n\
  throughput     only the throughput run\n\
  core           submit latency, throughput, wait and event-stream latency, MCP round trip, memory (default)\n\
  peers          legate against pueue, task-spooler and nohup (installs pueue and tsp if missing)\n\
  all            core, then peers\n\
  --samples N    submit-latency samples per store size (default 300; peers: 100)";

/// Tasks in the throughput run.
const THROUGHPUT_TASKS: usize = 1000;

/// Samples in the wait-latency run.
const WAIT_SAMPLES: usize = 30;

/// One line of the results table.
pub struct Row {
    /// What was measured.
    pub what: String,
    /// The figure.
    pub value: String,
    /// The target, empty when there is none.
    pub target: String,
    /// Whether the target was met (`None`: no target).
    pub met: Option<bool>,
}

impl Row {
    /// A figure with a target.
    pub fn target(
        what: impl Into<String>,
        value: impl Into<String>,
        target: &str,
        met: bool,
    ) -> Row {
        Row {
            what: what.into(),
            value: value.into(),
            target: target.into(),
            met: Some(met),
        }
    }

    /// A figure for context, without a target.
    pub fn info(what: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            what: what.into(),
            value: value.into(),
            target: String::new(),
            met: None,
        }
    }
}

/// The parsed command line.
struct Args {
    /// `--samples`, if given.
    samples: Option<usize>,
    /// `core`, `peers` or `all` (`None`: `core`).
    suite: Option<String>,
    /// One measurement alone (`mcp`, `throughput`), for a quick check; writes
    /// `bench/results/NAME.md`.
    only: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut samples = None;
    let mut suite = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "core" | "peers" | "workers" | "all" | "mcp" | "throughput" | "worktree"
                if suite.is_none() =>
            {
                suite = Some(a)
            }
            "--samples" => {
                let n = it.next().context("--samples needs a number")?;
                samples = Some(
                    n.parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .with_context(|| format!("--samples: '{n}' is not a positive number"))?,
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => bail!("unexpected argument '{a}'\n{USAGE}"),
        }
    }
    let only = suite.clone().filter(|s| s == "mcp" || s == "throughput");
    Ok(Args {
        samples,
        suite,
        only,
    })
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("legate-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Measures everything, prints the report and writes it.
fn run() -> Result<()> {
    let args = parse_args()?;
    fixture::legate_bin()?;
    let rt = tokio::runtime::Runtime::new()?;
    // Ctrl-C runs no drops: stop the daemons here so none outlives the run.
    rt.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("legate-bench: interrupted; stopping daemons");
            fixture::stop_all();
            peers::procs::sweep_all();
            std::process::exit(130);
        }
    });
    let suite = args.suite.as_deref().unwrap_or("core");
    if suite == "peers" {
        return peers::run(args.samples.unwrap_or(peers::DEFAULT_SAMPLES));
    }
    if suite == "workers" {
        return report(&machine::describe(), &workers::run()?, "workers.md");
    }
    if suite == "worktree" {
        return report(&machine::describe(), &worktree::measure()?, "worktree.md");
    }
    let samples = args.samples.unwrap_or(300);
    let machine = machine::describe();
    let started = Instant::now();
    let mut rows = Vec::new();
    match args.only.as_deref() {
        Some("mcp") => {
            rows.extend(rt.block_on(mcp_roundtrip::measure(samples))?);
            return report(&machine, &rows, "mcp.md");
        }
        Some(_) => {
            rows.extend(rt.block_on(throughput::measure(THROUGHPUT_TASKS))?);
            return report(&machine, &rows, "throughput.md");
        }
        None => {}
    }
    eprintln!("legate-bench: start-up floors");
    rows.extend(floor::measure(samples)?);
    eprintln!("legate-bench: submit latency");
    rows.extend(rt.block_on(submit::measure(samples))?);
    eprintln!("legate-bench: throughput");
    rows.extend(rt.block_on(throughput::measure(THROUGHPUT_TASKS))?);
    eprintln!("legate-bench: wait latency");
    rows.extend(wait_latency::measure(WAIT_SAMPLES)?);
    eprintln!("legate-bench: event-stream latency");
    rows.extend(rt.block_on(sse_latency::measure(WAIT_SAMPLES))?);
    eprintln!("legate-bench: MCP round trip");
    rows.extend(rt.block_on(mcp_roundtrip::measure(samples))?);
    eprintln!("legate-bench: memory");
    rows.extend(rt.block_on(memory::measure())?);
    eprintln!(
        "legate-bench: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    report(&machine, &rows, "core.md")?;
    if suite == "all" {
        peers::run(args.samples.unwrap_or(peers::DEFAULT_SAMPLES))?;
    }
    Ok(())
}

/// `bench/results/` in the workspace, created if missing.
pub fn results_dir() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.canonicalize()?)
}

/// Prints the table and writes it under `bench/results/`.
fn report(machine: &str, rows: &[Row], file: &str) -> Result<()> {
    let report = format!("{machine}\n{}", render(rows));
    println!("{report}");
    let out = results_dir()?.join(file);
    std::fs::write(&out, &report).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("legate-bench: wrote {}", out.display());
    Ok(())
}

/// The rows as a Markdown table.
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
