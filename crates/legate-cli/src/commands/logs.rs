//! `legate logs [-f]`.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use legate_domain::terminal::Neutraliser;

use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Prints (and with `follow`, keeps printing) a task's log: verbatim into a pipe or file (the
/// agent's exact bytes, like `cat`), neutralised on a terminal, where an agent's control
/// sequences would otherwise act on the user's terminal (`legate logs ID | cat` shows them raw).
pub async fn logs(paths: &Paths, id: &str, follow: bool, stdout_only: bool) -> Result<i32> {
    let client = connect(paths).await?;
    legate_domain::api::parse_task_ref(id)?;
    let path = format!("/v1/tasks/{id}/log?follow={follow}&stdout={stdout_only}");
    let mut out = std::io::stdout().lock();
    let mut safe = out.is_terminal().then(Neutraliser::new);
    client
        .stream(&path, |chunk| {
            match safe.as_mut() {
                Some(n) => out.write_all(n.push(chunk).as_bytes())?,
                None => out.write_all(chunk)?,
            }
            out.flush()
        })
        .await?;
    if let Some(n) = safe {
        out.write_all(n.finish().as_bytes())?;
        out.flush()?;
    }
    Ok(exit::OK)
}
