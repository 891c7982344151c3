//! `legate send`: continue a finished task's agent session.

use anyhow::Result;
use legate_domain::api::{SendRequest, SubmitResponse, parse_task_ref};

use crate::cli::SendArgs;
use crate::commands::run::{submitted, timeout_ms};
use crate::connect::connect;
use crate::paths::Paths;

/// Submits the follow-up; prints its id (or, with `--wait`, its result).
pub async fn send(paths: &Paths, args: SendArgs, json: bool) -> Result<i32> {
    let req = SendRequest {
        prompt: args.text.read()?,
        title: args.title.clone(),
        origin: None,
        timeout_ms: timeout_ms(args.timeout.as_deref())?,
    };
    let client = connect(paths).await?;
    parse_task_ref(&args.id)?;
    let path = format!("/v1/tasks/{}/send", args.id);
    let res: SubmitResponse = client.post(&path, &req).await?;
    submitted(&client, res, args.wait, json).await
}
