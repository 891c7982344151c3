//! `legate logs [-f]`.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use legate_api::LogRead;
use legate_domain::terminal::Neutraliser;

use crate::commands::reconnect::{Start, reconnect, went_away};
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Prints (and with `follow`, keeps printing) a task's log: verbatim into a pipe or file (the
/// agent's exact bytes, like `cat`), neutralised on a terminal, where an agent's control
/// sequences would otherwise act on the user's terminal (`legate logs ID | cat` shows them raw).
/// A followed log goes on from the byte it had reached when the daemon went away.
pub async fn logs(paths: &Paths, id: &str, follow: bool, stdout_only: bool) -> Result<i32> {
    let mut client = connect(paths).await?;
    legate_domain::api::parse_task_ref(id)?;
    let mut out = std::io::stdout().lock();
    let mut safe = out.is_terminal().then(Neutraliser::new);
    // Where the log was read to, moved along by the client: a reconnect goes on from there.
    let mut read = LogRead {
        follow,
        stdout: stdout_only,
        ..LogRead::default()
    };
    loop {
        let streamed = client
            .log(id, &mut read, |chunk| {
                match safe.as_mut() {
                    Some(n) => out.write_all(n.push(chunk).as_bytes())?,
                    None => out.write_all(chunk)?,
                }
                out.flush()
            })
            .await;
        match streamed.map_err(anyhow::Error::new) {
            Ok(()) => break,
            Err(e) if follow && went_away(&e) => {
                client = reconnect(paths, &client, "following the log", Start::IfNeeded).await?;
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(n) = safe {
        out.write_all(n.finish().as_bytes())?;
        out.flush()?;
    }
    Ok(exit::OK)
}
