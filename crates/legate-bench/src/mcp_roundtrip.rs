//! MCP round trip: in a running `legate mcp` stdio session (rmcp's client, as a host would
//! drive it), the time from sending a `delegate` tool call to having its answer — the task
//! stored durably, the session's news read.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};

use crate::Row;
use crate::fixture::{Bench, HOLD};
use crate::stats::{median_p99, summarise};

/// The median target.
const TARGET_MEDIAN: Duration = Duration::from_millis(2);
/// Calls before measuring (process and connection warm-up).
const WARM_UP: usize = 20;

/// `samples` delegations to an agent whose tasks stay queued (the daemon does no other work).
pub async fn measure(samples: usize) -> Result<Vec<Row>> {
    let b = Bench::new(HOLD)?;
    b.start()?;
    let home = b.path().to_path_buf();
    let cmd = tokio::process::Command::new(crate::fixture::legate_bin()?).configure(|c| {
        c.arg("mcp")
            .env("LEGATE_HOME", &home)
            .env_remove("LEGATE_ORIGIN");
    });
    let config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("legate-bench", "0"),
    );
    let client = config
        .serve(TokioChildProcess::new(cmd)?)
        .await
        .context("cannot start `legate mcp`")?;
    let mut lat = Vec::with_capacity(samples);
    for i in 0..WARM_UP + samples {
        let args = serde_json::json!({"agent": "hold", "prompt": format!("task {i}")});
        let params = CallToolRequestParams::new("delegate")
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        let t = Instant::now();
        let r = client.call_tool(params).await?;
        let took = t.elapsed();
        ensure!(r.is_error != Some(true), "delegate failed: {:?}", r.content);
        if i >= WARM_UP {
            lat.push(took);
        }
    }
    client.cancel().await?;
    let s = summarise(&mut lat).context("no samples")?;
    Ok(vec![Row::target(
        format!(
            "MCP `delegate` round trip in a running stdio session ({samples} samples): median / p99"
        ),
        median_p99(s),
        "median ≤ 2 ms",
        s.median <= TARGET_MEDIAN,
    )])
}
