//! `legate events`: the event log as JSON lines, optionally followed live.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use legate_api::ClientError;
use legate_domain::Event;
use legate_domain::api::EventsQuery;

use crate::cli::EventsArgs;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// The longest pause between attempts to reach a daemon that went away.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Prints events; with `-f`, follows them until interrupted, resuming from the last one
/// printed whenever the connection drops (a daemon restart loses nothing).
pub async fn events(paths: &Paths, args: EventsArgs) -> Result<i32> {
    let filters = EventsQuery {
        task: args.task,
        origin: args.origin,
        label: args.label,
        kind: args.kind,
        ..EventsQuery::default()
    };
    let query_after = |after: i64, limit: Option<u32>| {
        serde_urlencoded::to_string(EventsQuery {
            after,
            limit,
            ..filters.clone()
        })
    };
    let client = connect(paths).await?;
    let mut out = std::io::stdout().lock();
    let mut cursor = args.after;
    if !args.follow {
        loop {
            let query = query_after(cursor, Some(1000))?;
            let page: Vec<Event> = client.get(&format!("/v1/events?{query}")).await?;
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            for e in &page {
                crate::out::checked(print(&mut out, e), "stdout");
            }
        }
        return Ok(exit::OK);
    }
    let mut announced = false;
    loop {
        // The cursor travels as Last-Event-ID, which wins over the query's `after`.
        let query = query_after(cursor, None)?;
        match client.subscribe(&query, cursor).await {
            // Until the stream closes, drops or the daemon shuts down; then resume from the
            // cursor.
            Ok(mut feed) => {
                while let Ok(Some(e)) = feed.next().await {
                    cursor = e.seq;
                    announced = false;
                    crate::out::checked(print(&mut out, &e), "stdout");
                }
            }
            Err(
                ClientError::Connect { .. } | ClientError::Protocol(_) | ClientError::Dropped(_),
            ) => {
                if !announced {
                    errln!(
                        "legate: the daemon is gone; waiting for it to come back (resuming after event {cursor})"
                    );
                    announced = true;
                }
                let mut pause = Duration::from_millis(20);
                while !client.is_up().await? {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn print(out: &mut impl Write, e: &Event) -> std::io::Result<()> {
    crate::json_out::write_line(out, e)?;
    out.flush()
}
