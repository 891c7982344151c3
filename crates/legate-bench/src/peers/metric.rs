//! One compared figure: a value per system (median and p99), how to print it, and the ratio
//! legate / peer.

use std::time::Duration;

use super::table::{secs, times};
use crate::stats::summarise;

/// What a metric's numbers are.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Seconds; lower is better.
    Latency,
    /// Seconds of wall time for this many tasks, printed as tasks/s; higher rate is better.
    Rate(usize),
    /// Bytes (one reading, no spread); lower is better.
    Memory,
}

/// A system's figure: median and p99 (seconds or bytes).
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// The median.
    pub median: f64,
    /// The 99th percentile (nearest rank); with few samples, the largest.
    pub p99: f64,
}

/// One row of the comparison.
pub struct Metric {
    /// What was measured.
    pub name: String,
    /// How to read the cells.
    pub kind: Kind,
    /// One cell per system, in [`SYSTEMS`] order; `None` where it does not apply.
    pub cells: Vec<Option<Cell>>,
}

impl Metric {
    /// A metric from durations, one list per system (an empty list: not applicable).
    pub fn from_times(name: impl Into<String>, kind: Kind, times: Vec<Vec<Duration>>) -> Metric {
        let cells = times
            .into_iter()
            .map(|mut t| {
                summarise(&mut t).map(|s| Cell {
                    median: s.median.as_secs_f64(),
                    p99: s.p99.as_secs_f64(),
                })
            })
            .collect();
        Metric {
            name: name.into(),
            kind,
            cells,
        }
    }

    /// A memory metric from one reading per system.
    pub fn memory(name: impl Into<String>, bytes: &[Option<u64>]) -> Metric {
        let cells = bytes
            .iter()
            .map(|b| {
                b.map(|b| Cell {
                    median: b as f64,
                    p99: b as f64,
                })
            })
            .collect();
        Metric {
            name: name.into(),
            kind: Kind::Memory,
            cells,
        }
    }

    /// The median in display units: seconds, tasks/s or bytes.
    pub fn value(&self, system: usize) -> Option<f64> {
        let c = self.cells.get(system).copied().flatten()?;
        Some(match self.kind {
            Kind::Rate(n) => n as f64 / c.median,
            _ => c.median,
        })
    }

    /// The printed cell: "median / p99" (throughput: the rates at those wall times).
    pub fn show(&self, system: usize) -> String {
        let Some(c) = self.cells.get(system).copied().flatten() else {
            return "n/a".into();
        };
        match self.kind {
            Kind::Latency => format!("{} / {}", secs(c.median), secs(c.p99)),
            Kind::Rate(n) => format!(
                "{:.0} / {:.0} tasks/s",
                n as f64 / c.median,
                n as f64 / c.p99
            ),
            Kind::Memory => format!("{:.1} MB", c.median / 1e6),
        }
    }

    /// legate's median over the peer's (throughput: legate's rate over the peer's).
    pub fn ratio(&self, peer: usize) -> String {
        match (self.value(0), self.value(peer)) {
            (Some(l), Some(p)) if p > 0.0 => times(l / p),
            _ => "—".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_ratios() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&x| Duration::from_millis(x))
                .collect::<Vec<_>>()
        };
        let m = Metric::from_times(
            "x",
            Kind::Latency,
            vec![ms(&[4]), ms(&[8]), ms(&[2]), vec![]],
        );
        assert_eq!(m.show(0), "4.00 ms / 4.00 ms");
        assert_eq!(m.ratio(1), "0.50×");
        assert_eq!(m.ratio(3), "—");
        assert_eq!(m.show(3), "n/a");
        let r = Metric::from_times("t", Kind::Rate(100), vec![ms(&[500]), ms(&[2000])]);
        assert_eq!(r.show(1), "50 / 50 tasks/s");
        assert_eq!(r.ratio(1), "4.00×");
    }
}
