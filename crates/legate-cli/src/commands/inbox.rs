//! `legate inbox` and `legate ack`: results that came back and have not been read yet.

use anyhow::Result;
use legate_domain::api::{AckRequest, AckResponse, InboxQuery, InboxResponse};
use legate_domain::terminal::one_line;

use crate::columns::{self, Cell, Column};
use crate::commands::print_json;
use crate::commands::run::read_origin;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;
use crate::render::status_cell;

/// Whose inbox `legate inbox` shows.
pub struct Who<'a> {
    /// The origin given (default: `$LEGATE_ORIGIN`, else `cli:$USER`).
    pub origin: Option<&'a str>,
    /// Also every origin's orphans (results unread longer than `[retention] orphan_after`).
    pub orphans: bool,
}

/// Lists an origin's unread results, and orphans when asked. With `ack`, what was printed is
/// acknowledged after it was written (orphans in their own origins' inboxes), so a reader
/// that went away (exit 141) leaves it unread.
pub async fn inbox(paths: &Paths, who: Who<'_>, ack: bool, limit: u32, json: bool) -> Result<i32> {
    let q = InboxQuery {
        origin: read_origin(who.origin)?,
        ack: false,
        limit: Some(limit),
        scope: None,
        orphans: who.orphans,
    };
    let client = connect(paths).await?;
    let mut res: InboxResponse = client.inbox(&q).await?;
    res.acked = ack;
    if json {
        print_json(&res)?;
    } else {
        print_inbox(&res, ack);
    }
    if ack {
        ack_shown(&client, res.tasks.iter().chain(&res.orphans))
            .await
            .map_err(|e| anyhow::anyhow!("the results above were not marked read: {e}"))?;
    }
    Ok(exit::OK)
}

/// Acknowledges results a reader was shown, each in its own origin's inbox (orphans belong
/// to other origins than the reader's): one acknowledgement per origin.
pub(crate) async fn ack_shown<'t>(
    client: &legate_api::Client,
    tasks: impl Iterator<Item = &'t legate_domain::Task>,
) -> Result<(), legate_api::ClientError> {
    let mut by_origin: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for t in tasks {
        by_origin
            .entry(t.origin.as_str())
            .or_default()
            .push(t.id.to_string());
    }
    for (origin, ids) in by_origin {
        let req = AckRequest {
            origin: origin.to_string(),
            ids,
            all: false,
        };
        client.ack(&req).await?;
    }
    Ok(())
}

/// Prints an inbox read as a table (and the hint to acknowledge it unless `acked`).
fn print_inbox(res: &InboxResponse, ack: bool) {
    if res.tasks.is_empty() && res.orphans.is_empty() {
        errln!("legate: nothing new for {}", one_line(&res.origin));
    }
    const COLUMNS: [Column; 4] = [
        Column::fixed("ID"),
        Column::fixed("STATUS"),
        Column::capped("TITLE", 40),
        Column::flex("RESULT"),
    ];
    let mut rows = Vec::new();
    // Orphans first (they are older), named with the origin that left them unread.
    for t in res.orphans.iter().chain(&res.tasks) {
        let first = t
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .or_else(|| {
                t.result
                    .as_deref()
                    .and_then(|r| r.lines().find(|l| !l.trim().is_empty()))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let first: String = first.chars().take(100).collect();
        let title = if t.origin == res.origin {
            one_line(&t.title).into_owned()
        } else {
            format!("[{}] {}", one_line(&t.origin), one_line(&t.title))
        };
        rows.push(vec![
            t.id.to_string().into(),
            status_cell(t.status),
            Cell::from(title),
            Cell::from(one_line(&first).into_owned()),
        ]);
    }
    out!("{}", columns::for_stdout(&COLUMNS, &rows, false));
    if !ack && !res.orphans.is_empty() {
        errln!("legate: mark them read with `legate inbox --orphans --ack`");
    } else if !ack && !res.tasks.is_empty() {
        errln!("legate: mark them read with `legate inbox --ack` or `legate ack ID…`");
    }
}

/// Acknowledges entries.
pub async fn ack(
    paths: &Paths,
    ids: Vec<String>,
    all: bool,
    who: Option<&str>,
    json: bool,
) -> Result<i32> {
    let req = AckRequest {
        origin: read_origin(who)?,
        ids,
        all,
    };
    let client = connect(paths).await?;
    let res: AckResponse = client.ack(&req).await?;
    if json {
        print_json(&res)?;
    } else {
        for id in &res.acked {
            outln!("{id}");
        }
        errln!(
            "legate: acknowledged {} entr{}",
            res.acked.len(),
            if res.acked.len() == 1 { "y" } else { "ies" }
        );
    }
    Ok(exit::OK)
}
