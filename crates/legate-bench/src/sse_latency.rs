//! Event-stream latency: a task (built-in `sh` agent) prints its own end time in Unix
//! nanoseconds; a subscriber to `GET /v1/events` (Server-Sent Events, `kind=finished`) takes
//! the instant its `finished` event arrives in the same clock. Latency = arrival − end time.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use legate_api::Client;
use legate_domain::api::{EventsQuery, SubmitRequest};

use crate::Row;
use crate::fixture::Bench;
use crate::stats::{median_p99, summarise};
use crate::wait_latency::{since_task_end, unix_nanos};

/// The median target.
const TARGET_MEDIAN: Duration = Duration::from_millis(5);

/// The default config has the built-in `sh` agent; only the timeout is lifted.
const CONFIG: &str = "[limits]\ndefault_timeout = \"none\"\n";

/// `samples` tasks, one at a time, watched by one live subscriber.
pub async fn measure(samples: usize) -> Result<Vec<Row>> {
    let b = Bench::new(CONFIG)?;
    b.start()?;
    let client = Client::new(&b.socket());
    let finished = EventsQuery {
        kind: Some("finished".into()),
        ..EventsQuery::default()
    };
    let mut feed = client.subscribe(&finished).await?;
    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let req = SubmitRequest {
            agent: "sh".into(),
            prompt: "sleep 0.2; date +%s%N".into(),
            origin: Some("bench".into()),
            ..SubmitRequest::default()
        };
        let res = client.submit(&req).await?;
        let event = loop {
            match feed.next().await? {
                Some(e) if e.task_id == res.task.id => break e,
                Some(_) => continue,
                None => bail!("the event stream closed"),
            }
        };
        let arrived = unix_nanos()?;
        let id = event.task_id.as_str();
        lat.push(since_task_end(&b, id, arrived, "the finish arrived")?);
    }
    let s = summarise(&mut lat).context("no samples")?;
    Ok(vec![Row::target(
        format!(
            "event-stream latency: task end → SSE `finished` event received ({samples} samples): median / p99"
        ),
        median_p99(s),
        "median ≤ 5 ms",
        s.median <= TARGET_MEDIAN,
    )])
}
