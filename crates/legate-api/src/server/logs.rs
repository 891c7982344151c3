//! Streaming a task's log, optionally following it until the task ends: from its file on this
//! machine, or from the output its worker stored when it ran on another machine.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use legate_engine::{LogSource, LogStream, OutputTail, Service};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::AppState;
use super::errors::{Failure, bad_query};
use crate::client::LogRead;

/// How often a follower looks for new output while the task runs.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

pub async fn log(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<LogRead>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(q) = q.map_err(bad_query)?;
    let stream = if q.stdout {
        LogStream::Stdout
    } else {
        LogStream::Output
    };
    let (task, source) = s.service.log_source(&id, stream).await?;
    let attempt = task.attempt;
    let from = if q.attempt.is_none_or(|a| a == attempt) {
        q.from
    } else {
        0
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let service = s.service.clone();
    tokio::spawn(async move {
        let _ = match source {
            LogSource::File(path) => {
                let at = (attempt, from);
                pump(service, task.id, path, q.follow, at, tx).await
            }
            LogSource::Stored => {
                let at = (attempt, from);
                pump_stored(service, task.id, q.follow, at, tx).await
            }
        };
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(Response::builder()
        .header("content-type", "application/octet-stream")
        .header(legate_domain::api::ATTEMPT_HEADER, attempt.to_string())
        .body(Body::from_stream(body))
        .unwrap_or_default())
}

/// Sends what the file holds; when following, keeps sending what is appended until the task
/// is terminal and everything has been read. Stops when the client goes away; a daemon that
/// begins stopping breaks the stream off (an error, not an end), so the client resumes from
/// the next daemon at the offset it reached. `at` is the attempt whose log is sent and where
/// in it to start; a new attempt (a requeued task run again) writes its log anew, which is
/// then sent from its start.
async fn pump(
    service: Service,
    id: legate_domain::TaskId,
    path: PathBuf,
    follow: bool,
    at: (u32, u64),
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ()> {
    let (mut attempt, mut offset) = at;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Read the terminal state before reading the file: if the task was already done,
        // everything it wrote is in the file by now.
        let (finished, now) = match follow {
            false => (true, attempt),
            true => state(&service, &id).await,
        };
        if now != attempt {
            (attempt, offset) = (now, 0);
        }
        if let Ok(mut f) = tokio::fs::File::open(&path).await {
            let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0; // the log was joined after a cut: start over
            }
            f.seek(SeekFrom::Start(offset)).await.map_err(|_| ())?;
            loop {
                let n = f.read(&mut buf).await.map_err(|_| ())?;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                tx.send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .map_err(|_| ())?;
            }
        }
        if finished {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return Err(()),
            _ = service.until_stopping() => return broken_off(&tx).await,
        }
    }
}

/// Ends a followed stream with an error, so its client knows the daemon went away.
async fn broken_off(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>) -> Result<(), ()> {
    let _ = tx
        .send(Err(std::io::Error::other("the daemon is shutting down")))
        .await;
    Err(())
}

/// Like [`pump`], from the output the task's worker stored: its newest part, placed in the
/// whole output, so only what is new is sent each time. A new attempt starts over.
async fn pump_stored(
    service: Service,
    id: legate_domain::TaskId,
    follow: bool,
    at: (u32, u64),
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ()> {
    // (attempt, bytes of its output already sent)
    let mut sent: Option<(u32, u64)> = Some(at);
    loop {
        let Ok(task) = service.get(id.as_str(), false).await else {
            return Ok(()); // pruned meanwhile
        };
        let finished = !follow || task.status.is_terminal();
        // Output of an earlier attempt (one taken back from a lost worker) is not this one's.
        if let Ok(Some(out)) = service.stored_output(&id).await
            && out.attempt == task.attempt
        {
            let from = match sent {
                Some((attempt, upto)) if attempt == out.attempt => upto,
                _ => 0,
            };
            for chunk in unsent(&out, from) {
                tx.send(Ok(chunk)).await.map_err(|_| ())?;
            }
            sent = Some((out.attempt, out.total));
        }
        if finished {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(STORED_POLL) => {}
            _ = tx.closed() => return Err(()),
            _ = service.until_stopping() => return broken_off(&tx).await,
        }
    }
}

/// How often a follower of stored output looks for more: the worker stores it once a second.
const STORED_POLL: Duration = Duration::from_millis(250);

/// Whether the task is terminal (or gone), and its attempt.
async fn state(service: &Service, id: &legate_domain::TaskId) -> (bool, u32) {
    match service.get(id.as_str(), false).await {
        Ok(t) => (t.status.is_terminal(), t.attempt),
        Err(_) => (true, 0),
    }
}

/// What of `out` comes after the first `from` bytes of output, with a note when part of it
/// is no longer kept in the store.
fn unsent(out: &OutputTail, from: u64) -> Vec<Bytes> {
    let start = out.total - out.tail.len() as u64;
    let mut chunks = Vec::new();
    if from < start {
        chunks.push(Bytes::from(format!(
            "[legate: {} bytes of output are not kept in the shared store; the whole log is on the machine that ran the task]\n",
            start - from
        )));
    }
    let skip = from.saturating_sub(start) as usize;
    if skip < out.tail.len() {
        chunks.push(Bytes::copy_from_slice(&out.tail[skip..]));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(total: u64, tail: &[u8]) -> OutputTail {
        OutputTail {
            attempt: 1,
            total,
            tail: tail.to_vec(),
        }
    }

    #[test]
    fn only_what_is_new_is_sent_and_lost_output_is_said() {
        let joined = |c: Vec<Bytes>| c.concat();
        assert_eq!(joined(unsent(&out(5, b"hello"), 0)), b"hello");
        assert_eq!(joined(unsent(&out(11, b"llo world"), 5)), b" world");
        assert!(unsent(&out(11, b"llo world"), 11).is_empty());
        let gap = String::from_utf8(joined(unsent(&out(100, b"tail"), 10))).unwrap();
        assert!(
            gap.starts_with("[legate: 86 bytes of output are not kept"),
            "{gap}"
        );
        assert!(gap.ends_with("]\ntail"), "{gap}");
    }
}
