//! `legate events`: the event log as JSON lines, optionally followed live.

use std::io::Write;

use anyhow::Result;
use legate_api::ClientError;
use legate_domain::Event;
use legate_domain::api::EventsQuery;

use crate::cli::EventsArgs;
use crate::commands::reconnect::{Start, reconnect};
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Prints events; with `-f`, follows them until interrupted, resuming from the last one
/// printed whenever the connection drops (a daemon restart loses nothing).
pub async fn events(paths: &Paths, args: EventsArgs) -> Result<i32> {
    if let Some(o) = &args.origin {
        crate::commands::run::read_origin(Some(o))?;
    }
    let filters = EventsQuery {
        task: args.task,
        origin: args.origin,
        label: args.label,
        kind: args.kind,
        ..EventsQuery::default()
    };
    let query_after = |after: i64, limit: Option<u32>| EventsQuery {
        after,
        limit,
        ..filters.clone()
    };
    let mut client = connect(paths).await?;
    let mut out = std::io::stdout().lock();
    let mut cursor = args.after;
    if !args.follow {
        loop {
            let page = client.events(&query_after(cursor, Some(1000))).await?;
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            for e in &page {
                crate::out::checked(print(&mut out, e), "stdout");
            }
        }
        return Ok(exit::OK);
    }
    // A reader that went away ends the follow at once, even when no event comes to write.
    let closed = crate::out::stdout_closed();
    tokio::pin!(closed);
    loop {
        // The cursor travels as Last-Event-ID, which wins over the query's `after`.
        match client.subscribe(&query_after(cursor, None)).await {
            // Until the stream closes, drops or the daemon shuts down; then resume from the
            // cursor.
            Ok(mut feed) => loop {
                let next = tokio::select! {
                    () = &mut closed => std::process::exit(crate::out::CLOSED_PIPE),
                    next = feed.next() => next,
                };
                match next {
                    Ok(Some(e)) => {
                        cursor = e.seq;
                        crate::out::checked(print(&mut out, &e), "stdout");
                    }
                    Ok(None) => break,
                    Err(e) if e.daemon_went_away() || matches!(e, ClientError::Protocol(_)) => {
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            },
            Err(e) if e.daemon_went_away() || matches!(e, ClientError::Protocol(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let doing = format!("resuming after event {cursor}");
        client = reconnect(paths, &client, &doing, Start::Never).await?;
    }
}

fn print(out: &mut impl Write, e: &Event) -> std::io::Result<()> {
    crate::json_out::write_line(out, e)?;
    out.flush()
}
