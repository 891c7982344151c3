//! End-to-end batches: `n` tasks submitted one after another through each system's client
//! with at most `cap` running, then waited for the system's own way. Timed from the first
//! submit to the waiter's return. Each round starts a fresh instance of every system (so no
//! store carries over) and the systems take turns round by round.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::metric::{Kind, Metric};
use super::peer::{SYSTEMS, rotation, submit};
use super::submit::thousands;

/// One batch shape.
pub struct Batch {
    /// What the table calls it.
    pub name: String,
    /// Tasks per round.
    pub tasks: usize,
    /// Parallelism.
    pub cap: usize,
    /// The task's script.
    pub script: &'static str,
    /// Rounds per system.
    pub rounds: usize,
    /// Report a rate (tasks/s) rather than the wall time.
    pub rate: bool,
}

/// The throughput batch: `tasks` × `true` at parallel 8.
pub fn throughput(tasks: usize, rounds: usize) -> Batch {
    Batch {
        name: format!(
            "throughput: {} × `true`, parallel 8, first submit → all done",
            thousands(tasks)
        ),
        tasks,
        cap: 8,
        script: "true",
        rounds,
        rate: true,
    }
}

/// The fan-out batch: 20 × `sleep 1` with room for all 20 (ideal: 1 s).
pub fn fan_out(rounds: usize) -> Batch {
    Batch {
        name: "fan-out: 20 × `sleep 1`, parallel 20, first submit → all done (ideal 1 s)".into(),
        tasks: 20,
        cap: 20,
        script: "sleep 1",
        rounds,
        rate: false,
    }
}

/// Runs the batch `rounds` times on every system.
pub fn measure(b: &Batch) -> Result<Metric> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); SYSTEMS.len()];
    for round in 0..b.rounds {
        for (i, s) in rotation(round) {
            let mut p = s.start(b.cap)?;
            let t = Instant::now();
            let mut ids = Vec::with_capacity(b.tasks);
            for _ in 0..b.tasks {
                ids.push(submit(p.as_mut(), b.script)?.1);
            }
            let submitted = t.elapsed();
            p.wait_all(&ids)?;
            let all = t.elapsed();
            eprintln!(
                "  round {}/{}: {} submitted in {:.2} s, all done after {:.2} s",
                round + 1,
                b.rounds,
                s.name(),
                submitted.as_secs_f64(),
                all.as_secs_f64()
            );
            times[i].push(all);
        }
    }
    let kind = if b.rate {
        Kind::Rate(b.tasks)
    } else {
        Kind::Latency
    };
    Ok(Metric::from_times(b.name.clone(), kind, times))
}
