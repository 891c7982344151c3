//! `legate logs [-f]`.

use std::io::Write;

use anyhow::Result;

use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Prints (and with `follow`, keeps printing) a task's log.
pub async fn logs(paths: &Paths, id: &str, follow: bool, stdout_only: bool) -> Result<i32> {
    let client = connect(paths).await?;
    legate_domain::api::parse_task_ref(id)?;
    let path = format!("/v1/tasks/{id}/log?follow={follow}&stdout={stdout_only}");
    let mut out = std::io::stdout().lock();
    client
        .stream(&path, |chunk| {
            out.write_all(chunk)?;
            out.flush()
        })
        .await?;
    Ok(exit::OK)
}
