//! Submit latency as the store grows, and daemon memory. One instance of each system with a
//! single slot; at each store size the slot is held by a `sleep 3600` so the timed
//! submissions (`true`) stay queued, the systems take turns submission by submission, and the
//! queue is run off before the store is filled to the next size with finished tasks.

use std::time::Instant;

use anyhow::Result;

use super::metric::{Kind, Metric};
use super::peer::{Peer, SYSTEMS, rotation, submit};
use crate::fixture::rss_bytes;

/// Finished tasks in the store at which submissions are timed.
pub const LEVELS: [usize; 3] = [0, 2_000, 10_000];

/// The submit-latency rows (one per store size) and the two memory rows.
pub fn measure(samples: usize) -> Result<(Vec<Metric>, Vec<Metric>)> {
    let mut peers = Vec::new();
    for s in SYSTEMS {
        peers.push(s.start(1)?);
    }
    let idle = rss(&peers)?;
    let mut rows = Vec::new();
    let mut loaded = Vec::new();
    // Tasks each store holds: fills, timed submissions and holders.
    let mut stored = 0;
    for level in LEVELS {
        if level > stored {
            for (p, s) in peers.iter_mut().zip(SYSTEMS) {
                let t = Instant::now();
                p.fill(level - stored)?;
                eprintln!(
                    "  {}: stored {} more finished tasks in {:.1} s",
                    s.name(),
                    level - stored,
                    t.elapsed().as_secs_f64()
                );
            }
            stored = level;
        }
        for p in &mut peers {
            p.hold()?;
        }
        eprintln!("  submit latency at {level} stored tasks, {samples} samples each");
        let mut times = vec![Vec::with_capacity(samples); SYSTEMS.len()];
        for round in 0..samples {
            for (i, _) in rotation(round) {
                times[i].push(submit(peers[i].as_mut(), "true")?.0);
            }
        }
        if level == LEVELS[LEVELS.len() - 1] {
            loaded = rss(&peers)?;
        }
        for p in &mut peers {
            p.release()?;
        }
        stored += samples + 1;
        rows.push(Metric::from_times(
            format!("submit latency, {} tasks stored", thousands(level)),
            Kind::Latency,
            times,
        ));
    }
    let top = thousands(LEVELS[LEVELS.len() - 1]);
    let memory = vec![
        Metric::memory("daemon RSS, idle (empty store, just started)", &idle),
        Metric::memory(
            format!("daemon RSS, {top} tasks stored (after the timed submissions there)"),
            &loaded,
        ),
    ];
    Ok((rows, memory))
}

/// Each daemon's resident memory; `None` for systems without a daemon.
fn rss(peers: &[Box<dyn Peer>]) -> Result<Vec<Option<u64>>> {
    peers
        .iter()
        .map(|p| p.daemon_pid()?.map(rss_bytes).transpose())
        .collect()
}

/// `n` with commas between thousands: 10000 → "10,000".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(2000), "2,000");
        assert_eq!(super::thousands(10000), "10,000");
        assert_eq!(super::thousands(123456), "123,456");
    }
}
