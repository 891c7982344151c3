//! Streaming a task's log, optionally following it until the task ends.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use legate_engine::{LogStream, Service};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::AppState;
use super::errors::{Failure, bad_query};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    stdout: bool,
}

/// How often a follower looks for new output while the task runs.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

pub async fn log(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(q) = q.map_err(bad_query)?;
    let stream = if q.stdout {
        LogStream::Stdout
    } else {
        LogStream::Output
    };
    let (task, path) = s.service.log_file(&id, stream).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let service = s.service.clone();
    tokio::spawn(async move {
        let _ = pump(service, task.id, path, q.follow, tx).await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(Response::builder()
        .header("content-type", "application/octet-stream")
        .body(Body::from_stream(body))
        .unwrap_or_default())
}

/// Sends what the file holds; when following, keeps sending what is appended until the task
/// is terminal and everything has been read. Stops when the client goes away.
async fn pump(
    service: Service,
    id: legate_domain::TaskId,
    path: PathBuf,
    follow: bool,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ()> {
    let mut offset: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Read the terminal state before reading the file: if the task was already done,
        // everything it wrote is in the file by now.
        let finished = !follow
            || service
                .get(id.as_str(), false)
                .await
                .map(|t| t.status.is_terminal())
                .unwrap_or(true);
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
        }
    }
}
