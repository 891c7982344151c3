//! The floors under every CLI latency: spawning a trivial process, and the `legate` binary's
//! own start-up without touching the daemon. Context for the submit and wait figures.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::Row;
use crate::fixture::legate_bin;
use crate::stats::{median_p99, summarise};

/// `samples` runs each of `/bin/true` and `legate --version`.
pub fn measure(samples: usize) -> Result<Vec<Row>> {
    let legate = legate_bin()?;
    let cases: [(&str, &Path, &[&str]); 2] = [
        (
            "process spawn floor: `/bin/true`",
            Path::new("/bin/true"),
            &[],
        ),
        (
            "CLI start-up floor: `legate --version`",
            &legate,
            &["--version"],
        ),
    ];
    let mut rows = Vec::new();
    for (what, program, args) in cases {
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            // Output captured like the submit measurement captures `legate run`'s.
            let mut c = Command::new(program);
            c.args(args).stdin(Stdio::null());
            let t = Instant::now();
            c.output()
                .with_context(|| format!("cannot run {}", program.display()))?;
            times.push(t.elapsed());
        }
        let s = summarise(&mut times).context("no samples")?;
        rows.push(Row::info(format!("{what}: median / p99"), median_p99(s)));
    }
    Ok(rows)
}
