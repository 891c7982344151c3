//! `peers` mode: legate side by side with pueue, task-spooler and `nohup … &`, all measured in
//! one run with the systems taking turns, so that drift hits each alike. Prints a Markdown
//! table (median / p99 per system and legate / peer ratios), writes it to
//! `bench/results/peers.md` with the machine and the peers' versions, and draws
//! `bench/results/peers.png`.

mod batch;
mod chart;
mod completion;
mod install;
mod legate;
mod metric;
mod nohup;
mod peer;
pub mod procs;
mod pueue;
mod pueue_state;
mod pueued;
mod submit;
mod table;
mod tsp;

use std::time::Instant;

use anyhow::{Context, Result, ensure};

/// Default submit-latency samples per store size and system.
pub const DEFAULT_SAMPLES: usize = 100;

/// Tasks per throughput round.
const THROUGHPUT_TASKS: usize = 1000;

/// Throughput rounds per system.
const THROUGHPUT_ROUNDS: usize = 3;

/// Fan-out rounds per system.
const FAN_OUT_ROUNDS: usize = 5;

/// Completion-detection tasks per system.
const COMPLETION_SAMPLES: usize = 30;

/// The most samples tsp can queue behind its holder (its server takes ~995 unfinished jobs).
const TSP_MAX_SAMPLES: usize = 900;

/// How the figures were made; printed under the table.
const NOTES: &str = include_str!("notes.md");

/// Measures everything, prints the table and writes `peers.md` and `peers.png`.
pub fn run(samples: usize) -> Result<()> {
    ensure!(
        samples <= TSP_MAX_SAMPLES,
        "--samples {samples}: at most {TSP_MAX_SAMPLES} for `peers` (tsp keeps one connection \
         per queued job and accepts ~995 at once)"
    );
    install::ensure()?;
    let machine = crate::machine::describe();
    let versions = install::versions();
    let started = Instant::now();
    eprintln!("legate-bench: peers: submit latency at 0 / 2,000 / 10,000 stored tasks, memory");
    let (submits, memory) = submit::measure(samples)?;
    eprintln!("legate-bench: peers: throughput");
    let tp = batch::measure(&batch::throughput(THROUGHPUT_TASKS, THROUGHPUT_ROUNDS))?;
    eprintln!("legate-bench: peers: fan-out");
    let fan = batch::measure(&batch::fan_out(FAN_OUT_ROUNDS))?;
    eprintln!("legate-bench: peers: completion detection");
    let done = completion::measure(COMPLETION_SAMPLES)?;
    let took = started.elapsed().as_secs_f64();
    eprintln!("legate-bench: peers: done in {took:.0} s");

    let mut table = table::header();
    for m in submits.iter().chain([&tp, &fan, &done]).chain(&memory) {
        table.push_str(&table::row(m));
    }
    let notes = NOTES.replace("{samples}", &samples.to_string());
    let report = format!("{machine}{versions}\n\n{table}\n{notes}\nThe run took {took:.0} s.\n");
    println!("{report}");
    let dir = crate::results_dir()?;
    let md = dir.join("peers.md");
    std::fs::write(&md, &report).with_context(|| format!("cannot write {}", md.display()))?;
    eprintln!("legate-bench: wrote {}", md.display());

    let png = dir.join("peers.png");
    let levels: Vec<String> = submit::LEVELS
        .iter()
        .map(|&l| format!("{} stored", submit::thousands(l)))
        .collect();
    let date = chrono::Utc::now().format("%Y-%m-%d");
    let title = format!("legate vs pueue, task-spooler, nohup — {date}");
    chart::draw(&png, &title, &submits, &levels, &tp)
        .with_context(|| format!("cannot draw {}", png.display()))?;
    eprintln!("legate-bench: wrote {}", png.display());
    Ok(())
}
