//! Median and p99 of samples, computed here rather than by a statistics crate.

use std::time::Duration;

/// Summary of a set of durations.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The median (nearest rank).
    pub median: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
}

/// Sorts the samples and summarises them; `None` when there are none.
pub fn summarise(samples: &mut [Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    Some(Summary {
        median: nearest_rank(samples, 0.5),
        p99: nearest_rank(samples, 0.99),
    })
}

/// The nearest-rank `q` quantile of sorted, non-empty samples.
fn nearest_rank(sorted: &[Duration], q: f64) -> Duration {
    let rank = (sorted.len() as f64 * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// "median / p99" in milliseconds.
pub fn median_p99(s: Summary) -> String {
    format!("{} / {}", ms(s.median), ms(s.p99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_median_and_p99() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = summarise(&mut v).unwrap();
        assert_eq!(s.median, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        let mut one = [Duration::from_millis(7)];
        let s = summarise(&mut one).unwrap();
        assert_eq!((s.median, s.p99), (one[0], one[0]));
        assert!(summarise(&mut []).is_none());
    }
}
