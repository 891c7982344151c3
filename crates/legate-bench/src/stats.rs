//! Median and p99 of samples.

use std::time::Duration;

/// Summary of a set of durations.
pub struct Summary {
    /// The median.
    pub median: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
}

/// Summarises samples (must not be empty).
pub fn summarise(samples: &mut [Duration]) -> Summary {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Summary {
        median: at(0.5),
        p99: at(0.99),
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
